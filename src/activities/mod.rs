//! Side-effecting activities, registered under the reference worker's names.
//!
//! Each activity is a thin adapter: it reads the Temporal context, delegates to a plain
//! async function in its own module, stops promptly when the worker shuts down, and turns
//! errors into typed Temporal failures.

mod activity_error;
mod agent_turn;
mod http_headers;
mod http_request;
pub mod lock;
mod weather;

pub use http_headers::HeaderPart;
pub use http_request::HttpRequestParams;

use crate::config::SecretFiles;
use crate::failure::FailureType;
use crate::gateway::Gateway;
use crate::http::policy::guarded::GuardedClient;
use crate::service::metrics::Metrics;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tracing::Instrument;

/// One OpenClaw instance as the activities reach it.
pub struct InstanceGateway {
    pub gateway: Arc<dyn Gateway>,
    pub killswitch_file: PathBuf,
}

/// What `trigger_agent_turn` takes: the reference's bare turn id (default instance), the
/// turn with the instance to run it on, or (declared workflows) the turn with a message that
/// replaces its prompt. Each older shape still reads as before, so recorded histories replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AgentTurnInput {
    TurnId(String),
    /// Before `OnInstance`: untagged matching tries variants in order, and `OnInstance` would
    /// accept this shape too, dropping the message.
    WithMessage {
        agent_turn: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
        message: String,
    },
    OnInstance {
        agent_turn: String,
        instance: String,
    },
}

impl AgentTurnInput {
    /// The reference's shape whenever no instance is named, so its histories stay readable.
    pub fn new(agent_turn: &str, instance: Option<&str>) -> Self {
        match instance {
            Some(instance) => AgentTurnInput::OnInstance {
                agent_turn: agent_turn.to_owned(),
                instance: instance.to_owned(),
            },
            None => AgentTurnInput::TurnId(agent_turn.to_owned()),
        }
    }

    /// The turn's id, whatever the shape.
    pub fn turn(&self) -> &str {
        match self {
            AgentTurnInput::TurnId(turn) => turn,
            AgentTurnInput::WithMessage { agent_turn, .. }
            | AgentTurnInput::OnInstance { agent_turn, .. } => agent_turn,
        }
    }

    /// The instance it names; `None`: the worker's default.
    pub fn instance(&self) -> Option<&str> {
        match self {
            AgentTurnInput::TurnId(_) => None,
            AgentTurnInput::WithMessage { instance, .. } => instance.as_deref(),
            AgentTurnInput::OnInstance { instance, .. } => Some(instance),
        }
    }

    /// The turn with a message replacing its prompt; without one, the shapes of [`Self::new`].
    pub fn with_message(agent_turn: &str, instance: Option<&str>, message: Option<String>) -> Self {
        match message {
            Some(message) => AgentTurnInput::WithMessage {
                agent_turn: agent_turn.to_owned(),
                instance: instance.map(str::to_owned),
                message,
            },
            None => AgentTurnInput::new(agent_turn, instance),
        }
    }
}

pub struct Activities {
    instances: Arc<BTreeMap<String, InstanceGateway>>,
    default_instance: String,
    http: reqwest::Client,
    /// `http` steps go through the `[http]` policy; weather and the gateways do not (their
    /// URLs are the operator's config, not workflow input).
    http_steps: GuardedClient,
    /// Where the secrets `http` steps' headers name are read from, on each request.
    secrets: Arc<SecretFiles>,
    weather_base_url: String,
    metrics: Metrics,
}

impl Activities {
    pub fn new(
        instances: Arc<BTreeMap<String, InstanceGateway>>,
        default_instance: String,
        http: reqwest::Client,
        http_steps: GuardedClient,
        secrets: Arc<SecretFiles>,
        weather_base_url: String,
        metrics: Metrics,
    ) -> Self {
        Self {
            instances,
            default_instance,
            http,
            http_steps,
            secrets,
            weather_base_url,
            metrics,
        }
    }
}

#[activities]
impl Activities {
    /// Runs one agent turn on an instance's gateway. Input: the agent turn id, or
    /// `{"agent_turn", "instance"}`.
    #[activity(name = "trigger_agent_turn")]
    pub async fn trigger_agent_turn(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: AgentTurnInput,
    ) -> Result<String, ActivityError> {
        let (agent_turn, instance, message) = match input {
            AgentTurnInput::TurnId(turn) => (turn, self.default_instance.clone(), None),
            AgentTurnInput::OnInstance {
                agent_turn,
                instance,
            } => (agent_turn, instance, None),
            AgentTurnInput::WithMessage {
                agent_turn,
                instance,
                message,
            } => {
                let instance = instance.unwrap_or_else(|| self.default_instance.clone());
                (agent_turn, instance, Some(message))
            }
        };
        let span = activity_span(&ctx);
        span.record("agent_id", agent_turn.as_str());
        span.record("instance", instance.as_str());
        let Some(target) = self.instances.get(&instance) else {
            let known: Vec<&String> = self.instances.keys().collect();
            return Err(activity_error::non_retryable(
                FailureType::UnknownInstance,
                format!(
                    "agent turn {agent_turn:?} names instance {instance:?}, which this worker \
                     does not serve (configured: {known:?})"
                ),
            ));
        };
        let turn = agent_turn::Turn {
            instance: &instance,
            agent_turn,
            base_key: idempotency_key(&ctx),
            message,
        };
        let work = agent_turn::run(&ctx, target, turn, &self.metrics);
        until_cancelled(&ctx, work).instrument(span).await
    }

    /// Summarises current weather. Input: a location as wttr.in understands it.
    #[activity(name = "check_weather")]
    pub async fn check_weather(
        self: Arc<Self>,
        ctx: ActivityContext,
        location: String,
    ) -> Result<String, ActivityError> {
        let work = weather::check(&self.http, &self.weather_base_url, &location);
        until_cancelled(&ctx, work)
            .instrument(activity_span(&ctx))
            .await
    }

    /// Performs an HTTP request. Input: a JSON string `{"method", "url", "timeout"}`, and
    /// from declared workflows `body` and `headers`.
    #[activity(name = "http_request")]
    pub async fn http_request(
        self: Arc<Self>,
        ctx: ActivityContext,
        params: String,
    ) -> Result<String, ActivityError> {
        let work = http_request::perform(&self.http_steps, &self.secrets, &params);
        until_cancelled(&ctx, work)
            .instrument(activity_span(&ctx))
            .await
    }
}

/// Every record an activity writes carries these; journald stores them as fields
/// (`WORKFLOW_ID=...`), so one run's story is one `journalctl` filter away.
fn activity_span(ctx: &ActivityContext) -> tracing::Span {
    let info = ctx.info();
    tracing::info_span!(
        "activity",
        workflow_id = info.workflow_id.as_deref().unwrap_or_default(),
        run_id = info.workflow_run_id.as_deref().unwrap_or_default(),
        workflow_type = info.workflow_type.as_deref().unwrap_or_default(),
        activity_type = info.activity_type.as_str(),
        attempt = info.attempt,
        agent_id = tracing::field::Empty,
        instance = tracing::field::Empty,
    )
}

/// The same for every attempt of one logical call, so the gateway can de-duplicate.
fn idempotency_key(ctx: &ActivityContext) -> String {
    let info = ctx.info();
    let workflow_id = info.workflow_id.as_deref().unwrap_or("standalone");
    format!("{workflow_id}/{}", info.activity_id)
}

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// How many activity attempts this process is running right now (for `STATUS=`).
pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Relaxed)
}

struct InFlight;

impl InFlight {
    fn enter() -> InFlight {
        IN_FLIGHT.fetch_add(1, Ordering::Relaxed);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Worker shutdown (or activity cancellation) ends the attempt at once instead of waiting
/// for a gateway call that may take minutes.
async fn until_cancelled<T>(
    ctx: &ActivityContext,
    work: impl Future<Output = Result<T, ActivityError>>,
) -> Result<T, ActivityError> {
    let _counted = InFlight::enter();
    tokio::select! {
        result = work => result,
        () = ctx.cancelled() => Err(ActivityError::cancelled()),
    }
}
