//! The worker's config file as the tests write it: the crate's own typed `Config` with the
//! test defaults (short retries, a 1 s settle, the cron-fire API against the fake gateway, a
//! killswitch file inside the test's temp dir, http steps allowed to reach 127.0.0.1),
//! serialized to TOML.
//!
//! Why typed: a test changes only what it is about (`config.gateway.timeout = ...`), and a
//! misspelt key does not compile, where raw TOML text would fail only at run time.

use super::temporal_server::TemporalServer;
use clawfactory_temporal::config::{Config, GatewayApi, TurnConfig};
use clawfactory_temporal::config::{ScheduleConfig, Schedules};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `http.allow` entry every test config carries: the fakes listen on 127.0.0.1.
pub const LOOPBACK_FAKES: &str = "127.0.0.1";

/// A config file for the worker, with short retry intervals so tests run in seconds.
/// Derefs to its `Config`, so tests set `config.gateway.api = Some(GatewayApi::Echo)`.
pub struct ConfigFile {
    pub config: Config,
    /// TOML text appended verbatim after the typed config (see `append_raw_toml`).
    raw_toml: String,
}

impl ConfigFile {
    pub fn new(dir: &Path, server: &TemporalServer, gateway_url: &str) -> ConfigFile {
        let mut config = Config::default();
        config.temporal.address = server.address();
        config.worker.graceful_shutdown = Duration::from_secs(2);
        config.gateway.api = Some(GatewayApi::CronFire);
        config.gateway.url = gateway_url.to_owned();
        config.gateway.killswitch_file = Some(dir.join("KILLSWITCH_test"));
        config.gateway.timeout = Duration::from_secs(10);
        let retry = &mut config.workflows.agent_turn.retry;
        retry.initial_interval = Duration::from_secs(1);
        retry.maximum_interval = Duration::from_secs(1);
        retry.maximum_attempts = 3;
        config.workflows.poetry_research.settle = Duration::from_secs(1);
        config.weather.base_url = gateway_url.to_owned();
        // Tests' http steps go to loopback fakes, which the [http] policy refuses unless listed.
        config.http.allow = vec![LOOPBACK_FAKES.parse().expect("an allow entry")];
        ConfigFile {
            config,
            raw_toml: String::new(),
        }
    }

    /// Appends TOML text after the typed config, as it is. Only for a test whose subject is
    /// the text itself (e.g. a declared schedule that is also fed to `schedules apply`);
    /// anything else sets `config`, where a misspelt key does not compile.
    pub fn append_raw_toml(&mut self, text: &str) {
        self.raw_toml.push('\n');
        self.raw_toml.push_str(text);
    }

    /// The file's text: the config as a hand-written file would say it, then any raw TOML.
    pub fn to_toml(&self) -> String {
        let config = &self.config;
        let mut table = toml::Table::try_from(config).expect("the config serializes");
        // No `[schedules]` means the default schedule. Leave it out rather than write that
        // schedule, so raw `[schedules.<id>]` text replaces it instead of adding to it.
        if config.schedules == Schedules::default() {
            table.remove("schedules");
        }
        toml::to_string(&table).expect("the config serializes") + &self.raw_toml
    }

    pub fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.to_toml()).unwrap();
        path.to_owned()
    }
}

impl std::ops::Deref for ConfigFile {
    type Target = Config;

    fn deref(&self) -> &Config {
        &self.config
    }
}

impl std::ops::DerefMut for ConfigFile {
    fn deref_mut(&mut self) -> &mut Config {
        &mut self.config
    }
}

/// A `[turns.<id>]` with only its message: agent `main`, no model, thinking or timeout.
pub fn turn(message: &str) -> TurnConfig {
    TurnConfig::with_message(message)
}

/// A `[schedules.<id>]` with only its workflow: every other key as when left out of the file.
pub fn schedule(workflow: &str) -> ScheduleConfig {
    let mut table = toml::Table::new();
    table.insert("workflow".into(), workflow.into());
    table
        .try_into()
        .expect("a schedule needs only its workflow")
}
