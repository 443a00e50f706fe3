//! Runs a compiled [`Plan`]: evaluates conditions, templates messages, runs each step through
//! an [`Engine`] (the SDK's workflow context behind a small object-safe interface), records
//! every step's outcome, and builds the result.
//!
//! Why an `Engine` trait object instead of `WorkflowContext<W>`: every declared name is its
//! own Rust type (see `slots`), and code generic over it would be compiled once per slot.
//! Behind the trait this interpreter is compiled once, and unit tests drive it without a
//! server.
//!
//! Determinism: everything here depends only on the plan, the run's input, and what the
//! engine's durable commands return; expressions are CEL (no clock, no randomness, no I/O).

use super::expr::{Scope, from_json};
use super::plan::{Kind, OnReject, OnTimeout, Plan, Step};
use super::resolve::{ResolveRequest, Resolved};
use crate::activities::{AgentTurnInput, HttpRequestParams};
use crate::config::StepRetry;
use crate::duration;
use crate::failure::FailureType;
use crate::workflows::WorkflowSettings;
use crate::workflows::failures::fail;
use crate::workflows::python_json;
use futures::future::LocalBoxFuture;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use temporalio_common::RetryPolicy;
use temporalio_common::error::ActivityExecutionError;
use temporalio_common::protos::temporal::api::failure::v1::{Failure, failure::FailureInfo};
use temporalio_sdk::{ActivityOptions, LocalActivityOptions, TimerResult, WorkflowTermination};

/// A step's result as kept in the run's result: enough to read, small enough that a long
/// workflow's result stays far below Temporal's payload limit.
const RESULT_EXCERPT_CHARS: usize = 2_000;

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

/// How a step ended badly.
pub enum StepError {
    /// A failure that `continue_on_error` and `on_failure` handle.
    Failed(StepFailure),
    /// Cancellation or eviction: nothing more may run.
    Abort(WorkflowTermination),
}

pub struct StepFailure {
    pub failure_type: String,
    pub message: String,
    pub step: String,
    /// What the workflow reports if nothing handles it: the original failure, type and cause.
    pub termination: WorkflowTermination,
}

/// Whether the workflow goes on after a step.
enum Flow {
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
    /// What each running step is doing, for the phase query.
    active: RefCell<BTreeMap<String, String>>,
}

impl<'a> Run<'a> {
    pub fn new(
        engine: &'a dyn Engine,
        settings: &'a WorkflowSettings,
        plan: &'a Plan,
        input: &serde_json::Value,
    ) -> Result<Run<'a>, String> {
        let instance = match input.get("instance") {
            None | Some(serde_json::Value::Null) => plan.instance.clone(),
            Some(serde_json::Value::String(name)) if !name.trim().is_empty() => Some(name.clone()),
            Some(_) => {
                return Err("input.instance: expected the name of an OpenClaw instance".into());
            }
        };
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
            active: RefCell::new(BTreeMap::new()),
        })
    }

    /// Runs the steps (and, if they fail, `on_failure`), returning the result JSON text or
    /// the original failure.
    pub async fn execute(&self) -> Result<String, WorkflowTermination> {
        match self.sequence(&self.plan.steps).await {
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

    fn sequence<'s>(&'s self, steps: &'s [Step]) -> LocalBoxFuture<'s, Result<Flow, StepError>> {
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

    fn step<'s>(&'s self, step: &'s Step) -> LocalBoxFuture<'s, Result<Flow, StepError>> {
        Box::pin(async move {
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
            let outcome = self.run_kind(step).await;
            self.active.borrow_mut().remove(&step.id);
            self.publish_phase();
            match outcome {
                Ok((result, flow)) => {
                    self.record(&step.id, "ok", result, String::new());
                    Ok(flow)
                }
                Err(StepError::Failed(failure)) => self.failed(step, failure),
                Err(abort) => Err(abort),
            }
        })
    }

    /// A failed step: recorded, then either continued past or passed up.
    fn failed(&self, step: &Step, failure: StepFailure) -> Result<Flow, StepError> {
        let error = format!("[{}] {}", failure.failure_type, failure.message);
        if step.continue_on_error {
            self.record(&step.id, "failed-continued", String::new(), error);
            Ok(Flow::Continue)
        } else {
            self.record(&step.id, "failed", String::new(), error);
            Err(StepError::Failed(failure))
        }
    }

    /// The step's own work: its result text and whether the workflow goes on.
    async fn run_kind(&self, step: &Step) -> Result<(String, Flow), StepError> {
        let id = &step.id;
        match &step.kind {
            Kind::AgentTurn {
                turn,
                instance,
                message,
                timeout,
                retry,
            } => {
                let message = match message {
                    Some(template) => Some(
                        template
                            .render(&self.scope())
                            .map_err(|m| self.expr_error(step, "message", m))?,
                    ),
                    None => None,
                };
                let instance = instance.as_deref().or(self.instance.as_deref());
                let summary = match instance {
                    Some(instance) => format!("{id}: agent turn {turn} on {instance}"),
                    None => format!("{id}: agent turn {turn}"),
                };
                self.activate(id, summary.clone());
                let options = self.agent_turn_options(turn, *timeout, retry.as_ref(), summary);
                let input = AgentTurnInput::with_message(turn, instance, message);
                let result = self.engine.agent_turn(input, options).await;
                Ok((
                    result.map_err(|err| activity_failure(id, err))?,
                    Flow::Continue,
                ))
            }
            Kind::Http {
                method,
                url,
                body,
                timeout,
                retry,
            } => {
                let body = match body {
                    Some(template) => Some(
                        template
                            .render(&self.scope())
                            .map_err(|m| self.expr_error(step, "body", m))?,
                    ),
                    None => None,
                };
                let params = HttpRequestParams {
                    method: method.clone(),
                    url: url.clone(),
                    timeout: timeout.as_secs_f64(),
                    body,
                };
                let summary = format!("{id}: {} {url}", method.to_ascii_uppercase());
                self.activate(id, summary.clone());
                let options = http_options(*timeout, retry.as_ref(), summary);
                let params = serde_json::to_string(&params).expect("params serialize");
                let result = self.engine.http(params, options).await;
                Ok((
                    result.map_err(|err| activity_failure(id, err))?,
                    Flow::Continue,
                ))
            }
            Kind::Delay { text, duration } => {
                self.activate(id, format!("{id}: waiting {text}{}", self.until(*duration)));
                if !duration.is_zero()
                    && let TimerResult::Cancelled = self
                        .engine
                        .timer(*duration, format!("{id}: delay {text}"))
                        .await
                {
                    return Err(StepError::Abort(WorkflowTermination::cancelled()));
                }
                Ok((text.clone(), Flow::Continue))
            }
            Kind::Sequence(steps) => {
                let flow = self.sequence(steps).await?;
                Ok((String::new(), flow))
            }
            Kind::Parallel(branches) => {
                // All branches start now and all are waited for; the first failure in
                // declaration order is the step's.
                let outcomes = temporalio_sdk::workflows::join_all(
                    branches.iter().map(|branch| self.step(branch)),
                )
                .await;
                for outcome in outcomes {
                    outcome?;
                }
                Ok((String::new(), Flow::Continue))
            }
            Kind::Approval {
                prompt,
                timeout,
                on_timeout,
                on_reject,
            } => {
                let prompt = match prompt {
                    Some(template) => template
                        .render(&self.scope())
                        .map_err(|m| self.expr_error(step, "prompt", m))?,
                    None => String::new(),
                };
                let asking = if prompt.is_empty() {
                    String::new()
                } else {
                    format!(": {prompt}")
                };
                self.activate(
                    id,
                    format!("{id}: waiting for approval{asking}{}", self.until(*timeout)),
                );
                let summary = format!(
                    "{id}: approval times out after {}",
                    duration::format(*timeout)
                );
                let decision = self
                    .engine
                    .decision(id.clone(), *timeout, summary)
                    .await
                    .map_err(StepError::Abort)?;
                self.approval_outcome(step, decision, *on_timeout, *on_reject)
            }
            Kind::Stop { reason } => {
                let reason = match reason {
                    Some(template) => template
                        .render(&self.scope())
                        .map_err(|m| self.expr_error(step, "reason", m))?,
                    None => format!("stopped at {id}"),
                };
                Ok((reason.clone(), Flow::Stop(reason)))
            }
        }
    }

    fn approval_outcome(
        &self,
        step: &Step,
        decision: Option<Decision>,
        on_timeout: OnTimeout,
        on_reject: OnReject,
    ) -> Result<(String, Flow), StepError> {
        let id = &step.id;
        let (approved, comment, timed_out) = match decision {
            Some(decision) => (decision.approved, decision.comment, false),
            None => match on_timeout {
                OnTimeout::Approve => (true, String::new(), true),
                OnTimeout::Reject => (false, String::new(), true),
                OnTimeout::Fail => {
                    let message = format!("{id}: nobody approved or rejected in time");
                    return Err(StepError::Failed(workflow_failure(
                        id,
                        FailureType::ApprovalTimedOut,
                        message,
                    )));
                }
            },
        };
        let record = serde_json::json!({
            "decision": if approved { "approved" } else { "rejected" },
            "comment": comment,
            "timed_out": timed_out,
        })
        .to_string();
        if approved {
            return Ok((record, Flow::Continue));
        }
        let why = if timed_out {
            format!("{id}: not approved in time")
        } else if comment.is_empty() {
            format!("{id}: rejected")
        } else {
            format!("{id}: rejected: {comment}")
        };
        match on_reject {
            OnReject::Continue => Ok((record, Flow::Continue)),
            OnReject::Stop => Ok((record, Flow::Stop(why))),
            OnReject::Fail => Err(StepError::Failed(workflow_failure(
                id,
                FailureType::ApprovalRejected,
                why,
            ))),
        }
    }

    fn agent_turn_options(
        &self,
        turn: &str,
        timeout: Option<Duration>,
        retry: Option<&StepRetry>,
        summary: String,
    ) -> ActivityOptions {
        let defaults = &self.settings.agent_turn_retry;
        let start_to_close = timeout
            .or_else(|| self.settings.turn_timeouts.get(turn).copied())
            .unwrap_or(self.settings.agent_turn_timeout);
        let retry = retry.cloned().unwrap_or_default();
        let policy = RetryPolicy::builder()
            .initial_interval(retry.initial_interval.unwrap_or(defaults.initial_interval))
            .maximum_interval(retry.maximum_interval.unwrap_or(defaults.maximum_interval))
            .maximum_attempts(retry.maximum_attempts.unwrap_or(defaults.maximum_attempts))
            .build();
        ActivityOptions::with_start_to_close_timeout(start_to_close)
            .heartbeat_timeout(self.settings.agent_turn_heartbeat_timeout)
            .retry_policy(policy)
            .summary(summary)
            .build()
    }

    fn activate(&self, id: &str, phase: String) {
        self.active.borrow_mut().insert(id.to_owned(), phase);
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
    fn until(&self, wait: Duration) -> String {
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
    fn mark(&self, step: &Step, status: &'static str) {
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
        }
    }

    fn expression_failure(&self, step: &Step, key: &str, message: String) -> StepFailure {
        workflow_failure(
            &step.id,
            FailureType::ExpressionFailed,
            format!("{}.{key}: {message}", step.path),
        )
    }

    fn expr_error(&self, step: &Step, key: &str, message: String) -> StepError {
        StepError::Failed(self.expression_failure(step, key, message))
    }

    /// The run's result: every main step with its status, in declaration order.
    fn summary(&self, status: &str, reason: Option<String>) -> String {
        let records = self.records.borrow();
        let mut steps = Vec::new();
        for step in &self.plan.steps {
            step.visit(&mut |s| {
                let record = &records[&s.id];
                let status = match record.status {
                    // Only a stop leaves main steps unreached on success.
                    "pending" => "skipped",
                    other => other,
                };
                steps.push(StepSummary {
                    id: s.id.clone(),
                    kind: record.kind,
                    status,
                    result: (status == "ok" && !record.result.is_empty())
                        .then(|| excerpt(&record.result)),
                    error: (!record.error.is_empty()).then(|| record.error.clone()),
                });
            });
        }
        python_json::dumps(&Summary {
            name: &self.plan.name,
            status,
            reason,
            steps,
        })
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    name: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    steps: Vec<StepSummary>,
}

#[derive(Serialize)]
struct StepSummary {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn excerpt(text: &str) -> String {
    text.chars().take(RESULT_EXCERPT_CHARS).collect()
}

/// HTTP calls: the step's timeout plus 10 s, as the reference; retry from 5 s, 3 attempts,
/// unless the step says otherwise.
fn http_options(timeout: Duration, retry: Option<&StepRetry>, summary: String) -> ActivityOptions {
    let retry = retry.cloned().unwrap_or_default();
    let policy = RetryPolicy::builder()
        .initial_interval(retry.initial_interval.unwrap_or(Duration::from_secs(5)))
        .maybe_maximum_interval(retry.maximum_interval)
        .maximum_attempts(retry.maximum_attempts.unwrap_or(3))
        .build();
    ActivityOptions::with_start_to_close_timeout(timeout + Duration::from_secs(10))
        .retry_policy(policy)
        .summary(summary)
        .build()
}

/// A failure the workflow itself raises (not an activity's), typed and non-retryable.
pub fn workflow_failure(step: &str, failure_type: FailureType, message: String) -> StepFailure {
    StepFailure {
        failure_type: failure_type.name().to_owned(),
        termination: fail(failure_type, message.clone()),
        message,
        step: step.to_owned(),
    }
}

/// An activity's failure, keeping the whole failure to report and its innermost type and
/// message for `failure.*` and the result.
fn activity_failure(step: &str, err: ActivityExecutionError) -> StepError {
    if let ActivityExecutionError::Cancelled(_) = err {
        return StepError::Abort(err.into());
    }
    let (failure_type, message) = match err.failure() {
        Some(failure) => innermost(failure),
        None => ("PayloadConversion".to_owned(), err.to_string()),
    };
    StepError::Failed(StepFailure {
        failure_type,
        message,
        step: step.to_owned(),
        termination: err.into(),
    })
}

/// The root cause's type (an application failure's type name, or the kind of failure) and
/// message.
fn innermost(failure: &Failure) -> (String, String) {
    let mut current = failure;
    while let Some(cause) = current.cause.as_deref() {
        current = cause;
    }
    let kind = match &current.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) if !info.r#type.is_empty() => {
            info.r#type.clone()
        }
        Some(FailureInfo::TimeoutFailureInfo(_)) => "Timeout".to_owned(),
        Some(FailureInfo::CanceledFailureInfo(_)) => "Cancelled".to_owned(),
        _ => "Error".to_owned(),
    };
    (kind, current.message.clone())
}
