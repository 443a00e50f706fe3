//! `parallel`: starts every branch at once and waits for all of them — not the first: the
//! branches are usually things that must all happen, and "first" would leave the others
//! running with nobody waiting. A branch may not read a sibling's outcome, nor `stop`.

use crate::workflows::declared::plan::{Compiling, PlannedStep};
use crate::workflows::declared::run::{Flow, Run, StepError};

pub(super) const KEYS: &[&str] = &["steps"];

pub(super) fn compile(step: &Compiling) -> Result<Vec<PlannedStep>, String> {
    step.branches()
}

/// The first failure in declaration order is the step's, once every branch has ended.
pub(super) async fn run(
    run: &Run<'_>,
    branches: &[PlannedStep],
) -> Result<(String, Flow), StepError> {
    let outcomes =
        temporalio_sdk::workflows::join_all(branches.iter().map(|branch| run.step(branch))).await;
    for outcome in outcomes {
        outcome?;
    }
    Ok((String::new(), Flow::Continue))
}
