//! The `worker`: polls the task queue and runs ClawFactory's workflows and activities.

use crate::activities::Activities;
use crate::config::{Config, GatewayApi};
use crate::workflows::{
    CustomWorkflow, PoetryResearchWorkflow, WeatherCheckWorkflow, WorkflowSettings,
};
use crate::{activities, gateway, systemd, temporal_client};
use anyhow::{Context, Result, anyhow};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use temporalio_client::Client;
use temporalio_sdk::runtime::RuntimeOptions;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

/// Runs until `stop` resolves (then drains in-flight work within the grace period) or the
/// worker fails. `fallback_api` is the gateway protocol when the config names none.
pub async fn run(
    config: &Config,
    fallback_api: GatewayApi,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(stop);
    let _watchdog = systemd::spawn_watchdog().map(AbortOnDrop);
    let address = config.temporal.url();
    systemd::status(&format!("connecting to Temporal at {address}"));
    let connect = temporal_client::connect_with_retry(&config.temporal, |err, delay| {
        tracing::warn!(error = %format!("{err:#}"), retry_in_ms = delay.as_millis() as u64, "Temporal not reachable yet");
        // The full error is in the log; STATUS= stays one short line.
        systemd::status(&format!(
            "waiting for Temporal at {address}, retrying in {delay:?}"
        ));
    });
    let client = tokio::select! {
        client = connect => client,
        () = &mut stop => return Ok(()),
    };

    let runtime = Runtime::from_current_tokio(RuntimeOptions::default())
        .map_err(|err| anyhow!("cannot start the Temporal SDK runtime: {err}"))?;
    let http = reqwest::Client::builder()
        .user_agent(concat!("clawfactory-temporal/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
    let mut worker = build(&runtime, client, config, fallback_api, http.clone())?;
    let stop_polling = worker.shutdown_handle();

    let api = config.gateway.api.unwrap_or(fallback_api);
    tracing::info!(
        temporal = %config.temporal.describe(),
        namespace = %config.temporal.namespace,
        task_queue = %config.temporal.task_queue,
        gateway_api = %api,
        "worker ready"
    );
    let polling = format!(
        "polling {} on {address} ({})",
        config.temporal.task_queue, config.temporal.namespace
    );
    systemd::ready(&polling);
    let _preflight = AbortOnDrop(spawn_preflight(config.clone(), api, http));
    let status = AbortOnDrop(systemd::spawn_status(STATUS_PERIOD, move || {
        format!(
            "{polling}; {} activities in flight",
            activities::in_flight()
        )
    }));

    let running = worker.run();
    tokio::pin!(running);
    tokio::select! {
        result = &mut running => return result.map_err(|err| anyhow!("worker stopped: {err}")),
        () = &mut stop => {}
    }
    tracing::info!(grace = ?config.worker.graceful_shutdown, "stopping: no new tasks, draining in-flight work");
    drop(status);
    systemd::stopping();
    stop_polling();
    running
        .await
        .map_err(|err| anyhow!("worker failed while stopping: {err}"))
}

/// Logs what looks misconfigured about the gateway, without holding up the worker.
fn spawn_preflight(
    config: Config,
    api: GatewayApi,
    http: reqwest::Client,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for problem in gateway::preflight::check(&config, api, &http).await {
            tracing::warn!(problem = %problem, "gateway preflight");
        }
    })
}

/// How often `STATUS=` is refreshed while the worker runs.
const STATUS_PERIOD: Duration = Duration::from_secs(5);

/// Background helpers end with the worker, however `run` returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn build(
    runtime: &Runtime,
    client: Client,
    config: &Config,
    fallback_api: GatewayApi,
    http: reqwest::Client,
) -> Result<Worker> {
    let activities = Activities::new(
        gateway::from_config(config, fallback_api, http.clone()),
        config.gateway.killswitch_path(),
        http,
        config.weather.base_url.clone(),
    );
    let settings = Arc::new(WorkflowSettings::from_config(config));
    let poetry_settings = settings.clone();
    let options = WorkerOptions::new(config.temporal.task_queue.clone())
        .register_workflow_with_factory::<PoetryResearchWorkflow, _>(move || {
            PoetryResearchWorkflow::new(poetry_settings.clone())
        })?
        .register_workflow_with_factory::<CustomWorkflow, _>(move || {
            CustomWorkflow::new(settings.clone())
        })?
        .register_workflow::<WeatherCheckWorkflow>()?
        .register_activities(activities)
        .graceful_shutdown_period(config.worker.graceful_shutdown)
        .build();
    Worker::new(runtime, client, options).map_err(|err| anyhow!("cannot create the worker: {err}"))
}
