//! `worker`: poll the task queue(s) and run ClawFactory's workflows and activities until
//! SIGTERM or Ctrl-C, then drain in-flight work and exit 0.

use crate::config::{Config, Instances};
use crate::service::shutdown;
use crate::worker;
use anyhow::Result;
use clap::Args as ClapArgs;
use std::process::ExitCode;

/// Poll the task queue and run ClawFactory's workflows and activities.
///
/// Registers PoetryResearchWorkflow, WeatherCheckWorkflow, CustomWorkflow, one workflow type
/// per [declared.<name>], and the activities trigger_agent_turn, check_weather, http_request
/// (and the local activity resolve_declared_workflow). Waits for Temporal if it
/// is not up yet. SIGTERM/Ctrl-C drains in-flight work, then exits 0.
#[derive(ClapArgs)]
pub struct Args {}

pub async fn run(config: &Config, instances: &Instances) -> Result<ExitCode> {
    tracing::info!("{}", config.http.describe_refusals());
    for refused in config.http.refused_declared_steps(&config.declared) {
        tracing::warn!("{refused}");
    }
    let stop = async {
        let signal = shutdown::requested().await;
        tracing::info!(signal, "stop requested");
    };
    worker::run(config, instances, stop).await?;
    Ok(ExitCode::SUCCESS)
}
