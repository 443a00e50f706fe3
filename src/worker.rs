//! The `worker`: polls the task queue and runs ClawFactory's workflows and activities.

use crate::activities::lock::LockActivities;
use crate::activities::{Activities, InstanceGateway};
use crate::config::{Config, Instances};
use crate::gateway::TurnTable;
use crate::http::policy::guarded::GuardedClient;
use crate::service::metrics::{self, Metrics};
use crate::service::systemd;
use crate::workflows::declared::{self, DeclaredActivities};
use crate::workflows::{
    ClawfactoryLock, CustomWorkflow, PoetryResearchWorkflow, WeatherCheckWorkflow, WorkflowSettings,
};
use crate::{activities, gateway, search_attributes, temporal_client};
use anyhow::{Context, Result, anyhow};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use temporalio_client::Client;
use temporalio_common::telemetry::TelemetryOptions;
use temporalio_sdk::runtime::RuntimeOptions;
use temporalio_sdk::{
    Runtime, Worker, WorkerOptions, WorkerOptionsBuilder, worker_options_builder,
};

/// Runs until `stop` resolves (then drains in-flight work within the grace period) or the
/// worker fails, serving every instance in `instances`.
pub async fn run(
    config: &Config,
    instances: &Instances,
    stop: impl Future<Output = ()>,
) -> Result<()> {
    // Read once now so a wrong path stops the start, not the first run that needs it; read
    // again for each request (a rotated file is picked up without a restart).
    let secrets = config.secrets.files(&crate::config::ProcessEnv);
    secrets.check().map_err(|err| anyhow!("[secrets]: {err}"))?;
    let secrets = Arc::new(secrets);
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

    let search_attributes = search_attributes_registered(&client, &config.temporal.namespace).await;

    let exporter = match config.worker.metrics_socket()? {
        Some(address) => Some(metrics::serve(address)?),
        None => None,
    };
    let telemetry = TelemetryOptions::builder()
        .maybe_metrics(exporter.as_ref().map(|e| e.meter.clone()))
        .build();
    let runtime_options = RuntimeOptions::builder()
        .telemetry_options(telemetry)
        .build()
        .map_err(|err| anyhow!("invalid Temporal SDK runtime options: {err}"))?;
    let runtime = Runtime::from_current_tokio(runtime_options)
        .map_err(|err| anyhow!("cannot start the Temporal SDK runtime: {err}"))?;
    let our_metrics = exporter
        .as_ref()
        .map(|e| Metrics::new(e.meter.clone()))
        .unwrap_or_default();
    let user_agent = concat!("clawfactory-temporal/", env!("CARGO_PKG_VERSION"));
    let http = reqwest::Client::builder()
        .user_agent(user_agent)
        .build()
        .context("cannot build the HTTP client")?;
    let http_steps = GuardedClient::new(config.http.policy(), user_agent)
        .context("cannot build the HTTP client of http steps")?;
    let turns = TurnTable::new(&config.turns, crate::workflows::builtin_turns());
    let gateways = Arc::new(instance_gateways(instances, &turns, &http));
    let queues = instances.task_queues();
    let mut workers = queues
        .iter()
        .map(|queue| {
            let activities = Activities::new(
                gateways.clone(),
                config.gateway.instance.clone(),
                http.clone(),
                http_steps.clone(),
                secrets.clone(),
                config.weather.base_url.clone(),
                our_metrics.clone(),
            );
            let mut settings = WorkflowSettings::from_config(config);
            settings.search_attributes = search_attributes;
            build(
                &runtime,
                client.clone(),
                config,
                instances,
                queue,
                activities,
                Arc::new(settings),
            )
        })
        .collect::<Result<Vec<Worker>>>()?;
    let stop_handles: Vec<_> = workers.iter().map(|w| w.shutdown_handle()).collect();
    let stop_polling = move || stop_handles.iter().for_each(|stop| stop());

    let api = instances.default_instance().api;
    tracing::info!(
        temporal = %config.temporal.describe(),
        namespace = %config.temporal.namespace,
        task_queue = %queues.join(", "),
        instances = %instances.names().join(", "),
        gateway_api = %api,
        metrics = %exporter.as_ref().map(|e| format!("http://{}/metrics", e.address)).unwrap_or_else(|| "off".into()),
        "worker ready"
    );
    let polling = format!(
        "polling {} on {address} ({})",
        queues.join(", "),
        config.temporal.namespace
    );
    systemd::ready(&polling);
    let _preflight = AbortOnDrop(spawn_preflight(instances.clone(), http));
    let status = AbortOnDrop(systemd::spawn_status(STATUS_PERIOD, move || {
        format!(
            "{polling}; {} activities in flight",
            activities::in_flight()
        )
    }));

    // Worker::run is !Send: all queues are driven from this task.
    let running = futures::future::try_join_all(workers.iter_mut().map(|worker| worker.run()));
    tokio::pin!(running);
    tokio::select! {
        result = &mut running => return result.map(drop).map_err(|err| anyhow!("worker stopped: {err}")),
        () = &mut stop => {}
    }
    tracing::info!(grace = ?config.worker.graceful_shutdown, "stopping: no new tasks, draining in-flight work");
    drop(status);
    systemd::stopping();
    stop_polling();
    running
        .await
        .map(drop)
        .map_err(|err| anyhow!("worker failed while stopping: {err}"))
}

/// Logs what looks misconfigured about each instance's gateway, without holding up the worker.
fn spawn_preflight(instances: Instances, http: reqwest::Client) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for instance in instances.iter() {
            for problem in gateway::preflight::check(instance, &http).await {
                tracing::warn!(instance = %instance.name, problem = %problem, "gateway preflight");
            }
        }
    })
}

/// Whether new runs may set `crate::search_attributes`: only if the namespace has them all,
/// since the server fails the workflow task of a run that sets an unregistered attribute. Said
/// once, with the command that registers them; the worker goes on either way.
async fn search_attributes_registered(client: &Client, namespace: &str) -> bool {
    match search_attributes::missing_on(client, namespace).await {
        Ok(missing) if missing.is_empty() => true,
        Ok(missing) => {
            tracing::warn!(
                missing = %missing.join(", "),
                register = %search_attributes::create_command(&missing, namespace),
                "search attributes not registered: new runs will not set them (not findable by \
                 instance, turn or workflow in the UI) until they are registered and the worker restarted"
            );
            false
        }
        Err(err) => {
            tracing::warn!(error = %format!("{err:#}"), "cannot check the search attributes: new runs will not set them");
            false
        }
    }
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

/// One gateway per OpenClaw instance.
fn instance_gateways(
    instances: &Instances,
    turns: &TurnTable,
    http: &reqwest::Client,
) -> BTreeMap<String, InstanceGateway> {
    instances
        .iter()
        .map(|instance| {
            let target = InstanceGateway {
                gateway: gateway::for_instance(instance, turns, http.clone()),
                killswitch_file: instance.killswitch_file.clone(),
            };
            (instance.name.clone(), target)
        })
        .collect()
}

/// One workflow type per `[declared.<name>]`, and the local activity their runs start with.
fn register_declared<S: worker_options_builder::State>(
    options: WorkerOptionsBuilder<S>,
    config: &Config,
    instances: &Instances,
    settings: &Arc<WorkflowSettings>,
) -> Result<WorkerOptionsBuilder<S>> {
    let names: Vec<String> = config.declared.names().map(str::to_owned).collect();
    let resolver = DeclaredActivities::new(
        config.declared.clone(),
        declared::Facts::new(config, instances),
    );
    let options = declared::register(options, &names, settings)
        .map_err(|err| anyhow!("cannot register the declared workflows: {err}"))?;
    Ok(options.register_activities(resolver))
}

fn build(
    runtime: &Runtime,
    client: Client,
    config: &Config,
    instances: &Instances,
    task_queue: &str,
    activities: Activities,
    settings: Arc<WorkflowSettings>,
) -> Result<Worker> {
    let poetry_settings = settings.clone();
    let declared_settings = settings.clone();
    let options = WorkerOptions::new(task_queue.to_owned())
        .register_workflow_with_factory::<PoetryResearchWorkflow, _>(move || {
            PoetryResearchWorkflow::new(poetry_settings.clone())
        })?
        .register_workflow_with_factory::<CustomWorkflow, _>(move || {
            CustomWorkflow::new(settings.clone())
        })?
        .register_workflow::<WeatherCheckWorkflow>()?
        .register_workflow::<ClawfactoryLock>()?
        .register_activities(activities)
        .register_activities(LockActivities::new(client.clone()))
        .graceful_shutdown_period(config.worker.graceful_shutdown)
        .max_cached_workflows(config.worker.max_cached_workflows);
    let options = register_declared(options, config, instances, &declared_settings)?.build();
    Worker::new(runtime, client, options).map_err(|err| anyhow!("cannot create the worker: {err}"))
}
