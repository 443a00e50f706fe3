//! The run's result: every step in declaration order with its status, each result cut
//! short so that a long workflow's result stays far below Temporal's payload limit (the
//! whole text is in the step's activity in the history).
//!
//! A declared type returns it as a JSON object, which the UI shows as a tree;
//! `CustomWorkflow` returns the same as JSON text, its output type since the reference.

use super::Run;
use serde::Serialize;

/// How much of a step's result the run's result keeps.
const RESULT_EXCERPT_CHARS: usize = 2_000;

impl Run<'_> {
    /// The run's result: every main step with its status, in declaration order.
    pub(super) fn summary(&self, status: &'static str, reason: Option<String>) -> RunResult {
        let records = self.records.borrow();
        let mut steps = Vec::new();
        for step in &self.plan.steps {
            step.visit_recorded(&mut |s| {
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
        RunResult {
            name: self.plan.name.clone(),
            status,
            reason,
            steps,
        }
    }
}

/// What a declared run returns. Field order is what the UI shows: a struct, not a
/// `serde_json::Value` (whose keys would come out sorted).
#[derive(Debug, Serialize)]
pub struct RunResult {
    name: String,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    steps: Vec<StepSummary>,
}

#[derive(Debug, Serialize)]
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
