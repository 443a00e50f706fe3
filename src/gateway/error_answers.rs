//! What the OpenClaw gateway's error answers mean, shared by its protocols. Its bodies come
//! in several shapes (text/plain, `{"ok":false,"error":"..."}`, `{"error":{"message":..}}`,
//! admin RPC `{"ok":false,"error":{"code","message","retryAfterMs"}}`); callers get the
//! gateway's own words plus a hint at what to fix.

use super::GatewayError;
use crate::failure::FailureType;
use crate::http::response::{Captured, ResponseClass, body_excerpt};
use serde_json::Value;
use std::time::Duration;

/// Per-endpoint hints for the two configuration mistakes people actually make.
pub struct Hints {
    pub unauthorized: &'static str,
    pub not_found: &'static str,
    /// What a 404 means here: the endpoint is missing (the feature is off, the URL is wrong),
    /// or, for the legacy cron-fire route, the job it names.
    pub not_found_means: FailureType,
}

pub fn status_error(what: &str, response: &Captured, hints: &Hints) -> GatewayError {
    let said = error_message(&response.body);
    let message = |hint: &str| {
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!(" ({hint})")
        };
        format!("{what}: HTTP {}: {said}{hint}", response.status)
    };
    let non_retryable = |failure_type, hint: &str| GatewayError::NonRetryable {
        failure_type,
        message: message(hint),
    };
    match response.class() {
        ResponseClass::Success => unreachable!("status_error called for a success"),
        ResponseClass::Unauthorized => {
            non_retryable(FailureType::GatewayUnauthorized, hints.unauthorized)
        }
        ResponseClass::NotFound => non_retryable(hints.not_found_means, hints.not_found),
        ResponseClass::Rejected if said.to_ascii_lowercase().contains("unknown agent") => {
            non_retryable(FailureType::UnknownAgent, "")
        }
        // The agent exists but the hooks may not run it (OpenClaw 2026.9.6's own words).
        ResponseClass::Rejected if said.contains("not allowed by hooks.allowedAgentIds") => {
            non_retryable(
                FailureType::UnknownAgent,
                "add the agent to hooks.allowedAgentIds in openclaw.json",
            )
        }
        ResponseClass::Rejected => non_retryable(FailureType::GatewayRejected, ""),
        ResponseClass::Throttled => GatewayError::Retryable {
            failure_type: FailureType::GatewayThrottled,
            message: message(""),
            retry_after: response.retry_after,
        },
        ResponseClass::Unavailable => GatewayError::Retryable {
            failure_type: FailureType::GatewayUnavailable,
            message: message(""),
            retry_after: response
                .retry_after
                .or_else(|| retry_after_ms(&response.body)),
        },
    }
}

/// The gateway's own error text, whatever shape the body has.
pub fn error_message(body: &str) -> String {
    let from_json = serde_json::from_str::<Value>(body).ok().and_then(|json| {
        let error = json.get("error")?;
        match error {
            Value::String(text) => Some(text.clone()),
            Value::Object(object) => object.get("message")?.as_str().map(str::to_owned),
            _ => None,
        }
    });
    from_json.unwrap_or_else(|| body_excerpt(body).trim_start_matches(": ").to_owned())
}

/// The admin RPC's `error.retryAfterMs` (503 `UNAVAILABLE` while the gateway suspends).
fn retry_after_ms(body: &str) -> Option<Duration> {
    let json: Value = serde_json::from_str(body).ok()?;
    json.get("error")?
        .get("retryAfterMs")?
        .as_u64()
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn captured(status: u16, body: &str) -> Captured {
        Captured {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: body.into(),
        }
    }

    const HINTS: Hints = Hints {
        unauthorized: "check the token",
        not_found: "enable the feature",
        not_found_means: FailureType::GatewayEndpointNotFound,
    };

    fn kind(err: &GatewayError) -> &'static str {
        match err {
            GatewayError::Retryable { failure_type, .. }
            | GatewayError::NonRetryable { failure_type, .. } => failure_type.name(),
            GatewayError::RunFailed { .. } => "RunFailed",
        }
    }

    #[test]
    fn every_documented_error_shape_is_read_and_classified() {
        let cases = [
            (
                401,
                "Unauthorized",
                "GatewayUnauthorized",
                "Unauthorized (check the token)",
            ),
            (
                404,
                "Not Found",
                "GatewayEndpointNotFound",
                "Not Found (enable the feature)",
            ),
            (
                400,
                r#"{"ok":false,"error":"unknown agentId \"nobody\""}"#,
                "UnknownAgent",
                "unknown agentId \"nobody\"",
            ),
            (
                400,
                r#"{"error":{"message":"Unknown agent 'nobody'.","type":"invalid_request_error"}}"#,
                "UnknownAgent",
                "Unknown agent 'nobody'.",
            ),
            (
                400,
                r#"{"ok":false,"error":"agentId is not allowed by hooks.allowedAgentIds"}"#,
                "UnknownAgent",
                "not allowed by hooks.allowedAgentIds (add the agent to hooks.allowedAgentIds",
            ),
            (
                400,
                r#"{"ok":false,"error":"message required"}"#,
                "GatewayRejected",
                "message required",
            ),
            (
                405,
                "Method Not Allowed",
                "GatewayRejected",
                "Method Not Allowed",
            ),
            (
                503,
                r#"{"ok":false,"error":"hook agent run did not start before admission timeout","runId":"x"}"#,
                "GatewayUnavailable",
                "admission timeout",
            ),
            (
                429,
                "Too Many Requests",
                "GatewayThrottled",
                "Too Many Requests",
            ),
        ];
        for (status, body, expected_kind, expected_text) in cases {
            let err = status_error("POST x", &captured(status, body), &HINTS);
            assert_eq!(kind(&err), expected_kind, "{status} {body}");
            assert!(err.message().contains(expected_text), "{}", err.message());
        }
    }

    #[test]
    fn retry_after_ms_from_the_admin_rpc_is_honoured() {
        let body = r#"{"ok":false,"error":{"code":"UNAVAILABLE","message":"cron.list unavailable","retryable":true,"retryAfterMs":1500}}"#;
        let GatewayError::Retryable { retry_after, .. } =
            status_error("x", &captured(503, body), &HINTS)
        else {
            panic!("503 must be retryable");
        };
        assert_eq!(retry_after, Some(Duration::from_millis(1500)));
    }
}
