//! `server`: the appliance's `clawfactory-temporal.service` — supervise the local Temporal
//! dev server under systemd (readiness, watchdog, journald). The machinery is
//! `crate::dev_server::supervisor`, shared with `dev`.

use crate::config::Config;
use anyhow::Result;
use clap::Args as ClapArgs;
use std::process::ExitCode;

/// Supervise `temporal server start-dev` for the clawfactory-temporal.service unit.
///
/// Flags from [server] (loopback, fixed ports, SQLite file, namespace, JSON logs);
/// creates the data dir; READY=1 once the frontend answers; SIGTERM/SIGINT are passed on;
/// exits with the server's status; the server's log lines are re-emitted as ours.
#[derive(ClapArgs)]
pub struct Args {}

pub async fn run(config: &Config) -> Result<ExitCode> {
    crate::dev_server::supervisor::supervise(config).await
}
