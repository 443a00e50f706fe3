//! Connecting to the Temporal frontend, with the checks that make "connected" mean
//! "this worker can really serve its namespace".

use crate::config::TemporalConfig;
use anyhow::{Context, Result, anyhow};
use std::time::Duration;
use temporalio_client::grpc::WorkflowService;
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One attempt: connect, confirm the namespace exists, return a namespace-bound client.
pub async fn connect(temporal: &TemporalConfig) -> Result<Client> {
    let url = temporal.url();
    let target = url
        .parse::<reqwest::Url>()
        .with_context(|| format!("temporal.address {url:?} is not a valid address"))?;
    let options = ConnectionOptions::new(target)
        .identity(identity())
        .connect_timeout(CONNECT_TIMEOUT)
        .build();
    let mut connection = Connection::connect(options)
        .await
        .map_err(|err| anyhow!("cannot connect to Temporal at {url}: {err}"))?;
    connection
        .describe_namespace(tonic::Request::new(DescribeNamespaceRequest {
            namespace: temporal.namespace.clone(),
            ..Default::default()
        }))
        .await
        .map_err(|status| {
            anyhow!(
                "Temporal at {url} cannot serve namespace {:?}: {}",
                temporal.namespace,
                status.message()
            )
        })?;
    Client::new(
        connection,
        ClientOptions::new(temporal.namespace.clone()).build(),
    )
    .map_err(|err| anyhow!("cannot create Temporal client: {err}"))
}

/// Keeps trying with capped exponential backoff: a worker that starts before its server
/// (boot order, server restart) waits for it instead of exiting.
pub async fn connect_with_retry(
    temporal: &TemporalConfig,
    mut on_retry: impl FnMut(&anyhow::Error, Duration),
) -> Client {
    let mut delay = Duration::from_millis(100);
    loop {
        match connect(temporal).await {
            Ok(client) => return client,
            Err(err) => {
                on_retry(&err, delay);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// `<pid>@<host>` like the other SDKs, so the UI's "Workers" tab says which process polled.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into());
    format!("{}@{host}", std::process::id())
}
