//! The `worker`: polls the task queue and runs ClawFactory's workflows and activities.

use crate::activities::Activities;
use crate::config::{Config, GatewayApi};
use crate::workflows::{
    CustomWorkflow, PoetryResearchWorkflow, WeatherCheckWorkflow, WorkflowSettings,
};
use crate::{gateway, systemd, temporal_client};
use anyhow::{Context, Result, anyhow};
use std::future::Future;
use std::sync::Arc;
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
    let address = config.temporal.url();
    systemd::status(&format!("connecting to Temporal at {address}"));
    let connect = temporal_client::connect_with_retry(&config.temporal, |err, delay| {
        tracing::warn!(error = %format!("{err:#}"), retry_in_ms = delay.as_millis() as u64, "Temporal not reachable yet");
        systemd::status(&format!("waiting for Temporal at {address}: {err:#}"));
    });
    let client = tokio::select! {
        client = connect => client,
        () = &mut stop => return Ok(()),
    };

    let runtime = Runtime::from_current_tokio(RuntimeOptions::default())
        .map_err(|err| anyhow!("cannot start the Temporal SDK runtime: {err}"))?;
    let mut worker = build(&runtime, client, config, fallback_api)?;
    let stop_polling = worker.shutdown_handle();

    let api = config.gateway.api.unwrap_or(fallback_api);
    tracing::info!(
        temporal = %address,
        namespace = %config.temporal.namespace,
        task_queue = %config.temporal.task_queue,
        gateway_api = ?api,
        "worker ready"
    );
    systemd::ready(&format!(
        "polling {} on {address} ({})",
        config.temporal.task_queue, config.temporal.namespace
    ));

    let running = worker.run();
    tokio::pin!(running);
    tokio::select! {
        result = &mut running => return result.map_err(|err| anyhow!("worker stopped: {err}")),
        () = &mut stop => {}
    }
    tracing::info!(grace = ?config.worker.graceful_shutdown, "stopping: no new tasks, draining in-flight work");
    systemd::stopping();
    stop_polling();
    running
        .await
        .map_err(|err| anyhow!("worker failed while stopping: {err}"))
}

fn build(
    runtime: &Runtime,
    client: Client,
    config: &Config,
    fallback_api: GatewayApi,
) -> Result<Worker> {
    let http = reqwest::Client::builder()
        .user_agent(concat!("clawfactory-temporal/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
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
