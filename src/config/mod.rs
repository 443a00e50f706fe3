//! The worker's configuration: one TOML file, every key defaulted, the reference worker's
//! environment variables layered on top, and secrets read from files — never from the TOML.
//!
//! This is the bottom layer: it reads, checks and reports, and depends on nothing above it
//! (no workflow code, no gateway, no Temporal protos). What follows from the whole config —
//! each OpenClaw instance resolved with its tokens and queue — is computed once, in
//! [`instances`]. One file per section; secrets and shared checks have their own.
//!
//! Load order (later wins): built-in defaults → the TOML file → `TEMPORAL_HOST`,
//! `GATEWAY_PORT`, `INSTANCE_NAME`. The gateway token comes from `gateway.token_file`, else
//! `$CREDENTIALS_DIRECTORY/gateway-token` (systemd `LoadCredential=`), else
//! `GATEWAY_INTERNAL_TOKEN`.

mod backup;
pub mod cron;
mod declared;
mod gateway;
mod http;
mod inputs;
pub mod instances;
mod schedules;
pub mod schema;
mod secrets;
mod sections;
mod step_secrets;
mod temporal;
mod turns;
mod validate;

pub use backup::{BackupConfig, DEFAULT_BACKUP_DIR};
pub use declared::{
    Concurrency, Declared, DeclaredWorkflow, STEP_TYPES, StepDecl, StepRetry, Timeout, WhenBusy,
    check_name,
};
pub use gateway::{GatewayApi, GatewayConfig, InstanceConfig, OnSkipped};
pub use http::HttpConfig;
pub use inputs::{InputDecl, InputType, Inputs, RESERVED_INPUTS};
pub use instances::{Instance, Instances};
pub use schedules::{Overlap, ScheduleConfig, Schedules};
pub use secrets::{
    GATEWAY_TOKEN_CREDENTIAL, HOOKS_TOKEN_CREDENTIAL, InstanceTokens, TEMPORAL_API_KEY_CREDENTIAL,
    TEMPORAL_CLIENT_KEY_CREDENTIAL, read_pem,
};
pub use sections::{
    AgentTurnConfig, PoetryResearchConfig, RetryConfig, ServerConfig, WeatherConfig, WorkerConfig,
    WorkflowsConfig,
};
pub use step_secrets::{SecretFiles, SecretSource, StepSecrets};
pub use temporal::TemporalConfig;
pub use turns::{TurnConfig, Turns};

use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use secrets::{MAX_CONFIG_BYTES, read_text, resolve_secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the config lives when neither `--config` nor `CLAWFACTORY_CONFIG` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/clawfactory/temporal.toml";

/// The clawfactory-temporal config file (`/etc/clawfactory/temporal.toml`). Every key has a
/// default; secrets are never written here, only the files they are read from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
#[schemars(title = "clawfactory-temporal config")]
pub struct Config {
    /// `[temporal]`: where the Temporal frontend is and how to reach it.
    pub temporal: TemporalConfig,
    /// `[worker]`: the worker process itself.
    pub worker: WorkerConfig,
    /// `[gateway]`: the default OpenClaw instance.
    pub gateway: GatewayConfig,
    /// `[workflows.*]`: options of the built-in workflows.
    pub workflows: WorkflowsConfig,
    /// `[weather]`: the weather check's service.
    pub weather: WeatherConfig,
    /// `[server]`: the local Temporal dev server that `dev` and `server` run.
    pub server: ServerConfig,
    /// `[http]`: where `http` steps may go.
    pub http: HttpConfig,
    /// `[backup]`: where `backup` writes copies of the server's database, how many it keeps.
    pub backup: BackupConfig,
    /// `[schedules.<id>]`; absent means the reference's `poetry-research-daily`.
    pub schedules: Schedules,
    /// `[turns.<id>]`: what OpenClaw runs for each agent turn id.
    pub turns: Turns,
    /// `[instances.<name>]`: more OpenClaw instances besides the default one (`[gateway]`).
    /// A name may use letters, digits, `-` and `_`.
    #[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z0-9_-]+$" }))]
    pub instances: BTreeMap<String, InstanceConfig>,
    /// `[declared.<name>]`: workflows declared here, started by their name.
    #[serde(skip_serializing_if = "Declared::is_empty")]
    pub declared: Declared,
    /// `[secrets.<name>]`: values `http` steps may send in a header (`{{ secrets.<name> }}`),
    /// each named by the file or systemd credential it is read from, never by value.
    #[serde(skip_serializing_if = "StepSecrets::is_empty")]
    pub secrets: StepSecrets,
    /// Each instance's tokens by instance name, resolved from files, credentials or the
    /// environment at load time; never read from or written to TOML.
    #[serde(skip)]
    pub tokens: BTreeMap<String, InstanceTokens>,
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
        config.tokens = config.resolve_tokens(env)?;
        config.validate()?;
        if source.check_files {
            config.temporal.check_files()?;
        }
        Ok(config)
    }

    /// Parses TOML; errors name the key path (`gateway.timeout`) and what was expected.
    pub fn parse(text: &str) -> Result<Config> {
        let table: toml::Table = toml::from_str(text).map_err(|err| anyhow::anyhow!("{err}"))?;
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
            let path = err.path().to_string();
            // The TOML value deserializer appends its own "in `path`" line; ours leads.
            let inner = err.into_inner().to_string();
            let message = inner.lines().next().unwrap_or_default();
            anyhow::anyhow!("{path}: {message}")
        })
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

    /// The default instance's tokens may also come from the reference's variables; other
    /// instances' only from their files or `<name>.`-prefixed credentials.
    fn resolve_tokens(&self, env: &dyn Env) -> Result<BTreeMap<String, InstanceTokens>> {
        let mut tokens = BTreeMap::new();
        let default = InstanceTokens {
            gateway: resolve_secret(
                self.gateway.token_file.as_deref(),
                GATEWAY_TOKEN_CREDENTIAL,
                Some("GATEWAY_INTERNAL_TOKEN"),
                env,
            )
            .context("gateway.token_file")?,
            hooks: resolve_secret(
                self.gateway.hooks_token_file.as_deref(),
                HOOKS_TOKEN_CREDENTIAL,
                Some("GATEWAY_HOOKS_TOKEN"),
                env,
            )
            .context("gateway.hooks_token_file")?,
        };
        tokens.insert(self.gateway.instance.clone(), default);
        for (name, instance) in &self.instances {
            let key = |file: &str| format!("instances.{name}.{file}");
            let resolved = InstanceTokens {
                gateway: resolve_secret(
                    instance.token_file.as_deref(),
                    &format!("{name}.{GATEWAY_TOKEN_CREDENTIAL}"),
                    None,
                    env,
                )
                .with_context(|| key("token_file"))?,
                hooks: resolve_secret(
                    instance.hooks_token_file.as_deref(),
                    &format!("{name}.{HOOKS_TOKEN_CREDENTIAL}"),
                    None,
                    env,
                )
                .with_context(|| key("hooks_token_file"))?,
            };
            tokens.insert(name.clone(), resolved);
        }
        Ok(tokens)
    }

    fn validate(&self) -> Result<()> {
        self.temporal.validate()?;
        validate::non_empty("gateway.instance", &self.gateway.instance)?;
        validate::http_url(&self.gateway.url).context("gateway.url")?;
        validate::http_url(&self.weather.base_url).context("weather.base_url")?;
        validate::positive("gateway.timeout", self.gateway.timeout)?;
        self.workflows.validate()?;
        self.declared
            .validate()
            .map_err(|err| anyhow::anyhow!(err))?;
        self.schedules
            .validate(&self.declared)
            .map_err(|err| anyhow::anyhow!(err))?;
        self.turns.validate()?;
        self.secrets
            .validate()
            .map_err(|err| anyhow::anyhow!(err))?;
        self.validate_instances()?;
        self.validate_schedule_instances()?;
        self.worker.metrics_socket()?;
        self.workflows.validate_attempts()?;
        self.backup.validate()?;
        self.server.validate()?;
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
            validate::http_url(&instance.url).with_context(|| format!("instances.{name}.url"))?;
        }
        Ok(())
    }

    fn validate_schedule_instances(&self) -> Result<()> {
        // The protocol does not matter here: only which instances exist.
        let instances = Instances::resolve(self, GatewayApi::HooksAgent);
        for (id, schedule) in &self.schedules.0 {
            let Some(instance) = &schedule.instance else {
                continue;
            };
            instances
                .check(instance)
                .map_err(|err| anyhow::anyhow!("schedules.{id}.instance: {err}"))?;
            crate::workflow_types::with_instance(
                &schedule.workflow,
                schedule.input.clone(),
                instance,
            )
            .map_err(|err| anyhow::anyhow!("schedules.{id}: {err}"))?;
        }
        Ok(())
    }
}

/// A config loaded from text with a scripted environment, for tests here and above.
#[cfg(test)]
pub(crate) mod test_support {
    use super::{Config, Env, Source};
    use std::collections::HashMap;

    pub struct FakeEnv(pub HashMap<&'static str, String>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    pub fn env(pairs: &[(&'static str, &str)]) -> FakeEnv {
        FakeEnv(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    pub fn load_text(text: &str, env_pairs: &[(&'static str, &str)]) -> anyhow::Result<Config> {
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
}

#[cfg(test)]
mod tests {
    use super::test_support::{env, load_text};
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    /// The default instance's tokens.
    fn default_tokens(c: &Config) -> &InstanceTokens {
        &c.tokens[&c.gateway.instance]
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
        assert!(default_tokens(&c).gateway.is_none());
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
        assert_eq!(
            default_tokens(&c).gateway.as_ref().unwrap().expose(),
            "env-token"
        );
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
        assert_eq!(
            default_tokens(&c).gateway.as_ref().unwrap().expose(),
            "from-file"
        );
        let c = load_text("", &all).unwrap();
        assert_eq!(
            default_tokens(&c).gateway.as_ref().unwrap().expose(),
            "from-cred"
        );
        let c = load_text("", &all[1..]).unwrap();
        assert_eq!(
            default_tokens(&c).gateway.as_ref().unwrap().expose(),
            "from-env"
        );
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
        assert_eq!(
            default_tokens(&c).hooks.as_ref().unwrap().expose(),
            "hooks-cred"
        );
        assert_eq!(default_tokens(&c).gateway.as_ref().unwrap().expose(), "gw");
        let c = load_text("", &[("GATEWAY_HOOKS_TOKEN", "hooks-env")]).unwrap();
        assert_eq!(
            default_tokens(&c).hooks.as_ref().unwrap().expose(),
            "hooks-env"
        );
        assert!(default_tokens(&c).gateway.is_none());
    }

    #[test]
    fn turns_are_what_the_file_writes_with_their_defaults() {
        let c = load_text(
            "[turns.digest]\nmessage = \"Digest.\"\ntimeout = \"2m\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.turns.0["digest"].agent, "main");
        assert_eq!(c.turns.0["digest"].timeout, Some(Duration::from_secs(120)));
        assert_eq!(
            c.turns.0.len(),
            1,
            "built-in turns belong to their workflows"
        );
        let c = load_text(
            "[turns.poetry-research-execute]\nmessage = \"Mine.\"\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.turns.0["poetry-research-execute"].message, "Mine.");
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
}
