//! `gateway.api = "hooks-agent"`: `POST {url}/hooks/agent` with `waitForCompletion`, the
//! only HTTP-only way to run an OpenClaw agent turn AND learn its outcome.
//!
//! OpenClaw's rules this relies on: the same `Idempotency-Key` with the same payload
//! re-attaches to the same run (while it runs, and for 5 minutes after it settles), a run
//! that completed with error replays that error, and failed admissions are not cached. No
//! bytes flow while a run is in progress, so each POST has a read timeout and is simply
//! re-sent with the same key to keep waiting — but never past the attempt's own deadline:
//! a gateway that never answers ends the attempt with a typed, retryable failure naming the
//! URL shortly before Temporal would time it out without one.

use super::error_answers::{self, Hints};
use super::turn_resolver::{TurnResolver, TurnSpec};
use super::{
    Endpoint, Gateway, GatewayError, TurnRequest, deadline_margin, out_of_time, request_timeout,
    response_error,
};
use crate::config::OnSkipped;
use crate::failure::FailureType;
use crate::http::response::{ResponseClass, body_excerpt};
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::{Value, json};
use std::time::SystemTime;

const HINTS: Hints = Hints {
    unauthorized: "/hooks/agent takes the HOOKS token (gateway.hooks_token_file), not the gateway token",
    not_found: "enable OpenClaw hooks: hooks.enabled = true, hooks.token, and hooks.path = \"/hooks\"",
    not_found_means: FailureType::GatewayEndpointNotFound,
};

pub struct HooksAgentGateway {
    endpoint: Endpoint,
    on_skipped: OnSkipped,
    turns: TurnResolver,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    run_id: Option<String>,
    completion: Option<Completion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Completion {
    status: String,
    reply_disposition: Option<String>,
}

impl HooksAgentGateway {
    pub fn new(endpoint: Endpoint, on_skipped: OnSkipped, turns: TurnResolver) -> Self {
        Self {
            endpoint,
            on_skipped,
            turns,
        }
    }

    async fn run(&self, turn: &TurnRequest) -> Result<String, GatewayError> {
        let spec = self.turns.resolve_request(turn).await?;
        let body = request_body(&turn.agent_turn, &spec);
        let endpoint = &self.endpoint;
        let what = format!("POST {} for agent turn {:?}", endpoint.url, turn.agent_turn);
        let margin = deadline_margin(turn.deadline, SystemTime::now());
        let mut timed_out = 0;
        loop {
            let key = Some(turn.idempotency_key.as_str());
            let Some(timeout) =
                request_timeout(endpoint.timeout, turn.deadline, margin, SystemTime::now())
            else {
                return Err(out_of_time(
                    &what,
                    &format!(
                        "{timed_out} requests with the same Idempotency-Key waited up to \
                         gateway.timeout = {} each; a run that is still going is re-attached \
                         by the next attempt",
                        crate::duration::format(endpoint.timeout)
                    ),
                ));
            };
            let response = match endpoint.post(&body, key, timeout).await {
                Err(err) if err.is_timeout() => {
                    // The run is still going: the same key re-attaches to it.
                    timed_out += 1;
                    tracing::info!(agent_turn = %turn.agent_turn, "agent turn still running; waiting again");
                    continue;
                }
                Err(err) => return Err(response_error(&what, &err)),
                Ok(response) => response,
            };
            if response.class() != ResponseClass::Success {
                return Err(error_answers::status_error(&what, &response, &HINTS));
            }
            return self.outcome(&what, &turn.agent_turn, &response.body);
        }
    }

    fn outcome(&self, what: &str, turn_id: &str, body: &str) -> Result<String, GatewayError> {
        // Retryable: the next attempt sends the same key, so it re-attaches to the same run
        // (no second run) and a proxy's or a restarting gateway's garbage may be gone by then.
        let answer: Answer = serde_json::from_str(body).map_err(|err| GatewayError::Retryable {
            failure_type: FailureType::GatewayUnreadableAnswer,
            message: format!(
                "{what}: HTTP 200 but not an OpenClaw /hooks/agent answer ({err}){}; is \
                 gateway.url the OpenClaw gateway?",
                body_excerpt(body)
            ),
            retry_after: None,
        })?;
        let run_id = answer.run_id.unwrap_or_default();
        let Some(completion) = answer.completion else {
            return Err(GatewayError::NonRetryable {
                failure_type: FailureType::GatewayRejected,
                message: format!(
                    "{what}: run {run_id} was admitted but the gateway did not wait for it \
                     (waitForCompletion needs OpenClaw 2026.9 or later)"
                ),
            });
        };
        let disposition = completion.reply_disposition.unwrap_or_default();
        let result =
            json!({"runId": run_id, "status": completion.status, "replyDisposition": disposition});
        match completion.status.as_str() {
            "ok" => Ok(result.to_string()),
            "skipped" if self.on_skipped == OnSkipped::Succeed => {
                tracing::warn!(agent_turn = %turn_id, run_id, "OpenClaw skipped the agent run");
                Ok(result.to_string())
            }
            "skipped" => Err(GatewayError::NonRetryable {
                failure_type: FailureType::AgentRunSkipped,
                message: format!(
                    "agent turn {turn_id:?}: OpenClaw skipped run {run_id} (gateway.on_skipped = \"fail\")"
                ),
            }),
            status => Err(GatewayError::RunFailed {
                message: format!(
                    "agent turn {turn_id:?}: OpenClaw run {run_id} completed with status {status:?} \
                     (replyDisposition {disposition:?}); see the run's session in OpenClaw"
                ),
            }),
        }
    }
}

fn request_body(turn_id: &str, spec: &TurnSpec) -> Value {
    let mut body = json!({
        "message": spec.message,
        "name": turn_id,
        "agentId": spec.agent,
        "deliver": false,
        "waitForCompletion": true,
    });
    if let Some(timeout) = spec.timeout {
        body["timeoutSeconds"] = timeout.as_secs().into();
    }
    if let Some(model) = &spec.model {
        body["model"] = model.as_str().into();
    }
    if let Some(thinking) = &spec.thinking {
        body["thinking"] = thinking.as_str().into();
    }
    body
}

impl Gateway for HooksAgentGateway {
    fn trigger<'a>(&'a self, turn: &'a TurnRequest) -> BoxFuture<'a, Result<String, GatewayError>> {
        Box::pin(self.run(turn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn body_carries_the_turn_and_asks_to_wait_without_delivery() {
        let spec = TurnSpec {
            message: "Write.".into(),
            agent: "main".into(),
            model: Some("mock/m".into()),
            thinking: None,
            timeout: Some(Duration::from_secs(120)),
        };
        assert_eq!(
            request_body("poetry-research-execute", &spec),
            json!({"message": "Write.", "name": "poetry-research-execute", "agentId": "main",
                   "deliver": false, "waitForCompletion": true, "timeoutSeconds": 120, "model": "mock/m"})
        );
    }
}
