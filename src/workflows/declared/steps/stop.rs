//! `stop`: ends the run successfully with a reason; the steps after it are recorded as
//! skipped. Refused inside a parallel step, whose other branches would be left half-run.

use crate::workflows::declared::expr::Template;
use crate::workflows::declared::plan::{Compiling, PlannedStep};
use crate::workflows::declared::run::{Flow, Run, StepError};

pub(super) const KEYS: &[&str] = &["reason"];

#[derive(Debug)]
pub struct Stop {
    pub reason: Option<Template>,
}

pub(super) fn compile(step: &Compiling) -> Result<Stop, String> {
    if step.in_parallel {
        return Err(format!(
            "{}: a stop step cannot be inside a parallel step (the other branches would be \
             left half-run); put it after the parallel step",
            step.field("type")
        ));
    }
    Ok(Stop {
        reason: step.template("reason", &step.decl.reason)?,
    })
}

pub(super) fn run(
    run: &Run<'_>,
    step: &PlannedStep,
    stop: &Stop,
) -> Result<(String, Flow), StepError> {
    let reason = run
        .render(step, "reason", stop.reason.as_ref())?
        .unwrap_or_else(|| format!("stopped at {}", step.id));
    Ok((reason.clone(), Flow::Stop(reason)))
}
