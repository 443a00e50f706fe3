//! Where a failed run resumes: read from its history alone, so it is the same for every
//! workflow type and testable over recorded histories.
//!
//! The failed step is the activity the run's failure names (`ActivityFailureInfo`): the
//! workflows report a step's failure with its original cause, and a declared run does so
//! even after its `on_failure` steps ran, so the point is always before the MAIN step that
//! failed, never inside `on_failure`. A run that failed without an activity failure (bad
//! input, an expression, a rejected approval) has no step to run again.

use std::collections::BTreeSet;
use temporalio_common::protos::temporal::api::common::v1::Payload;
use temporalio_common::protos::temporal::api::failure::v1::Failure;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;
use temporalio_common::protos::temporal::api::history::v1::HistoryEvent;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

/// The local activity whose recorded answer is a declared run's definition
/// (`workflows::declared::resolve`); read for its `on_failure` step ids.
const RESOLVE_ACTIVITY: &str = "resolve_declared_workflow";

/// Where and how a failed run resumes.
#[derive(Debug, Clone, PartialEq)]
pub struct ResumePoint {
    pub workflow_type: String,
    /// The `WorkflowTaskCompleted` event to reset to: the task that scheduled the failed step.
    pub reset_event_id: i64,
    /// The step that runs again: a declared step's id, else the activity's type and id.
    pub step: String,
    /// How it failed: `[Type] message` of the root cause.
    pub failure: String,
    /// Steps that had finished before the point: the new run keeps their results.
    pub kept: Vec<String>,
    /// Signals (approval decisions) received before the point: the new run keeps them.
    pub kept_signals: usize,
    /// Steps that had succeeded but whose results the reset drops: they would run again
    /// (a parallel sibling of the failed step). `on_failure` steps are not listed: they run
    /// again only if the resumed run fails again, which is their job.
    pub rerun: Vec<String>,
}

/// The resume point of the run whose whole history is `events`, or why there is none.
pub fn resume_point(events: &[HistoryEvent]) -> Result<ResumePoint, String> {
    let failure = run_failure(events)?;
    let (scheduled_id, failed_activity) = failed_activity(failure).ok_or_else(|| {
        format!(
            "it failed in the workflow itself, not at a step's activity ({}): there is no \
             step to run again; fix the cause and start a new run",
            root_cause(failure)
        )
    })?;
    let scheduled = event(events, scheduled_id)
        .and_then(|e| match &e.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => Some((e, a)),
            _ => None,
        })
        .ok_or_else(|| {
            format!("its failure names activity {failed_activity}, scheduled at event {scheduled_id}, which the history does not hold")
        })?;
    let reset_event_id = scheduled.1.workflow_task_completed_event_id;
    if took_a_lock_before(events, reset_event_id) {
        // The reset run would go on as the lock's holder while the lock knows only the old
        // run, which it drops once it sees that closed: two runs of the key could overlap.
        return Err(
            "it ran under its workflow's `concurrency` lock, which a resumed run would \
                    not hold (two runs of the key could overlap): start a new run instead"
                .into(),
        );
    }
    let on_failure = on_failure_steps(events);
    let mut kept = Vec::new();
    let mut rerun = Vec::new();
    for (at, scheduled_at) in completed_activities(events) {
        let label = event(events, scheduled_at)
            .map(step_label)
            .unwrap_or_default();
        if at < reset_event_id {
            kept.push(label);
        } else if !on_failure.contains(&label) {
            rerun.push(label);
        }
    }
    let kept_signals = events
        .iter()
        .filter(|e| e.event_id < reset_event_id)
        .filter(|e| {
            matches!(
                e.attributes,
                Some(Attributes::WorkflowExecutionSignaledEventAttributes(_))
            )
        })
        .count();
    Ok(ResumePoint {
        workflow_type: workflow_type(events),
        reset_event_id,
        step: step_label(scheduled.0),
        failure: root_cause(failure),
        kept,
        kept_signals,
        rerun,
    })
}

/// The failure the run closed with, or why it is not a failed run.
fn run_failure(events: &[HistoryEvent]) -> Result<&Failure, String> {
    let last = events.last().ok_or("its history is empty")?;
    let closed = match &last.attributes {
        Some(Attributes::WorkflowExecutionFailedEventAttributes(failed)) => {
            return failed
                .failure
                .as_ref()
                .ok_or_else(|| "it failed without a recorded failure".to_owned());
        }
        Some(Attributes::WorkflowExecutionCompletedEventAttributes(_)) => {
            "completed: nothing to resume"
        }
        Some(Attributes::WorkflowExecutionCanceledEventAttributes(_)) => "was cancelled",
        Some(Attributes::WorkflowExecutionTerminatedEventAttributes(_)) => "was terminated",
        Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => "timed out",
        Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(_)) => "continued as new",
        _ => {
            return Err(
                "it is still running: only a failed run can be resumed (wait for it \
                        to end, or approve/reject what it waits for)"
                    .into(),
            );
        }
    };
    Err(format!(
        "it {closed}; only a run that failed at a step can be resumed"
    ))
}

/// The activity failure in the failure's chain: its scheduled event id and a description.
fn failed_activity(failure: &Failure) -> Option<(i64, String)> {
    let mut current = Some(failure);
    while let Some(f) = current {
        if let Some(FailureInfo::ActivityFailureInfo(info)) = &f.failure_info {
            let kind = info
                .activity_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default();
            return Some((
                info.scheduled_event_id,
                format!("{kind} {}", info.activity_id),
            ));
        }
        current = f.cause.as_deref();
    }
    None
}

/// `[Type] message` of the innermost cause (`[Type]` only for a typed application failure).
fn root_cause(failure: &Failure) -> String {
    let mut current = failure;
    while let Some(cause) = current.cause.as_deref() {
        current = cause;
    }
    match &current.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) if !info.r#type.is_empty() => {
            format!("[{}] {}", info.r#type, current.message)
        }
        _ => current.message.clone(),
    }
}

fn event(events: &[HistoryEvent], id: i64) -> Option<&HistoryEvent> {
    // Event ids count from 1 without gaps; search in case a history was cut.
    events
        .get(usize::try_from(id - 1).ok()?)
        .filter(|e| e.event_id == id)
        .or_else(|| events.iter().find(|e| e.event_id == id))
}

/// Whether the run asked for its `concurrency` lock before `event_id`.
fn took_a_lock_before(events: &[HistoryEvent], event_id: i64) -> bool {
    events
        .iter()
        .take_while(|e| e.event_id < event_id)
        .any(|e| match &e.attributes {
            Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => a
                .activity_type
                .as_ref()
                .is_some_and(|t| t.name == crate::activities::lock::ACQUIRE_LOCK_ACTIVITY),
            _ => false,
        })
}

/// `(completed event id, scheduled event id)` of every activity that succeeded.
fn completed_activities(events: &[HistoryEvent]) -> impl Iterator<Item = (i64, i64)> + '_ {
    events.iter().filter_map(|e| match &e.attributes {
        Some(Attributes::ActivityTaskCompletedEventAttributes(done)) => {
            Some((e.event_id, done.scheduled_event_id))
        }
        _ => None,
    })
}

/// A scheduled activity's step: what its summary names before `": "` (declared steps say
/// `publish: POST https://...`), else its activity type and id (built-in workflows).
fn step_label(scheduled: &HistoryEvent) -> String {
    let summary = scheduled
        .user_metadata
        .as_ref()
        .and_then(|m| m.summary.as_ref())
        .and_then(|p| serde_json::from_slice::<String>(&p.data).ok());
    if let Some(summary) = summary
        && let Some((step, _)) = summary.split_once(": ")
    {
        return step.to_owned();
    }
    match &scheduled.attributes {
        Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
            let kind = a.activity_type.as_ref().map(|t| t.name.as_str());
            format!(
                "{} (activity {})",
                kind.unwrap_or("activity"),
                a.activity_id
            )
        }
        _ => String::new(),
    }
}

fn workflow_type(events: &[HistoryEvent]) -> String {
    match events.first().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) => started
            .workflow_type
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// The ids of a declared run's `on_failure` steps (nested ones too), from its recorded
/// definition; none for other workflows.
fn on_failure_steps(events: &[HistoryEvent]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for e in events {
        let Some(Attributes::MarkerRecordedEventAttributes(marker)) = &e.attributes else {
            continue;
        };
        let json = |key: &str| -> Option<serde_json::Value> {
            let payload: &Payload = marker.details.get(key)?.payloads.first()?;
            serde_json::from_slice(&payload.data).ok()
        };
        let is_resolve =
            json("data").is_some_and(|d| d["activity_type"].as_str() == Some(RESOLVE_ACTIVITY));
        if let Some(resolved) = json("result").filter(|_| is_resolve) {
            collect_ids(&resolved["definition"]["on_failure"], &mut ids);
        }
    }
    ids
}

fn collect_ids(steps: &serde_json::Value, ids: &mut BTreeSet<String>) {
    for step in steps.as_array().into_iter().flatten() {
        if let Some(id) = step["id"].as_str() {
            ids.insert(id.to_owned());
        }
        collect_ids(&step["steps"], ids);
    }
}

#[cfg(test)]
mod tests;
