//! How an agent turn reaches OpenClaw: one small interface, one module per protocol.
//!
//! Protocols return either the turn's result text or a [`GatewayError`] that already says
//! whether retrying can help; the activity layer turns that into a Temporal failure.

mod admin_rpc;
mod chat_completions;
mod cron_fire;
mod echo;
mod endpoint;
mod error_answers;
mod hooks_agent;
pub mod preflight;
mod turn_resolver;

pub use admin_rpc::AdminRpc;
pub use chat_completions::ChatCompletionsGateway;
pub use cron_fire::CronFireGateway;
pub use echo::EchoGateway;
pub use endpoint::Endpoint;
pub use hooks_agent::HooksAgentGateway;
pub use turn_resolver::{TurnResolver, TurnTable, spec_from_cron_job};

use crate::config::{GatewayApi, Instance};
use crate::failure::FailureType;
use crate::http::response::ResponseError;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub const HOOKS_AGENT_PATH: &str = "/hooks/agent";
pub const CHAT_COMPLETIONS_PATH: &str = "/v1/chat/completions";
pub const CRON_FIRE_PATH: &str = "/api/cron/fire";

/// One logical agent turn, as the workflow asked for it.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// The agent turn id, e.g. `poetry-research-execute`.
    pub agent_turn: String,
    /// The same for every attempt that may re-attach to one run: `<workflow id>/<activity id>`,
    /// with a generation suffix once a run completed with error and the turn must run again.
    pub idempotency_key: String,
    /// When this attempt's start-to-close runs out; waiting past it is pointless.
    pub deadline: Option<SystemTime>,
    /// Replaces the turn's prompt for this run (a declared workflow's templated `message`).
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum GatewayError {
    /// Trying again may work (transport failure, 5xx, throttling).
    Retryable {
        failure_type: FailureType,
        message: String,
        retry_after: Option<Duration>,
    },
    /// Trying again cannot work until someone changes something.
    NonRetryable {
        failure_type: FailureType,
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

/// Builds the gateway of the instance's protocol.
pub fn for_instance(
    instance: &Instance,
    turns: &TurnTable,
    http: reqwest::Client,
) -> Arc<dyn Gateway> {
    let gateway = &instance.gateway;
    let tokens = &instance.tokens;
    let endpoint =
        |path, token| Endpoint::new(http.clone(), &gateway.url, path, token, gateway.timeout);
    let resolver = || TurnResolver::new(turns.clone(), instance, http.clone());
    match instance.api {
        GatewayApi::HooksAgent => Arc::new(HooksAgentGateway::new(
            endpoint(HOOKS_AGENT_PATH, tokens.hooks.clone()),
            gateway.on_skipped,
            resolver(),
        )),
        GatewayApi::ChatCompletions => Arc::new(ChatCompletionsGateway::new(
            endpoint(CHAT_COMPLETIONS_PATH, tokens.gateway.clone()),
            resolver(),
        )),
        GatewayApi::CronFire => Arc::new(CronFireGateway::new(endpoint(
            CRON_FIRE_PATH,
            tokens.gateway.clone(),
        ))),
        GatewayApi::Echo => Arc::new(EchoGateway::new(instance.name.clone())),
    }
}

/// Connection refused, reset, timed out: worth another attempt. A body over the size limit
/// is not: the same request gets the same answer until someone fixes the URL or the server.
fn response_error(what: &str, err: &ResponseError) -> GatewayError {
    let message = format!("{what}: {}", err.describe());
    match err {
        ResponseError::TooLarge { .. } => GatewayError::NonRetryable {
            failure_type: FailureType::GatewayResponseTooLarge,
            message,
        },
        ResponseError::NoAnswer(_) | ResponseError::BodyBroken { .. } => GatewayError::Retryable {
            failure_type: FailureType::GatewayUnavailable,
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
        failure_type: FailureType::GatewayUnavailable,
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
