//! Declared workflows: `[declared.<name>]` in the config, each registered as a workflow type
//! of that name and run step by step — agent turns, HTTP calls, delays, parallel branches,
//! sequences, approvals and stops, with `when` conditions (CEL), templated messages,
//! per-step retry, timeout and `continue_on_error`, and `on_failure` steps.
//!
//! The parts: `expr` (CEL and templates); `plan/` (a declaration compiled and checked on its
//! own: `ids`, and `compiler` for the keys every step has and what expressions may read);
//! `steps/` (one file per step kind — `agent_turn`, `http`, `delay`, `parallel`,
//! `sequence`, `approval`, `stop` — each with its keys, its compile and its run: start there
//! to add a kind); `config_checks` (the checks against the rest of the config); `resolve`
//! (the recorded lookup that pins a run to the definition it started with); `run/` (the
//! interpreter: records, `when`, `continue_on_error`, `on_failure`, the `result`, how a step
//! fails); `slots` (one workflow type per name). `docs/declared-workflows.md` is the manual.
//!
//! Where the checks run: [`check`] from `main` for every command that loads the config (so
//! `check-config --offline`, and with it the NixOS build, rejects a bad declaration), the
//! `resolve` activity when a run starts, and `CustomWorkflow` for a definition in the
//! declared form.

mod config_checks;
mod expr;
mod overlap;
mod plan;
mod resolve;
mod run;
mod slots;
mod steps;

pub use config_checks::Facts;
pub use overlap::overlap_warnings;
pub use plan::{ACTIVITY_EVENTS, HISTORY_EVENT_LIMIT, Plan, TIMER_EVENTS, TURN_UPSERT_EVENTS};
pub use resolve::{DeclaredActivities, ResolveRequest, Resolved};
pub use run::{DEADLINE_PATCH, Decision, Engine, LockAnswer, Run, RunResult};
pub use slots::{
    APPROVE_SIGNAL, DeclaredWorkflow, PHASE_QUERY, REJECT_SIGNAL, Registrar, register,
};
pub use steps::STEP_TYPES;

use crate::config::{Config, DeclaredWorkflow as Declaration, Instances};
use crate::failure::FailureType;
use crate::payload::json_value;
use crate::workflows::WorkflowSettings;
use crate::workflows::failures::fail;
use std::time::Duration;
use temporalio_common::data_converters::RawValue;
use temporalio_sdk::{LocalActivityOptions, WorkflowTermination};

/// Every declaration compiled and checked against the config; the first problem, naming
/// the workflow, the step and the key.
pub fn check(config: &Config, instances: &Instances) -> Result<(), String> {
    let facts = Facts::new(config, instances);
    for (name, declaration) in &config.declared.0 {
        let plan = Plan::compile(name, declaration)?;
        facts.check(&plan)?;
    }
    Ok(())
}

/// What a declared run keeps between workflow tasks: the phase and undelivered decisions.
#[derive(Debug)]
pub struct DeclaredState {
    pub phase: String,
    decisions: Vec<Decision>,
    /// Set when the run sets its search attributes: the instance of turns that name none.
    findable: Option<String>,
    /// The lock's answer (`lock-granted`/`lock-refused`), once it came.
    lock: Option<LockAnswer>,
}

impl Default for DeclaredState {
    fn default() -> Self {
        Self {
            phase: "starting".into(),
            decisions: Vec::new(),
            findable: None,
            lock: None,
        }
    }
}

impl DeclaredState {
    /// Takes an `approve`/`reject` signal's input: nothing, a comment string, or
    /// `{"comment": "...", "step": "<approval step id>"}`. Decisions wait in order until an
    /// approval step takes one.
    pub fn receive(&mut self, approved: bool, input: &RawValue) {
        let (comment, step) = match json_value(input) {
            Ok(None) | Err(_) => (String::new(), None),
            Ok(Some(serde_json::Value::String(comment))) => (comment, None),
            Ok(Some(serde_json::Value::Object(fields))) => {
                let text = |key: &str| fields.get(key).and_then(|v| v.as_str()).map(str::to_owned);
                (text("comment").unwrap_or_default(), text("step"))
            }
            Ok(Some(other)) => (other.to_string(), None),
        };
        self.decisions.push(Decision {
            approved,
            comment,
            step,
        });
    }

    fn matches(decision: &Decision, step: &str) -> bool {
        decision.step.as_deref().is_none_or(|s| s == step)
    }

    /// Takes the lock's answer; the first one counts (a repeated grant changes nothing).
    pub fn receive_lock(&mut self, answer: LockAnswer) {
        self.lock.get_or_insert(answer);
    }

    pub fn has_decision_for(&self, step: &str) -> bool {
        self.decisions.iter().any(|d| Self::matches(d, step))
    }

    pub fn take_decision_for(&mut self, step: &str) -> Option<Decision> {
        let index = self.decisions.iter().position(|d| Self::matches(d, step))?;
        Some(self.decisions.remove(index))
    }
}

/// A workflow whose state holds a [`DeclaredState`] (declared types and `CustomWorkflow`).
pub trait HasDeclaredState {
    fn declared(&self) -> &DeclaredState;
    fn declared_mut(&mut self) -> &mut DeclaredState;
}

/// The recorded lookup: quick, and retried a few times only if the worker is busy.
fn resolve_options() -> LocalActivityOptions {
    LocalActivityOptions::builder()
        .start_to_close_timeout(Duration::from_secs(10))
        .build()
}

/// A run of a declared type: the definition comes from the worker's config, recorded.
async fn run_by_name(
    engine: &dyn Engine,
    settings: &WorkflowSettings,
    workflow_type: &str,
    input: &RawValue,
) -> Result<RunResult, WorkflowTermination> {
    let input = json_value(input)
        .map_err(|message| {
            fail(
                FailureType::InvalidInput,
                format!("{workflow_type}: {message}"),
            )
        })?
        .unwrap_or(serde_json::Value::Null);
    let request = ResolveRequest {
        workflow: workflow_type.to_owned(),
        definition: None,
    };
    run_resolved(engine, settings, request, &input).await
}

/// A `CustomWorkflow` in the declared form: the definition comes with the input, checked
/// against the config by the same recorded lookup. The result is JSON text, as every
/// `CustomWorkflow` returns.
pub async fn run_definition(
    engine: &dyn Engine,
    settings: &WorkflowSettings,
    name: String,
    definition: Declaration,
    input: serde_json::Value,
) -> Result<String, WorkflowTermination> {
    // Checked here first as well: a definition that cannot compile fails without a command.
    Plan::compile(&name, &definition).map_err(|message| {
        fail(
            FailureType::InvalidDefinition,
            format!("CustomWorkflow: {message}"),
        )
    })?;
    let request = ResolveRequest {
        workflow: name,
        definition: Some(definition),
    };
    let result = run_resolved(engine, settings, request, &input).await?;
    Ok(crate::workflows::python_json::dumps(&result))
}

async fn run_resolved(
    engine: &dyn Engine,
    settings: &WorkflowSettings,
    request: ResolveRequest,
    input: &serde_json::Value,
) -> Result<RunResult, WorkflowTermination> {
    engine.make_findable(settings, &request.workflow);
    engine.set_phase("resolving the definition".into());
    let resolved = engine.resolve(request, resolve_options()).await?;
    // The recorded definition compiled the same way on every replay: compile is pure.
    let plan = Plan::compile(&resolved.name, &resolved.definition)
        .map_err(|message| fail(FailureType::InvalidDefinition, message))?;
    let run = Run::new(engine, settings, &plan, input)
        .map_err(|message| fail(FailureType::InvalidInput, message))?;
    run.execute().await
}

pub use slots::ContextEngine;
