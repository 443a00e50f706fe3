//! A test [`Engine`] without a server or a clock: each durable call answers at once from a
//! script written per step id, and is logged in the order the run made it, so a unit test
//! can check what ran, in which order, with what, and what the run made of the answers.

use super::super::{Decision, Engine, LockAnswer};
use crate::activities::AgentTurnInput;
use crate::config::WhenBusy;
use crate::workflows::declared::resolve::{ResolveRequest, Resolved};
use futures::FutureExt;
use futures::channel::oneshot;
use futures::future::LocalBoxFuture;
use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, SystemTime};
use temporalio_common::data_converters::{
    ActivityExecutionDecodeHint, DefaultFailureConverter, FailureConverter, FailureDecodeHint,
    PayloadConverter, SerializationContextData,
};
use temporalio_common::error::ActivityExecutionError;
use temporalio_common::protos::temporal::api::failure::v1::{
    ActivityFailureInfo, ApplicationFailureInfo, Failure, failure::FailureInfo,
};
use temporalio_sdk::{ActivityOptions, LocalActivityOptions, TimerResult, WorkflowTermination};

/// What one durable call of a step answers.
pub enum Answer {
    /// An agent turn's reply, or an HTTP response body.
    Reply(&'static str),
    /// An activity that failed with this application failure type and message (after its
    /// retries, as the server reports it).
    Fail(&'static str, &'static str),
    /// An approval's decision; `None`: nobody decided before the timeout.
    Decide(Option<Decision>),
    /// A timer or an approval's wait, cancelled: the run is being cancelled.
    Cancel,
    /// A timer or an approval's wait that ends only when the steps are cancelled (the
    /// deadline's `cancel_steps`): nobody answers.
    Hang,
    /// A reply that arrives only after the run has polled its future this many more times,
    /// so that other work goes on meanwhile; its arrival is logged as `"done <call> <step>"`.
    Slow(&'static str, u32),
    /// The lock's answer to `acquire_lock` (scripted for the step id `lock`; none: granted).
    Lock(LockAnswer),
}

/// Approve or reject, with a comment, meant for whichever approval waits.
pub fn decide(approved: bool, comment: &str) -> Answer {
    Answer::Decide(Some(Decision {
        approved,
        comment: comment.to_owned(),
        step: None,
    }))
}

#[derive(Default)]
pub struct ScriptedEngine {
    script: RefCell<BTreeMap<String, VecDeque<Answer>>>,
    /// Every durable call in order, as `"<call> <step id>"`; `call` is `agent_turn`, `http`,
    /// `timer` or `decision`.
    pub calls: Rc<RefCell<Vec<String>>>,
    /// What each agent turn's `message` or HTTP call's `body` was, by step id.
    pub sent: RefCell<BTreeMap<String, String>>,
    /// Every HTTP call's whole activity input, in order: what its history event holds.
    pub http_params: RefCell<Vec<String>>,
    /// Every `message` or `body` sent, in the order sent, as `"<step id>: <text>"`.
    pub sent_in_order: RefCell<Vec<String>>,
    /// The options each activity was scheduled with, by step id.
    pub options: RefCell<BTreeMap<String, ActivityOptions>>,
    /// Every phase the run published, in order.
    pub phases: RefCell<Vec<String>>,
    /// Replays a history recorded before every patch: `patched` is false.
    unpatched: bool,
    /// What `cancel_steps` ends: the waits answered with [`Answer::Hang`].
    hanging: RefCell<Vec<oneshot::Sender<()>>>,
}

impl ScriptedEngine {
    /// Adds the next answer for a call of `step`; a timer with none fires.
    pub fn answer(self, step: &str, answer: Answer) -> Self {
        self.script
            .borrow_mut()
            .entry(step.to_owned())
            .or_default()
            .push_back(answer);
        self
    }

    /// An engine replaying a history recorded before every patch: `patched` is false.
    pub fn unpatched(mut self) -> Self {
        self.unpatched = true;
        self
    }

    /// A wait that ends (`Err(())`) when `cancel_steps` is called.
    fn hang(&self) -> oneshot::Receiver<()> {
        let (cancel, cancelled) = oneshot::channel();
        self.hanging.borrow_mut().push(cancel);
        cancelled
    }

    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    pub fn last_phase(&self) -> String {
        self.phases.borrow().last().cloned().unwrap_or_default()
    }

    /// Logs the call and takes the step's next answer. Steps are named by the summary's
    /// `<id>: ...`, which the interpreter writes for the UI's timeline.
    fn next(&self, call: &str, summary: &str) -> (String, Option<Answer>) {
        let step = summary.split(':').next().unwrap_or_default().to_owned();
        self.calls.borrow_mut().push(format!("{call} {step}"));
        let answer = self
            .script
            .borrow_mut()
            .get_mut(&step)
            .and_then(VecDeque::pop_front);
        (step, answer)
    }

    fn activity(
        &self,
        call: &str,
        sent: Option<String>,
        options: ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>> {
        let summary = options
            .summary
            .clone()
            .expect("every activity has a summary");
        let (step, answer) = self.next(call, &summary);
        if let Some(sent) = sent {
            let line = format!("{step}: {sent}");
            self.sent_in_order.borrow_mut().push(line);
            self.sent.borrow_mut().insert(step.clone(), sent);
        }
        self.options.borrow_mut().insert(step.clone(), options);
        let outcome = match answer {
            Some(Answer::Reply(text)) => Ok(text.to_owned()),
            Some(Answer::Fail(failure_type, message)) => Err(activity_error(failure_type, message)),
            Some(Answer::Slow(text, polls)) => {
                let done = format!("done {call} {step}");
                return slow(self.calls.clone(), done, text.to_owned(), polls);
            }
            _ => panic!("no reply or failure scripted for {call} {step}"),
        };
        futures::future::ready(outcome).boxed_local()
    }
}

/// A reply after `polls` more polls; each poll wakes the task again at once, as a
/// completion arriving in a later workflow activation would.
fn slow(
    calls: Rc<RefCell<Vec<String>>>,
    done: String,
    reply: String,
    polls: u32,
) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>> {
    let left = std::cell::Cell::new(polls);
    futures::future::poll_fn(move |cx| {
        if left.get() == 0 {
            calls.borrow_mut().push(done.clone());
            return std::task::Poll::Ready(Ok(reply.clone()));
        }
        left.set(left.get() - 1);
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .boxed_local()
}

/// An activity's failure as the SDK hands it to the workflow: the activity failure with the
/// application failure that caused it.
fn activity_error(failure_type: &str, message: &str) -> ActivityExecutionError {
    let cause = Failure {
        message: message.to_owned(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: failure_type.to_owned(),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let failure = Failure {
        message: "Activity task failed".to_owned(),
        cause: Some(Box::new(cause)),
        failure_info: Some(FailureInfo::ActivityFailureInfo(
            ActivityFailureInfo::default(),
        )),
        ..Default::default()
    };
    let incoming = DefaultFailureConverter::default()
        .to_error(
            failure,
            &PayloadConverter::default(),
            &SerializationContextData::None,
        )
        .expect("a failure without payloads decodes");
    ActivityExecutionDecodeHint::new(false).adapt(incoming)
}

impl Engine for ScriptedEngine {
    fn agent_turn(
        &self,
        input: AgentTurnInput,
        options: ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>> {
        let message = match input {
            AgentTurnInput::WithMessage { message, .. } => Some(message),
            _ => None,
        };
        self.activity("agent_turn", message, options)
    }

    fn http(
        &self,
        params: String,
        options: ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>> {
        self.http_params.borrow_mut().push(params.clone());
        let params: serde_json::Value = serde_json::from_str(&params).expect("params are JSON");
        let body = params["body"].as_str().map(str::to_owned);
        self.activity("http", body, options)
    }

    fn resolve(
        &self,
        _request: ResolveRequest,
        _options: LocalActivityOptions,
    ) -> LocalBoxFuture<'static, Result<Resolved, ActivityExecutionError>> {
        unreachable!("the tests compile the plan themselves")
    }

    fn timer(&self, _duration: Duration, summary: String) -> LocalBoxFuture<'static, TimerResult> {
        let result = match self.next("timer", &summary).1 {
            None => TimerResult::Fired,
            Some(Answer::Cancel) => TimerResult::Cancelled,
            Some(Answer::Hang) => {
                let cancelled = self.hang();
                return async move {
                    let _ = cancelled.await;
                    TimerResult::Cancelled
                }
                .boxed_local();
            }
            Some(_) => panic!("a timer only fires or is cancelled: {summary}"),
        };
        futures::future::ready(result).boxed_local()
    }

    fn decision(
        &self,
        step: String,
        _timeout: Duration,
        _summary: String,
    ) -> LocalBoxFuture<'static, Result<Option<Decision>, WorkflowTermination>> {
        let outcome = match self.next("decision", &step).1 {
            Some(Answer::Decide(decision)) => Ok(decision),
            Some(Answer::Cancel) => Err(WorkflowTermination::cancelled()),
            Some(Answer::Hang) => {
                let cancelled = self.hang();
                return async move {
                    let _ = cancelled.await;
                    Err(WorkflowTermination::cancelled())
                }
                .boxed_local();
            }
            _ => panic!("no decision scripted for {step}"),
        };
        futures::future::ready(outcome).boxed_local()
    }

    fn set_phase(&self, phase: String) {
        self.phases.borrow_mut().push(phase);
    }

    fn workflow_time(&self) -> Option<SystemTime> {
        Some(SystemTime::UNIX_EPOCH)
    }

    fn patched(&self, _patch_id: &str) -> bool {
        !self.unpatched
    }

    /// Fires at once unless scripted `Cancel` for the step id `deadline`: it wins only over
    /// steps that are still waiting, since the run polls its steps first.
    fn deadline(
        &self,
        _duration: Duration,
        summary: String,
    ) -> LocalBoxFuture<'static, TimerResult> {
        let result = match self.next("deadline", &summary).1 {
            Some(Answer::Cancel) => TimerResult::Cancelled,
            _ => TimerResult::Fired,
        };
        futures::future::ready(result).boxed_local()
    }

    /// Logged as `acquire_lock <key> <limit> <when_busy>`; answers from the script of `lock`.
    fn acquire_lock(
        &self,
        key: String,
        limit: u32,
        when_busy: WhenBusy,
    ) -> LocalBoxFuture<'static, Result<LockAnswer, WorkflowTermination>> {
        let call = format!("acquire_lock {key} {limit} {when_busy:?}");
        self.calls.borrow_mut().push(call);
        let answer = self
            .script
            .borrow_mut()
            .get_mut("lock")
            .and_then(VecDeque::pop_front);
        let outcome = match answer {
            None => Ok(LockAnswer::Granted),
            Some(Answer::Lock(answer)) => Ok(answer),
            Some(Answer::Cancel) => Err(WorkflowTermination::cancelled()),
            Some(_) => panic!("the lock answers Lock(..) or Cancel"),
        };
        futures::future::ready(outcome).boxed_local()
    }

    fn release_lock(&self, key: String) -> LocalBoxFuture<'static, ()> {
        self.calls.borrow_mut().push(format!("release_lock {key}"));
        futures::future::ready(()).boxed_local()
    }

    fn cancel_steps(&self) {
        self.calls.borrow_mut().push("cancel_steps".into());
        for cancel in self.hanging.borrow_mut().drain(..) {
            let _ = cancel.send(());
        }
    }
}
