//! `schedules apply`: compare what is declared with what the server holds, then create,
//! update, leave alone or (with `--prune`) delete — touching only schedules this tool made.

use super::proto::{CRON_COMMENT_PREFIX, to_proto};
use super::remote;
use crate::config::Schedules;
use anyhow::Result;
use std::collections::BTreeSet;
use std::fmt;
use temporalio_client::Client;
use temporalio_common::protos::temporal::api::enums::v1::ScheduleOverlapPolicy;
use temporalio_common::protos::temporal::api::schedule::v1::{
    Schedule, ScheduleSpec, schedule_action,
};

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Create,
    Update(Vec<&'static str>),
    Unchanged,
    Delete,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub schedule_id: String,
    pub change: Change,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.schedule_id;
        match &self.change {
            Change::Create => write!(f, "+ create {id}"),
            Change::Update(fields) => write!(f, "~ update {id} ({})", fields.join(", ")),
            Change::Unchanged => write!(f, "= unchanged {id}"),
            Change::Delete => write!(f, "- delete {id}"),
        }
    }
}

pub struct ApplyOptions {
    pub dry_run: bool,
    pub prune: bool,
}

/// Plans, prints each step as it goes, and carries it out unless `dry_run`.
pub async fn apply(
    client: &Client,
    default_task_queue: &str,
    schedules: &Schedules,
    options: &ApplyOptions,
    out: &mut dyn FnMut(&Step),
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for (id, declared) in &schedules.0 {
        let wanted = to_proto(declared, id, default_task_queue);
        let step = match remote::describe_for_update(client, id).await? {
            None => {
                if !options.dry_run {
                    remote::create(client, id, wanted).await?;
                }
                Change::Create
            }
            Some((actual, conflict_token)) => {
                let fields = differences(&wanted, &actual);
                if fields.is_empty() {
                    Change::Unchanged
                } else {
                    if !options.dry_run {
                        remote::update(client, id, wanted, conflict_token).await?;
                    }
                    Change::Update(fields)
                }
            }
        };
        let step = Step {
            schedule_id: id.clone(),
            change: step,
        };
        out(&step);
        steps.push(step);
    }
    if options.prune {
        for id in remote::managed_schedule_ids(client).await? {
            if schedules.0.contains_key(&id) {
                continue;
            }
            if !options.dry_run {
                remote::delete(client, &id).await?;
            }
            let step = Step {
                schedule_id: id,
                change: Change::Delete,
            };
            out(&step);
            steps.push(step);
        }
    }
    Ok(steps)
}

/// The fields whose server state differs from the declaration, by name.
pub fn differences(wanted: &Schedule, actual: &Schedule) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if SpecView::of(wanted.spec.as_ref()) != SpecView::of(actual.spec.as_ref()) {
        fields.push("spec");
    }
    if ActionView::of(wanted) != ActionView::of(actual) {
        fields.push("action");
    }
    let (wp, ap) = (
        wanted.policies.unwrap_or_default(),
        actual.policies.unwrap_or_default(),
    );
    if overlap(wp.overlap_policy) != overlap(ap.overlap_policy) {
        fields.push("overlap");
    }
    if wp.catchup_window.map(|d| d.seconds).unwrap_or(0)
        != ap.catchup_window.map(|d| d.seconds).unwrap_or(0)
    {
        fields.push("catchup_window");
    }
    if wp.pause_on_failure != ap.pause_on_failure {
        fields.push("pause_on_failure");
    }
    let (ws, as_) = (
        wanted.state.clone().unwrap_or_default(),
        actual.state.clone().unwrap_or_default(),
    );
    if ws.paused != as_.paused {
        fields.push("paused");
    }
    if ws.notes != as_.notes {
        fields.push("note");
    }
    fields
}

/// The spec reduced to what a declaration can say. The server stores cron strings as
/// structured calendars; our cron comment carries the declared text through.
#[derive(Debug, PartialEq)]
struct SpecView {
    crons: BTreeSet<String>,
    /// Calendars or exclusions not made from one of our crons (e.g. edited in the UI).
    foreign: usize,
    intervals: BTreeSet<(i64, i64)>,
    timezone: String,
    jitter: i64,
}

impl SpecView {
    #[allow(deprecated)]
    fn of(spec: Option<&ScheduleSpec>) -> SpecView {
        let spec = spec.cloned().unwrap_or_default();
        let mut crons = BTreeSet::new();
        let mut foreign = spec.calendar.len()
            + spec.exclude_calendar.len()
            + spec.exclude_structured_calendar.len();
        for text in &spec.cron_string {
            match text.split_once(&format!(" #{CRON_COMMENT_PREFIX}")) {
                Some((_, declared)) => {
                    crons.insert(declared.to_owned());
                }
                None => foreign += 1,
            }
        }
        for calendar in &spec.structured_calendar {
            match calendar.comment.strip_prefix(CRON_COMMENT_PREFIX) {
                Some(declared) => {
                    crons.insert(declared.to_owned());
                }
                None => foreign += 1,
            }
        }
        let intervals = spec
            .interval
            .iter()
            .map(|i| {
                (
                    i.interval.map(|d| d.seconds).unwrap_or(0),
                    i.phase.map(|d| d.seconds).unwrap_or(0),
                )
            })
            .collect();
        SpecView {
            crons,
            foreign,
            intervals,
            timezone: spec.timezone_name,
            jitter: spec.jitter.map(|d| d.seconds).unwrap_or(0),
        }
    }
}

#[derive(Debug, PartialEq)]
struct ActionView {
    workflow_type: String,
    workflow_id: String,
    task_queue: String,
    input: Vec<Option<serde_json::Value>>,
}

impl ActionView {
    fn of(schedule: &Schedule) -> Option<ActionView> {
        let action = schedule.action.as_ref()?.action.as_ref()?;
        let schedule_action::Action::StartWorkflow(start) = action;
        Some(ActionView {
            workflow_type: start
                .workflow_type
                .as_ref()
                .map(|t| t.name.clone())
                .unwrap_or_default(),
            workflow_id: start.workflow_id.clone(),
            task_queue: start
                .task_queue
                .as_ref()
                .map(|q| q.name.clone())
                .unwrap_or_default(),
            input: start
                .input
                .as_ref()
                .map(|p| {
                    p.payloads
                        .iter()
                        .map(|p| serde_json::from_slice(&p.data).ok())
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

fn overlap(raw: i32) -> i32 {
    // Unspecified means the server default, which is skip.
    if raw == ScheduleOverlapPolicy::Unspecified as i32 {
        ScheduleOverlapPolicy::Skip as i32
    } else {
        raw
    }
}
