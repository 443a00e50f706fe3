//! The server calls of `resume`: which run a workflow id means, its history, and the reset.

use super::ResumePoint;
use anyhow::{Context, Result, anyhow};
use temporalio_client::errors::WorkflowInteractionError;
use temporalio_client::{
    Client, NamespacedClient, WorkflowDescribeOptions, WorkflowExecutionInfo,
    WorkflowFetchHistoryOptions,
};
use temporalio_common::protos::temporal::api::common::v1::WorkflowExecution;
use temporalio_common::protos::temporal::api::history::v1::HistoryEvent;
use temporalio_common::protos::temporal::api::workflowservice::v1::ResetWorkflowExecutionRequest;

/// One run of a workflow id and its whole history.
pub struct RunHistory {
    pub run_id: String,
    pub events: Vec<HistoryEvent>,
}

/// The run `run_id`, or the workflow id's latest run, with its history.
pub async fn run_history(
    client: &Client,
    workflow_id: &str,
    run_id: Option<&str>,
) -> Result<RunHistory> {
    let handle = execution(client, workflow_id, run_id);
    let run_id = match handle.describe(WorkflowDescribeOptions::default()).await {
        Ok(description) => description.run_id().to_owned(),
        Err(WorkflowInteractionError::NotFound(_)) => {
            let run = run_id.map(|r| format!(" run {r}")).unwrap_or_default();
            return Err(anyhow!(
                "no workflow {workflow_id:?}{run} in namespace {:?} (the UI and \
                 `temporal workflow list` show the ids)",
                client.namespace()
            ));
        }
        Err(err) => return Err(anyhow!("cannot describe workflow {workflow_id:?}: {err}")),
    };
    let events = execution(client, workflow_id, Some(&run_id))
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .into_events()
        .await
        .with_context(|| format!("cannot read the history of {workflow_id:?} run {run_id}"))?;
    Ok(RunHistory { run_id, events })
}

/// Resets the run to `point`; returns the new run's id. Signals received after the point
/// (Temporal's default) are applied to the new run again.
pub async fn reset(
    client: &Client,
    workflow_id: &str,
    run_id: &str,
    point: &ResumePoint,
) -> Result<String> {
    let request = ResetWorkflowExecutionRequest {
        namespace: client.namespace(),
        workflow_execution: Some(WorkflowExecution {
            workflow_id: workflow_id.to_owned(),
            run_id: run_id.to_owned(),
        }),
        reason: format!(
            "clawfactory-temporal resume: run step {} again after {}",
            point.step, point.failure
        ),
        workflow_task_finish_event_id: point.reset_event_id,
        // The same for the same run and point: a `resume` repeated after a lost answer is
        // the same request to the server, not a second reset.
        request_id: format!("clawfactory-resume-{run_id}-{}", point.reset_event_id),
        identity: crate::temporal_client::identity(),
        ..Default::default()
    };
    let response = client
        .connection()
        .workflow_service()
        .reset_workflow_execution(tonic::Request::new(request))
        .await
        .map_err(|status| {
            anyhow!(
                "cannot reset {workflow_id:?} run {run_id} to event {}: {}",
                point.reset_event_id,
                status.message()
            )
        })?;
    Ok(response.into_inner().run_id)
}

/// A handle on one run (or, without `run_id`, the latest).
pub fn execution(
    client: &Client,
    workflow_id: &str,
    run_id: Option<&str>,
) -> temporalio_client::UntypedWorkflowHandle<Client> {
    WorkflowExecutionInfo::builder()
        .namespace(client.namespace())
        .workflow_id(workflow_id)
        .maybe_run_id(run_id.map(str::to_owned))
        .build()
        .bind_untyped(client.clone())
}
