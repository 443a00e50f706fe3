//! Runs a compiled [`Plan`]: evaluates conditions, runs each step's kind (`steps/<kind>.rs`)
//! through an [`Engine`] (the SDK's workflow context behind a small object-safe interface),
//! records every step's outcome, applies `continue_on_error` and `on_failure`, and builds
//! the result (`result`). How a step fails is `step_failure`.
//!
//! Why an `Engine` trait object instead of `WorkflowContext<W>`: every declared name is its
//! own Rust type (see `slots`), and code generic over it would be compiled once per slot.
//! Behind the trait this interpreter is compiled once, and unit tests (`tests`) drive it
//! without a server through `scripted_engine`.
//!
//! Determinism: everything here depends only on the plan, the run's input, and what the
//! engine's durable commands return; expressions are CEL (no clock, no randomness, no I/O).

mod concurrency;
mod deadline;
mod iteration;
mod result;
mod step_failure;
#[cfg(test)]
mod tests;

pub use deadline::{DEADLINE_PATCH, input_timeout};
pub use result::RunResult;

pub use step_failure::{StepError, StepFailure, activity_failure, workflow_failure};

use super::expr::{Scope, Template, from_json};
use super::plan::{Plan, PlannedStep};
use super::resolve::{ResolveRequest, Resolved};
use crate::activities::{AgentTurnInput, HeaderPart};
use crate::config::WhenBusy;
use crate::failure::FailureType;
use crate::workflows::WorkflowSettings;
use futures::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};
use temporalio_common::error::ActivityExecutionError;
use temporalio_sdk::{ActivityOptions, LocalActivityOptions, TimerResult, WorkflowTermination};

/// The durable operations a declared run needs; implemented over the SDK's context.
pub trait Engine {
    fn agent_turn(
        &self,
        input: AgentTurnInput,
        options: ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>>;
    fn http(
        &self,
        params: String,
        options: ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>>;
    /// The recorded lookup of the run's definition (a local activity).
    fn resolve(
        &self,
        request: ResolveRequest,
        options: LocalActivityOptions,
    ) -> LocalBoxFuture<'static, Result<Resolved, ActivityExecutionError>>;
    fn timer(&self, duration: Duration, summary: String) -> LocalBoxFuture<'static, TimerResult>;
    /// Waits for an `approve`/`reject` signal meant for `step`; `Ok(None)` when `timeout`
    /// passes first, `Err` when the run is cancelled.
    fn decision(
        &self,
        step: String,
        timeout: Duration,
        summary: String,
    ) -> LocalBoxFuture<'static, Result<Option<Decision>, WorkflowTermination>>;
    /// What the `phase` query answers from now on.
    fn set_phase(&self, phase: String);
    /// Decides, before the run's first command, whether it sets its search attributes
    /// (`crate::workflows::findable`); if so names its workflow, and each agent turn lists
    /// itself from then on. Engines without a server have none to set.
    fn make_findable(&self, _settings: &WorkflowSettings, _workflow: &str) {}
    fn workflow_time(&self) -> Option<SystemTime>;

    // The deadline (`deadline`).
    /// Whether the run takes the branch of `patch_id` (`ctx.patched`): false when replaying
    /// a history recorded before that change. Engines without a history take every branch.
    fn patched(&self, _patch_id: &str) -> bool {
        true
    }
    /// The run's deadline: a durable timer that the main steps' cancellation does not reach
    /// (the run's own cancellation does). From now on the main steps' commands are started
    /// so that [`Engine::cancel_steps`] can cancel them.
    fn deadline(
        &self,
        duration: Duration,
        summary: String,
    ) -> LocalBoxFuture<'static, TimerResult> {
        self.timer(duration, summary)
    }
    /// Cancels every command the main steps are waiting on (activities, timers, approvals'
    /// waits); the commands started after this (`on_failure`'s) are not cancelled with them.
    fn cancel_steps(&self) {}

    // One run at a time (`concurrency`, see `concurrency`).
    /// Asks the lock of `key` for this run (an activity: signal-with-start of the key's lock
    /// workflow) and waits for its answer; `Err` when the run is cancelled meanwhile.
    fn acquire_lock(
        &self,
        key: String,
        limit: u32,
        when_busy: WhenBusy,
    ) -> LocalBoxFuture<'static, Result<LockAnswer, WorkflowTermination>>;
    /// Gives the lock of `key` back, or leaves its queue; the run's cancellation does not
    /// reach it. A failure is left to the lock's check of its holders.
    fn release_lock(&self, key: String) -> LocalBoxFuture<'static, ()>;
}

/// What the lock answered a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAnswer {
    Granted,
    /// `when_busy = "skip"` and the lock was busy.
    Refused,
}

/// A person's decision, as the `approve` and `reject` signals carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub approved: bool,
    #[serde(default)]
    pub comment: String,
    /// The approval step it is for; `None`: whichever approval waits first.
    #[serde(default)]
    pub step: Option<String>,
}

/// Whether the workflow goes on after a step.
pub enum Flow {
    Continue,
    Stop(String),
}

/// One step's outcome as expressions read it (`steps.<id>`).
#[derive(Debug, Clone)]
struct Record {
    kind: &'static str,
    status: &'static str,
    result: String,
    error: String,
}

/// A run in progress: the plan, the input, and what has happened so far.
pub struct Run<'a> {
    engine: &'a dyn Engine,
    settings: &'a WorkflowSettings,
    plan: &'a Plan,
    input: cel::Value,
    /// The run's input `instance`, else the plan's; a step's own wins over both.
    instance: Option<String>,
    records: RefCell<BTreeMap<String, Record>>,
    failure: RefCell<Option<cel::Value>>,
    /// What each running step is doing, for the phase query; shared with the runs of a
    /// for_each's items, so the phase names everything running.
    active: Rc<RefCell<BTreeMap<String, String>>>,
    /// In a for_each's item: `<for_each id>[<index>] `, before its steps in the phase.
    label: String,
    /// In a for_each's item: `item` and `index` as expressions see them.
    item: Option<(cel::Value, cel::Value)>,
    /// The deadline that applies: the input's `$timeout`, else the plan's `timeout`.
    timeout: Option<Duration>,
    /// Set from the deadline firing until the main steps have ended: steps still running
    /// end as `cancelled`, none starts; shared with a for_each's items, which must stop too.
    cancelling: Rc<Cell<bool>>,
}

impl<'a> Run<'a> {
    pub fn new(
        engine: &'a dyn Engine,
        settings: &'a WorkflowSettings,
        plan: &'a Plan,
        input: &serde_json::Value,
    ) -> Result<Run<'a>, String> {
        // Declared inputs: checked and their defaults filled in before anything reads them.
        let input = &plan
            .inputs
            .apply(input)
            .map_err(|err| format!("{}: {err}", plan.name))?;
        let instance = match input.get("instance") {
            None | Some(serde_json::Value::Null) => plan.instance.clone(),
            Some(serde_json::Value::String(name)) if !name.trim().is_empty() => Some(name.clone()),
            Some(_) => {
                return Err("input.instance: expected the name of an OpenClaw instance".into());
            }
        };
        let timeout = input_timeout(input)?.or(plan.timeout);
        let records = plan
            .ids()
            .into_iter()
            .map(|(id, kind)| {
                let record = Record {
                    kind,
                    status: "pending",
                    result: String::new(),
                    error: String::new(),
                };
                (id.to_owned(), record)
            })
            .collect();
        Ok(Run {
            engine,
            settings,
            plan,
            input: from_json(input),
            instance,
            records: RefCell::new(records),
            failure: RefCell::new(None),
            active: Rc::default(),
            label: String::new(),
            item: None,
            timeout,
            cancelling: Rc::new(Cell::new(false)),
        })
    }

    /// Runs the steps (and, if they fail or pass the deadline, `on_failure`), returning the
    /// result or the original failure. [`Self::execute`] holds the lock around it.
    async fn run_steps(&self) -> Result<RunResult, WorkflowTermination> {
        match self.main_steps().await {
            Ok(Flow::Continue) => {
                self.engine.set_phase("done".into());
                Ok(self.summary("completed", None))
            }
            Ok(Flow::Stop(reason)) => {
                self.engine.set_phase(format!("stopped: {reason}"));
                Ok(self.summary("stopped", Some(reason)))
            }
            Err(StepError::Abort(termination)) => Err(termination),
            Err(StepError::Failed(failure)) => {
                self.on_failure(&failure).await?;
                self.engine.set_phase(format!(
                    "failed at {}: [{}] {}",
                    failure.step, failure.failure_type, failure.message
                ));
                Err(failure.termination)
            }
        }
    }

    /// Runs `on_failure` with `failure.*` set. A failing on_failure step is logged in the
    /// phase but never replaces the original failure: that is what the caller must see.
    async fn on_failure(&self, failure: &StepFailure) -> Result<(), WorkflowTermination> {
        if self.plan.on_failure.is_empty() {
            return Ok(());
        }
        *self.failure.borrow_mut() = Some(from_json(&serde_json::json!({
            "type": failure.failure_type,
            "message": failure.message,
            "step": failure.step,
        })));
        match self.sequence(&self.plan.on_failure).await {
            Err(StepError::Abort(termination)) => Err(termination),
            Err(StepError::Failed(_)) | Ok(_) => Ok(()),
        }
    }

    pub(super) fn sequence<'s>(
        &'s self,
        steps: &'s [PlannedStep],
    ) -> LocalBoxFuture<'s, Result<Flow, StepError>> {
        Box::pin(async move {
            for (index, step) in steps.iter().enumerate() {
                if let Flow::Stop(reason) = self.step(step).await? {
                    for later in &steps[index + 1..] {
                        self.mark(later, "skipped");
                    }
                    return Ok(Flow::Stop(reason));
                }
            }
            Ok(Flow::Continue)
        })
    }

    pub(super) fn step<'s>(
        &'s self,
        step: &'s PlannedStep,
    ) -> LocalBoxFuture<'s, Result<Flow, StepError>> {
        Box::pin(async move {
            if self.cancelling.get() {
                // Past the deadline nothing new starts; the step stays `pending`.
                return Err(StepError::Abort(WorkflowTermination::cancelled()));
            }
            if let Some(when) = &step.when {
                match when.eval_bool(&self.scope()) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.mark(step, "skipped");
                        return Ok(Flow::Continue);
                    }
                    Err(message) => {
                        let failure = self.expression_failure(step, "when", message);
                        return self.failed(step, failure);
                    }
                }
            }
            let outcome = step.kind.run(self, step).await;
            self.active
                .borrow_mut()
                .remove(&format!("{}{}", self.label, step.id));
            self.publish_phase();
            match outcome {
                Ok((result, flow)) => {
                    self.record(&step.id, "ok", result, String::new());
                    Ok(flow)
                }
                Err(StepError::Failed(failure)) => self.failed(step, failure),
                Err(abort) => {
                    if self.cancelling.get() {
                        let error = "cancelled: the run's deadline passed".to_owned();
                        self.record(&step.id, "cancelled", String::new(), error);
                    }
                    Err(abort)
                }
            }
        })
    }

    /// A failed step: recorded, then either continued past or passed up.
    fn failed(&self, step: &PlannedStep, failure: StepFailure) -> Result<Flow, StepError> {
        let error = format!("[{}] {}", failure.failure_type, failure.message);
        if step.continue_on_error {
            self.record(&step.id, "failed-continued", String::new(), error);
            Ok(Flow::Continue)
        } else {
            self.record(&step.id, "failed", String::new(), error);
            Err(StepError::Failed(failure))
        }
    }

    /// A templated key rendered with what expressions see now; a failing expression fails
    /// the step with `ExpressionFailed`, naming the key.
    pub(super) fn render(
        &self,
        step: &PlannedStep,
        key: &str,
        template: Option<&Template>,
    ) -> Result<Option<String>, StepError> {
        template
            .map(|t| {
                t.render(&self.scope()).map_err(|message| {
                    StepError::Failed(self.expression_failure(step, key, message))
                })
            })
            .transpose()
    }

    /// A header value rendered, its secrets left as names ([`Template::render_parts`]); fails
    /// as [`Self::render`] does.
    pub(super) fn render_parts(
        &self,
        step: &PlannedStep,
        key: &str,
        template: &Template,
    ) -> Result<Vec<HeaderPart>, StepError> {
        template
            .render_parts(&self.scope())
            .map_err(|message| StepError::Failed(self.expression_failure(step, key, message)))
    }

    pub(super) fn engine(&self) -> &'a dyn Engine {
        self.engine
    }

    pub(super) fn settings(&self) -> &'a WorkflowSettings {
        self.settings
    }

    /// The instance of agent turns that name none: the run input's, else the plan's.
    pub(super) fn instance(&self) -> Option<&str> {
        self.instance.as_deref()
    }

    /// Names what `id` is doing in the phase until it ends.
    pub(super) fn activate(&self, id: &str, phase: String) {
        let label = &self.label;
        self.active
            .borrow_mut()
            .insert(format!("{label}{id}"), format!("{label}{phase}"));
        self.publish_phase();
    }

    fn publish_phase(&self) {
        let active = self.active.borrow();
        if !active.is_empty() {
            let phases: Vec<&str> = active.values().map(String::as_str).collect();
            self.engine.set_phase(phases.join("; "));
        }
    }

    /// ` until <time>` in workflow time (replay-safe), or nothing if unknown.
    pub(super) fn until(&self, wait: Duration) -> String {
        match self.engine.workflow_time() {
            Some(now) => format!(" until {}", humantime::format_rfc3339_seconds(now + wait)),
            None => String::new(),
        }
    }

    fn record(&self, id: &str, status: &'static str, result: String, error: String) {
        if let Some(record) = self.records.borrow_mut().get_mut(id) {
            record.status = status;
            record.result = result;
            record.error = error;
        }
    }

    /// Marks a step that will not run, and everything inside it.
    fn mark(&self, step: &PlannedStep, status: &'static str) {
        step.visit(&mut |s| {
            if self
                .records
                .borrow()
                .get(&s.id)
                .is_some_and(|r| r.status == "pending")
            {
                self.record(&s.id, status, String::new(), String::new());
            }
        });
    }

    /// What expressions see now.
    fn scope(&self) -> Scope {
        let steps: serde_json::Map<String, serde_json::Value> = self
            .records
            .borrow()
            .iter()
            .map(|(id, r)| {
                let json = serde_json::from_str::<serde_json::Value>(&r.result)
                    .unwrap_or(serde_json::Value::Null);
                let value = serde_json::json!({
                    "type": r.kind,
                    "status": r.status,
                    "result": r.result,
                    "json": json,
                    "error": r.error,
                });
                (id.clone(), value)
            })
            .collect();
        Scope {
            steps: from_json(&serde_json::Value::Object(steps)),
            input: self.input.clone(),
            failure: self.failure.borrow().clone(),
            item: self.item.clone(),
        }
    }

    fn expression_failure(&self, step: &PlannedStep, key: &str, message: String) -> StepFailure {
        workflow_failure(
            &step.id,
            FailureType::ExpressionFailed,
            format!("{}.{key}: {message}", step.path),
        )
    }
}
