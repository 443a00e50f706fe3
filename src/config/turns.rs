//! `[turns.<id>]`: what OpenClaw runs for an agent turn id (prompt, agent, model, time limit).

use super::schema::DurationText;
use super::validate;
use crate::duration;
use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// `[turns.<id>]`: one agent turn as OpenClaw should run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TurnConfig {
    /// The prompt the agent receives.
    pub message: String,
    /// OpenClaw agent id (must be in `hooks.allowedAgentIds` for `hooks-agent`).
    #[serde(default = "default_agent")]
    pub agent: String,
    /// The model OpenClaw uses for this turn (`provider/model`); unset: the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// OpenClaw's thinking level for this turn (e.g. `low`); unset: the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// How long the turn may run: OpenClaw's `timeoutSeconds` and the activity's
    /// start-to-close. Unset: `workflows.agent_turn.start_to_close`.
    #[serde(
        default,
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<Duration>,
}

impl TurnConfig {
    /// A turn with this prompt and every other key at its default.
    pub fn with_message(message: impl Into<String>) -> Self {
        TurnConfig {
            message: message.into(),
            agent: default_agent(),
            model: None,
            thinking: None,
            timeout: None,
        }
    }
}

fn default_agent() -> String {
    "main".into()
}

/// The turns written in the config. Workflows may also bring built-in turns of their own
/// (the poetry turns); a turn written here replaces a built-in one of the same id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Turns(pub BTreeMap<String, TurnConfig>);

impl Turns {
    pub(super) fn validate(&self) -> Result<()> {
        for (id, turn) in &self.0 {
            validate::non_empty(&format!("turns.{id}.message"), &turn.message)?;
            validate::non_empty(&format!("turns.{id}.agent"), &turn.agent)?;
            if turn.timeout.is_some_and(|t| t.is_zero()) {
                bail!("turns.{id}.timeout: must be longer than 0s");
            }
        }
        Ok(())
    }
}
