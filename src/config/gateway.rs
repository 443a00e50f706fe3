//! `[gateway]` (the default OpenClaw instance) and `[instances.<name>]` (more of them): where
//! each gateway is, which protocol the worker speaks to it, and where its secrets come from.
//! `super::instances` turns them into one resolved list.

use super::schema::DurationText;
use crate::duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Which protocol the worker speaks to the OpenClaw gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GatewayApi {
    /// `POST {url}/hooks/agent` with `waitForCompletion`: runs the turn, reports its outcome,
    /// idempotent per key. The default for `worker`.
    HooksAgent,
    /// `POST {url}/v1/chat/completions`: returns the reply text; no idempotency.
    ChatCompletions,
    /// The reference worker's `POST {url}/api/cron/fire` (needs a patched gateway).
    CronFire,
    /// No network: report which agent turn would have run.
    Echo,
}

impl std::fmt::Display for GatewayApi {
    /// The name as written in the config file (`hooks-agent`, ...).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = serde_json::to_value(self).ok();
        f.write_str(name.as_ref().and_then(|v| v.as_str()).unwrap_or("?"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Unset means: `hooks-agent` for `worker`, `echo` for `dev`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<GatewayApi>,
    /// Where the OpenClaw gateway is (an http(s) URL).
    pub url: String,
    /// The gateway token (`gateway.auth.token`): chat completions, admin RPC, cron-fire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// The hooks token (`hooks.token`): `/hooks/agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hooks_token_file: Option<PathBuf>,
    /// Turns without `[turns.<id>]` are looked up as the OpenClaw cron job named `<id>`.
    pub resolve_cron_jobs: bool,
    /// What a run that OpenClaw reports as `skipped` means.
    pub on_skipped: OnSkipped,
    /// Unset means `/tmp/clawfactory-snapshot-sync/KILLSWITCH_<instance>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killswitch_file: Option<PathBuf>,
    /// How long one HTTP request to the gateway may take (`hooks-agent` re-POSTs after it).
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub timeout: Duration,
    /// The default instance's name: what workflows, schedules and steps call it (`instance = …`);
    /// part of its killswitch file name.
    pub instance: String,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            api: None,
            url: "http://127.0.0.1:18789".into(),
            token_file: None,
            hooks_token_file: None,
            resolve_cron_jobs: false,
            on_skipped: OnSkipped::Succeed,
            killswitch_file: None,
            timeout: Duration::from_secs(300),
            instance: "default".into(),
        }
    }
}

impl GatewayConfig {
    pub fn killswitch_path(&self) -> PathBuf {
        self.killswitch_file.clone().unwrap_or_else(|| {
            PathBuf::from(format!(
                "/tmp/clawfactory-snapshot-sync/KILLSWITCH_{}",
                self.instance
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnSkipped {
    /// Success, with a warning in the log and the result.
    Succeed,
    /// A non-retryable `AgentRunSkipped` failure.
    Fail,
}

/// `[instances.<name>]`: another OpenClaw instance. Keys left out are taken from `[gateway]`
/// (except the secrets, which are per instance: `token_file`/`hooks_token_file`, else the
/// credentials `<name>.gateway-token`/`<name>.hooks-token`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    /// Where this instance's OpenClaw gateway is (an http(s) URL).
    pub url: String,
    /// Which protocol the worker speaks to it; unset: `[gateway]`'s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<GatewayApi>,
    /// A file holding its gateway token; else the credential `<name>.gateway-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// A file holding its hooks token; else the credential `<name>.hooks-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks_token_file: Option<PathBuf>,
    /// Unset means `/tmp/clawfactory-snapshot-sync/KILLSWITCH_<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killswitch_file: Option<PathBuf>,
}
