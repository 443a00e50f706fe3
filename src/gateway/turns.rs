//! Which OpenClaw run an agent turn id stands for.
//!
//! Order: a `[turns.<id>]` written in the config file; else, with
//! `gateway.resolve_cron_jobs`, the OpenClaw cron job named exactly `<id>`; else the built-in
//! default (the two poetry turns). Only `hooks-agent` and `chat-completions` need this.

use super::admin_rpc::AdminRpc;
use super::{GatewayError, failure_type};
use crate::config::{Config, TurnConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct TurnSpec {
    pub message: String,
    pub agent: String,
    pub model: Option<String>,
    pub thinking: Option<String>,
    pub timeout: Option<Duration>,
}

impl From<&TurnConfig> for TurnSpec {
    fn from(turn: &TurnConfig) -> Self {
        TurnSpec {
            message: turn.message.clone(),
            agent: turn.agent.clone(),
            model: turn.model.clone(),
            thinking: turn.thinking.clone(),
            timeout: turn.timeout,
        }
    }
}

pub struct TurnResolver {
    turns: BTreeMap<String, TurnConfig>,
    cron_jobs: Option<AdminRpc>,
}

impl TurnResolver {
    pub fn from_config(config: &Config, http: reqwest::Client) -> Self {
        let gateway = &config.gateway;
        let cron_jobs = gateway.resolve_cron_jobs.then(|| {
            AdminRpc::new(
                http,
                &gateway.url,
                config.gateway_token.clone(),
                gateway.timeout,
            )
        });
        TurnResolver {
            turns: config.turns.0.clone(),
            cron_jobs,
        }
    }

    pub async fn resolve(&self, turn_id: &str) -> Result<TurnSpec, GatewayError> {
        let declared = self.turns.get(turn_id);
        if let Some(turn) = declared.filter(|t| !t.builtin) {
            return Ok(turn.into());
        }
        if let Some(rpc) = &self.cron_jobs {
            return resolve_cron_job(rpc, turn_id).await;
        }
        declared.map(TurnSpec::from).ok_or_else(|| GatewayError::NonRetryable {
            failure_type: failure_type::UNKNOWN_AGENT_TURN,
            message: format!(
                "agent turn {turn_id:?} is not defined: add [turns.{turn_id}] with a message to the \
                 config, or set gateway.resolve_cron_jobs = true to run the OpenClaw cron job of that name"
            ),
        })
    }
}

async fn resolve_cron_job(rpc: &AdminRpc, turn_id: &str) -> Result<TurnSpec, GatewayError> {
    let jobs = rpc.cron_jobs_named(turn_id).await?;
    let job = match jobs.as_slice() {
        [job] => job,
        [] => {
            return Err(GatewayError::NonRetryable {
                failure_type: failure_type::UNKNOWN_AGENT_TURN,
                message: format!(
                    "agent turn {turn_id:?}: no OpenClaw cron job has this exact name \
                     (and the config has no [turns.{turn_id}])"
                ),
            });
        }
        many => {
            let ids: Vec<&str> = many.iter().filter_map(|j| j["id"].as_str()).collect();
            return Err(GatewayError::NonRetryable {
                failure_type: failure_type::AMBIGUOUS_AGENT_TURN,
                message: format!(
                    "agent turn {turn_id:?}: {} OpenClaw cron jobs have this name (ids {}); \
                     rename all but one, or define [turns.{turn_id}] in the config",
                    many.len(),
                    ids.join(", ")
                ),
            });
        }
    };
    let job = match job.get("payload") {
        Some(_) => job.clone(),
        None => rpc.cron_job(job["id"].as_str().unwrap_or_default()).await?,
    };
    spec_from_cron_job(turn_id, &job)
}

/// `{agentId, payload: {kind: "agentTurn", message, model?, thinking?, timeoutSeconds?}}`.
fn spec_from_cron_job(turn_id: &str, job: &Value) -> Result<TurnSpec, GatewayError> {
    let payload = &job["payload"];
    let rejected = |why: String| GatewayError::NonRetryable {
        failure_type: failure_type::REJECTED,
        message: format!(
            "agent turn {turn_id:?}: OpenClaw cron job {}: {why}",
            job["id"]
        ),
    };
    if payload["kind"] != "agentTurn" {
        return Err(rejected(format!(
            "payload kind is {}, not agentTurn",
            payload["kind"]
        )));
    }
    let message = payload["message"]
        .as_str()
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| rejected("its payload has no message".into()))?;
    let text = |v: &Value| v.as_str().map(str::to_owned);
    Ok(TurnSpec {
        message: message.to_owned(),
        agent: text(&job["agentId"]).unwrap_or_else(|| "main".into()),
        model: text(&payload["model"]),
        thinking: text(&payload["thinking"]),
        timeout: payload["timeoutSeconds"].as_u64().map(Duration::from_secs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cron_job_payload_becomes_a_turn() {
        let job = json!({"id": "j1", "agentId": "writer", "payload": {"kind": "agentTurn",
            "message": "Write.", "model": "m", "thinking": "low", "timeoutSeconds": 90}});
        assert_eq!(
            spec_from_cron_job("t", &job).unwrap(),
            TurnSpec {
                message: "Write.".into(),
                agent: "writer".into(),
                model: Some("m".into()),
                thinking: Some("low".into()),
                timeout: Some(Duration::from_secs(90)),
            }
        );
        let not_a_turn = json!({"id": "j2", "payload": {"kind": "systemEvent", "text": "x"}});
        assert!(
            spec_from_cron_job("t", &not_a_turn)
                .unwrap_err()
                .message()
                .contains("not agentTurn")
        );
    }
}
