//! Side-effecting activities, registered under the reference worker's names.
//!
//! Each activity is a thin adapter: it reads the Temporal context, delegates to a plain
//! async function in its own module, stops promptly when the worker shuts down, and turns
//! errors into typed Temporal failures.

mod agent_turn;
mod failure;
mod http_request;
mod weather;

pub use failure::KILLSWITCH_ACTIVE;
pub use http_request::HttpRequestParams;

use crate::gateway::Gateway;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use tracing::Instrument;

pub struct Activities {
    gateway: Arc<dyn Gateway>,
    killswitch_file: PathBuf,
    http: reqwest::Client,
    weather_base_url: String,
}

impl Activities {
    pub fn new(
        gateway: Arc<dyn Gateway>,
        killswitch_file: PathBuf,
        http: reqwest::Client,
        weather_base_url: String,
    ) -> Self {
        Self {
            gateway,
            killswitch_file,
            http,
            weather_base_url,
        }
    }
}

#[activities]
impl Activities {
    /// Runs one agent turn on the gateway. Input: the agent turn id.
    #[activity(name = "trigger_agent_turn")]
    pub async fn trigger_agent_turn(
        self: Arc<Self>,
        ctx: ActivityContext,
        agent_id: String,
    ) -> Result<String, ActivityError> {
        let span = activity_span(&ctx);
        span.record("agent_id", agent_id.as_str());
        let key = idempotency_key(&ctx);
        let work = agent_turn::run(&ctx, &*self.gateway, &self.killswitch_file, agent_id, key);
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

    /// Performs an HTTP request. Input: a JSON string `{"method", "url", "timeout"}`.
    #[activity(name = "http_request")]
    pub async fn http_request(
        self: Arc<Self>,
        ctx: ActivityContext,
        params: String,
    ) -> Result<String, ActivityError> {
        let work = http_request::perform(&self.http, &params);
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
