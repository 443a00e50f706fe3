//! OpenClaw's admin HTTP RPC (`POST {url}/api/v1/admin/rpc`, gateway token; needs the
//! `admin-http-rpc` plugin). Used to read cron jobs, never to run them: `cron.run` over this
//! RPC fails every run in OpenClaw 2026.9.6.

use super::openclaw::{self, Hints};
use super::{GatewayError, failure_type, transport_error, with_bearer};
use crate::http_response::{self, ResponseClass};
use crate::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;

const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
const HINTS: Hints = Hints {
    unauthorized: "the admin RPC takes the GATEWAY token (gateway.token_file), not the hooks token",
    not_found: "enable OpenClaw's admin-http-rpc plugin: plugins.entries.admin-http-rpc.enabled = true",
};

pub struct AdminRpc {
    http: reqwest::Client,
    endpoint: String,
    token: Option<Secret>,
    timeout: Duration,
}

impl AdminRpc {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        token: Option<Secret>,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            endpoint: format!("{}/api/v1/admin/rpc", base_url.trim_end_matches('/')),
            token,
            timeout,
        }
    }

    /// Calls `method`; returns the `payload` of a successful answer.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, GatewayError> {
        let what = format!("admin RPC {method} at {}", self.endpoint);
        let request = self
            .http
            .post(&self.endpoint)
            .timeout(self.timeout)
            .json(&json!({ "method": method, "params": params }));
        let response =
            http_response::send(with_bearer(request, self.token.as_ref()), MAX_BODY_BYTES)
                .await
                .map_err(|err| transport_error(&what, &err))?;
        if response.class() != ResponseClass::Success {
            return Err(openclaw::status_error(&what, &response, &HINTS));
        }
        let answer: Value =
            serde_json::from_str(&response.body).map_err(|err| GatewayError::Retryable {
                failure_type: failure_type::UNAVAILABLE,
                message: format!("{what}: unreadable answer: {err}"),
                retry_after: None,
            })?;
        match answer.get("payload") {
            Some(payload) if answer["ok"] == Value::Bool(true) => Ok(payload.clone()),
            _ => Err(GatewayError::NonRetryable {
                failure_type: failure_type::REJECTED,
                message: format!("{what}: {}", openclaw::error_message(&response.body)),
            }),
        }
    }

    /// The cron jobs named exactly `name` (`cron.list`'s `query` is only a substring match).
    pub async fn cron_jobs_named(&self, name: &str) -> Result<Vec<Value>, GatewayError> {
        let payload = self
            .call(
                "cron.list",
                json!({ "query": name, "includeDisabled": true, "limit": 200 }),
            )
            .await?;
        let jobs = payload
            .get("jobs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(jobs.into_iter().filter(|job| job["name"] == name).collect())
    }

    /// One job with its full payload (`cron.list` may leave it out).
    pub async fn cron_job(&self, id: &str) -> Result<Value, GatewayError> {
        let payload = self.call("cron.get", json!({ "id": id })).await?;
        Ok(payload.get("job").cloned().unwrap_or(payload))
    }
}
