//! `gateway.api = "cron-fire"`: the reference worker's `POST {url}/api/cron/fire`.
//!
//! Stock OpenClaw has no such route (it answers 404); this is kept for patched gateways.
//! Fire-and-forget: a 2xx means "accepted", and the response body is the result.

use super::{Gateway, GatewayError, TurnRequest, status_error, transport_error, with_bearer};
use crate::http_response::{self, ResponseClass};
use crate::secret::Secret;
use futures::future::BoxFuture;
use std::time::Duration;

/// The reference returns the whole body; we keep at most this much of it.
const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct CronFireGateway {
    http: reqwest::Client,
    endpoint: String,
    token: Option<Secret>,
    timeout: Duration,
}

impl CronFireGateway {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        token: Option<Secret>,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            endpoint: format!("{}/api/cron/fire", base_url.trim_end_matches('/')),
            token,
            timeout,
        }
    }

    async fn fire(&self, turn: &TurnRequest) -> Result<String, GatewayError> {
        let request = self
            .http
            .post(&self.endpoint)
            .timeout(self.timeout)
            .header("Idempotency-Key", &turn.idempotency_key)
            .json(&serde_json::json!({ "job_id": turn.agent_turn }));
        let what = format!(
            "POST {} for agent turn {:?}",
            self.endpoint, turn.agent_turn
        );
        let response =
            http_response::send(with_bearer(request, self.token.as_ref()), MAX_BODY_BYTES)
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
