//! Starting workflows and waiting for them to close, as an external client would: by type
//! name with JSON (or raw) payloads, then the string result, or how it failed.
//!
//! Why untyped: the tests play the part of any starter (the CLI, a schedule, another
//! language's SDK), so they must not share the worker's Rust types to agree with it.

use super::temporal_server::TASK_QUEUE;
use clawfactory_temporal::commands::run::failure_chain;
use clawfactory_temporal::payload::json_payload;
use serde_json::json;
use std::time::Duration;
use temporalio_client::NamespacedClient;
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{
    Client, WorkflowCancelOptions, WorkflowFetchHistoryOptions, WorkflowGetResultOptions,
    WorkflowStartOptions,
};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;
use temporalio_common::protos::temporal::api::common::v1::Payload;
pub use temporalio_common::protos::temporal::api::enums::v1::RetryState;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;

/// Starts a workflow by type name, exactly as an external starter would.
pub async fn start_workflow(
    client: &Client,
    workflow_type: &str,
    input: Option<serde_json::Value>,
    workflow_id: &str,
) {
    let payloads = input.iter().map(json_payload).collect();
    start_workflow_raw(client, workflow_type, payloads, workflow_id).await;
}

/// Starts a workflow with these payloads as they are (any encoding, any bytes, any count).
pub async fn start_workflow_raw(
    client: &Client,
    workflow_type: &str,
    payloads: Vec<Payload>,
    workflow_id: &str,
) {
    client
        .start_workflow(
            UntypedWorkflow::new(workflow_type),
            RawValue { payloads },
            WorkflowStartOptions::new(TASK_QUEUE, workflow_id).build(),
        )
        .await
        .expect("start workflow");
}

/// Waits up to 120 s for the workflow to close.
async fn finished(client: &Client, workflow_id: &str) -> Result<RawValue, WorkflowGetResultError> {
    let handle = client.get_workflow_handle::<UntypedWorkflow>(workflow_id);
    tokio::time::timeout(
        Duration::from_secs(120),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    .expect("workflow did not finish within 120 s")
}

/// The workflow's result as text (a string result as it is, any other JSON as JSON text), or
/// its failure chain (`[Type] message: ...`) as the error.
pub async fn workflow_result(client: &Client, workflow_id: &str) -> Result<String, String> {
    Ok(match workflow_result_value(client, workflow_id).await? {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    })
}

/// The workflow's result as the JSON its payload holds (a string stays a string), or its
/// failure chain as the error.
pub async fn workflow_result_value(
    client: &Client,
    workflow_id: &str,
) -> Result<serde_json::Value, String> {
    match finished(client, workflow_id).await {
        Ok(raw) => {
            let payload = raw.payloads.first().expect("a result payload");
            Ok(serde_json::from_slice(&payload.data).expect("a JSON result"))
        }
        Err(WorkflowGetResultError::Failed(err)) => Err(failure_chain(&err)),
        Err(other) => Err(other.to_string()),
    }
}

/// How a failed workflow failed: its failure chain (`[Type] message: ...`) and, when an
/// activity failed it, why the activity's retries stopped.
#[derive(Debug)]
pub struct Failed {
    pub chain: String,
    /// `NonRetryableFailure` for a typed non-retryable failure, `MaximumAttemptsReached` when
    /// every attempt failed retryably; `None` when no activity was involved.
    pub retry_state: Option<RetryState>,
    /// The innermost application failure was marked non-retryable.
    pub non_retryable: bool,
}

/// Waits (bounded) for the workflow to fail and returns how; panics if it succeeded.
pub async fn workflow_failure(client: &Client, workflow_id: &str) -> Failed {
    let err = match finished(client, workflow_id).await {
        Err(WorkflowGetResultError::Failed(err)) => err,
        Ok(_) => panic!("workflow {workflow_id} succeeded; a failure was expected"),
        Err(other) => panic!("workflow {workflow_id}: {other}"),
    };
    let mut retry_state = None;
    let mut non_retryable = false;
    let mut failure = Some(err.failure());
    while let Some(current) = failure {
        match &current.failure_info {
            Some(FailureInfo::ActivityFailureInfo(info)) => {
                retry_state = RetryState::try_from(info.retry_state).ok();
            }
            Some(FailureInfo::ApplicationFailureInfo(info)) => non_retryable = info.non_retryable,
            _ => {}
        }
        failure = current.cause.as_deref();
    }
    Failed {
        chain: failure_chain(&err),
        retry_state,
        non_retryable,
    }
}

/// The run's history as event type names (`TimerStarted`, `TimerCanceled`, ...).
pub async fn event_types(client: &Client, workflow_id: &str) -> Vec<String> {
    use futures::StreamExt;
    client
        .get_workflow_handle::<UntypedWorkflow>(workflow_id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .map(|event| format!("{:?}", event.expect("a history event").event_type()))
        .collect()
        .await
}

/// Waits up to 60 s for the run's history to contain `event` (e.g. `TimerStarted`).
pub async fn wait_for_event(client: &Client, workflow_id: &str, event: &str) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let events = event_types(client, workflow_id).await;
        if events.iter().any(|e| e == event) {
            return events;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{workflow_id}: no {event} within 60 s: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Requests the run's cancellation, as `temporal workflow cancel` does, and returns its
/// history once it is closed (waits up to 60 s).
pub async fn cancel_and_close(client: &Client, workflow_id: &str) -> Vec<String> {
    client
        .get_workflow_handle::<UntypedWorkflow>(workflow_id)
        .cancel(WorkflowCancelOptions::default())
        .await
        .expect("request the cancellation");
    wait_for_event(client, workflow_id, "WorkflowExecutionCanceled").await
}

/// Whether `first` comes before `then` in a history (both present).
pub fn in_order(events: &[String], first: &str, then: &str) -> bool {
    let at = |name: &str| events.iter().position(|e| e == name);
    matches!((at(first), at(then)), (Some(a), Some(b)) if a < b)
}

/// The run's search attributes as the server keeps them, each value decoded from JSON.
pub async fn search_attributes(
    client: &Client,
    workflow_id: &str,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    use temporalio_client::grpc::WorkflowService;
    use temporalio_common::protos::temporal::api::common::v1::WorkflowExecution;
    use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeWorkflowExecutionRequest;
    let described = client
        .connection()
        .clone()
        .describe_workflow_execution(tonic::Request::new(DescribeWorkflowExecutionRequest {
            namespace: client.namespace(),
            execution: Some(WorkflowExecution {
                workflow_id: workflow_id.to_owned(),
                run_id: String::new(),
            }),
        }))
        .await
        .expect("describe the run")
        .into_inner();
    let fields = described
        .workflow_execution_info
        .and_then(|info| info.search_attributes)
        .map(|attributes| attributes.indexed_fields)
        .unwrap_or_default();
    fields
        .into_iter()
        .map(|(name, payload)| (name, serde_json::from_slice(&payload.data).unwrap()))
        .collect()
}

/// The ids of the runs a visibility query finds, sorted.
pub async fn visible(client: &Client, query: &str) -> Vec<String> {
    use temporalio_client::grpc::WorkflowService;
    use temporalio_common::protos::temporal::api::workflowservice::v1::ListWorkflowExecutionsRequest;
    let listed = client
        .connection()
        .clone()
        .list_workflow_executions(tonic::Request::new(ListWorkflowExecutionsRequest {
            namespace: client.namespace(),
            page_size: 100,
            query: query.to_owned(),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|status| panic!("list {query:?}: {status}"))
        .into_inner();
    let mut ids: Vec<String> = listed
        .executions
        .into_iter()
        .filter_map(|run| run.execution.map(|e| e.workflow_id))
        .collect();
    ids.sort();
    ids
}

/// Waits up to 30 s for `query` to find exactly `ids` (visibility lags behind the runs).
pub async fn wait_until_visible(client: &Client, query: &str, ids: &[&str]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = visible(client, query).await;
        if found == ids {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{query:?} finds {found:?}, not {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Starts `ids` as zero-settle `PoetryResearchWorkflow` runs, all at once.
pub async fn start_zero_settle_runs(client: &Client, ids: &[String]) {
    futures::future::join_all(ids.iter().map(|id| {
        start_workflow(
            client,
            "PoetryResearchWorkflow",
            Some(json!({"settle": "0s"})),
            id,
        )
    }))
    .await;
}
