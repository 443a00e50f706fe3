//! The namespace setting the appliance owns: how long Temporal keeps a closed run (its
//! history, input, result and failure) before deleting it. The dev server creates its
//! namespace with one day, so a run that failed on Friday night would be gone from the UI by
//! Sunday; the appliance's server applies `server.retention` at every start instead.
//! `check-config` reads it back from any cluster, and never changes an external one.

use crate::duration;
use anyhow::{Context, Result, anyhow};
use std::time::Duration;
use temporalio_client::grpc::WorkflowService;
use temporalio_client::{Client, Connection};
use temporalio_common::protos::temporal::api::namespace::v1::NamespaceConfig;
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    DescribeNamespaceRequest, UpdateNamespaceRequest,
};

/// The namespace's retention as the server reports it.
pub async fn retention(client: &Client, namespace: &str) -> Result<Duration> {
    current_retention(&mut client.connection().clone(), namespace).await
}

/// Sets the namespace's retention unless it already is `wanted`; returns the value it
/// replaced, `None` when nothing changed (every start after the first).
pub async fn apply_retention(
    client: &Client,
    namespace: &str,
    wanted: Duration,
) -> Result<Option<Duration>> {
    let mut connection = client.connection().clone();
    let current = current_retention(&mut connection, namespace).await?;
    if current == wanted {
        return Ok(None);
    }
    let ttl = wanted.try_into().map_err(|_| {
        anyhow!(
            "retention {} does not fit a protobuf duration",
            duration::format(wanted)
        )
    })?;
    // Only the fields set in `config` change; the namespace's other settings stay.
    connection
        .update_namespace(tonic::Request::new(UpdateNamespaceRequest {
            namespace: namespace.to_owned(),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: Some(ttl),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await
        .map_err(|status| {
            anyhow!(
                "cannot set the retention of namespace {namespace:?} to {}: {}",
                duration::format(wanted),
                status.message()
            )
        })?;
    Ok(Some(current))
}

async fn current_retention(connection: &mut Connection, namespace: &str) -> Result<Duration> {
    let described = connection
        .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
            namespace: namespace.to_owned(),
            ..Default::default()
        }))
        .await
        .map_err(|status| {
            anyhow!(
                "cannot describe namespace {namespace:?}: {}",
                status.message()
            )
        })?
        .into_inner();
    let ttl = described
        .config
        .and_then(|config| config.workflow_execution_retention_ttl)
        .with_context(|| format!("namespace {namespace:?} reports no retention"))?;
    Duration::try_from(ttl)
        .map_err(|_| anyhow!("namespace {namespace:?} reports a negative retention"))
}
