//! `gateway.api = "chat-completions"`: `POST {url}/v1/chat/completions` with
//! `model: "openclaw/<agent>"`. Synchronous, returns the agent's reply text.
//!
//! OpenClaw gives this endpoint NO idempotency: every attempt Temporal retries is a new run.

use super::openclaw::{self, Hints};
use super::turns::TurnResolver;
use super::{Endpoint, Gateway, GatewayError, TurnRequest, failure_type, transport_error};
use crate::http_response::ResponseClass;
use futures::future::BoxFuture;
use serde_json::{Value, json};

const MAX_BODY_BYTES: usize = 1024 * 1024;
const HINTS: Hints = Hints {
    unauthorized: "/v1/chat/completions takes the GATEWAY token (gateway.token_file), not the hooks token",
    not_found: "enable OpenClaw's endpoint: gateway.http.endpoints.chatCompletions.enabled = true",
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
        let spec = self.turns.resolve(&turn.agent_turn).await?;
        let endpoint = &self.endpoint;
        let what = format!("POST {} for agent turn {:?}", endpoint.url, turn.agent_turn);
        let body = json!({
            "model": format!("openclaw/{}", spec.agent),
            "messages": [{"role": "user", "content": spec.message}],
        });
        // The answer only comes when the run is over: wait as long as the turn may take.
        let timeout = spec
            .timeout
            .map_or(endpoint.timeout, |t| t.max(endpoint.timeout));
        let response = endpoint
            .post(&body, None, timeout, MAX_BODY_BYTES)
            .await
            .map_err(|err| transport_error(&what, &err))?;
        if response.status.as_u16() == 502 {
            // The model provider failed after the gateway's own retries.
            return Err(GatewayError::RunFailed {
                message: format!(
                    "{what}: HTTP 502: {}",
                    openclaw::error_message(&response.body)
                ),
            });
        }
        if response.class() != ResponseClass::Success {
            return Err(openclaw::status_error(&what, &response, &HINTS));
        }
        reply_text(&response.body).ok_or_else(|| GatewayError::Retryable {
            failure_type: failure_type::UNAVAILABLE,
            message: format!("{what}: answer without choices[0].message.content"),
            retry_after: None,
        })
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
