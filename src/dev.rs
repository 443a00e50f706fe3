//! `dev`: the whole thing on one machine, in one command. A local Temporal dev server with
//! its SQLite file under a state dir, plus the worker (echo gateway unless configured).

use crate::config::{Config, GatewayApi};
use crate::server::{RunningServer, ServerSpec};
use crate::{shutdown, worker};
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::time::Duration;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const SERVER_STOP_GRACE: Duration = Duration::from_secs(10);

pub struct DevOptions {
    pub state_dir: PathBuf,
    pub temporal_bin: Option<PathBuf>,
}

/// Where `dev` keeps its database unless told otherwise.
pub fn default_state_dir() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/state")));
    match base {
        Some(base) => base.join("clawfactory-temporal/dev"),
        None => PathBuf::from(".clawfactory-dev"),
    }
}

pub async fn run(mut config: Config, options: DevOptions) -> Result<()> {
    let mut spec = ServerSpec::from_config(&config.server, &config.temporal.namespace);
    spec.server.db_file = options.state_dir.join("temporal.db");
    if let Some(bin) = options.temporal_bin {
        spec.server.temporal_bin = bin;
    }
    config.temporal = spec.temporal_config(&config.temporal.task_queue);

    tracing::info!(db = %spec.server.db_file.display(), "starting temporal dev server");
    let mut server = RunningServer::start(&spec).await?;
    tokio::select! {
        ready = server.wait_ready(&config.temporal, READY_TIMEOUT) => ready?,
        signal = shutdown::requested() => {
            tracing::info!(signal, "stopping before the server was ready");
            server.stop(SERVER_STOP_GRACE).await?;
            return Ok(());
        }
    }
    print_banner(&spec, &config);

    let mut server_exit = None;
    let stop = async {
        tokio::select! {
            signal = shutdown::requested() => tracing::info!(signal, "stopping"),
            status = server.exited() => server_exit = Some(status),
        }
    };
    let worker_result = worker::run(&config, GatewayApi::Echo, stop).await;
    if let Some(status) = server_exit {
        bail!(
            "temporal server exited unexpectedly ({:?}); worker stopped",
            status
        );
    }
    let status = server.stop(SERVER_STOP_GRACE).await?;
    tracing::info!(%status, "temporal server stopped");
    worker_result
}

fn print_banner(spec: &ServerSpec, config: &Config) {
    let api = config.gateway.api.unwrap_or(GatewayApi::Echo);
    println!(
        "\nClawFactory Temporal dev appliance is up.\n\
         \x20 Temporal UI:   {ui}\n\
         \x20 gRPC:          {grpc} (namespace {ns}, task queue {queue})\n\
         \x20 database:      {db}\n\
         \x20 gateway api:   {api}\n\
         Try:  clawfactory-temporal run PoetryResearchWorkflow --input '{{\"settle\": \"10s\"}}' --wait\n\
         Ctrl-C stops the worker and the server.\n",
        ui = spec.ui_url(),
        grpc = config.temporal.address,
        ns = config.temporal.namespace,
        queue = config.temporal.task_queue,
        db = spec.server.db_file.display(),
    );
}
