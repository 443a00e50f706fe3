//! The worker's config file as the tests write it: short retries, a 1 s settle, the
//! cron-fire API against the fake gateway and a killswitch file inside the test's temp dir.
//!
//! Why one template: every test starts from the same fast, isolated settings and changes
//! only what it is about, so a test's config shows exactly what that test depends on.

use super::temporal_server::TemporalServer;
use std::path::{Path, PathBuf};

/// A config file for the worker, with short retry intervals so tests run in seconds.
pub struct ConfigFile {
    pub temporal_address: String,
    pub gateway_api: &'static str,
    pub gateway_url: String,
    pub token_file: Option<PathBuf>,
    pub killswitch_file: PathBuf,
    pub gateway_timeout: &'static str,
    pub settle: &'static str,
    pub retry_initial: &'static str,
    pub retry_attempts: u32,
    pub weather_url: String,
    pub graceful_shutdown: &'static str,
    /// More keys inside `[gateway]`.
    pub gateway_extra: String,
    /// More tables after everything else.
    pub extra: String,
}

impl ConfigFile {
    pub fn new(dir: &Path, server: &TemporalServer, gateway_url: &str) -> ConfigFile {
        ConfigFile {
            temporal_address: server.address(),
            gateway_api: "cron-fire",
            gateway_url: gateway_url.to_owned(),
            token_file: None,
            killswitch_file: dir.join("KILLSWITCH_test"),
            gateway_timeout: "10s",
            settle: "1s",
            retry_initial: "1s",
            retry_attempts: 3,
            weather_url: gateway_url.to_owned(),
            graceful_shutdown: "2s",
            gateway_extra: String::new(),
            extra: String::new(),
        }
    }

    pub fn write(&self, path: &Path) -> PathBuf {
        let token_line = self
            .token_file
            .as_ref()
            .map(|p| format!("token_file = {:?}\n", p.display().to_string()))
            .unwrap_or_default();
        let text = format!(
            r#"[temporal]
address = "{address}"

[worker]
graceful_shutdown = "{grace}"

[gateway]
api = "{api}"
url = "{url}"
{token_line}killswitch_file = {killswitch:?}
timeout = "{timeout}"
{gateway_extra}

[workflows.agent_turn.retry]
initial_interval = "{initial}"
maximum_interval = "{initial}"
maximum_attempts = {attempts}

[workflows.poetry_research]
settle = "{settle}"

[weather]
base_url = "{weather}"
{extra}"#,
            address = self.temporal_address,
            grace = self.graceful_shutdown,
            api = self.gateway_api,
            url = self.gateway_url,
            killswitch = self.killswitch_file.display().to_string(),
            timeout = self.gateway_timeout,
            gateway_extra = self.gateway_extra,
            initial = self.retry_initial,
            attempts = self.retry_attempts,
            settle = self.settle,
            weather = self.weather_url,
            extra = self.extra,
        );
        std::fs::write(path, text).unwrap();
        path.to_owned()
    }
}
