//! `schedules apply|list|trigger|pause|unpause`: the command line of the declarative
//! schedules in `crate::schedules`.

use crate::config::{Config, Instances};
use crate::{schedules, temporal_client};
use anyhow::Result;
use clap::{Args as ClapArgs, Subcommand};
use std::process::ExitCode;

/// Declarative schedules: make the server match `[schedules.*]`, list, trigger, pause.
#[derive(ClapArgs)]
pub struct Args {
    /// Temporal address to manage [default: temporal.address].
    #[arg(long, value_name = "HOST:PORT")]
    pub address: Option<String>,
    /// Namespace [default: temporal.namespace].
    #[arg(long)]
    pub namespace: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create missing, update changed, keep equal schedules; print the plan (+ ~ = -).
    ///
    /// The whole config is validated first: an error changes nothing. Only schedules this
    /// tool created (marked in their memo) are ever deleted, and only with --prune.
    Apply {
        /// Print the plan without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Delete schedules this tool created that are no longer declared.
        #[arg(long)]
        prune: bool,
    },
    /// Every schedule in the namespace: spec, paused, next 3 fire times, last runs.
    List,
    /// Start the schedule's action now.
    Trigger { schedule_id: String },
    /// Stop firing until unpaused.
    Pause { schedule_id: String },
    /// Resume firing.
    Unpause { schedule_id: String },
}

pub async fn run(mut config: Config, instances: &Instances, args: Args) -> Result<ExitCode> {
    if let Some(address) = args.address {
        config.temporal.address = address;
    }
    if let Some(namespace) = args.namespace {
        config.temporal.namespace = namespace;
    }
    let client = temporal_client::connect(&config.temporal).await?;
    let (id, action) = match args.command {
        Command::Apply { dry_run, prune } => {
            let options = schedules::ApplyOptions { dry_run, prune };
            if dry_run {
                println!("dry run: nothing will be changed");
            }
            let mut print = |step: &schedules::Step| println!("{step}");
            let declared = schedules::declared(&config, instances);
            schedules::apply(
                &client,
                &config.temporal.task_queue,
                &declared,
                &options,
                &mut print,
            )
            .await?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::List => {
            for line in schedules::list(&client).await? {
                println!("{line}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Trigger { schedule_id } => (schedule_id, schedules::Action::Trigger),
        Command::Pause { schedule_id } => (schedule_id, schedules::Action::Pause),
        Command::Unpause { schedule_id } => (schedule_id, schedules::Action::Unpause),
    };
    schedules::act(&client, &id, action).await?;
    println!("ok");
    Ok(ExitCode::SUCCESS)
}
