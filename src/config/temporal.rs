//! `[temporal]`: where the Temporal frontend is and how to reach it (plaintext for the
//! appliance's loopback dev server; TLS, mTLS or an API key for a cluster or Temporal Cloud).

use super::schema::DurationText;
use super::secrets::{
    TEMPORAL_API_KEY_CREDENTIAL, TEMPORAL_CLIENT_KEY_CREDENTIAL, read_pem, resolve_secret,
};
use super::{Env, validate};
use crate::duration;
use crate::secret::Secret;
use anyhow::{Context, Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TemporalConfig {
    /// `host:port` or `http(s)://host:port` of the Temporal frontend (gRPC).
    pub address: String,
    /// The Temporal namespace the worker polls and starts workflows in.
    pub namespace: String,
    /// The task queue of the default instance's workflows (others: `<task_queue>-<name>` with
    /// `worker.instance_task_queues`).
    pub task_queue: String,
    /// How long one attempt to open the connection may take.
    #[serde(with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub connect_timeout: Duration,
    /// Unset: TLS when the address is `https://…` or any TLS file or API key is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// PEM CA bundle the server's certificate must chain to (unset: the system's roots).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_ca_file: Option<PathBuf>,
    /// The name the server's certificate must carry, when it differs from the address's host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// PEM client certificate for mTLS; its key is `client_key_file` or the
    /// `temporal-client-key` credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert_file: Option<PathBuf>,
    /// PEM private key of `client_cert_file`; else the `temporal-client-key` credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_file: Option<PathBuf>,
    /// A file holding an API key (Temporal Cloud), else the `temporal-api-key` credential,
    /// else `TEMPORAL_API_KEY`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Resolved at load time; never read from or written to TOML.
    #[serde(skip)]
    pub api_key: Option<Secret>,
    #[serde(skip)]
    pub client_key: Option<Secret>,
}

impl Default for TemporalConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:7233".into(),
            namespace: "default".into(),
            task_queue: "clawfactory".into(),
            connect_timeout: Duration::from_secs(5),
            tls: None,
            server_ca_file: None,
            server_name: None,
            client_cert_file: None,
            client_key_file: None,
            api_key_file: None,
            api_key: None,
            client_key: None,
        }
    }
}

impl TemporalConfig {
    /// The address as the SDK wants it: a URL with a scheme, `https` when TLS is on.
    pub fn url(&self) -> String {
        let url = validate::address_url(&self.address);
        match url.strip_prefix("http://") {
            Some(rest) if self.uses_tls() => format!("https://{rest}"),
            _ => url,
        }
    }

    pub fn uses_tls(&self) -> bool {
        self.tls.unwrap_or_else(|| {
            self.address.starts_with("https://")
                || self.server_ca_file.is_some()
                || self.server_name.is_some()
                || self.client_cert_file.is_some()
                || self.api_key.is_some()
        })
    }

    /// One line for logs and `check-config`: where, which namespace, how authenticated.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!("{} namespace {:?}", self.url(), self.namespace)];
        if self.uses_tls() {
            let ca = match &self.server_ca_file {
                Some(file) => format!("CA {}", file.display()),
                None => "system CA roots".into(),
            };
            parts.push(format!("TLS ({ca})"));
            if let Some(name) = &self.server_name {
                parts.push(format!("server name {name:?}"));
            }
            if let Some(cert) = &self.client_cert_file {
                parts.push(format!("client certificate {}", cert.display()));
            }
        } else {
            parts.push("plaintext".into());
        }
        if self.api_key.is_some() {
            parts.push("API key set (redacted)".into());
        }
        parts.join(", ")
    }

    pub(super) fn resolve_secrets(&mut self, env: &dyn Env) -> Result<()> {
        self.api_key = resolve_secret(
            self.api_key_file.as_deref(),
            TEMPORAL_API_KEY_CREDENTIAL,
            Some("TEMPORAL_API_KEY"),
            env,
        )
        .context("temporal.api_key_file")?;
        self.client_key = resolve_secret(
            self.client_key_file.as_deref(),
            TEMPORAL_CLIENT_KEY_CREDENTIAL,
            None,
            env,
        )
        .context("temporal.client_key_file")?;
        Ok(())
    }

    pub(super) fn validate(&self) -> Result<()> {
        validate::temporal_address(&self.address).context("temporal.address")?;
        validate::non_empty("temporal.namespace", &self.namespace)?;
        validate::non_empty("temporal.task_queue", &self.task_queue)?;
        validate::positive("temporal.connect_timeout", self.connect_timeout)?;
        if self.tls == Some(false) {
            for (key, set) in [
                ("server_ca_file", self.server_ca_file.is_some()),
                ("server_name", self.server_name.is_some()),
                ("client_cert_file", self.client_cert_file.is_some()),
            ] {
                if set {
                    bail!("temporal.{key}: set, but temporal.tls = false turns TLS off");
                }
            }
            if self.address.starts_with("https://") {
                bail!("temporal.address: https:// needs TLS, but temporal.tls = false");
            }
        }
        Ok(())
    }

    /// The certificate files are PEM and the client certificate has its key.
    pub(super) fn check_files(&self) -> Result<()> {
        match (&self.client_cert_file, &self.client_key) {
            (Some(_), None) => bail!(
                "temporal.client_key_file: client_cert_file is set but there is no key (set \
                 client_key_file or the {TEMPORAL_CLIENT_KEY_CREDENTIAL} credential)"
            ),
            (None, Some(_)) => {
                bail!("temporal.client_cert_file: a client key is configured but no certificate")
            }
            _ => {}
        }
        for (key, file) in [
            ("server_ca_file", &self.server_ca_file),
            ("client_cert_file", &self.client_cert_file),
        ] {
            if let Some(file) = file {
                read_pem(file).with_context(|| format!("temporal.{key}"))?;
            }
        }
        Ok(())
    }
}
