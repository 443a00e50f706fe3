//! Resume points over histories recorded from a real server (`tests/histories/`), some cut
//! or closed differently to stand for a run in another state.

use super::*;
use std::path::Path;
use temporalio_common::protos::temporal::api::common::v1::ActivityType;
use temporalio_common::protos::temporal::api::failure::v1::{
    ActivityFailureInfo, ApplicationFailureInfo,
};
use temporalio_common::protos::temporal::api::history::v1::{
    History, WorkflowExecutionFailedEventAttributes,
};

fn recorded(name: &str) -> Vec<HistoryEvent> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    serde_json::from_slice::<History>(&bytes).unwrap().events
}

/// The completed declared run (research; synthesize ∥ notify; approval; publish) as if the
/// activity scheduled at `scheduled` had failed it: its first `until` events, then a
/// failure naming that activity with an `HttpUnavailable` cause.
fn failed_at(scheduled: i64, until: usize) -> Vec<HistoryEvent> {
    let mut events = recorded("declared-research-digest.json");
    events.truncate(until);
    // The failed activity did not complete (this leaves a gap in the event ids).
    events.retain(|e| {
        !matches!(&e.attributes,
            Some(Attributes::ActivityTaskCompletedEventAttributes(done)) if done.scheduled_event_id == scheduled)
    });
    let cause = Failure {
        message: "POST http://127.0.0.1/publish: HTTP 500".into(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: "HttpUnavailable".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    let failure = Failure {
        message: "Activity task failed".into(),
        cause: Some(Box::new(cause)),
        failure_info: Some(FailureInfo::ActivityFailureInfo(ActivityFailureInfo {
            scheduled_event_id: scheduled,
            activity_id: "x".into(),
            activity_type: Some(ActivityType {
                name: "http_request".into(),
            }),
            ..Default::default()
        })),
        ..Default::default()
    };
    events.push(HistoryEvent {
        event_id: until as i64 + 1,
        attributes: Some(Attributes::WorkflowExecutionFailedEventAttributes(
            WorkflowExecutionFailedEventAttributes {
                failure: Some(failure),
                ..Default::default()
            },
        )),
        ..Default::default()
    });
    events
}

#[test]
fn a_step_failing_after_the_approval_resumes_at_the_task_that_scheduled_it_keeping_every_earlier_step()
 {
    // publish was scheduled at event 27 by the workflow task completed at 25, which also
    // took the approval signal (22) in.
    let point = resume_point(&failed_at(27, 29)).unwrap();
    assert_eq!(point.workflow_type, "research-digest");
    assert_eq!(point.reset_event_id, 25);
    assert_eq!(point.step, "publish");
    assert_eq!(
        point.failure,
        "[HttpUnavailable] POST http://127.0.0.1/publish: HTTP 500"
    );
    assert_eq!(point.kept, ["research", "notify", "synthesize"]);
    assert_eq!(point.kept_signals, 1, "the approval");
    assert!(point.rerun.is_empty(), "{:?}", point.rerun);
}

#[test]
fn a_parallel_sibling_that_ended_after_the_failed_step_was_scheduled_is_listed_to_run_again() {
    // notify (13) and synthesize (12) were scheduled together at 11; synthesize ended at 18.
    let point = resume_point(&failed_at(13, 19)).unwrap();
    assert_eq!(point.reset_event_id, 11);
    assert_eq!(point.step, "notify");
    assert_eq!(point.kept, ["research"]);
    assert_eq!(point.kept_signals, 0);
    assert_eq!(point.rerun, ["synthesize"]);
}

#[test]
fn a_built_in_workflow_resumes_at_its_failed_activity_named_by_type_and_id() {
    let point = resume_point(&recorded("poetry-research-failed.json")).unwrap();
    assert_eq!(point.workflow_type, "PoetryResearchWorkflow");
    assert_eq!(point.reset_event_id, 4);
    assert_eq!(point.step, "trigger_agent_turn (activity 1)");
    assert!(
        point.failure.starts_with("[GatewayUnavailable] POST "),
        "{}",
        point.failure
    );
    assert!(point.kept.is_empty() && point.rerun.is_empty());
}

#[test]
fn a_run_refused_at_its_input_has_no_step_to_run_again() {
    let err = resume_point(&recorded("custom-invalid-definition.json")).unwrap_err();
    assert!(
        err.contains("failed in the workflow itself") && err.contains("[InvalidDefinition]"),
        "{err}"
    );
}

#[test]
fn a_completed_run_and_a_run_still_waiting_are_refused_saying_so() {
    let completed = recorded("declared-research-digest.json");
    let err = resume_point(&completed).unwrap_err();
    assert!(err.contains("completed: nothing to resume"), "{err}");
    // Cut at the approval's timer: the run waits for a decision.
    let waiting = &completed[..21];
    let err = resume_point(waiting).unwrap_err();
    assert!(err.contains("still running"), "{err}");
    assert!(resume_point(&[]).unwrap_err().contains("empty"));
}

#[test]
fn a_failure_naming_an_event_the_history_lacks_is_an_error_not_a_guess() {
    let err = resume_point(&failed_at(99, 29)).unwrap_err();
    assert!(err.contains("event 99"), "{err}");
}

#[test]
fn a_recorded_run_whose_publish_failed_after_approval_resumes_at_publish_not_at_its_on_failure_alert()
 {
    // Recorded by tests/it/workflows/resume.rs `record_failed_after_approval`: draft, an
    // approval, publish failing twice with HTTP 500, then on_failure's alert, which succeeded
    // after the point and is not something the resumed run would repeat.
    let point = resume_point(&recorded("resume/declared-failed-after-approval.json")).unwrap();
    assert_eq!(point.workflow_type, "post");
    assert_eq!(point.reset_event_id, 20);
    assert_eq!(point.step, "publish");
    assert!(
        point.failure.starts_with("[HttpUnavailable] ") && point.failure.contains("500"),
        "{}",
        point.failure
    );
    assert_eq!(point.kept, ["draft"]);
    assert_eq!(point.kept_signals, 1, "the approval");
    assert!(point.rerun.is_empty(), "{:?}", point.rerun);
}

#[test]
fn a_run_that_held_its_concurrency_lock_is_refused_rather_than_resumed_without_it() {
    let mut events = failed_at(27, 29);
    // Research's activity (scheduled at 6) stands for the lock's request: both come before
    // the failed step's workflow task.
    let Some(Attributes::ActivityTaskScheduledEventAttributes(scheduled)) = &mut events
        .iter_mut()
        .find(|e| e.event_id == 6)
        .expect("an event 6")
        .attributes
    else {
        panic!("event 6 schedules research");
    };
    scheduled.activity_type = Some(ActivityType {
        name: crate::activities::lock::ACQUIRE_LOCK_ACTIVITY.into(),
    });
    let refused = resume_point(&events).unwrap_err();
    assert!(refused.contains("`concurrency` lock"), "{refused}");
}
