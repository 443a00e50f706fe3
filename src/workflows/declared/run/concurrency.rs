//! One run at a time per key (`concurrency`): before its first step a run asks the lock of
//! its key (`Engine::acquire_lock`) and waits for it, runs its steps, and gives it back
//! however they end — completed, stopped, failed, past the deadline, or cancelled. A run
//! refused the lock (`when_busy = "skip"`) ends as `skipped`, not failed: nothing went
//! wrong, another run was already doing the work.
//!
//! The deadline (`timeout`) starts once the lock is held: it bounds the steps, not the wait
//! in the queue. Runs without `concurrency` record exactly what they did before.

use super::{LockAnswer, Run};
use crate::failure::FailureType;
use crate::workflows::declared::expr::render;
use crate::workflows::declared::plan::PlannedConcurrency;
use crate::workflows::failures::fail;
use temporalio_sdk::WorkflowTermination;

impl Run<'_> {
    /// Runs the steps (`run_steps`), holding the lock of the run's key while they run when
    /// the plan has `concurrency`.
    pub async fn execute(&self) -> Result<super::RunResult, WorkflowTermination> {
        let Some(concurrency) = &self.plan.concurrency else {
            return self.run_steps().await;
        };
        let key = self.lock_key(concurrency)?;
        self.engine.set_phase(format!("waiting for lock {key}"));
        let answer = self
            .engine
            .acquire_lock(key.clone(), concurrency.limit, concurrency.when_busy)
            .await;
        let outcome = match answer {
            Ok(LockAnswer::Granted) => self.run_steps().await,
            Ok(LockAnswer::Refused) => {
                // Refused without queueing: it holds nothing to give back.
                let reason = format!(
                    "another run holds the lock {key:?} (concurrency.when_busy = \"skip\")"
                );
                self.engine.set_phase(format!("skipped: {reason}"));
                return Ok(self.summary("skipped", Some(reason)));
            }
            // Cancelled while waiting, or the request failed: leave the queue all the same.
            Err(termination) => Err(termination),
        };
        self.engine.release_lock(key).await;
        outcome
    }

    /// The key's text for this run's input; a key that fails or is empty fails the run.
    fn lock_key(&self, concurrency: &PlannedConcurrency) -> Result<String, WorkflowTermination> {
        let field = format!("declared.{}.concurrency.key", self.plan.name);
        let value = concurrency.key.eval(&self.scope()).map_err(|message| {
            fail(FailureType::ExpressionFailed, format!("{field}: {message}"))
        })?;
        let key = render(&value);
        if key.trim().is_empty() {
            return Err(fail(
                FailureType::ExpressionFailed,
                format!(
                    "{field}: {:?} gave an empty key for this input",
                    concurrency.key.source()
                ),
            ));
        }
        Ok(key)
    }
}
