//! The checks of a declaration that depend on the rest of the config: the agent turns it
//! names exist, its instances are configured, a templated message goes to a protocol
//! that can carry one, and the secrets its http steps' headers name are in `[secrets]`. `check-config` runs them on every `[declared.<name>]`; the worker runs
//! them when a run starts (inside the activity that records the definition, so a replay
//! after the config changed reads the recorded answer instead of asking again).

use super::plan::Plan;
use super::steps::{AgentTurn, Http, Kind};
use crate::config::{Config, GatewayApi, Instances};
use std::collections::{BTreeMap, BTreeSet};

/// What the checks need to know about the config, taken once.
#[derive(Debug, Clone)]
pub struct Facts {
    default_instance: String,
    instances: BTreeMap<String, InstanceFacts>,
    /// `[turns.<id>]` and the built-in turns.
    turns: BTreeSet<String>,
    /// `[secrets.<name>]`: the names only.
    secrets: BTreeSet<String>,
}

#[derive(Debug, Clone)]
struct InstanceFacts {
    api: GatewayApi,
    resolve_cron_jobs: bool,
}

impl Facts {
    pub fn new(config: &Config, instances: &Instances) -> Facts {
        Facts {
            default_instance: instances.default_instance().name.clone(),
            instances: instances
                .iter()
                .map(|i| {
                    let facts = InstanceFacts {
                        api: i.api,
                        resolve_cron_jobs: i.gateway.resolve_cron_jobs,
                    };
                    (i.name.clone(), facts)
                })
                .collect(),
            turns: config
                .turns
                .0
                .keys()
                .cloned()
                .chain(
                    crate::workflows::builtin_turns()
                        .into_iter()
                        .map(|(id, _)| id),
                )
                .collect(),
            secrets: config.secrets.names().map(str::to_owned).collect(),
        }
    }

    /// Every secret a header of the plan names is in `[secrets]`.
    fn check_secrets(&self, plan: &Plan) -> Result<(), String> {
        for (path, header, secret) in secrets_named(plan) {
            if !self.secrets.contains(&secret) {
                return Err(format!(
                    "{path}.headers.{header}: reads secrets.{secret}, but [secrets] has no \
                     {secret:?} (secrets: {:?})",
                    self.secrets.iter().collect::<Vec<_>>()
                ));
            }
        }
        Ok(())
    }

    /// Every agent turn of the plan, on the instance it would run on without an `instance`
    /// in the run's input (that one is checked when the turn runs).
    pub fn check(&self, plan: &Plan) -> Result<(), String> {
        let mut result = Ok(());
        for step in plan.steps.iter().chain(&plan.on_failure) {
            step.visit(&mut |step| {
                if result.is_ok()
                    && let Kind::AgentTurn(AgentTurn {
                        turn,
                        instance,
                        message,
                        ..
                    }) = &step.kind
                {
                    let instance = instance
                        .as_deref()
                        .or(plan.instance.as_deref())
                        .unwrap_or(&self.default_instance);
                    result = self
                        .check_turn(turn, instance, message.is_some())
                        .map_err(|(key, err)| format!("{}.{key}: {err}", step.path));
                }
            });
        }
        if let Some(instance) = &plan.instance
            && !self.instances.contains_key(instance)
        {
            return Err(format!(
                "declared.{}.instance: {instance:?} is not configured (instances: {:?})",
                plan.name,
                self.instances.keys().collect::<Vec<_>>()
            ));
        }
        result?;
        self.check_secrets(plan)
    }

    fn check_turn(
        &self,
        turn: &str,
        instance: &str,
        has_message: bool,
    ) -> Result<(), (&'static str, String)> {
        let Some(facts) = self.instances.get(instance) else {
            return Err((
                "instance",
                format!(
                    "{instance:?} is not configured (instances: {:?})",
                    self.instances.keys().collect::<Vec<_>>()
                ),
            ));
        };
        if has_message && facts.api == GatewayApi::CronFire {
            return Err((
                "message",
                format!(
                    "instance {instance:?} uses gateway.api = \"cron-fire\", which runs the \
                     OpenClaw job's own prompt and cannot carry a message"
                ),
            ));
        }
        // cron-fire fires OpenClaw's job by name and echo runs nothing: neither reads turns.
        let reads_turns = matches!(
            facts.api,
            GatewayApi::HooksAgent | GatewayApi::ChatCompletions
        );
        if reads_turns && !facts.resolve_cron_jobs && !self.turns.contains(turn) {
            return Err((
                "turn",
                format!(
                    "agent turn {turn:?} is not defined: add [turns.{turn}] with a message, or \
                     set gateway.resolve_cron_jobs = true to run the OpenClaw cron job of that name"
                ),
            ));
        }
        Ok(())
    }
}

/// Every `(step path, header, secret)` of the plan's http steps.
pub fn secrets_named(plan: &Plan) -> Vec<(String, String, String)> {
    let mut found = Vec::new();
    for step in plan.steps.iter().chain(&plan.on_failure) {
        step.visit(&mut |step| {
            if let Kind::Http(http) = &step.kind {
                found.extend(
                    Http::secrets(http)
                        .map(|(header, secret)| (step.path.clone(), header.to_owned(), secret)),
                );
            }
        });
    }
    found
}
