//! `schedules apply`: compare what is declared with what the server holds, then create,
//! update, leave alone or (with `--prune`) delete — touching only schedules this tool made.

use super::declared::{CRON_COMMENT_PREFIX, Schedules};
use crate::workflows::json_payload;
use anyhow::{Context, Result, anyhow};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use temporalio_client::Client;
use temporalio_client::grpc::WorkflowService;
use temporalio_common::protos::temporal::api::common::v1::{Memo, Payload};
use temporalio_common::protos::temporal::api::enums::v1::ScheduleOverlapPolicy;
use temporalio_common::protos::temporal::api::schedule::v1::{
    Schedule, ScheduleSpec, schedule_action,
};
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    CreateScheduleRequest, DeleteScheduleRequest, DescribeScheduleRequest, ListSchedulesRequest,
    UpdateScheduleRequest,
};
use tonic::Code;

/// The memo key that marks a schedule as ours; `--prune` never deletes anything without it.
pub const MANAGED_BY_KEY: &str = "clawfactory-managed-by";
pub const MANAGED_BY_VALUE: &str = "clawfactory-temporal schedules apply";

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
    namespace: &str,
    default_task_queue: &str,
    schedules: &Schedules,
    options: &ApplyOptions,
    out: &mut dyn FnMut(&Step),
) -> Result<Vec<Step>> {
    let mut service = client.connection().workflow_service();
    let mut steps = Vec::new();
    for (id, declared) in &schedules.0 {
        let wanted = declared.to_proto(id, default_task_queue);
        let step = match describe(&mut *service, namespace, id).await? {
            None => {
                if !options.dry_run {
                    create(&mut *service, namespace, id, wanted).await?;
                }
                Change::Create
            }
            Some((actual, conflict_token)) => {
                let fields = differences(&wanted, &actual);
                if fields.is_empty() {
                    Change::Unchanged
                } else {
                    if !options.dry_run {
                        update(&mut *service, namespace, id, wanted, conflict_token).await?;
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
        for id in managed_schedule_ids(&mut *service, namespace).await? {
            if schedules.0.contains_key(&id) {
                continue;
            }
            if !options.dry_run {
                delete(&mut *service, namespace, &id).await?;
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

fn managed_memo() -> Memo {
    Memo {
        fields: [(
            MANAGED_BY_KEY.to_owned(),
            json_payload(&MANAGED_BY_VALUE.into()),
        )]
        .into(),
    }
}

pub fn is_managed(memo: Option<&Memo>) -> bool {
    memo.and_then(|m| m.fields.get(MANAGED_BY_KEY))
        .is_some_and(|p: &Payload| {
            serde_json::from_slice::<String>(&p.data).is_ok_and(|v| v == MANAGED_BY_VALUE)
        })
}

async fn describe(
    service: &mut dyn WorkflowService,
    namespace: &str,
    id: &str,
) -> Result<Option<(Schedule, Vec<u8>)>> {
    let request = DescribeScheduleRequest {
        namespace: namespace.to_owned(),
        schedule_id: id.to_owned(),
    };
    match service
        .describe_schedule(tonic::Request::new(request))
        .await
    {
        Ok(response) => {
            let response = response.into_inner();
            let schedule = response
                .schedule
                .ok_or_else(|| anyhow!("server described {id} without a schedule"))?;
            Ok(Some((schedule, response.conflict_token)))
        }
        Err(status) if status.code() == Code::NotFound => Ok(None),
        Err(status) => Err(anyhow!(
            "cannot describe schedule {id}: {}",
            status.message()
        )),
    }
}

async fn create(
    service: &mut dyn WorkflowService,
    namespace: &str,
    id: &str,
    schedule: Schedule,
) -> Result<()> {
    let request = CreateScheduleRequest {
        namespace: namespace.to_owned(),
        schedule_id: id.to_owned(),
        schedule: Some(schedule),
        identity: crate::temporal_client::identity(),
        request_id: request_id(),
        memo: Some(managed_memo()),
        ..Default::default()
    };
    service
        .create_schedule(tonic::Request::new(request))
        .await
        .map_err(|status| anyhow!("cannot create schedule {id}: {}", status.message()))?;
    Ok(())
}

async fn update(
    service: &mut dyn WorkflowService,
    namespace: &str,
    id: &str,
    schedule: Schedule,
    conflict_token: Vec<u8>,
) -> Result<()> {
    let request = UpdateScheduleRequest {
        namespace: namespace.to_owned(),
        schedule_id: id.to_owned(),
        schedule: Some(schedule),
        conflict_token,
        identity: crate::temporal_client::identity(),
        request_id: request_id(),
        // The memo mark set at creation stays; the server refuses memo updates here.
        ..Default::default()
    };
    service
        .update_schedule(tonic::Request::new(request))
        .await
        .map_err(|status| anyhow!("cannot update schedule {id}: {}", status.message()))?;
    Ok(())
}

async fn delete(service: &mut dyn WorkflowService, namespace: &str, id: &str) -> Result<()> {
    let request = DeleteScheduleRequest {
        namespace: namespace.to_owned(),
        schedule_id: id.to_owned(),
        identity: crate::temporal_client::identity(),
    };
    service
        .delete_schedule(tonic::Request::new(request))
        .await
        .map_err(|status| anyhow!("cannot delete schedule {id}: {}", status.message()))?;
    Ok(())
}

/// Ids of every schedule in the namespace that carries our memo mark.
pub async fn managed_schedule_ids(
    service: &mut dyn WorkflowService,
    namespace: &str,
) -> Result<Vec<String>> {
    Ok(list_all(service, namespace)
        .await?
        .into_iter()
        .filter(|(_, managed)| *managed)
        .map(|(id, _)| id)
        .collect())
}

/// Every schedule id with whether it is ours.
pub async fn list_all(
    service: &mut dyn WorkflowService,
    namespace: &str,
) -> Result<Vec<(String, bool)>> {
    let mut found = BTreeMap::new();
    let mut next_page_token = Vec::new();
    loop {
        let request = ListSchedulesRequest {
            namespace: namespace.to_owned(),
            maximum_page_size: 100,
            next_page_token: next_page_token.clone(),
            ..Default::default()
        };
        let page = service
            .list_schedules(tonic::Request::new(request))
            .await
            .map_err(|status| anyhow!("cannot list schedules: {}", status.message()))
            .context("listing schedules")?
            .into_inner();
        for entry in page.schedules {
            let managed = is_managed(entry.memo.as_ref());
            found.insert(entry.schedule_id, managed);
        }
        if page.next_page_token.is_empty() {
            return Ok(found.into_iter().collect());
        }
        next_page_token = page.next_page_token;
    }
}

fn request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("clawfactory-{}-{nanos}", std::process::id())
}
