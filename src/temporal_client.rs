//! Connecting to the Temporal frontend, with the checks that make "connected" mean
//! "this worker can really serve its namespace".

use crate::config::{TemporalConfig, read_pem};
use anyhow::{Context, Result, anyhow};
use std::error::Error as _;
use std::time::Duration;
use temporalio_client::grpc::WorkflowService;
use temporalio_client::{
    Client, ClientOptions, ClientTlsOptions, Connection, ConnectionOptions, TlsOptions,
};
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;

const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The SDK's connection options for this config: scheme, TLS material, API key, timeout.
pub fn connection_options(temporal: &TemporalConfig) -> Result<ConnectionOptions> {
    let url = temporal.url();
    let target = url
        .parse::<reqwest::Url>()
        .with_context(|| format!("temporal.address {url:?} is not a valid address"))?;
    let tls = temporal
        .uses_tls()
        .then(|| tls_options(temporal))
        .transpose()?;
    Ok(ConnectionOptions::new(target)
        .identity(identity())
        .connect_timeout(temporal.connect_timeout)
        .maybe_tls_options(tls)
        .maybe_api_key(temporal.api_key.as_ref().map(|key| key.expose().to_owned()))
        .build())
}

fn tls_options(temporal: &TemporalConfig) -> Result<TlsOptions> {
    let ca = match &temporal.server_ca_file {
        Some(file) => Some(read_pem(file).context("temporal.server_ca_file")?),
        None => None,
    };
    let client = match (&temporal.client_cert_file, &temporal.client_key) {
        (Some(cert), Some(key)) => Some(
            ClientTlsOptions::builder()
                .client_cert(read_pem(cert).context("temporal.client_cert_file")?)
                .client_private_key(key.expose().as_bytes().to_vec())
                .build(),
        ),
        _ => None,
    };
    Ok(TlsOptions::builder()
        .maybe_server_root_ca_cert(ca)
        .maybe_domain(temporal.server_name.clone())
        .maybe_client_tls_options(client)
        .build())
}

/// One attempt: connect, confirm the namespace exists, return a namespace-bound client.
pub async fn connect(temporal: &TemporalConfig) -> Result<Client> {
    let url = temporal.url();
    let options = connection_options(temporal)?;
    let mut connection = Connection::connect(options)
        .await
        .map_err(|err| anyhow!("cannot connect to Temporal at {url}: {}", error_chain(&err)))?;
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
                status_text(&status)
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

/// Every cause, so a TLS failure says "invalid peer certificate: UnknownIssuer" instead of
/// just "transport error".
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A gRPC status with its transport cause (TLS handshake failures hide there).
fn status_text(status: &tonic::Status) -> String {
    match status.source() {
        Some(source) => format!("{}: {}", status.message(), error_chain(source)),
        None => status.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn an_api_key_turns_tls_on_and_rides_on_the_connection() {
        let temporal = TemporalConfig {
            address: "my-ns.abc12.tmprl.cloud:7233".into(),
            api_key: Secret::new("key-123"),
            ..TemporalConfig::default()
        };
        let options = connection_options(&temporal).unwrap();
        assert_eq!(options.target.scheme(), "https");
        assert_eq!(options.api_key.as_deref(), Some("key-123"));
        assert!(options.tls_options.is_some());
        assert!(!temporal.describe().contains("key-123"));
        assert!(temporal.describe().contains("API key set (redacted)"));
    }

    #[test]
    fn plaintext_by_default_and_tls_can_be_forced_off() {
        let plain = TemporalConfig::default();
        let options = connection_options(&plain).unwrap();
        assert_eq!(options.target.as_str(), "http://127.0.0.1:7233/");
        assert!(options.tls_options.is_none() && options.api_key.is_none());

        // A key over plaintext: a proxy on the host terminates TLS.
        let forced = TemporalConfig {
            tls: Some(false),
            api_key: Secret::new("k"),
            ..TemporalConfig::default()
        };
        let options = connection_options(&forced).unwrap();
        assert_eq!(options.target.scheme(), "http");
        assert!(options.tls_options.is_none());
        assert_eq!(options.api_key.as_deref(), Some("k"));
    }
}
