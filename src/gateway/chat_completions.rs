//! `gateway.api = "chat-completions"`: `POST {url}/v1/chat/completions` with
//! `model: "openclaw/<agent>"`. Synchronous, returns the agent's reply text.
//!
//! OpenClaw gives this endpoint NO idempotency: every attempt Temporal retries is a new run.
//! So once a 2xx status has arrived (the run is over) nothing is retried: a reply that is
//! cut off or malformed fails the turn, non-retryable, rather than running the agent again.

use super::error_answers::{self, Hints};
use super::turn_resolver::TurnResolver;
use super::{
    Endpoint, Gateway, GatewayError, TurnRequest, deadline_margin, out_of_time, request_timeout,
    response_error,
};
use crate::failure::FailureType;
use crate::http::response::{ResponseClass, ResponseError, body_excerpt};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::time::SystemTime;

const HINTS: Hints = Hints {
    unauthorized: "/v1/chat/completions takes the GATEWAY token (gateway.token_file), not the hooks token",
    not_found: "enable OpenClaw's endpoint: gateway.http.endpoints.chatCompletions.enabled = true",
    not_found_means: FailureType::GatewayEndpointNotFound,
};

pub struct ChatCompletionsGateway {
    endpoint: Endpoint,
    turns: TurnResolver,
}

impl ChatCompletionsGateway {
    pub fn new(endpoint: Endpoint, turns: TurnResolver) -> Self {
        Self { endpoint, turns }
    }

    async fn run(&self, turn: &TurnRequest) -> Result<String, GatewayError> {
        let spec = self.turns.resolve_request(turn).await?;
        let endpoint = &self.endpoint;
        let what = format!("POST {} for agent turn {:?}", endpoint.url, turn.agent_turn);
        let body = json!({
            "model": format!("openclaw/{}", spec.agent),
            "messages": [{"role": "user", "content": spec.message}],
        });
        // The answer only comes when the run is over: wait as long as the turn may take, but
        // not past the attempt's deadline, so the failure is ours (typed) and not a bare
        // start-to-close timeout.
        let wanted = spec
            .timeout
            .map_or(endpoint.timeout, |t| t.max(endpoint.timeout));
        let now = SystemTime::now();
        let margin = deadline_margin(turn.deadline, now);
        let timeout = request_timeout(wanted, turn.deadline, margin, now)
            .ok_or_else(|| out_of_time(&what, "no time left to send the request"))?;
        let response = endpoint
            .post(&body, None, timeout)
            .await
            .map_err(|err| match &err {
                ResponseError::BodyBroken { status, .. } if status.is_success() => {
                    reply_lost(&what, &err.describe())
                }
                ResponseError::NoAnswer(_) if err.is_timeout() && timeout < wanted => out_of_time(
                    &what,
                    &format!(
                        "waited {} of the {} the turn may take",
                        crate::duration::format(timeout),
                        crate::duration::format(wanted)
                    ),
                ),
                _ => response_error(&what, &err),
            })?;
        if response.status.as_u16() == 502 {
            // The model provider failed after the gateway's own retries.
            return Err(GatewayError::RunFailed {
                message: format!(
                    "{what}: HTTP 502: {}",
                    error_answers::error_message(&response.body)
                ),
            });
        }
        if response.class() != ResponseClass::Success {
            return Err(error_answers::status_error(&what, &response, &HINTS));
        }
        reply_text(&response.body).ok_or_else(|| {
            reply_lost(
                &what,
                &format!(
                    "HTTP {} without choices[0].message.content{}",
                    response.status,
                    body_excerpt(&response.body)
                ),
            )
        })
    }
}

/// The run completed (2xx) but its reply cannot be read: retrying would run the agent again.
fn reply_lost(what: &str, detail: &str) -> GatewayError {
    GatewayError::NonRetryable {
        failure_type: FailureType::GatewayUnreadableAnswer,
        message: format!(
            "{what}: {detail}; not retried: the run completed, and chat-completions has no \
             idempotency, so a retry would run the agent again (its reply is in the OpenClaw \
             session)"
        ),
    }
}

fn reply_text(body: &str) -> Option<String> {
    let answer: Value = serde_json::from_str(body).ok()?;
    answer["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_owned)
}

impl Gateway for ChatCompletionsGateway {
    fn trigger<'a>(&'a self, turn: &'a TurnRequest) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(self.run(turn))
    }
}
