//! Every OpenClaw instance the worker serves, resolved once from the whole config: the
//! default one from `[gateway]` and the reference's variables, the others from
//! `[instances.<name>]` with what they leave out taken from `[gateway]`. `main` resolves it
//! once per command and passes it down: the worker, its start-up preflight, `check-config`,
//! `run --instance`, `openclaw-cron` and the schedules all read this list, so they agree on
//! each instance's gateway, tokens, queue and killswitch.

use super::secrets::{GATEWAY_TOKEN_CREDENTIAL, HOOKS_TOKEN_CREDENTIAL};
use super::{Config, GatewayApi, GatewayConfig, InstanceTokens};
use anyhow::{Result, bail};
use std::path::PathBuf;

/// One OpenClaw instance, as the worker reaches it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub name: String,
    /// The protocol: the instance's `api`, else `[gateway]`'s, else the command's default.
    pub api: GatewayApi,
    /// The gateway settings in effect for this instance (its URL and token files, the rest
    /// from `[gateway]`); `gateway.instance` is `name`.
    pub gateway: GatewayConfig,
    pub tokens: InstanceTokens,
    pub task_queue: String,
    pub killswitch_file: PathBuf,
    /// The `[gateway]` instance, whose tokens may also come from the reference's variables.
    pub is_default: bool,
}

impl Instance {
    /// Where the hooks token may be set, for messages that say what is missing.
    pub fn hooks_token_sources(&self) -> String {
        self.token_sources(
            "hooks_token_file",
            HOOKS_TOKEN_CREDENTIAL,
            "GATEWAY_HOOKS_TOKEN",
        )
    }

    /// Where the gateway token may be set.
    pub fn gateway_token_sources(&self) -> String {
        self.token_sources(
            "token_file",
            GATEWAY_TOKEN_CREDENTIAL,
            "GATEWAY_INTERNAL_TOKEN",
        )
    }

    fn token_sources(&self, key: &str, credential: &str, env_var: &str) -> String {
        if self.is_default {
            format!("gateway.{key}, credential {credential}, or {env_var}")
        } else {
            let name = &self.name;
            format!("instances.{name}.{key} or credential {name}.{credential}")
        }
    }
}

/// The resolved instances, the default first.
#[derive(Debug, Clone)]
pub struct Instances(Vec<Instance>);

impl Instances {
    /// `default_api` is the protocol where the config names none (`hooks-agent` for the
    /// worker, `echo` for `dev`).
    pub fn resolve(config: &Config, default_api: GatewayApi) -> Instances {
        let default = &config.gateway;
        let tokens = |name: &str| config.tokens.get(name).cloned().unwrap_or_default();
        let first = Instance {
            name: default.instance.clone(),
            api: default.api.unwrap_or(default_api),
            gateway: default.clone(),
            tokens: tokens(&default.instance),
            task_queue: config.temporal.task_queue.clone(),
            killswitch_file: default.killswitch_path(),
            is_default: true,
        };
        let others = config.instances.iter().map(|(name, instance)| {
            let gateway = GatewayConfig {
                api: instance.api.or(default.api),
                url: instance.url.clone(),
                token_file: instance.token_file.clone(),
                hooks_token_file: instance.hooks_token_file.clone(),
                killswitch_file: instance.killswitch_file.clone(),
                instance: name.clone(),
                ..default.clone()
            };
            Instance {
                name: name.clone(),
                api: gateway.api.unwrap_or(default_api),
                killswitch_file: gateway.killswitch_path(),
                gateway,
                tokens: tokens(name),
                task_queue: if config.worker.instance_task_queues {
                    format!("{}-{name}", config.temporal.task_queue)
                } else {
                    config.temporal.task_queue.clone()
                },
                is_default: false,
            }
        });
        Instances(std::iter::once(first).chain(others).collect())
    }

    /// The `[gateway]` instance.
    pub fn default_instance(&self) -> &Instance {
        &self.0[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Instance> {
        self.0.iter()
    }

    pub fn get(&self, name: &str) -> Option<&Instance> {
        self.0.iter().find(|instance| instance.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.0
            .iter()
            .map(|instance| instance.name.as_str())
            .collect()
    }

    /// The instance called `name`; the error names the configured ones.
    pub fn check(&self, name: &str) -> Result<&Instance> {
        match self.get(name) {
            Some(instance) => Ok(instance),
            None => bail!("{name:?} is not configured (instances: {:?})", self.names()),
        }
    }

    /// Where workflows for `instance` (default: the default instance) are queued.
    pub fn task_queue_for(&self, instance: Option<&str>) -> &str {
        let chosen = instance.and_then(|name| self.get(name));
        &chosen.unwrap_or(self.default_instance()).task_queue
    }

    /// Every task queue the worker polls, each once, the default instance's first.
    pub fn task_queues(&self) -> Vec<String> {
        let mut queues: Vec<String> = Vec::new();
        for instance in self.iter() {
            if !queues.contains(&instance.task_queue) {
                queues.push(instance.task_queue.clone());
            }
        }
        queues
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_instances_take_what_they_leave_out_from_the_gateway_section() {
        let mut config = Config::parse(
            "[gateway]\napi = \"chat-completions\"\ntimeout = \"42s\"\n\
             [worker]\ninstance_task_queues = true\n\
             [instances.lab]\nurl = \"http://127.0.0.1:9\"\n",
        )
        .unwrap();
        config.tokens.insert(
            "lab".into(),
            InstanceTokens {
                gateway: None,
                hooks: crate::secret::Secret::new("lab-hooks"),
            },
        );
        let instances = Instances::resolve(&config, GatewayApi::HooksAgent);
        assert_eq!(instances.names(), ["default", "lab"]);
        let lab = instances.get("lab").unwrap();
        assert_eq!(lab.api, GatewayApi::ChatCompletions);
        assert_eq!(lab.gateway.url, "http://127.0.0.1:9");
        assert_eq!(lab.gateway.timeout, std::time::Duration::from_secs(42));
        assert_eq!(lab.task_queue, "clawfactory-lab");
        assert_eq!(
            lab.killswitch_file,
            PathBuf::from("/tmp/clawfactory-snapshot-sync/KILLSWITCH_lab")
        );
        assert_eq!(lab.tokens.hooks.as_ref().unwrap().expose(), "lab-hooks");
        let default = instances.get("default").unwrap();
        assert_eq!(default.task_queue, "clawfactory");
        assert!(default.tokens.hooks.is_none());
    }

    #[test]
    fn each_instance_is_queued_on_its_own_queue_only_when_the_worker_splits_them() {
        let text = "[instances.lab]\nurl = \"http://127.0.0.1:9\"\n";
        let shared = Instances::resolve(&Config::parse(text).unwrap(), GatewayApi::Echo);
        assert_eq!(shared.task_queue_for(Some("lab")), "clawfactory");
        assert_eq!(shared.task_queues(), ["clawfactory"]);

        let split = format!("[worker]\ninstance_task_queues = true\n{text}");
        let split = Instances::resolve(&Config::parse(&split).unwrap(), GatewayApi::Echo);
        assert_eq!(split.task_queue_for(Some("lab")), "clawfactory-lab");
        assert_eq!(split.task_queue_for(Some("default")), "clawfactory");
        assert_eq!(split.task_queue_for(None), "clawfactory");
        assert_eq!(split.task_queues(), ["clawfactory", "clawfactory-lab"]);
        assert_eq!(split.check("lab").unwrap().name, "lab");
        assert_eq!(
            split.check("nope").unwrap_err().to_string(),
            r#""nope" is not configured (instances: ["default", "lab"])"#
        );
    }

    #[test]
    fn messages_name_the_instances_own_token_keys() {
        let config = Config::parse("[instances.lab]\nurl = \"http://127.0.0.1:9\"\n").unwrap();
        let instances = Instances::resolve(&config, GatewayApi::Echo);
        assert_eq!(instances.get("default").unwrap().api, GatewayApi::Echo);
        assert_eq!(
            instances.get("default").unwrap().hooks_token_sources(),
            "gateway.hooks_token_file, credential hooks-token, or GATEWAY_HOOKS_TOKEN"
        );
        assert_eq!(
            instances.get("lab").unwrap().hooks_token_sources(),
            "instances.lab.hooks_token_file or credential lab.hooks-token"
        );
    }
}
