//! `delay`: a durable timer, so a wait of hours survives worker restarts.

use crate::duration;
use crate::workflows::declared::plan::{Compiling, PlannedStep};
use crate::workflows::declared::run::{Flow, Run, StepError};
use std::time::Duration;
use temporalio_sdk::{TimerResult, WorkflowTermination};

pub(super) const KEYS: &[&str] = &["duration"];

#[derive(Debug)]
pub struct Delay {
    /// As written: the step's result, and what the phase and the timeline show.
    pub text: String,
    pub duration: Duration,
}

pub(super) fn compile(step: &Compiling) -> Result<Delay, String> {
    let text = step.required("duration", &step.decl.duration)?;
    let duration =
        duration::parse(&text).map_err(|err| format!("{}: {err}", step.field("duration")))?;
    Ok(Delay { text, duration })
}

pub(super) async fn run(
    run: &Run<'_>,
    step: &PlannedStep,
    delay: &Delay,
) -> Result<(String, Flow), StepError> {
    let id = &step.id;
    let text = &delay.text;
    run.activate(
        id,
        format!("{id}: waiting {text}{}", run.until(delay.duration)),
    );
    // A zero delay starts no timer: `Kind::history_events` counts none for it.
    if !delay.duration.is_zero()
        && let TimerResult::Cancelled = run
            .engine()
            .timer(delay.duration, format!("{id}: delay {text}"))
            .await
    {
        return Err(StepError::Abort(WorkflowTermination::cancelled()));
    }
    Ok((text.clone(), Flow::Continue))
}
