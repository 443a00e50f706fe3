//! One authenticated JSON endpoint of the gateway: where it is, which token it takes, how
//! long a request may wait. Every protocol posts through this.

use crate::http;
use crate::http::response::{BodyLimit, Captured, MAX_BODY_BYTES, ResponseError};
use crate::secret::Secret;
use serde_json::Value;
use std::time::Duration;

pub struct Endpoint {
    http: reqwest::Client,
    pub url: String,
    token: Option<Secret>,
    pub timeout: Duration,
}

impl Endpoint {
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        path: &str,
        token: Option<Secret>,
        timeout: Duration,
    ) -> Self {
        Self {
            http,
            url: format!("{}{path}", base_url.trim_end_matches('/')),
            token,
            timeout,
        }
    }

    /// POSTs `body` as JSON (with `Authorization: Bearer` only when a token is set, as the
    /// reference does); an answer longer than [`MAX_BODY_BYTES`] is an error. A body that
    /// echoes the token (some proxies and debug servers do, on 401) gets it redacted, since
    /// error messages quote the body.
    pub async fn post(
        &self,
        body: &Value,
        idempotency_key: Option<&str>,
        timeout: Duration,
    ) -> Result<Captured, ResponseError> {
        let mut request = self.http.post(&self.url).timeout(timeout).json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let mut response = http::response::send(request, BodyLimit::Whole(MAX_BODY_BYTES)).await?;
        if let Some(token) = &self.token
            && response.body.contains(token.expose())
        {
            response.body = response.body.replace(token.expose(), "<redacted>");
        }
        Ok(response)
    }
}
