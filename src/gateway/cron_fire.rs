//! `gateway.api = "cron-fire"`: the reference worker's `POST {url}/api/cron/fire`.
//!
//! Stock OpenClaw has no such route (it answers 404); this is kept for patched gateways.
//! Fire-and-forget: a 2xx means "accepted", and the response body is the result.

use super::{Endpoint, Gateway, GatewayError, TurnRequest, status_error, transport_error};
use crate::http_response::ResponseClass;
use futures::future::BoxFuture;
use serde_json::json;

/// The reference returns the whole body; we keep at most this much of it.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct CronFireGateway {
    endpoint: Endpoint,
}

impl CronFireGateway {
    pub fn new(endpoint: Endpoint) -> Self {
        Self { endpoint }
    }

    async fn fire(&self, turn: &TurnRequest) -> Result<String, GatewayError> {
        let endpoint = &self.endpoint;
        let what = format!("POST {} for agent turn {:?}", endpoint.url, turn.agent_turn);
        let body = json!({ "job_id": turn.agent_turn });
        let response = endpoint
            .post(
                &body,
                Some(&turn.idempotency_key),
                endpoint.timeout,
                MAX_BODY_BYTES,
            )
            .await
            .map_err(|err| transport_error(&what, &err))?;
        match response.class() {
            ResponseClass::Success => Ok(response.body),
            class => Err(status_error(&what, class, &response)),
        }
    }
}

impl Gateway for CronFireGateway {
    fn trigger<'a>(&'a self, turn: &'a TurnRequest) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(self.fire(turn))
    }
}
