//! Declarative schedules: the config's `[schedules.<id>]` is the truth; `schedules apply`
//! makes the server match it, any number of times. Also `list`, `trigger`, `pause`, `unpause`.
//!
//! `proto` renders a declaration as the server's `Schedule`, `reconcile` plans and applies,
//! `remote` holds every call to the server.

mod proto;
mod reconcile;
mod remote;

pub use proto::{CRON_COMMENT_PREFIX, to_proto};
pub use reconcile::{ApplyOptions, Change, Step, apply, differences};
pub use remote::{Action, MANAGED_BY_KEY, act, describe, is_managed};

use crate::config::{Config, Instances, Schedules};
use anyhow::{Result, anyhow};
use std::time::SystemTime;
use temporalio_client::Client;
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeScheduleResponse;

/// The schedules as they go to the server: a schedule that names an `instance` gets it in
/// its input and, unless it names a queue, the instance's task queue — what `run
/// --instance` does for one start; one with a `timeout` gets it as the input's `$timeout`.
/// (The config has already checked that this works.)
pub fn declared(config: &Config, instances: &Instances) -> Schedules {
    let mut schedules = config.schedules.clone();
    for schedule in schedules.0.values_mut() {
        if let Ok(input) = schedule.run_input() {
            schedule.input = input;
        }
        let Some(instance) = schedule.instance.clone() else {
            continue;
        };
        schedule
            .task_queue
            .get_or_insert_with(|| instances.task_queue_for(Some(&instance)).to_owned());
    }
    schedules
}

/// One line per schedule: id, owner, spec, paused, next three fire times, last results.
pub async fn list(client: &Client) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for (id, managed) in remote::list_all(client).await? {
        let described = describe(client, &id)
            .await?
            .ok_or_else(|| anyhow!("schedule {id} was deleted while listing"))?;
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
        let seconds = |s: Option<i64>| s.map_or(0, |s| s.max(0) as u64);
        let every = seconds(i.interval.map(|d| d.seconds));
        let every = crate::duration::format(std::time::Duration::from_secs(every));
        // An interval's phase says where in it the fires fall: without it, `every 1h` alone
        // does not say whether they come at :00 or :15.
        match seconds(i.phase.map(|d| d.seconds)) {
            0 => format!("every {every}"),
            phase => format!(
                "every {every} phase {}",
                crate::duration::format(std::time::Duration::from_secs(phase))
            ),
        }
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
