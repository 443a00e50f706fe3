//! How an agent turn reaches OpenClaw: one small interface, one module per protocol.
//!
//! Protocols return either the turn's result text or a [`GatewayError`] that already says
//! whether retrying can help; the activity layer turns that into a Temporal failure.

mod cron_fire;
mod echo;

pub use cron_fire::CronFireGateway;
pub use echo::EchoGateway;

use crate::config::{Config, GatewayApi};
use crate::http_response::{Captured, ResponseClass};
use crate::secret::Secret;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// Failure type names a caller can match in `non_retryable_error_types` or the UI.
pub mod failure_type {
    pub const REJECTED: &str = "GatewayRejected";
    pub const UNAUTHORIZED: &str = "GatewayUnauthorized";
    pub const UNKNOWN_AGENT_JOB: &str = "UnknownAgentJob";
    pub const UNAVAILABLE: &str = "GatewayUnavailable";
    pub const THROTTLED: &str = "GatewayThrottled";
}

/// One logical agent turn, as the workflow asked for it.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// The agent turn id, e.g. `poetry-research-execute`.
    pub agent_turn: String,
    /// The same for every attempt of one logical turn: `<workflow id>/<activity id>`.
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GatewayError {
    /// Trying again may work (transport failure, 5xx, throttling).
    Retryable {
        failure_type: &'static str,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot work until someone changes something.
    NonRetryable {
        failure_type: &'static str,
        message: String,
    },
}

impl GatewayError {
    pub fn message(&self) -> &str {
        match self {
            GatewayError::Retryable { message, .. }
            | GatewayError::NonRetryable { message, .. } => message,
        }
    }
}

pub trait Gateway: Send + Sync {
    /// Runs (or, for fire-and-forget protocols, triggers) one agent turn.
    fn trigger<'a>(&'a self, turn: &'a TurnRequest) -> BoxFuture<'a, Result<String, GatewayError>>;
}

/// Builds the gateway `gateway.api` selects; `fallback` applies when the config leaves it unset.
pub fn from_config(
    config: &Config,
    fallback: GatewayApi,
    http: reqwest::Client,
) -> Arc<dyn Gateway> {
    match config.gateway.api.unwrap_or(fallback) {
        GatewayApi::CronFire => Arc::new(CronFireGateway::new(
            http,
            &config.gateway.url,
            config.gateway_token.clone(),
            config.gateway.timeout,
        )),
        GatewayApi::Echo => Arc::new(EchoGateway::new(config.gateway.instance.clone())),
    }
}

/// `Authorization: Bearer` only when a token is set, as the reference does.
fn with_bearer(
    request: reqwest::RequestBuilder,
    token: Option<&Secret>,
) -> reqwest::RequestBuilder {
    match token {
        Some(token) => request.bearer_auth(token.expose()),
        None => request,
    }
}

/// Maps a non-success HTTP outcome to the gateway's failure types.
fn status_error(what: &str, class: ResponseClass, response: &Captured) -> GatewayError {
    let message = response.describe(what);
    let retry_after = response.retry_after;
    let non_retryable = |failure_type| GatewayError::NonRetryable {
        failure_type,
        message: message.clone(),
    };
    match class {
        ResponseClass::Success => unreachable!("status_error called for a success"),
        ResponseClass::Unauthorized => non_retryable(failure_type::UNAUTHORIZED),
        ResponseClass::NotFound => non_retryable(failure_type::UNKNOWN_AGENT_JOB),
        ResponseClass::Rejected => non_retryable(failure_type::REJECTED),
        ResponseClass::Throttled => GatewayError::Retryable {
            failure_type: failure_type::THROTTLED,
            message,
            retry_after,
        },
        ResponseClass::Unavailable => GatewayError::Retryable {
            failure_type: failure_type::UNAVAILABLE,
            message,
            retry_after,
        },
    }
}

/// Connection refused, reset, timed out: always worth another attempt.
fn transport_error(what: &str, err: &reqwest::Error) -> GatewayError {
    GatewayError::Retryable {
        failure_type: failure_type::UNAVAILABLE,
        message: format!(
            "{what}: {}",
            crate::http_response::describe_transport_error(err)
        ),
        retry_after: None,
    }
}
