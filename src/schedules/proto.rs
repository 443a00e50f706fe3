//! A declared schedule rendered as the Temporal `Schedule` the server should hold.

use crate::config::{Overlap, ScheduleConfig};
use crate::payload::json_payload;
use temporalio_common::protos::temporal::api::common::v1::{Payloads, WorkflowType};
use temporalio_common::protos::temporal::api::enums::v1::ScheduleOverlapPolicy;
use temporalio_common::protos::temporal::api::schedule::v1::{
    IntervalSpec, Schedule, ScheduleAction, SchedulePolicies, ScheduleSpec, ScheduleState,
    schedule_action,
};
use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
use temporalio_common::protos::temporal::api::workflow::v1::NewWorkflowExecutionInfo;

/// Every cron we send carries this comment, so the declared text can be read back from the
/// server (which stores cron as structured calendars) and hand-made calendars stand out.
pub const CRON_COMMENT_PREFIX: &str = "clawfactory-cron: ";

/// The schedule as it should be on the server.
pub fn to_proto(
    schedule: &ScheduleConfig,
    schedule_id: &str,
    default_task_queue: &str,
) -> Schedule {
    #[allow(deprecated)]
    let spec = ScheduleSpec {
        cron_string: schedule
            .cron
            .iter()
            .map(|c| format!("{c} #{CRON_COMMENT_PREFIX}{c}"))
            .collect(),
        interval: schedule
            .every
            .iter()
            .map(|every| IntervalSpec {
                interval: Some((*every).try_into().expect("validated interval")),
                phase: (!schedule.phase.is_zero())
                    .then(|| schedule.phase.try_into().expect("validated phase")),
            })
            .collect(),
        timezone_name: schedule.timezone.clone(),
        jitter: Some(schedule.jitter.try_into().expect("validated jitter")),
        ..Default::default()
    };
    let start = NewWorkflowExecutionInfo {
        workflow_id: schedule.workflow_id(schedule_id).to_owned(),
        workflow_type: Some(WorkflowType {
            name: schedule.workflow.clone(),
        }),
        task_queue: Some(TaskQueue {
            name: schedule.task_queue(default_task_queue).to_owned(),
            ..Default::default()
        }),
        input: schedule.input.as_ref().map(|value| Payloads {
            payloads: vec![json_payload(value)],
        }),
        ..Default::default()
    };
    Schedule {
        spec: Some(spec),
        action: Some(ScheduleAction {
            action: Some(schedule_action::Action::StartWorkflow(start)),
        }),
        policies: Some(SchedulePolicies {
            overlap_policy: overlap_policy(schedule.overlap) as i32,
            catchup_window: Some(
                schedule
                    .catchup_window
                    .try_into()
                    .expect("validated window"),
            ),
            pause_on_failure: schedule.pause_on_failure,
            keep_original_workflow_id: false,
        }),
        state: Some(ScheduleState {
            notes: schedule.note.clone(),
            paused: schedule.paused,
            ..Default::default()
        }),
    }
}

fn overlap_policy(overlap: Overlap) -> ScheduleOverlapPolicy {
    match overlap {
        Overlap::Skip => ScheduleOverlapPolicy::Skip,
        Overlap::BufferOne => ScheduleOverlapPolicy::BufferOne,
        Overlap::BufferAll => ScheduleOverlapPolicy::BufferAll,
        Overlap::CancelOther => ScheduleOverlapPolicy::CancelOther,
        Overlap::TerminateOther => ScheduleOverlapPolicy::TerminateOther,
        Overlap::AllowAll => ScheduleOverlapPolicy::AllowAll,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Schedules;
    use serde::Deserialize;

    fn schedules(text: &str) -> Schedules {
        #[derive(Deserialize)]
        struct Wrapper {
            schedules: Schedules,
        }
        let wrapper: Wrapper = toml::from_str(text).unwrap();
        wrapper
            .schedules
            .validate(&crate::config::Declared::default())
            .unwrap();
        wrapper.schedules
    }

    #[test]
    fn proto_carries_every_declared_field() {
        let s = schedules(
            "[schedules.x]\nworkflow = \"CustomWorkflow\"\ninput = { steps = [] }\ncron = [\"0 4 * * *\"]\nevery = [\"90m\"]\nphase = \"5m\"\n\
             timezone = \"UTC\"\noverlap = \"buffer_one\"\njitter = \"30s\"\npaused = true\nnote = \"hi\"\n",
        );
        let proto = to_proto(&s.0["x"], "x", "clawfactory");
        let spec = proto.spec.unwrap();
        #[allow(deprecated)]
        let crons = spec.cron_string;
        assert_eq!(crons, ["0 4 * * * #clawfactory-cron: 0 4 * * *"]);
        assert_eq!(spec.interval[0].interval.unwrap().seconds, 5400);
        assert_eq!(spec.interval[0].phase.unwrap().seconds, 300);
        assert_eq!(spec.jitter.unwrap().seconds, 30);
        let policies = proto.policies.unwrap();
        assert_eq!(
            policies.overlap_policy,
            ScheduleOverlapPolicy::BufferOne as i32
        );
        assert_eq!(policies.catchup_window.unwrap().seconds, 365 * 24 * 3600);
        let state = proto.state.unwrap();
        assert!(state.paused);
        assert_eq!(state.notes, "hi");
        let Some(schedule_action::Action::StartWorkflow(start)) = proto.action.unwrap().action
        else {
            panic!("start workflow action expected");
        };
        assert_eq!(start.workflow_id, "x");
        assert_eq!(start.task_queue.unwrap().name, "clawfactory");
        assert_eq!(start.input.unwrap().payloads[0].data, br#"{"steps":[]}"#);
    }
}
