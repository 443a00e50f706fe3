//! `gateway.api = "cron-fire"`: the reference worker's `POST {url}/api/cron/fire`.
//!
//! Stock OpenClaw has no such route (it answers 404); this is kept for patched gateways.
//! Fire-and-forget: a 2xx means "accepted", and the response body is the result.

use super::{Endpoint, Gateway, GatewayError, TurnRequest, response_error, status_error};
use crate::failure::FailureType;
use crate::http_response::{ResponseClass, format_bytes};
use futures::future::BoxFuture;
use serde_json::json;

/// The body is the result; Temporal keeps results small, so at most this much of it.
const MAX_RESULT_BYTES: usize = 64 * 1024;

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
        if turn.message.is_some() {
            // The job's prompt lives in OpenClaw; this route has no field for another one.
            return Err(GatewayError::NonRetryable {
                failure_type: FailureType::GatewayRejected,
                message: format!(
                    "{what}: cron-fire runs the OpenClaw job's own prompt and cannot carry a \
                     message; use hooks-agent or chat-completions for templated messages"
                ),
            });
        }
        let body = json!({ "job_id": turn.agent_turn });
        let response = endpoint
            .post(&body, Some(&turn.idempotency_key), endpoint.timeout)
            .await
            .map_err(|err| response_error(&what, &err))?;
        match response.class() {
            ResponseClass::Success if response.body.len() > MAX_RESULT_BYTES => {
                Err(GatewayError::NonRetryable {
                    failure_type: FailureType::GatewayResponseTooLarge,
                    message: format!(
                        "{what}: HTTP {} (the job was accepted), but the answer of {} bytes is \
                         larger than the {} kept as the result",
                        response.status,
                        response.body.len(),
                        format_bytes(MAX_RESULT_BYTES)
                    ),
                })
            }
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
