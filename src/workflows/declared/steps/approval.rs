//! `approval`: waits for a person's `approve` or `reject` signal, at most `timeout`; then
//! goes on, stops, or fails as `on_reject` and `on_timeout` say. Decisions sent before the
//! run gets here wait for it (`DeclaredState`); the engine's `decision` takes one.

use crate::duration;
use crate::failure::FailureType;
use crate::workflows::declared::expr::Template;
use crate::workflows::declared::plan::{Compiling, PlannedStep};
use crate::workflows::declared::run::{Decision, Flow, Run, StepError, workflow_failure};
use std::time::Duration;

pub(super) const KEYS: &[&str] = &["timeout", "prompt", "on_timeout", "on_reject"];

#[derive(Debug)]
pub struct Approval {
    pub prompt: Option<Template>,
    pub timeout: Duration,
    pub on_timeout: OnTimeout,
    pub on_reject: OnReject,
}

/// What an approval does when nobody decides in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    Approve,
    Reject,
    Fail,
}

/// What an approval does when rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnReject {
    Stop,
    Fail,
    Continue,
}

pub(super) fn compile(step: &Compiling) -> Result<Approval, String> {
    let decl = step.decl;
    Ok(Approval {
        prompt: step.template("prompt", &decl.prompt)?,
        timeout: step.timeout.ok_or_else(|| {
            format!(
                "{}: missing (how long to wait for a person; on_timeout says what \
                 happens then)",
                step.field("timeout")
            )
        })?,
        on_timeout: match decl.on_timeout.as_deref() {
            None | Some("reject") => OnTimeout::Reject,
            Some("approve") => OnTimeout::Approve,
            Some("fail") => OnTimeout::Fail,
            Some(other) => {
                return Err(format!(
                    "{}: {other:?} is not one of \"reject\", \"approve\", \"fail\"",
                    step.field("on_timeout")
                ));
            }
        },
        on_reject: match decl.on_reject.as_deref() {
            None | Some("stop") => OnReject::Stop,
            Some("fail") => OnReject::Fail,
            Some("continue") => OnReject::Continue,
            Some(other) => {
                return Err(format!(
                    "{}: {other:?} is not one of \"stop\", \"fail\", \"continue\"",
                    step.field("on_reject")
                ));
            }
        },
    })
}

pub(super) async fn run(
    run: &Run<'_>,
    step: &PlannedStep,
    approval: &Approval,
) -> Result<(String, Flow), StepError> {
    let id = &step.id;
    let prompt = run
        .render(step, "prompt", approval.prompt.as_ref())?
        .unwrap_or_default();
    let asking = if prompt.is_empty() {
        String::new()
    } else {
        format!(": {prompt}")
    };
    let until = run.until(approval.timeout);
    run.activate(id, format!("{id}: waiting for approval{asking}{until}"));
    let summary = format!(
        "{id}: approval times out after {}",
        duration::format(approval.timeout)
    );
    let decision = run
        .engine()
        .decision(id.clone(), approval.timeout, summary)
        .await
        .map_err(StepError::Abort)?;
    outcome(id, decision, approval)
}

/// The result records the decision (or the timeout's stand-in for one); a rejection then
/// goes on, stops or fails.
fn outcome(
    id: &str,
    decision: Option<Decision>,
    approval: &Approval,
) -> Result<(String, Flow), StepError> {
    let (approved, comment, timed_out) = match decision {
        Some(decision) => (decision.approved, decision.comment, false),
        None => match approval.on_timeout {
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
    match approval.on_reject {
        OnReject::Continue => Ok((record, Flow::Continue)),
        OnReject::Stop => Ok((record, Flow::Stop(why))),
        OnReject::Fail => Err(StepError::Failed(workflow_failure(
            id,
            FailureType::ApprovalRejected,
            why,
        ))),
    }
}
