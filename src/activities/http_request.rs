//! `http_request`: the reference's generic HTTP step. Returns the first 4000 characters of
//! a 2xx body; other statuses fail, retryable only where retrying can help.
//!
//! Where a step may go is the `[http]` policy's call (`http::policy`), for the URL and every
//! redirect. Headers, and the secrets a header may carry, are `http_headers`'s: every echo of
//! a secret is cut out of the body before it becomes the result or a failure's message.
//!
//! Only the first `READ_LIMIT` bytes are ever read: the result is a prefix by definition
//! (the reference's `text[:4000]`), so a longer body is not an error, and the rest is left
//! unread on the wire instead of being buffered.

use super::activity_error::{non_retryable, retryable};
use super::http_headers::{self, HeaderPart, Redactor};
use crate::config::SecretFiles;
use crate::failure::FailureType;
use crate::http::policy::guarded::{ErrorKind, GuardedClient, GuardedError, RequestBody};
use crate::http::response::{BodyLimit, ResponseClass, ResponseError, capture};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;
use temporalio_sdk::activities::ActivityError;

/// The reference returns at most this many characters of the body.
const RESULT_CHARS: usize = 4000;
/// Bytes read from the wire: enough for `RESULT_CHARS` characters of any UTF-8.
const READ_LIMIT: usize = RESULT_CHARS * 4;

/// The activity's input, as the reference's CustomWorkflow sends it.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
pub struct HttpRequestParams {
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    /// Seconds.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Sent as the request body (declared workflows' `body`); JSON text goes as
    /// `application/json`, anything else as plain text. The reference has no body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Headers (declared workflows' `headers`): each value's text and the names of the
    /// secrets the worker fills in, never their values. Left out when there are none, so a
    /// step without headers sends the same input as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Vec<HeaderPart>>,
}

fn default_method() -> String {
    "GET".into()
}

fn default_timeout() -> f64 {
    30.0
}

impl HttpRequestParams {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut json = serde_json::Deserializer::from_str(text);
        let params: HttpRequestParams =
            serde_path_to_error::deserialize(&mut json).map_err(|err| {
                let path = err.path().to_string();
                format!("invalid http_request params: {path}: {}", err.into_inner())
            })?;
        params.validate()?;
        Ok(params)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.method()?;
        self.url()?;
        http_headers::check_names(self.headers.keys().map(String::as_str))
            .map_err(|err| format!("headers: {err}"))?;
        if !(self.timeout.is_finite() && self.timeout > 0.0 && self.timeout <= 86_400.0) {
            return Err(format!(
                "timeout: expected seconds between 0 and 86400, got {}",
                self.timeout
            ));
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout)
    }

    /// The method, any case (`post` as the reference's definitions write it).
    pub fn method(&self) -> Result<reqwest::Method, String> {
        reqwest::Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("method: {:?} is not an HTTP method", self.method))
    }

    pub fn url(&self) -> Result<reqwest::Url, String> {
        let url = reqwest::Url::parse(&self.url)
            .map_err(|err| format!("url: {:?} is not a URL ({err})", self.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("url: {:?} is not an http(s) URL", self.url));
        }
        Ok(url)
    }
}

/// Performs the request through the policy-enforcing client (`http::policy`): a destination
/// the policy refuses fails at once, typed, naming the rule, before anything is sent there.
/// The secrets a header names are read from `secrets` now, for this request only.
pub async fn perform(
    http: &GuardedClient,
    secrets: &SecretFiles,
    params_text: &str,
) -> Result<String, ActivityError> {
    let params = HttpRequestParams::parse(params_text)
        .map_err(|msg| non_retryable(FailureType::InvalidHttpRequest, msg))?;
    let invalid = |msg| non_retryable(FailureType::InvalidHttpRequest, msg);
    let method = params.method().map_err(invalid)?;
    let url = params.url().map_err(invalid)?;
    let what = format!("{method} {}", params.url);
    let body = params.body.clone().map(|text| {
        let is_json = serde_json::from_str::<serde_json::Value>(&text).is_ok();
        let content_type = if is_json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        RequestBody { content_type, text }
    });
    let http_headers::Resolved { headers, redactor } =
        http_headers::resolve(&params.headers, secrets)?;
    let response = http
        .send(method, url, headers, body, params.timeout())
        .await
        .map_err(|err| guarded_failure(&what, &err, &redactor))?;
    let mut response = capture(response, BodyLimit::Prefix(READ_LIMIT))
        .await
        .map_err(|err| transport_failure(&what, &err))?;
    // Before anything is cut to length: an echo must go whole, wherever it falls.
    response.body = redactor.redact(&response.body);
    match response.class() {
        ResponseClass::Success => {
            let result: String = response.body.chars().take(RESULT_CHARS).collect();
            Ok(redactor.redact(&result))
        }
        class if class.is_retryable() => Err(retryable(
            FailureType::HttpUnavailable,
            response.describe(&what),
            response.retry_after,
        )),
        _ => Err(non_retryable(
            FailureType::HttpRejected,
            response.describe(&what),
        )),
    }
}

/// A refused destination or a redirect that cannot be followed stays so; anything else (no
/// answer, no DNS answer, out of time) is worth another attempt. A redirect's URL is the
/// server's text, so it may echo a secret too.
fn guarded_failure(what: &str, err: &GuardedError, redactor: &Redactor) -> ActivityError {
    let message = redactor.redact(&format!("{what}: {}", err.describe()));
    match err.kind {
        ErrorKind::Refused(_) => non_retryable(FailureType::HttpDestinationRefused, message),
        ErrorKind::BadRedirect(_) => non_retryable(FailureType::HttpRejected, message),
        _ => retryable(FailureType::HttpUnavailable, message, None),
    }
}

/// A body that broke off: worth another attempt (as the reference retried).
fn transport_failure(what: &str, err: &ResponseError) -> ActivityError {
    retryable(
        FailureType::HttpUnavailable,
        format!("{what}: {}", err.describe()),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_reference() {
        let p = HttpRequestParams::parse(r#"{"url": "http://127.0.0.1/x"}"#).unwrap();
        assert_eq!(p.method, "GET");
        assert_eq!(p.timeout(), Duration::from_secs(30));
    }

    #[test]
    fn bad_params_name_the_field() {
        for (text, field) in [
            (r#"{"method": "GET"}"#, "url"),
            (r#"{"url": "nope"}"#, "url"),
            (r#"{"url": "ftp://x/"}"#, "url"),
            (r#"{"url": "http://x/", "method": "G ET"}"#, "method"),
            (r#"{"url": "http://x/", "timeout": -1}"#, "timeout"),
            (r#"{"url": "http://x/", "timeout": "5"}"#, "timeout"),
            ("not json", "invalid http_request params"),
        ] {
            let err = HttpRequestParams::parse(text).unwrap_err();
            assert!(err.contains(field), "{text}: {err}");
        }
    }
}
