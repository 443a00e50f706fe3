//! OpenClaw's admin HTTP RPC (`POST {url}/api/v1/admin/rpc`, gateway token; needs the
//! `admin-http-rpc` plugin). Used to read cron jobs, never to run them: `cron.run` over this
//! RPC fails every run in OpenClaw 2026.9.6.

use super::error_answers::{self, Hints};
use super::{Endpoint, GatewayError, response_error};
use crate::failure::FailureType;
use crate::http::response::ResponseClass;
use crate::secret::Secret;
use serde_json::{Value, json};
use std::time::Duration;

const HINTS: Hints = Hints {
    unauthorized: "the admin RPC takes the GATEWAY token (gateway.token_file), not the hooks token",
    not_found: "enable OpenClaw's admin-http-rpc plugin: plugins.entries.admin-http-rpc.enabled = true",
    not_found_means: FailureType::GatewayEndpointNotFound,
};

/// `cron.list`'s largest page.
const PAGE: u64 = 200;

pub struct AdminRpc {
    endpoint: Endpoint,
}

impl AdminRpc {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        token: Option<Secret>,
        timeout: Duration,
    ) -> Self {
        Self {
            endpoint: Endpoint::new(http, base_url, "/api/v1/admin/rpc", token, timeout),
        }
    }

    /// Calls `method`; returns the `payload` of a successful answer.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, GatewayError> {
        let endpoint = &self.endpoint;
        let what = format!("admin RPC {method} at {}", endpoint.url);
        let body = json!({ "method": method, "params": params });
        let response = endpoint
            .post(&body, None, endpoint.timeout)
            .await
            .map_err(|err| response_error(&what, &err))?;
        if response.class() != ResponseClass::Success {
            return Err(error_answers::status_error(&what, &response, &HINTS));
        }
        let answer: Value =
            serde_json::from_str(&response.body).map_err(|err| GatewayError::Retryable {
                failure_type: FailureType::GatewayUnavailable,
                message: format!("{what}: unreadable answer: {err}"),
                retry_after: None,
            })?;
        match answer.get("payload") {
            Some(payload) if answer["ok"] == Value::Bool(true) => Ok(payload.clone()),
            _ => Err(GatewayError::NonRetryable {
                failure_type: FailureType::GatewayRejected,
                message: format!("{what}: {}", error_answers::error_message(&response.body)),
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

    /// Every cron job, enabled or not, in pages of the most `cron.list` gives at once.
    pub async fn cron_jobs_all(&self) -> Result<Vec<Value>, GatewayError> {
        let mut jobs = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .call(
                    "cron.list",
                    json!({ "includeDisabled": true, "limit": PAGE, "offset": offset }),
                )
                .await?;
            jobs.extend(page["jobs"].as_array().cloned().unwrap_or_default());
            match page["nextOffset"].as_u64() {
                Some(next) if page["hasMore"] == true && next > offset => offset = next,
                _ => return Ok(jobs),
            }
        }
    }

    /// Changes the keys in `patch` of job `id`; returns the job as it now is. With
    /// `expected_revision`, OpenClaw refuses (`CRON_JOB_CHANGED`) if the job's definition
    /// changed since it was read.
    pub async fn cron_update(
        &self,
        id: &str,
        patch: Value,
        expected_revision: Option<&str>,
    ) -> Result<Value, GatewayError> {
        let mut params = json!({ "id": id, "patch": patch });
        if let Some(revision) = expected_revision {
            params["expectedConfigRevision"] = json!(revision);
        }
        self.call("cron.update", params).await
    }

    /// One job with its full payload (`cron.list` may leave it out).
    pub async fn cron_job(&self, id: &str) -> Result<Value, GatewayError> {
        let payload = self.call("cron.get", json!({ "id": id })).await?;
        Ok(payload.get("job").cloned().unwrap_or(payload))
    }
}
