//! Every call `schedules` makes to the server, in one place. The SDK's typed schedule client
//! does describe, delete, pause, unpause, trigger and list; create and update stay raw gRPC
//! because they carry what the typed options cannot: our memo mark on create, and the whole
//! declared `Schedule` (catch-up window, jitter, cron comments) with its conflict token.

use crate::payload::json_payload;
use anyhow::{Result, anyhow};
use futures::TryStreamExt;
use temporalio_client::schedules::ScheduleOverlapPolicy;
use temporalio_client::schedules::{
    DeleteScheduleOptions, ListSchedulesOptions, PauseScheduleOptions, ScheduleError,
    TriggerScheduleOptions, UnpauseScheduleOptions,
};
use temporalio_client::{Client, NamespacedClient, RpcOptions};
use temporalio_common::protos::temporal::api::common::v1::{Memo, Payload};
use temporalio_common::protos::temporal::api::schedule::v1::Schedule;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    CreateScheduleRequest, DescribeScheduleResponse, UpdateScheduleRequest,
};
use tonic::Code;

/// The memo key that marks a schedule as ours; `--prune` never deletes anything without it.
pub const MANAGED_BY_KEY: &str = "clawfactory-managed-by";
pub const MANAGED_BY_VALUE: &str = "clawfactory-temporal schedules apply";

pub fn is_managed(memo: Option<&Memo>) -> bool {
    memo.and_then(|m| m.fields.get(MANAGED_BY_KEY))
        .is_some_and(|p: &Payload| {
            serde_json::from_slice::<String>(&p.data).is_ok_and(|v| v == MANAGED_BY_VALUE)
        })
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

/// The server's full description of one schedule; `None` if there is no such schedule.
pub async fn describe(client: &Client, id: &str) -> Result<Option<DescribeScheduleResponse>> {
    let handle = client.get_schedule_handle(id);
    match handle.describe(RpcOptions::default()).await {
        Ok(description) => Ok(Some(description.raw().clone())),
        Err(ScheduleError::Rpc(status)) if status.code() == Code::NotFound => Ok(None),
        Err(err) => Err(anyhow!("cannot describe schedule {id}: {}", message(&err))),
    }
}

/// The schedule as the server holds it, with the token an update must present.
pub async fn describe_for_update(client: &Client, id: &str) -> Result<Option<(Schedule, Vec<u8>)>> {
    let Some(response) = describe(client, id).await? else {
        return Ok(None);
    };
    let schedule = response
        .schedule
        .ok_or_else(|| anyhow!("server described {id} without a schedule"))?;
    Ok(Some((schedule, response.conflict_token)))
}

pub async fn create(client: &Client, id: &str, schedule: Schedule) -> Result<()> {
    let request = CreateScheduleRequest {
        namespace: client.namespace(),
        schedule_id: id.to_owned(),
        schedule: Some(schedule),
        identity: crate::temporal_client::identity(),
        request_id: request_id(),
        memo: Some(managed_memo()),
        ..Default::default()
    };
    client
        .connection()
        .workflow_service()
        .create_schedule(tonic::Request::new(request))
        .await
        .map_err(|status| anyhow!("cannot create schedule {id}: {}", status.message()))?;
    Ok(())
}

pub async fn update(
    client: &Client,
    id: &str,
    schedule: Schedule,
    conflict_token: Vec<u8>,
) -> Result<()> {
    let request = UpdateScheduleRequest {
        namespace: client.namespace(),
        schedule_id: id.to_owned(),
        schedule: Some(schedule),
        conflict_token,
        identity: crate::temporal_client::identity(),
        request_id: request_id(),
        // The memo mark set at creation stays; the server refuses memo updates here.
        ..Default::default()
    };
    client
        .connection()
        .workflow_service()
        .update_schedule(tonic::Request::new(request))
        .await
        .map_err(|status| anyhow!("cannot update schedule {id}: {}", status.message()))?;
    Ok(())
}

pub async fn delete(client: &Client, id: &str) -> Result<()> {
    client
        .get_schedule_handle(id)
        .delete(DeleteScheduleOptions::default())
        .await
        .map_err(|err| anyhow!("cannot delete schedule {id}: {}", message(&err)))
}

/// Every schedule id in the namespace with whether it is ours, sorted by id.
pub async fn list_all(client: &Client) -> Result<Vec<(String, bool)>> {
    let options = ListSchedulesOptions::builder()
        .maximum_page_size(100)
        .build();
    let mut found: Vec<(String, bool)> = client
        .list_schedules(options)
        .map_ok(|summary| {
            let entry = summary.raw();
            (entry.schedule_id.clone(), is_managed(entry.memo.as_ref()))
        })
        .try_collect()
        .await
        .map_err(|err| anyhow!("cannot list schedules: {}", message(&err)))?;
    found.sort();
    found.dedup();
    Ok(found)
}

/// Ids of every schedule in the namespace that carries our memo mark.
pub async fn managed_schedule_ids(client: &Client) -> Result<Vec<String>> {
    Ok(list_all(client)
        .await?
        .into_iter()
        .filter(|(_, managed)| *managed)
        .map(|(id, _)| id)
        .collect())
}

/// What to do to one schedule right now.
pub enum Action {
    Trigger,
    Pause,
    Unpause,
}

pub async fn act(client: &Client, id: &str, action: Action) -> Result<()> {
    let handle = client.get_schedule_handle(id);
    let note = format!(
        "by {} via clawfactory-temporal",
        crate::temporal_client::identity()
    );
    let done = match action {
        // Unspecified: the schedule's own overlap policy decides.
        Action::Trigger => {
            handle
                .trigger(
                    ScheduleOverlapPolicy::Unspecified,
                    TriggerScheduleOptions::default(),
                )
                .await
        }
        Action::Pause => {
            handle
                .pause(
                    Some(format!("paused {note}")),
                    PauseScheduleOptions::default(),
                )
                .await
        }
        Action::Unpause => {
            handle
                .unpause(
                    Some(format!("unpaused {note}")),
                    UnpauseScheduleOptions::default(),
                )
                .await
        }
    };
    done.map_err(|err| anyhow!("schedule {id}: {}", message(&err)))
}

/// The server's own words for an RPC failure, without the SDK's "Server error:" wrapping.
fn message(err: &ScheduleError) -> String {
    match err {
        ScheduleError::Rpc(status) => status.message().to_owned(),
        other => other.to_string(),
    }
}

/// Create and update are retried by the SDK's connection on transient errors; one id per
/// request lets the server recognise a re-send.
fn request_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("clawfactory-{}-{nanos}", std::process::id())
}
