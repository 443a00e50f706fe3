//! How an agent turn reaches OpenClaw: one small interface, one module per protocol.
//!
//! Protocols return either the turn's result text or a [`GatewayError`] that already says
//! whether retrying can help; the activity layer turns that into a Temporal failure.

mod admin_rpc;
mod chat_completions;
mod cron_fire;
mod echo;
mod endpoint;
mod hooks_agent;
mod openclaw;
pub mod preflight;
mod turns;

pub use admin_rpc::AdminRpc;
pub use chat_completions::ChatCompletionsGateway;
pub use cron_fire::CronFireGateway;
pub use echo::EchoGateway;
pub use endpoint::Endpoint;
pub use hooks_agent::HooksAgentGateway;
pub use turns::{TurnResolver, TurnSpec};

use crate::config::{Config, GatewayApi};
use crate::http_response::{Captured, ResponseClass, ResponseError};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const HOOKS_AGENT_PATH: &str = "/hooks/agent";
pub const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";
pub const CRON_FIRE_PATH: &str = "/api/cron/fire";

/// Failure type names a caller can match in `non_retryable_error_types` or the UI.
pub mod failure_type {
    pub const REJECTED: &str = "GatewayRejected";
    pub const UNAUTHORIZED: &str = "GatewayUnauthorized";
    pub const UNKNOWN_AGENT_JOB: &str = "UnknownAgentJob";
    pub const UNAVAILABLE: &str = "GatewayUnavailable";
    pub const THROTTLED: &str = "GatewayThrottled";
    /// The endpoint does not exist: the feature is disabled or the URL is wrong.
    pub const ENDPOINT_NOT_FOUND: &str = "GatewayEndpointNotFound";
    /// OpenClaw does not know (or does not allow) the agent id.
    pub const UNKNOWN_AGENT: &str = "UnknownAgent";
    /// No `[turns.<id>]` and no OpenClaw cron job of that name.
    pub const UNKNOWN_AGENT_TURN: &str = "UnknownAgentTurn";
    /// More than one OpenClaw cron job has the turn's name.
    pub const AMBIGUOUS_AGENT_TURN: &str = "AmbiguousAgentTurn";
    /// The run happened and failed (provider error, run timeout, ...).
    pub const AGENT_RUN_FAILED: &str = "AgentRunFailed";
    /// OpenClaw skipped the run and `gateway.on_skipped = "fail"`.
    pub const AGENT_RUN_SKIPPED: &str = "AgentRunSkipped";
    /// The workflow named an OpenClaw instance this worker has no `[instances.<name>]` for.
    pub const UNKNOWN_INSTANCE: &str = "UnknownInstance";
    /// The answer's body is larger than `http_response::MAX_BODY_BYTES`.
    pub const RESPONSE_TOO_LARGE: &str = "GatewayResponseTooLarge";
    /// A success status with a body that is not the protocol's answer (malformed, cut off).
    pub const UNREADABLE_ANSWER: &str = "GatewayUnreadableAnswer";
}

/// One logical agent turn, as the workflow asked for it.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// The agent turn id, e.g. `poetry-research-execute`.
    pub agent_turn: String,
    /// The same for every attempt that may re-attach to one run: `<workflow id>/<activity id>`,
    /// with a generation suffix once a run completed with error and the turn must run again.
    pub idempotency_key: String,
    /// When this attempt's start-to-close runs out; waiting past it is pointless.
    pub deadline: Option<std::time::SystemTime>,
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
    /// The run executed and failed. Worth retrying, but as a NEW run: the next attempt
    /// must not replay this one's idempotency key (OpenClaw would replay the failure).
    RunFailed { message: String },
}

impl GatewayError {
    pub fn message(&self) -> &str {
        match self {
            GatewayError::Retryable { message, .. }
            | GatewayError::NonRetryable { message, .. }
            | GatewayError::RunFailed { message } => message,
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
    let gateway = &config.gateway;
    let endpoint =
        |path, token| Endpoint::new(http.clone(), &gateway.url, path, token, gateway.timeout);
    match config.gateway.api.unwrap_or(fallback) {
        GatewayApi::HooksAgent => Arc::new(HooksAgentGateway::new(
            endpoint(HOOKS_AGENT_PATH, config.hooks_token.clone()),
            gateway.on_skipped,
            TurnResolver::from_config(config, http.clone()),
        )),
        GatewayApi::ChatCompletions => Arc::new(ChatCompletionsGateway::new(
            endpoint(CHAT_COMPLETIONS_PATH, config.gateway_token.clone()),
            TurnResolver::from_config(config, http.clone()),
        )),
        GatewayApi::CronFire => Arc::new(CronFireGateway::new(endpoint(
            CRON_FIRE_PATH,
            config.gateway_token.clone(),
        ))),
        GatewayApi::Echo => Arc::new(EchoGateway::new(gateway.instance.clone())),
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

/// Connection refused, reset, timed out: worth another attempt. A body over the size limit
/// is not: the same request gets the same answer until someone fixes the URL or the server.
fn response_error(what: &str, err: &ResponseError) -> GatewayError {
    let message = format!("{what}: {}", err.describe());
    match err {
        ResponseError::TooLarge { .. } => GatewayError::NonRetryable {
            failure_type: failure_type::RESPONSE_TOO_LARGE,
            message,
        },
        ResponseError::NoAnswer(_) | ResponseError::BodyBroken { .. } => GatewayError::Retryable {
            failure_type: failure_type::UNAVAILABLE,
            message,
            retry_after: None,
        },
    }
}

/// How long before the attempt's deadline the worker gives up waiting, so that its own typed
/// failure reaches Temporal before the server's start-to-close timeout does: a tenth of the
/// attempt's time, at most 2 s.
pub(crate) fn deadline_margin(deadline: Option<SystemTime>, now: SystemTime) -> Duration {
    let total = deadline
        .and_then(|deadline| deadline.duration_since(now).ok())
        .unwrap_or_default();
    (total / 10).min(Duration::from_secs(2))
}

/// How long the next POST may wait: `gateway.timeout`, cut to what is left before the
/// deadline (less the margin); `None` once nothing useful is left.
pub(crate) fn request_timeout(
    per_request: Duration,
    deadline: Option<SystemTime>,
    margin: Duration,
    now: SystemTime,
) -> Option<Duration> {
    let Some(deadline) = deadline else {
        return Some(per_request);
    };
    let left = deadline.duration_since(now).ok()?.checked_sub(margin)?;
    (left >= Duration::from_millis(100)).then(|| left.min(per_request))
}

/// The attempt's time ran out before the gateway answered: retryable, naming the URL.
pub(crate) fn out_of_time(what: &str, detail: &str) -> GatewayError {
    GatewayError::Retryable {
        failure_type: failure_type::UNAVAILABLE,
        message: format!(
            "{what}: timed out: no answer before this attempt's start-to-close ran out ({detail})"
        ),
        retry_after: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_wait_past_the_attempt_deadline() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let s = Duration::from_secs;
        assert_eq!(request_timeout(s(5), None, s(0), now), Some(s(5)));
        let deadline = Some(now + s(60));
        let margin = deadline_margin(deadline, now);
        assert_eq!(margin, s(2));
        assert_eq!(request_timeout(s(5), deadline, margin, now), Some(s(5)));
        assert_eq!(
            request_timeout(s(5), deadline, margin, now + s(55)),
            Some(s(3))
        );
        assert_eq!(request_timeout(s(5), deadline, margin, now + s(58)), None);
        assert_eq!(request_timeout(s(5), deadline, margin, now + s(90)), None);
        // Short attempts keep most of their time.
        let short = Some(now + s(5));
        assert_eq!(deadline_margin(short, now), Duration::from_millis(500));
    }
}
