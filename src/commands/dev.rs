//! `dev`: the whole thing on one machine, in one command. A local Temporal dev server with
//! its SQLite file under a state dir, plus the worker (echo gateway unless configured).

use crate::config::{Config, Instances};
use crate::dev_server::supervisor::{RunningServer, ServerSpec};
use crate::service::shutdown;
use crate::worker;
use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use std::path::PathBuf;

/// Run a local Temporal dev server (UI included) plus the worker, until Ctrl-C.
///
/// The server keeps its SQLite database in the state dir, so a later `dev` finds earlier
/// workflows. The gateway is `echo` (no OpenClaw needed) unless the config sets gateway.api.
#[derive(ClapArgs)]
pub struct Args {
    /// Directory for the server's database [default: $XDG_STATE_HOME/clawfactory-temporal/dev].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The Temporal CLI binary [default: server.temporal_bin, i.e. `temporal` on PATH].
    #[arg(long, value_name = "PATH")]
    pub temporal: Option<PathBuf>,
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

pub async fn run(mut config: Config, instances: &Instances, args: Args) -> Result<()> {
    let mut spec = ServerSpec::from_config(&config.server, &config.temporal.namespace);
    spec.server.db_file = args
        .state_dir
        .unwrap_or_else(default_state_dir)
        .join("temporal.db");
    if let Some(bin) = args.temporal {
        spec.server.temporal_bin = bin;
    }
    config.temporal = spec.temporal_config(&config.temporal.task_queue);

    tracing::info!(db = %spec.server.db_file.display(), "starting temporal dev server");
    let stopped_early = async {
        let signal = shutdown::requested().await;
        tracing::info!(signal, "stopping before the server was ready");
    };
    let Some(mut server) =
        RunningServer::start_ready(&spec, &config.temporal, stopped_early).await?
    else {
        return Ok(());
    };
    print_banner(&spec, &config, instances);

    let mut server_exit = None;
    let stop = async {
        tokio::select! {
            signal = shutdown::requested() => tracing::info!(signal, "stopping"),
            status = server.exited() => server_exit = Some(status),
        }
    };
    let worker_result = worker::run(&config, instances, stop).await;
    if let Some(status) = server_exit {
        bail!(
            "temporal server exited unexpectedly ({:?}); worker stopped",
            status
        );
    }
    let status = server.stop().await?;
    tracing::info!(%status, "temporal server stopped");
    worker_result
}

fn print_banner(spec: &ServerSpec, config: &Config, instances: &Instances) {
    let api = instances.default_instance().api;
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
