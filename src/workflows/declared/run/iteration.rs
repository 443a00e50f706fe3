//! A for_each's item, run as a run of its own: its records start from the enclosing run's
//! (so its steps read every step finished before the for_each) with the for_each's steps
//! pending, and its expressions see `item` and `index`. Nothing flows back but what the
//! item ends with; the enclosing run records only the for_each's result.
//!
//! Why a copy of the records and not one shared table: with `concurrency` above 1 the same
//! step ids run for several items at once, and each item must read its own.

use super::{Flow, Record, Run, StepError};
use crate::failure::FailureType;
use crate::workflows::declared::expr::Expr;
use crate::workflows::declared::plan::PlannedStep;
use std::cell::RefCell;

impl<'a> Run<'a> {
    /// Evaluates a step's expression key (a for_each's `items`) with what expressions see
    /// now; a failing expression fails the step with `ExpressionFailed`, naming the key.
    pub(in crate::workflows::declared) fn eval(
        &self,
        step: &PlannedStep,
        key: &str,
        expr: &Expr,
    ) -> Result<cel::Value, StepError> {
        expr.eval(&self.scope())
            .map_err(|message| StepError::Failed(self.expression_failure(step, key, message)))
    }

    /// The run of item `index` of `for_each`, whose steps are `body`.
    pub(in crate::workflows::declared) fn for_item(
        &self,
        for_each: &PlannedStep,
        body: &[PlannedStep],
        index: usize,
        item: cel::Value,
    ) -> Run<'a> {
        let mut records = self.records.borrow().clone();
        for step in body {
            step.visit_recorded(&mut |s| {
                let record = Record {
                    kind: s.kind.name(),
                    status: "pending",
                    result: String::new(),
                    error: String::new(),
                };
                records.insert(s.id.clone(), record);
            });
        }
        let index_value = cel::Value::Int(i64::try_from(index).unwrap_or(i64::MAX));
        Run {
            engine: self.engine,
            settings: self.settings,
            plan: self.plan,
            input: self.input.clone(),
            instance: self.instance.clone(),
            records: RefCell::new(records),
            failure: RefCell::new(self.failure.borrow().clone()),
            active: self.active.clone(),
            label: format!("{}{}[{index}] ", self.label, for_each.id),
            item: Some((item, index_value)),
            timeout: self.timeout,
            cancelling: self.cancelling.clone(),
        }
    }

    /// Runs an item's steps in order; its result is the last step's (empty if that one did
    /// not end `ok`).
    pub(in crate::workflows::declared) async fn body(
        &self,
        steps: &[PlannedStep],
    ) -> Result<String, StepError> {
        let flow = self.sequence(steps).await?;
        debug_assert!(
            matches!(flow, Flow::Continue),
            "stop is refused inside a for_each"
        );
        let records = self.records.borrow();
        let last = steps.last().and_then(|step| records.get(&step.id));
        Ok(match last {
            Some(record) if record.status == "ok" => record.result.clone(),
            _ => String::new(),
        })
    }

    /// A failure of `step` that the workflow raises itself, with the step's path.
    pub(in crate::workflows::declared) fn step_failure(
        &self,
        step: &PlannedStep,
        failure_type: FailureType,
        key: &str,
        message: String,
    ) -> StepError {
        StepError::Failed(super::workflow_failure(
            &step.id,
            failure_type,
            format!("{}.{key}: {message}", step.path),
        ))
    }
}
