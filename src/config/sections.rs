//! The smaller sections: `[worker]`, `[workflows.*]`, `[weather]` and `[server]` (the local
//! `temporal server start-dev` that `dev` and the appliance run).

use super::schema::DurationText;
use super::validate;
use crate::duration;
use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// How long in-flight activities may run on after a stop request before they are cancelled.
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub graceful_shutdown: Duration,
    /// Serve Prometheus metrics here (`host:port`; keep it on loopback). Unset: no metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<String>,
    /// Give every `[instances.<name>]` its own task queue `<temporal.task_queue>-<name>`,
    /// so a busy or stuck instance cannot hold up the others' workflows.
    pub instance_task_queues: bool,
    /// How many workflow runs the worker keeps in memory between their workflow tasks. A cached
    /// run's next task is applied to it; an evicted one is replayed from its history. The
    /// default is chosen from the benchmark's scale curve (docs/benchmark.md#open-runs).
    pub max_cached_workflows: usize,
}

/// See `WorkerConfig::max_cached_workflows`. Chosen from the benchmark's scale curve: a cached
/// waiting run holds its memory for hours to save a little replay when it wakes, so with the
/// SDK's own default (1000) a worker with many waiting runs grew several times over, and with
/// 100 it stayed small. docs/benchmark.md#open-runs has the figures and the choice.
pub const DEFAULT_MAX_CACHED_WORKFLOWS: usize = 100;

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            graceful_shutdown: Duration::from_secs(30),
            metrics_address: None,
            instance_task_queues: false,
            max_cached_workflows: DEFAULT_MAX_CACHED_WORKFLOWS,
        }
    }
}

impl WorkerConfig {
    pub fn metrics_socket(&self) -> Result<Option<std::net::SocketAddr>> {
        self.metrics_address
            .as_deref()
            .map(|text| {
                text.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "worker.metrics_address: expected ip:port (e.g. \"127.0.0.1:9464\"), got {text:?}"
                    )
                })
            })
            .transpose()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowsConfig {
    /// `[workflows.agent_turn]`: activity options of every agent turn.
    pub agent_turn: AgentTurnConfig,
    /// `[workflows.poetry_research]`: the built-in `PoetryResearchWorkflow`.
    pub poetry_research: PoetryResearchConfig,
}

impl WorkflowsConfig {
    pub(super) fn validate(&self) -> Result<()> {
        validate::positive(
            "workflows.agent_turn.start_to_close",
            self.agent_turn.start_to_close,
        )?;
        validate::positive(
            "workflows.agent_turn.heartbeat_timeout",
            self.agent_turn.heartbeat_timeout,
        )?;
        let retry = &self.agent_turn.retry;
        validate::positive(
            "workflows.agent_turn.retry.initial_interval",
            retry.initial_interval,
        )?;
        if retry.maximum_interval < retry.initial_interval {
            bail!(
                "workflows.agent_turn.retry.maximum_interval: must be at least initial_interval ({})",
                duration::format(retry.initial_interval)
            );
        }
        Ok(())
    }

    pub(super) fn validate_attempts(&self) -> Result<()> {
        if self.agent_turn.retry.maximum_attempts == 0 {
            bail!(
                "workflows.agent_turn.retry.maximum_attempts: expected at least 1 (0 would retry forever)"
            );
        }
        Ok(())
    }
}

/// Activity options of every agent turn (the reference: 10 min, 30 s → 5 min, 3 attempts).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AgentTurnConfig {
    /// How long one agent turn may run (the activity's start-to-close), unless the turn's
    /// `timeout` says otherwise.
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub start_to_close: Duration,
    /// How soon Temporal gives a turn whose worker died to another worker (plus the retry
    /// interval). The activity heartbeats at a third of it, at most every 10 s.
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub heartbeat_timeout: Duration,
    /// How a failed agent turn is retried.
    pub retry: RetryConfig,
}

impl Default for AgentTurnConfig {
    fn default() -> Self {
        Self {
            start_to_close: Duration::from_secs(600),
            heartbeat_timeout: Duration::from_secs(15),
            retry: RetryConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// The wait before the first retry; each further wait doubles, up to `maximum_interval`.
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub initial_interval: Duration,
    /// The longest wait between two attempts.
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub maximum_interval: Duration,
    /// Attempts in all, the first included (at least 1).
    pub maximum_attempts: u32,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            initial_interval: Duration::from_secs(30),
            maximum_interval: Duration::from_secs(300),
            maximum_attempts: 3,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PoetryResearchConfig {
    /// The durable wait between the execute and synthesize turns.
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub settle: Duration,
}

impl Default for PoetryResearchConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(2 * 3600),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct WeatherConfig {
    /// The weather service `WeatherCheckWorkflow` asks (an http(s) URL).
    pub base_url: String,
}

impl Default for WeatherConfig {
    fn default() -> Self {
        Self {
            base_url: "https://wttr.in".into(),
        }
    }
}

/// The local `temporal server start-dev` that `dev` (and the appliance) runs.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The Temporal CLI; a bare name is looked up on PATH.
    pub temporal_bin: PathBuf,
    /// The address the dev server listens on (gRPC, HTTP, UI, metrics).
    pub ip: String,
    /// The frontend's gRPC port (what `temporal.address` points at).
    pub grpc_port: u16,
    /// The frontend's HTTP API port.
    pub http_port: u16,
    /// The web UI's port.
    pub ui_port: u16,
    /// The dev server's Prometheus metrics port.
    pub metrics_port: u16,
    /// The dev server's SQLite database (`dev` uses `<state dir>/temporal.db`).
    pub db_file: PathBuf,
    /// The dev server's own log level (debug, info, warn, error).
    pub log_level: String,
    /// How long the namespace keeps a closed run; applied at every server start
    /// (`crate::namespace`).
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub retention: Duration,
}

/// 30 days: a month of runs to look back on, at a disk cost docs/backup.md states.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Shorter, and a failed run could be deleted before anyone looked at it.
pub const MIN_RETENTION: Duration = Duration::from_secs(3600);

impl ServerConfig {
    pub(super) fn validate(&self) -> Result<()> {
        if self.retention < MIN_RETENTION {
            bail!(
                "server.retention: must be at least {} (got {}): a closed run's history, input and failure are deleted after it",
                duration::format(MIN_RETENTION),
                duration::format(self.retention)
            );
        }
        Ok(())
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            temporal_bin: PathBuf::from("temporal"),
            ip: "127.0.0.1".into(),
            grpc_port: 7233,
            http_port: 7243,
            ui_port: 8233,
            metrics_port: 7235,
            db_file: PathBuf::from("/srv/clawfactory/temporal/temporal.db"),
            log_level: "warn".into(),
            retention: DEFAULT_RETENTION,
        }
    }
}
