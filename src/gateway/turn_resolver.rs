//! Which OpenClaw run an agent turn id stands for.
//!
//! Order: a `[turns.<id>]` written in the config file; else, with
//! `gateway.resolve_cron_jobs`, the OpenClaw cron job named exactly `<id>`; else the built-in
//! default (the two poetry turns). Only `hooks-agent` and `chat-completions` need this.

use super::GatewayError;
use super::admin_rpc::AdminRpc;
use crate::config::{Instance, TurnConfig, Turns};
use crate::failure::FailureType;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
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

/// Every turn the worker knows without asking OpenClaw: the config's `[turns.<id>]`, and the
/// workflows' built-in ones (which an OpenClaw cron job of the same name replaces).
#[derive(Debug, Clone)]
pub struct TurnTable {
    configured: Arc<BTreeMap<String, TurnConfig>>,
    builtin: Arc<BTreeMap<String, TurnConfig>>,
}

impl TurnTable {
    pub fn new(
        configured: &Turns,
        builtin: impl IntoIterator<Item = (String, TurnConfig)>,
    ) -> Self {
        TurnTable {
            configured: Arc::new(configured.0.clone()),
            builtin: Arc::new(builtin.into_iter().collect()),
        }
    }
}

pub struct TurnResolver {
    turns: TurnTable,
    cron_jobs: Option<AdminRpc>,
}

impl TurnResolver {
    pub fn new(turns: TurnTable, instance: &Instance, http: reqwest::Client) -> Self {
        let gateway = &instance.gateway;
        let cron_jobs = gateway.resolve_cron_jobs.then(|| {
            AdminRpc::new(
                http,
                &gateway.url,
                instance.tokens.gateway.clone(),
                gateway.timeout,
            )
        });
        TurnResolver { turns, cron_jobs }
    }

    /// The turn as this request runs it: resolved, with the request's message if it has one.
    pub async fn resolve_request(
        &self,
        turn: &super::TurnRequest,
    ) -> Result<TurnSpec, GatewayError> {
        let mut spec = self.resolve(&turn.agent_turn).await?;
        if let Some(message) = &turn.message {
            spec.message = message.clone();
        }
        Ok(spec)
    }

    pub async fn resolve(&self, turn_id: &str) -> Result<TurnSpec, GatewayError> {
        if let Some(turn) = self.turns.configured.get(turn_id) {
            return Ok(turn.into());
        }
        if let Some(rpc) = &self.cron_jobs {
            return resolve_cron_job(rpc, turn_id).await;
        }
        self.turns.builtin.get(turn_id).map(TurnSpec::from).ok_or_else(|| GatewayError::NonRetryable {
            failure_type: FailureType::UnknownAgentTurn,
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
                failure_type: FailureType::UnknownAgentTurn,
                message: format!(
                    "agent turn {turn_id:?}: no OpenClaw cron job has this exact name \
                     (and the config has no [turns.{turn_id}])"
                ),
            });
        }
        many => {
            let ids: Vec<&str> = many.iter().filter_map(|j| j["id"].as_str()).collect();
            return Err(GatewayError::NonRetryable {
                failure_type: FailureType::AmbiguousAgentTurn,
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
/// Also what `openclaw-cron import` copies into `[turns.<id>]`.
pub fn spec_from_cron_job(turn_id: &str, job: &Value) -> Result<TurnSpec, GatewayError> {
    let payload = &job["payload"];
    let rejected = |why: String| GatewayError::NonRetryable {
        failure_type: FailureType::GatewayRejected,
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

    #[tokio::test]
    async fn a_configured_turn_replaces_a_builtin_one_and_builtins_need_no_config() {
        let config =
            crate::config::Config::parse("[turns.poetry-research-execute]\nmessage = \"Mine.\"\n")
                .unwrap();
        let instances =
            crate::config::Instances::resolve(&config, crate::config::GatewayApi::HooksAgent);
        let table = TurnTable::new(&config.turns, crate::workflows::builtin_turns());
        let resolver =
            TurnResolver::new(table, instances.default_instance(), reqwest::Client::new());
        let mine = resolver.resolve("poetry-research-execute").await.unwrap();
        assert_eq!(mine.message, "Mine.");
        let builtin = resolver
            .resolve("poetry-research-synthesize")
            .await
            .unwrap();
        assert!(
            builtin
                .message
                .starts_with("Read the poetry research notes")
        );
        assert_eq!(builtin.agent, "main");
        let unknown = resolver.resolve("nope").await.unwrap_err();
        assert!(unknown.message().contains("[turns.nope]"), "{unknown:?}");
    }
}
