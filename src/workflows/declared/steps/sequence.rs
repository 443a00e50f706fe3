//! `sequence`: steps in order inside one step, so a parallel branch can be several steps.
//! A `stop` in it stops the whole run, not only the sequence.

use crate::workflows::declared::plan::{Compiling, PlannedStep};
use crate::workflows::declared::run::{Flow, Run, StepError};

pub(super) const KEYS: &[&str] = &["steps"];

pub(super) fn compile(step: &Compiling) -> Result<Vec<PlannedStep>, String> {
    step.sequence()
}

pub(super) async fn run(run: &Run<'_>, steps: &[PlannedStep]) -> Result<(String, Flow), StepError> {
    let flow = run.sequence(steps).await?;
    Ok((String::new(), flow))
}
