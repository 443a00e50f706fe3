//! The run's deadline: a durable timer raced against the main steps. When it fires first,
//! every command the steps wait on is cancelled (activities get a cancel request, timers and
//! approvals' waits end), the steps still running are recorded as `cancelled`, and the run
//! fails with `DeadlineExceeded` — through `on_failure`, like any other failure, so that a
//! run nobody answered still tells someone. Temporal's own execution timeout would end the
//! run without running anything more.
//!
//! Why a timer in the workflow and not a `select!` that drops the steps: a dropped command
//! future is not a cancelled command (the activity would go on running on a worker), and the
//! steps must end on their own to record what they were doing. The select is the SDK's
//! biased one: on replay the same side wins in the same workflow task.

use super::{Flow, Run, StepError, StepFailure, workflow_failure};
use crate::config::Timeout;
use crate::duration;
use crate::failure::FailureType;
use crate::workflow_types::TIMEOUT_INPUT_KEY;
use futures::FutureExt;
use std::time::Duration;
use temporalio_sdk::TimerResult;

/// The version marker of the deadline timer: a run recorded before it has no timer, and
/// replays without one whatever its input says (docs/versioning.md).
pub const DEADLINE_PATCH: &str = "clawfactory-declared-deadline";

/// The input's `$timeout` (a duration as text, or seconds), if it has one.
pub fn input_timeout(input: &serde_json::Value) -> Result<Option<Duration>, String> {
    let Some(value) = input.get(TIMEOUT_INPUT_KEY) else {
        return Ok(None);
    };
    let field = format!("input.{TIMEOUT_INPUT_KEY}");
    let timeout: Timeout = serde_json::from_value(value.clone()).map_err(|_| {
        format!("{field}: expected a duration (\"30m\") or a number of seconds, got {value}")
    })?;
    timeout
        .duration()
        .map(Some)
        .map_err(|err| format!("{field}: {err}"))
}

impl Run<'_> {
    /// The main steps, raced against the deadline when the run has one.
    pub(super) async fn main_steps(&self) -> Result<Flow, StepError> {
        let steps = self.sequence(&self.plan.steps);
        let Some(timeout) = self.timeout else {
            return steps.await;
        };
        // Asked only when a deadline applies, so runs without one record no marker.
        if !self.engine.patched(DEADLINE_PATCH) {
            return steps.await;
        }
        let summary = format!(
            "deadline: the run fails after {}",
            duration::format(timeout)
        );
        let mut deadline = self.engine.deadline(timeout, summary).fuse();
        let mut steps = steps.fuse();
        temporalio_sdk::workflows::select! {
            outcome = steps => return outcome,
            fired = deadline => {
                if let TimerResult::Cancelled = fired {
                    // The run itself is being cancelled: its steps end with it.
                    return steps.await;
                }
            }
        }
        self.cancelling.set(true);
        self.engine.cancel_steps();
        // The steps end once their commands are cancelled; what they end with no longer
        // matters (each records itself as cancelled), the deadline does.
        let _ = steps.await;
        // on_failure runs as after any failure.
        self.cancelling.set(false);
        Err(StepError::Failed(self.deadline_failure(timeout)))
    }

    /// `failure.step` names the steps the deadline cancelled (the innermost ones the run
    /// records, in declaration order; a for_each as itself, its items' steps being its own),
    /// so an alert says what the run was waiting for.
    fn deadline_failure(&self, timeout: Duration) -> StepFailure {
        let records = self.records.borrow();
        let mut cancelled = Vec::new();
        for step in &self.plan.steps {
            step.visit_recorded(&mut |s| {
                let innermost = s.kind.nested().is_empty() || s.kind.runs_per_item();
                let status = records.get(&s.id).map(|record| record.status);
                if innermost && status == Some("cancelled") {
                    cancelled.push(s.id.clone());
                }
            });
        }
        drop(records);
        let step = cancelled.join(", ");
        let running = if step.is_empty() {
            String::new()
        } else {
            format!("; cancelled {step}")
        };
        let message = format!(
            "{}: the run's timeout of {} passed{running}",
            self.plan.name,
            duration::format(timeout)
        );
        workflow_failure(&step, FailureType::DeadlineExceeded, message)
    }
}

#[cfg(test)]
mod tests {
    use super::input_timeout;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn the_input_timeout_takes_text_or_seconds_and_names_its_key_when_wrong() {
        assert_eq!(input_timeout(&json!({"n": 1})), Ok(None));
        assert_eq!(input_timeout(&json!(null)), Ok(None));
        assert_eq!(
            input_timeout(&json!({"$timeout": "30m"})),
            Ok(Some(Duration::from_secs(1800)))
        );
        assert_eq!(
            input_timeout(&json!({"$timeout": 2})),
            Ok(Some(Duration::from_secs(2)))
        );
        for bad in [json!("soon"), json!(true), json!(0), json!("0s")] {
            let err = input_timeout(&json!({ "$timeout": bad })).unwrap_err();
            assert!(err.starts_with("input.$timeout: "), "{err}");
        }
    }
}
