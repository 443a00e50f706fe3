//! The worker's configuration: one TOML file, every key defaulted, the reference worker's
//! environment variables layered on top, and secrets read from files — never from the TOML.
//!
//! Load order (later wins): built-in defaults → the TOML file → `TEMPORAL_HOST`,
//! `GATEWAY_PORT`, `INSTANCE_NAME`. The gateway token comes from `gateway.token_file`, else
//! `$CREDENTIALS_DIRECTORY/gateway-token` (systemd `LoadCredential=`), else
//! `GATEWAY_INTERNAL_TOKEN`.

use crate::duration;
use crate::schedules::Schedules;
use crate::secret::Secret;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the config lives when neither `--config` nor `CLAWFACTORY_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/clawfactory/temporal.toml";
/// The systemd credential name of the gateway token.
pub const GATEWAY_TOKEN_CREDENTIAL: &str = "gateway-token";
/// The systemd credential name of the hooks token (a different secret from the gateway token).
pub const HOOKS_TOKEN_CREDENTIAL: &str = "hooks-token";
/// The systemd credential name of a Temporal Cloud style API key.
pub const TEMPORAL_API_KEY_CREDENTIAL: &str = "temporal-api-key";
/// The systemd credential name of the mTLS client's private key.
pub const TEMPORAL_CLIENT_KEY_CREDENTIAL: &str = "temporal-client-key";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub temporal: TemporalConfig,
    pub worker: WorkerConfig,
    pub gateway: GatewayConfig,
    pub workflows: WorkflowsConfig,
    pub weather: WeatherConfig,
    pub server: ServerConfig,
    /// `[schedules.<id>]`; absent means the reference's `poetry-research-daily`.
    pub schedules: Schedules,
    /// `[turns.<id>]`: what OpenClaw runs for each agent turn id.
    pub turns: Turns,
    /// `[instances.<name>]`: more OpenClaw instances besides the default one (`[gateway]`).
    pub instances: BTreeMap<String, InstanceConfig>,
    /// Resolved from files or the environment at load time; never read from or written to TOML.
    #[serde(skip)]
    pub gateway_token: Option<Secret>,
    /// The OpenClaw hooks token (`/hooks/agent`), resolved like the gateway token.
    #[serde(skip)]
    pub hooks_token: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemporalConfig {
    /// `host:port` or `http(s)://host:port` of the Temporal frontend (gRPC).
    pub address: String,
    pub namespace: String,
    pub task_queue: String,
    /// How long one attempt to open the connection may take.
    #[serde(with = "duration::serde_text")]
    pub connect_timeout: Duration,
    /// Unset: TLS when the address is `https://…` or any TLS file or API key is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// PEM CA bundle the server's certificate must chain to (unset: the system's roots).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ca_file: Option<PathBuf>,
    /// The name the server's certificate must carry, when it differs from the address's host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// PEM client certificate for mTLS; its key is `client_key_file` or the
    /// `temporal-client-key` credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
    /// A file holding an API key (Temporal Cloud), else the `temporal-api-key` credential,
    /// else `TEMPORAL_API_KEY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Resolved at load time; never read from or written to TOML.
    #[serde(skip)]
    pub api_key: Option<Secret>,
    #[serde(skip)]
    pub client_key: Option<Secret>,
}

impl Default for TemporalConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:7233".into(),
            namespace: "default".into(),
            task_queue: "clawfactory".into(),
            connect_timeout: Duration::from_secs(5),
            tls: None,
            server_ca_file: None,
            server_name: None,
            client_cert_file: None,
            client_key_file: None,
            api_key_file: None,
            api_key: None,
            client_key: None,
        }
    }
}

impl TemporalConfig {
    /// The address as the SDK wants it: a URL with a scheme, `https` when TLS is on.
    pub fn url(&self) -> String {
        let url = address_url(&self.address);
        match url.strip_prefix("http://") {
            Some(rest) if self.uses_tls() => format!("https://{rest}"),
            _ => url,
        }
    }

    pub fn uses_tls(&self) -> bool {
        self.tls.unwrap_or_else(|| {
            self.address.starts_with("https://")
                || self.server_ca_file.is_some()
                || self.server_name.is_some()
                || self.client_cert_file.is_some()
                || self.api_key.is_some()
        })
    }

    /// One line for logs and `check-config`: where, which namespace, how authenticated.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} namespace {:?}", self.url(), self.namespace)];
        if self.uses_tls() {
            let ca = match &self.server_ca_file {
                Some(file) => format!("CA {}", file.display()),
                None => "system CA roots".into(),
            };
            parts.push(format!("TLS ({ca})"));
            if let Some(name) = &self.server_name {
                parts.push(format!("server name {name:?}"));
            }
            if let Some(cert) = &self.client_cert_file {
                parts.push(format!("client certificate {}", cert.display()));
            }
        } else {
            parts.push("plaintext".into());
        }
        if self.api_key.is_some() {
            parts.push("API key set (redacted)".into());
        }
        parts.join(", ")
    }

    fn resolve_secrets(&mut self, env: &dyn Env) -> Result<()> {
        self.api_key = resolve_secret(
            self.api_key_file.as_deref(),
            TEMPORAL_API_KEY_CREDENTIAL,
            Some("TEMPORAL_API_KEY"),
            env,
        )
        .context("temporal.api_key_file")?;
        self.client_key = resolve_secret(
            self.client_key_file.as_deref(),
            TEMPORAL_CLIENT_KEY_CREDENTIAL,
            None,
            env,
        )
        .context("temporal.client_key_file")?;
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        validate_temporal_address(&self.address).context("temporal.address")?;
        non_empty("temporal.namespace", &self.namespace)?;
        non_empty("temporal.task_queue", &self.task_queue)?;
        positive("temporal.connect_timeout", self.connect_timeout)?;
        if self.tls == Some(false) {
            for (key, set) in [
                ("server_ca_file", self.server_ca_file.is_some()),
                ("server_name", self.server_name.is_some()),
                ("client_cert_file", self.client_cert_file.is_some()),
            ] {
                if set {
                    bail!("temporal.{key}: set, but temporal.tls = false turns TLS off");
                }
            }
            if self.address.starts_with("https://") {
                bail!("temporal.address: https:// needs TLS, but temporal.tls = false");
            }
        }
        Ok(())
    }

    /// The certificate files are PEM and the client certificate has its key.
    fn check_files(&self) -> Result<()> {
        match (&self.client_cert_file, &self.client_key) {
            (Some(_), None) => bail!(
                "temporal.client_key_file: client_cert_file is set but there is no key (set \
                 client_key_file or the {TEMPORAL_CLIENT_KEY_CREDENTIAL} credential)"
            ),
            (None, Some(_)) => {
                bail!("temporal.client_cert_file: a client key is configured but no certificate")
            }
            _ => {}
        }
        for (key, file) in [
            ("server_ca_file", &self.server_ca_file),
            ("client_cert_file", &self.client_cert_file),
        ] {
            if let Some(file) = file {
                read_pem(file).with_context(|| format!("temporal.{key}"))?;
            }
        }
        Ok(())
    }
}

/// Reads a PEM file and checks it looks like one, so a wrong path or a DER file is caught
/// by `check-config` instead of as an opaque TLS handshake failure.
pub fn read_pem(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        bail!("{} is not a PEM file (no -----BEGIN line)", path.display());
    }
    Ok(bytes)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// How long in-flight activities may run on after a stop request before they are cancelled.
    #[serde(with = "duration::serde_text")]
    pub graceful_shutdown: Duration,
    /// Serve Prometheus metrics here (`host:port`; keep it on loopback). Unset: no metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_address: Option<String>,
    /// Give every `[instances.<name>]` its own task queue `<temporal.task_queue>-<name>`,
    /// so a busy or stuck instance cannot hold up the others' workflows.
    pub instance_task_queues: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            graceful_shutdown: Duration::from_secs(30),
            metrics_address: None,
            instance_task_queues: false,
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

/// `[instances.<name>]`: another OpenClaw instance. Keys left out are taken from `[gateway]`
/// (except the secrets, which are per instance: `token_file`/`hooks_token_file`, else the
/// credentials `<name>.gateway-token`/`<name>.hooks-token`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<GatewayApi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks_token_file: Option<PathBuf>,
    /// Unset means `/tmp/clawfactory-snapshot-sync/KILLSWITCH_<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub killswitch_file: Option<PathBuf>,
    #[serde(skip)]
    pub gateway_token: Option<Secret>,
    #[serde(skip)]
    pub hooks_token: Option<Secret>,
}

/// Which protocol the worker speaks to the OpenClaw gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Unset means: `hooks-agent` for `worker`, `echo` for `dev`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<GatewayApi>,
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
    #[serde(with = "duration::serde_text")]
    pub timeout: Duration,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnSkipped {
    /// Success, with a warning in the log and the result.
    Succeed,
    /// A non-retryable `AgentRunSkipped` failure.
    Fail,
}

/// `[turns.<id>]`: one agent turn as OpenClaw should run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TurnConfig {
    /// The prompt the agent receives.
    pub message: String,
    /// OpenClaw agent id (must be in `hooks.allowedAgentIds` for `hooks-agent`).
    #[serde(default = "default_agent")]
    pub agent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
    /// How long the turn may run: OpenClaw's `timeoutSeconds` and the activity's
    /// start-to-close. Unset: `workflows.agent_turn.start_to_close`.
    #[serde(
        default,
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub timeout: Option<Duration>,
    /// A built-in default, not written in the config file (cron jobs may replace it).
    #[serde(skip)]
    pub builtin: bool,
}

fn default_agent() -> String {
    "main".into()
}

/// The turns; the two built-in poetry turns are present unless the config redefines them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Turns(pub BTreeMap<String, TurnConfig>);

impl Default for Turns {
    fn default() -> Self {
        let mut turns = Turns(BTreeMap::new());
        turns.add_builtins();
        turns
    }
}

impl Turns {
    fn add_builtins(&mut self) {
        let builtins = [
            (
                "poetry-research-execute",
                "Research today's poetry topic: find three recent poems or essays worth reading, \
                 note for each the author, where it appeared and one line on why it matters, and \
                 save your notes to the research log.",
            ),
            (
                "poetry-research-synthesize",
                "Read the poetry research notes gathered earlier today and synthesize them into a \
                 short digest: the common thread, the strongest piece, and one question to explore \
                 tomorrow.",
            ),
        ];
        for (id, message) in builtins {
            self.0.entry(id.to_owned()).or_insert_with(|| TurnConfig {
                message: message.to_owned(),
                agent: default_agent(),
                model: None,
                thinking: None,
                timeout: None,
                builtin: true,
            });
        }
    }

    fn validate(&self) -> Result<()> {
        for (id, turn) in &self.0 {
            non_empty(&format!("turns.{id}.message"), &turn.message)?;
            non_empty(&format!("turns.{id}.agent"), &turn.agent)?;
            if turn.timeout.is_some_and(|t| t.is_zero()) {
                bail!("turns.{id}.timeout: must be longer than 0s");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkflowsConfig {
    pub agent_turn: AgentTurnConfig,
    pub poetry_research: PoetryResearchConfig,
}

/// Activity options of every agent turn (the reference: 10 min, 30 s → 5 min, 3 attempts).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentTurnConfig {
    #[serde(with = "duration::serde_text")]
    pub start_to_close: Duration,
    pub retry: RetryConfig,
}

impl Default for AgentTurnConfig {
    fn default() -> Self {
        Self {
            start_to_close: Duration::from_secs(600),
            retry: RetryConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    #[serde(with = "duration::serde_text")]
    pub initial_interval: Duration,
    #[serde(with = "duration::serde_text")]
    pub maximum_interval: Duration,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoetryResearchConfig {
    /// The durable wait between the execute and synthesize turns.
    #[serde(with = "duration::serde_text")]
    pub settle: Duration,
}

impl Default for PoetryResearchConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(2 * 3600),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeatherConfig {
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The Temporal CLI; a bare name is looked up on PATH.
    pub temporal_bin: PathBuf,
    pub ip: String,
    pub grpc_port: u16,
    pub http_port: u16,
    pub ui_port: u16,
    pub metrics_port: u16,
    pub db_file: PathBuf,
    /// The dev server's own log level (debug, info, warn, error).
    pub log_level: String,
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
        }
    }
}

/// Where to read the config from, and whether a missing file is an error.
#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    /// A missing default file means "all defaults"; a file the user named must exist.
    pub required: bool,
    /// Also check the certificate and key files the config points at. Off for build-time
    /// checks (a Nix build), where they do not exist yet.
    pub check_files: bool,
}

impl Source {
    pub fn from_cli(explicit: Option<PathBuf>) -> Self {
        match explicit {
            Some(path) => Source {
                path,
                required: true,
                check_files: true,
            },
            None => Source {
                path: PathBuf::from(DEFAULT_PATH),
                required: false,
                check_files: true,
            },
        }
    }
}

/// The process environment the config reads, injectable for tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Config {
    /// Loads, overlays the environment, resolves secrets and validates.
    pub fn load(source: &Source, env: &dyn Env) -> Result<Config> {
        let text = match read_text(&source.path, MAX_CONFIG_BYTES) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !source.required => {
                String::new()
            }
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot read config file {}", source.path.display()));
            }
        };
        let mut config = Config::parse(&text)
            .with_context(|| format!("invalid config file {}", source.path.display()))?;
        config.apply_env(env)?;
        config.temporal.resolve_secrets(env)?;
        config.gateway_token = resolve_secret(
            config.gateway.token_file.as_deref(),
            GATEWAY_TOKEN_CREDENTIAL,
            Some("GATEWAY_INTERNAL_TOKEN"),
            env,
        )
        .context("gateway.token_file")?;
        config.hooks_token = resolve_secret(
            config.gateway.hooks_token_file.as_deref(),
            HOOKS_TOKEN_CREDENTIAL,
            Some("GATEWAY_HOOKS_TOKEN"),
            env,
        )
        .context("gateway.hooks_token_file")?;
        for (name, instance) in &mut config.instances {
            let key = |file: &str| format!("instances.{name}.{file}");
            instance.gateway_token = resolve_secret(
                instance.token_file.as_deref(),
                &format!("{name}.{GATEWAY_TOKEN_CREDENTIAL}"),
                None,
                env,
            )
            .with_context(|| key("token_file"))?;
            instance.hooks_token = resolve_secret(
                instance.hooks_token_file.as_deref(),
                &format!("{name}.{HOOKS_TOKEN_CREDENTIAL}"),
                None,
                env,
            )
            .with_context(|| key("hooks_token_file"))?;
        }
        config.validate()?;
        if source.check_files {
            config.temporal.check_files()?;
        }
        config.target_schedule_instances()?;
        Ok(config)
    }

    /// Puts each schedule's `instance` into its input and, unless a queue is given, picks
    /// the instance's task queue — what `run --instance` does for one start.
    fn target_schedule_instances(&mut self) -> Result<()> {
        // Taken out while edited, so the rest of the config can be read meanwhile.
        let mut schedules = std::mem::take(&mut self.schedules.0);
        for (id, schedule) in &mut schedules {
            let Some(instance) = schedule.instance.clone() else {
                continue;
            };
            self.check_instance(&instance)
                .map_err(|err| anyhow::anyhow!("schedules.{id}.instance: {err}"))?;
            let input = crate::workflows::with_instance(
                &schedule.workflow,
                schedule.input.take(),
                &instance,
            )
            .map_err(|err| anyhow::anyhow!("schedules.{id}: {err}"))?;
            schedule.input = Some(input);
            schedule
                .task_queue
                .get_or_insert_with(|| self.task_queue_for(Some(&instance)));
        }
        self.schedules.0 = schedules;
        Ok(())
    }

    /// `Ok` for an instance this worker serves; the error names the configured ones.
    pub fn check_instance(&self, name: &str) -> Result<()> {
        let known = self.instance_names();
        if !known.iter().any(|k| k == name) {
            bail!("{name:?} is not configured (instances: {known:?})");
        }
        Ok(())
    }

    /// Parses TOML; errors name the key path (`gateway.timeout`) and what was expected.
    pub fn parse(text: &str) -> Result<Config> {
        let table: toml::Table = toml::from_str(text).map_err(|err| anyhow::anyhow!("{err}"))?;
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|err| {
                let path = err.path().to_string();
                // The TOML value deserializer appends its own "in `path`" line; ours leads.
                let inner = err.into_inner().to_string();
                let message = inner.lines().next().unwrap_or_default();
                anyhow::anyhow!("{path}: {message}")
            })?;
        config.turns.add_builtins();
        Ok(config)
    }

    fn apply_env(&mut self, env: &dyn Env) -> Result<()> {
        if let Some(host) = env.var("TEMPORAL_HOST").filter(|v| !v.is_empty()) {
            self.temporal.address = host;
        }
        if let Some(port) = env.var("GATEWAY_PORT").filter(|v| !v.is_empty()) {
            let port: u16 = port.parse().map_err(|_| {
                anyhow::anyhow!("GATEWAY_PORT: expected a TCP port number, got {port:?}")
            })?;
            self.gateway.url = format!("http://127.0.0.1:{port}");
        }
        if let Some(instance) = env.var("INSTANCE_NAME").filter(|v| !v.is_empty()) {
            self.gateway.instance = instance;
        }
        Ok(())
    }

    fn validate(&self) -> Result<()> {
        self.temporal.validate()?;
        non_empty("gateway.instance", &self.gateway.instance)?;
        validate_http_url(&self.gateway.url).context("gateway.url")?;
        validate_http_url(&self.weather.base_url).context("weather.base_url")?;
        positive("gateway.timeout", self.gateway.timeout)?;
        positive(
            "workflows.agent_turn.start_to_close",
            self.workflows.agent_turn.start_to_close,
        )?;
        let retry = &self.workflows.agent_turn.retry;
        positive(
            "workflows.agent_turn.retry.initial_interval",
            retry.initial_interval,
        )?;
        if retry.maximum_interval < retry.initial_interval {
            bail!(
                "workflows.agent_turn.retry.maximum_interval: must be at least initial_interval ({})",
                duration::format(retry.initial_interval)
            );
        }
        self.schedules
            .validate()
            .map_err(|err| anyhow::anyhow!(err))?;
        self.turns.validate()?;
        self.validate_instances()?;
        self.worker.metrics_socket()?;
        if retry.maximum_attempts == 0 {
            bail!(
                "workflows.agent_turn.retry.maximum_attempts: expected at least 1 (0 would retry forever)"
            );
        }
        Ok(())
    }

    fn validate_instances(&self) -> Result<()> {
        for (name, instance) in &self.instances {
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !valid {
                bail!(
                    "instances.{name:?}: an instance name may use only letters, digits, '-' and '_' \
                     (it becomes part of a task queue, a credential and a file name)"
                );
            }
            if *name == self.gateway.instance {
                bail!(
                    "instances.{name}: {name:?} is already the default instance (gateway.instance); \
                     configure it in [gateway]"
                );
            }
            validate_http_url(&instance.url).with_context(|| format!("instances.{name}.url"))?;
        }
        Ok(())
    }

    /// Every instance this worker serves, the default (`[gateway]`) first.
    pub fn instance_names(&self) -> Vec<String> {
        std::iter::once(self.gateway.instance.clone())
            .chain(self.instances.keys().cloned())
            .collect()
    }

    /// The config as seen by one instance: its `[gateway]` and tokens in place of the
    /// default's. `None` for a name that is not configured.
    pub fn for_instance(&self, name: &str) -> Option<Config> {
        if name == self.gateway.instance {
            return Some(self.clone());
        }
        let instance = self.instances.get(name)?;
        let mut view = self.clone();
        view.gateway = GatewayConfig {
            api: instance.api.or(self.gateway.api),
            url: instance.url.clone(),
            token_file: instance.token_file.clone(),
            hooks_token_file: instance.hooks_token_file.clone(),
            killswitch_file: instance.killswitch_file.clone(),
            instance: name.to_owned(),
            ..self.gateway.clone()
        };
        view.gateway_token = instance.gateway_token.clone();
        view.hooks_token = instance.hooks_token.clone();
        Some(view)
    }

    /// Where workflows for `instance` (default: the default instance) are queued.
    pub fn task_queue_for(&self, instance: Option<&str>) -> String {
        match instance {
            Some(name) if self.worker.instance_task_queues && self.instances.contains_key(name) => {
                format!("{}-{name}", self.temporal.task_queue)
            }
            _ => self.temporal.task_queue.clone(),
        }
    }

    /// Every task queue this worker polls.
    pub fn task_queues(&self) -> Vec<String> {
        let mut queues = vec![self.temporal.task_queue.clone()];
        if self.worker.instance_task_queues {
            queues.extend(
                self.instances
                    .keys()
                    .map(|name| self.task_queue_for(Some(name))),
            );
        }
        queues
    }

    /// The effective configuration as TOML, secrets reduced to whether they are set.
    pub fn to_redacted_toml(&self) -> Result<String> {
        let body = toml::to_string_pretty(self).context("cannot render config")?;
        let set = |secret: &Option<Secret>| match secret {
            Some(_) => "set (redacted)",
            None => "not set",
        };
        let mut header = format!("# temporal: {}\n", self.temporal.describe());
        for name in self.instance_names() {
            let Some(view) = self.for_instance(&name) else {
                continue;
            };
            header.push_str(&format!(
                "# instance {name}: {} on task queue {}; gateway token {}, hooks token {}, killswitch file {}\n",
                view.gateway.url,
                self.task_queue_for(Some(&name)),
                set(&view.gateway_token),
                set(&view.hooks_token),
                view.gateway.killswitch_path().display()
            ));
        }
        if let Some(address) = &self.worker.metrics_address {
            header.push_str(&format!("# metrics: http://{address}/metrics\n"));
        }
        Ok(format!("{header}{body}"))
    }
}

/// A secret from its file, else the systemd credential, else the environment variable.
fn resolve_secret(
    file: Option<&Path>,
    credential: &str,
    env_var: Option<&str>,
    env: &dyn Env,
) -> Result<Option<Secret>> {
    if let Some(file) = file {
        return read_secret_file(file);
    }
    if let Some(dir) = env.var("CREDENTIALS_DIRECTORY") {
        let file = Path::new(&dir).join(credential);
        if file.exists() {
            return read_secret_file(&file);
        }
    }
    Ok(env_var.and_then(|name| env.var(name)).and_then(Secret::new))
}

/// Files we read whole are read within a limit: a path pointing at `/dev/zero` or a log file
/// must not make the worker read forever.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
const MAX_SECRET_BYTES: u64 = 64 * 1024;

fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB: is it the right file?",
            limit / 1024
        )));
    }
    Ok(text)
}

fn read_secret_file(path: &Path) -> Result<Option<Secret>> {
    let text = read_text(path, MAX_SECRET_BYTES)
        .with_context(|| format!("cannot read secret file {}", path.display()))?;
    warn_if_readable_by_others(path);
    Ok(Secret::new(text))
}

/// A token anyone on the machine can read is a leak waiting to happen; say which file.
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    if metadata.permissions().mode() & 0o004 != 0 {
        tracing::warn!(
            file = %path.display(),
            "secret file is readable by every user; restrict it (chmod 600 {})",
            path.display()
        );
    }
}

fn non_empty(key: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        bail!("{key}: must not be empty");
    }
    Ok(())
}

fn positive(key: &str, value: Duration) -> Result<()> {
    if value.is_zero() {
        bail!("{key}: must be longer than 0s");
    }
    Ok(())
}

fn validate_http_url(text: &str) -> Result<()> {
    let url = reqwest::Url::parse(text)
        .map_err(|err| anyhow::anyhow!("expected an http(s) URL, got {text:?} ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("expected an http(s) URL with a host, got {text:?}");
    }
    Ok(())
}

/// `host:port` gets `http://`; an address that already has a scheme stays as it is.
fn address_url(address: &str) -> String {
    if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    }
}

fn validate_temporal_address(text: &str) -> Result<()> {
    let url = reqwest::Url::parse(&address_url(text))
        .map_err(|err| anyhow::anyhow!("expected host:port, got {text:?} ({err})"))?;
    if url.host_str().is_none() || url.port_or_known_default().is_none() {
        bail!("expected host:port, got {text:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv(HashMap<&'static str, String>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn env(pairs: &[(&'static str, &str)]) -> FakeEnv {
        FakeEnv(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    fn load_text(text: &str, env_pairs: &[(&'static str, &str)]) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(
            &Source {
                path,
                required: true,
                check_files: true,
            },
            &env(env_pairs),
        )
    }

    fn error_text(err: anyhow::Error) -> String {
        format!("{err:#}")
    }

    #[test]
    fn defaults_match_the_reference() {
        let c = load_text("", &[]).unwrap();
        assert_eq!(c.temporal.url(), "http://127.0.0.1:7233");
        assert_eq!(c.temporal.namespace, "default");
        assert_eq!(c.temporal.task_queue, "clawfactory");
        assert_eq!(c.gateway.url, "http://127.0.0.1:18789");
        assert_eq!(c.gateway.timeout, Duration::from_secs(300));
        assert_eq!(
            c.gateway.killswitch_path(),
            PathBuf::from("/tmp/clawfactory-snapshot-sync/KILLSWITCH_default")
        );
        assert_eq!(
            c.workflows.poetry_research.settle,
            Duration::from_secs(7200)
        );
        assert_eq!(
            c.workflows.agent_turn.start_to_close,
            Duration::from_secs(600)
        );
        assert_eq!(
            c.workflows.agent_turn.retry,
            RetryConfig {
                initial_interval: Duration::from_secs(30),
                maximum_interval: Duration::from_secs(300),
                maximum_attempts: 3
            }
        );
        assert!(c.gateway_token.is_none());
    }

    #[test]
    fn missing_default_file_is_all_defaults_but_missing_named_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.toml");
        let optional = Source {
            path: path.clone(),
            required: false,
            check_files: true,
        };
        assert!(Config::load(&optional, &env(&[])).is_ok());
        let required = Source {
            path,
            required: true,
            check_files: true,
        };
        let err = error_text(Config::load(&required, &env(&[])).unwrap_err());
        assert!(err.contains("absent.toml"), "{err}");
    }

    #[test]
    fn reference_env_vars_override_the_file() {
        let c = load_text(
            "[temporal]\naddress = \"10.0.0.1:7233\"\n[gateway]\ninstance = \"a\"\n",
            &[
                ("TEMPORAL_HOST", "127.0.0.2:7000"),
                ("GATEWAY_PORT", "18800"),
                ("INSTANCE_NAME", "bob"),
                ("GATEWAY_INTERNAL_TOKEN", "env-token"),
            ],
        )
        .unwrap();
        assert_eq!(c.temporal.url(), "http://127.0.0.2:7000");
        assert_eq!(c.gateway.url, "http://127.0.0.1:18800");
        assert_eq!(c.gateway.instance, "bob");
        assert_eq!(
            c.gateway.killswitch_path(),
            PathBuf::from("/tmp/clawfactory-snapshot-sync/KILLSWITCH_bob")
        );
        assert_eq!(c.gateway_token.unwrap().expose(), "env-token");
    }

    #[test]
    fn token_sources_in_order_file_then_credentials_then_env() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tok"), "from-file\n").unwrap();
        std::fs::write(dir.path().join(GATEWAY_TOKEN_CREDENTIAL), "from-cred").unwrap();
        let creds = dir.path().to_str().unwrap().to_owned();
        let file_cfg = format!(
            "[gateway]\ntoken_file = \"{}\"\n",
            dir.path().join("tok").display()
        );
        let all = [
            ("CREDENTIALS_DIRECTORY", creds.as_str()),
            ("GATEWAY_INTERNAL_TOKEN", "from-env"),
        ];
        let c = load_text(&file_cfg, &all).unwrap();
        assert_eq!(c.gateway_token.unwrap().expose(), "from-file");
        let c = load_text("", &all).unwrap();
        assert_eq!(c.gateway_token.unwrap().expose(), "from-cred");
        let c = load_text("", &all[1..]).unwrap();
        assert_eq!(c.gateway_token.unwrap().expose(), "from-env");
    }

    #[test]
    fn the_hooks_token_is_a_separate_secret() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(HOOKS_TOKEN_CREDENTIAL), "hooks-cred").unwrap();
        let creds = dir.path().to_str().unwrap().to_owned();
        let c = load_text(
            "",
            &[
                ("CREDENTIALS_DIRECTORY", creds.as_str()),
                ("GATEWAY_INTERNAL_TOKEN", "gw"),
            ],
        )
        .unwrap();
        assert_eq!(c.hooks_token.unwrap().expose(), "hooks-cred");
        assert_eq!(c.gateway_token.unwrap().expose(), "gw");
        let c = load_text("", &[("GATEWAY_HOOKS_TOKEN", "hooks-env")]).unwrap();
        assert_eq!(c.hooks_token.unwrap().expose(), "hooks-env");
        assert!(c.gateway_token.is_none());
        let out = load_text("", &[("GATEWAY_HOOKS_TOKEN", "hooks-env")])
            .unwrap()
            .to_redacted_toml()
            .unwrap();
        assert!(out.contains("hooks token set (redacted)") && !out.contains("hooks-env"));
    }

    #[test]
    fn turns_keep_the_builtins_unless_redefined() {
        let c = load_text(
            "[turns.digest]\nmessage = \"Digest.\"\ntimeout = \"2m\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.turns.0["digest"].agent, "main");
        assert_eq!(c.turns.0["digest"].timeout, Some(Duration::from_secs(120)));
        assert!(!c.turns.0["digest"].builtin);
        assert!(c.turns.0["poetry-research-execute"].builtin);
        assert!(c.turns.0.contains_key("poetry-research-synthesize"));
        let c = load_text(
            "[turns.poetry-research-execute]\nmessage = \"Mine.\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.turns.0["poetry-research-execute"].message, "Mine.");
        assert!(!c.turns.0["poetry-research-execute"].builtin);
        let err = error_text(load_text("[turns.x]\nagent = \"main\"\n", &[]).unwrap_err());
        assert!(
            err.contains("turns.x") && err.contains("missing field `message`"),
            "{err}"
        );
        let err = error_text(load_text("[turns.x]\nmessage = \" \"\n", &[]).unwrap_err());
        assert!(err.contains("turns.x.message: must not be empty"), "{err}");
    }

    #[test]
    fn endless_files_are_refused_naming_file_and_limit() {
        let err =
            error_text(load_text("[gateway]\ntoken_file = \"/dev/zero\"\n", &[]).unwrap_err());
        assert!(
            err.contains("gateway.token_file")
                && err.contains("/dev/zero")
                && err.contains("larger than 64 KiB"),
            "{err}"
        );
        let source = Source::from_cli(Some("/dev/zero".into()));
        let err = error_text(Config::load(&source, &env(&[])).unwrap_err());
        assert!(
            err.contains("/dev/zero") && err.contains("larger than 1024 KiB"),
            "{err}"
        );
    }

    #[test]
    fn unreadable_token_file_names_the_key_and_file() {
        let err = error_text(
            load_text("[gateway]\ntoken_file = \"/nonexistent/tok\"\n", &[]).unwrap_err(),
        );
        assert!(err.contains("gateway.token_file"), "{err}");
        assert!(err.contains("/nonexistent/tok"), "{err}");
    }

    #[test]
    fn bad_keys_and_values_name_the_path_and_expectation() {
        let cases = [
            (
                "[gateway]\ntimout = \"5s\"\n",
                "gateway",
                "unknown field `timout`",
            ),
            (
                "[gateway]\ntimeout = \"5x\"\n",
                "gateway.timeout",
                "expected a whole number",
            ),
            (
                "[gateway]\napi = \"grpc\"\n",
                "gateway.api",
                "expected one of `hooks-agent`, `chat-completions`, `cron-fire`, `echo`",
            ),
            (
                "[gateway]\ntoken = \"x\"\n",
                "gateway",
                "unknown field `token`",
            ),
            (
                "[gateway]\nurl = \"ftp://x\"\n",
                "gateway.url",
                "http(s) URL",
            ),
            (
                "[temporal]\naddress = \"\"\n",
                "temporal.address",
                "host:port",
            ),
            (
                "[temporal]\ntask_queue = 3\n",
                "temporal.task_queue",
                "expected a string",
            ),
            (
                "[workflows.poetry_research]\nsettle = 5\n",
                "workflows.poetry_research.settle",
                "string",
            ),
            (
                "[workflows.agent_turn.retry]\nmaximum_attempts = 0\n",
                "maximum_attempts",
                "at least 1",
            ),
            (
                "[weather]\nbase_url = \"nope\"\n",
                "weather.base_url",
                "http(s) URL",
            ),
            ("[surprise]\n", "", "unknown field `surprise`"),
            ("[gateway\n", "", "invalid config file"),
        ];
        for (text, path, expected) in cases {
            let err = error_text(load_text(text, &[]).unwrap_err());
            assert!(err.contains(path), "{text:?}: {err}");
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn gateway_api_displays_as_written_in_the_config() {
        assert_eq!(GatewayApi::HooksAgent.to_string(), "hooks-agent");
        assert_eq!(GatewayApi::ChatCompletions.to_string(), "chat-completions");
        assert_eq!(GatewayApi::Echo.to_string(), "echo");
    }

    #[test]
    fn bad_gateway_port_env_is_named() {
        let err = error_text(load_text("", &[("GATEWAY_PORT", "http")]).unwrap_err());
        assert!(err.contains("GATEWAY_PORT"), "{err}");
    }

    #[test]
    fn redacted_output_hides_the_token_and_reparses() {
        let c = load_text("", &[("GATEWAY_INTERNAL_TOKEN", "s3cret-value")]).unwrap();
        let out = c.to_redacted_toml().unwrap();
        assert!(!out.contains("s3cret-value"));
        assert!(out.contains("gateway token set (redacted)"));
        let again = Config::parse(&out).unwrap();
        assert_eq!(again.temporal.task_queue, "clawfactory");
        assert_eq!(
            again.workflows.poetry_research.settle,
            Duration::from_secs(7200)
        );
    }

    #[test]
    fn the_temporal_api_key_comes_from_the_environment_and_is_never_printed() {
        let c = load_text(
            "[temporal]\naddress = \"ns.acct.tmprl.cloud:7233\"\n",
            &[("TEMPORAL_API_KEY", "cloud-key-xyz")],
        )
        .unwrap();
        assert_eq!(
            c.temporal.api_key.as_ref().unwrap().expose(),
            "cloud-key-xyz"
        );
        assert!(c.temporal.uses_tls());
        let out = c.to_redacted_toml().unwrap();
        assert!(!out.contains("cloud-key-xyz"), "{out}");
        assert!(
            out.contains("# temporal: https://ns.acct.tmprl.cloud:7233"),
            "{out}"
        );
        Config::parse(&out).unwrap();
    }
}
