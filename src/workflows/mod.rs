//! Deterministic workflow code. Nothing here touches the network, the clock or the
//! filesystem: side effects happen in `crate::activities`, waits are durable timers.

mod custom;
pub mod declared;
pub mod definition;
mod failures;
mod findable;
pub mod lock;
mod options;
pub mod own_token;
mod poetry_research;
pub mod python_json;
mod weather_check;

pub use custom::CustomWorkflow;
pub use lock::ClawfactoryLock;
pub use poetry_research::{PoetryInput, PoetryResearchWorkflow, builtin_turns};
pub use weather_check::{WeatherCheckWorkflow, location as weather_location};

use crate::config::{Config, RetryConfig};
use std::collections::BTreeMap;
use std::time::Duration;

/// What workflows take from config. Read once when a workflow instance is created.
///
/// Changing these while runs are open is replay-safe: Temporal records timer and activity
/// commands by kind and order, not by their durations or retry settings. One exception: a
/// settle of `0s` starts no timer, so switching `workflows.poetry_research.settle` to or from
/// `0s` changes the commands of runs that use the configured value.
#[derive(Debug, Clone)]
pub struct WorkflowSettings {
    pub agent_turn_timeout: Duration,
    pub agent_turn_heartbeat_timeout: Duration,
    pub agent_turn_retry: RetryConfig,
    /// Turns with their own `timeout`; others use `agent_turn_timeout`.
    pub turn_timeouts: BTreeMap<String, Duration>,
    pub poetry_settle: Duration,
    /// The instance a run's turns go to when its input names none (`gateway.instance`).
    pub default_instance: String,
    /// Whether new runs set `crate::search_attributes`: the worker turns it off when the
    /// namespace lacks them. Replayed runs follow their history instead.
    pub search_attributes: bool,
}

impl WorkflowSettings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            agent_turn_timeout: config.workflows.agent_turn.start_to_close,
            agent_turn_heartbeat_timeout: config.workflows.agent_turn.heartbeat_timeout,
            agent_turn_retry: config.workflows.agent_turn.retry.clone(),
            turn_timeouts: config
                .turns
                .0
                .iter()
                .filter_map(|(id, turn)| Some((id.clone(), turn.timeout?)))
                .collect(),
            poetry_settle: config.workflows.poetry_research.settle,
            default_instance: config.gateway.instance.clone(),
            search_attributes: true,
        }
    }
}
