//! Declarative schedules: the config's `[schedules.<id>]` is the truth; `schedules apply`
//! makes the server match it, any number of times. Also `list`, `trigger`, `pause`, `unpause`.

mod cron;
mod declared;
mod reconcile;

pub use declared::{CRON_COMMENT_PREFIX, Overlap, ScheduleConfig, Schedules};
pub use reconcile::{ApplyOptions, Change, MANAGED_BY_KEY, Step, apply, differences, is_managed};

use anyhow::{Result, anyhow};
use std::time::SystemTime;
use temporalio_client::Client;
use temporalio_common::protos::temporal::api::schedule::v1::{
    SchedulePatch, TriggerImmediatelyRequest,
};
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    DescribeScheduleRequest, DescribeScheduleResponse, PatchScheduleRequest,
};

/// One line per schedule: id, owner, spec, paused, next three fire times, last results.
pub async fn list(client: &Client, namespace: &str) -> Result<Vec<String>> {
    let mut service = client.connection().workflow_service();
    let mut lines = Vec::new();
    for (id, managed) in reconcile::list_all(&mut *service, namespace).await? {
        let described = describe(client, namespace, &id).await?;
        lines.push(summary_line(&id, managed, &described));
    }
    Ok(lines)
}

fn summary_line(id: &str, managed: bool, described: &DescribeScheduleResponse) -> String {
    let schedule = described.schedule.clone().unwrap_or_default();
    let spec = schedule.spec.unwrap_or_default();
    let mut when: Vec<String> = spec
        .structured_calendar
        .iter()
        .map(|c| match c.comment.strip_prefix(CRON_COMMENT_PREFIX) {
            Some(cron) => format!("cron {cron:?}"),
            None => "calendar".to_owned(),
        })
        .collect();
    when.extend(spec.interval.iter().map(|i| {
        let secs = i.interval.map(|d| d.seconds).unwrap_or(0).max(0) as u64;
        format!(
            "every {}",
            crate::duration::format(std::time::Duration::from_secs(secs))
        )
    }));
    if !spec.timezone_name.is_empty() {
        when.push(format!("tz {}", spec.timezone_name));
    }
    let info = described.info.clone().unwrap_or_default();
    let next: Vec<String> = info
        .future_action_times
        .iter()
        .take(3)
        .filter_map(|t| SystemTime::try_from(*t).ok())
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .collect();
    let last: Vec<String> = info
        .recent_actions
        .iter()
        .rev()
        .take(3)
        .filter_map(|a| {
            a.start_workflow_result
                .as_ref()
                .map(|r| r.workflow_id.clone())
        })
        .collect();
    let paused = schedule.state.map(|s| s.paused).unwrap_or(false);
    format!(
        "{id}{}  [{}]  paused={paused}  next: {}  last: {}",
        if managed { "" } else { " (not ours)" },
        when.join(", "),
        if next.is_empty() {
            "-".into()
        } else {
            next.join(", ")
        },
        if last.is_empty() {
            "-".into()
        } else {
            last.join(", ")
        },
    )
}

/// The server's full description of one schedule.
pub async fn describe(
    client: &Client,
    namespace: &str,
    id: &str,
) -> Result<DescribeScheduleResponse> {
    let request = DescribeScheduleRequest {
        namespace: namespace.to_owned(),
        schedule_id: id.to_owned(),
    };
    client
        .connection()
        .workflow_service()
        .describe_schedule(tonic::Request::new(request))
        .await
        .map(|r| r.into_inner())
        .map_err(|status| anyhow!("cannot describe schedule {id}: {}", status.message()))
}

/// What to do to one schedule right now.
pub enum Action {
    Trigger,
    Pause,
    Unpause,
}

pub async fn act(client: &Client, namespace: &str, id: &str, action: Action) -> Result<()> {
    let note = format!(
        "by {} via clawfactory-temporal",
        crate::temporal_client::identity()
    );
    let patch = match action {
        Action::Trigger => SchedulePatch {
            trigger_immediately: Some(TriggerImmediatelyRequest::default()),
            ..Default::default()
        },
        Action::Pause => SchedulePatch {
            pause: format!("paused {note}"),
            ..Default::default()
        },
        Action::Unpause => SchedulePatch {
            unpause: format!("unpaused {note}"),
            ..Default::default()
        },
    };
    let request = PatchScheduleRequest {
        namespace: namespace.to_owned(),
        schedule_id: id.to_owned(),
        patch: Some(patch),
        identity: crate::temporal_client::identity(),
        request_id: format!("{id}-{}", std::process::id()),
    };
    client
        .connection()
        .workflow_service()
        .patch_schedule(tonic::Request::new(request))
        .await
        .map_err(|status| anyhow!("schedule {id}: {}", status.message()))?;
    Ok(())
}
