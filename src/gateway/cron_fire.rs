//! `gateway.api = "cron-fire"`: the reference worker's `POST {url}/api/cron/fire`.
//!
//! Stock OpenClaw has no such route (it answers 404); this is kept for patched gateways.
//! Fire-and-forget: a 2xx means "accepted", and the response body is the result. A 2xx whose
//! body then breaks off is still "accepted" (never fired twice); see `accepted_without_answer`.

use super::error_answers::{self, Hints};
use super::{Endpoint, Gateway, GatewayError, TurnRequest, response_error};
use crate::failure::FailureType;
use crate::http::response::{ResponseClass, ResponseError, format_bytes};
use futures::future::BoxFuture;
use serde_json::json;

/// The body is the result; Temporal keeps results small, so at most this much of it.
const MAX_RESULT_BYTES: usize = 64 * 1024;

/// The legacy route names a job: a 404 means the gateway does not know it.
const HINTS: Hints = Hints {
    unauthorized: "/api/cron/fire takes the GATEWAY token (gateway.token_file)",
    not_found: "no such job, or the gateway has no /api/cron/fire (stock OpenClaw does not)",
    not_found_means: FailureType::UnknownAgentJob,
};

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
        let response = match endpoint
            .post(&body, Some(&turn.idempotency_key), endpoint.timeout)
            .await
        {
            Ok(response) => response,
            Err(err @ ResponseError::BodyBroken { status, .. }) if status.is_success() => {
                return Ok(accepted_without_answer(&what, &err));
            }
            Err(err) => return Err(response_error(&what, &err)),
        };
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
            _ => Err(error_answers::status_error(&what, &response, &HINTS)),
        }
    }
}

/// A 2xx arrived, then its body broke off. The status is the outcome: the gateway accepted the
/// job, and a retry would fire it again unless the gateway honours `Idempotency-Key` (which
/// nothing guarantees for this patched route). So the turn succeeds, saying what was lost.
fn accepted_without_answer(what: &str, err: &ResponseError) -> String {
    let detail = err.describe();
    tracing::warn!(request = %what, problem = %detail, "cron-fire: the job was accepted, but its answer broke off; not firing it again");
    format!("{detail}; the job was accepted, so the worker did not fire it again")
}

impl Gateway for CronFireGateway {
    fn trigger<'a>(&'a self, turn: &'a TurnRequest) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(self.fire(turn))
    }
}
