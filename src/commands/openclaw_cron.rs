//! `openclaw-cron list|import|cutover|rollback`: the command line of `crate::openclaw_cron`.

use crate::config::{Config, Instances};
use crate::gateway::AdminRpc;
use crate::openclaw_cron::{self, Format, Outcome, Switch};
use crate::temporal_client;
use anyhow::{Context, Result, anyhow};
use clap::{Args as ClapArgs, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Move OpenClaw cron jobs to Temporal schedules: list, import, cut over, roll back.
#[derive(ClapArgs)]
pub struct Args {
    /// The OpenClaw instance ([instances.<name>]) [default: the [gateway] one].
    #[arg(long, global = true, value_name = "NAME")]
    pub instance: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Every cron job (disabled ones too) and how it would move: ok, migrated or cannot: why.
    List,
    /// Print the [turns] and [schedules] that replace the jobs; changes nothing.
    Import {
        /// Job ids or names (as `list` shows them).
        #[arg(value_name = "JOB")]
        jobs: Vec<String>,
        /// Every job but OpenClaw's own housekeeping jobs; those that cannot move are named.
        #[arg(long, conflicts_with = "jobs")]
        all: bool,
        /// TOML for the config file, or the NixOS module's attribute set.
        #[arg(long, value_enum, default_value = "toml")]
        format: Format,
        /// Write here instead of to standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Disable each imported job in OpenClaw once its Temporal schedule is live and fires at
    /// the job's times; refuse, saying why, otherwise. Default: every imported job.
    Cutover {
        #[arg(value_name = "JOB")]
        jobs: Vec<String>,
        /// Check and print, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Re-enable the jobs cutover disabled and pause (not delete) their schedules. Default:
    /// every job cutover disabled.
    Rollback {
        #[arg(value_name = "JOB")]
        jobs: Vec<String>,
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(config: &Config, instances: &Instances, args: Args) -> Result<ExitCode> {
    let instance = match &args.instance {
        Some(name) => instances.get(name).ok_or_else(|| {
            anyhow!(
                "--instance {name:?}: no such instance (configured: {})",
                instances.names().join(", ")
            )
        })?,
        None => instances.default_instance(),
    };
    if instance.tokens.gateway.is_none() {
        return Err(anyhow!(
            "no gateway token is set ({}): OpenClaw's admin RPC, which lists and changes cron jobs, needs it",
            instance.gateway_token_sources()
        ));
    }
    let http = reqwest::Client::builder()
        .user_agent(concat!("clawfactory-temporal/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
    let rpc = AdminRpc::new(
        http,
        &instance.gateway.url,
        instance.tokens.gateway.clone(),
        instance.gateway.timeout,
    );
    let jobs = || openclaw_cron::jobs(&rpc);
    let (wanted, dry_run, cutover) = match args.command {
        Command::List => {
            for line in openclaw_cron::list_lines(&jobs().await?, instance.api) {
                println!("{line}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Import {
            jobs: wanted,
            all,
            format,
            out,
        } => {
            openclaw_cron::require_selection(&wanted, all)?;
            let on_instance = (!instance.is_default).then_some(instance.name.as_str());
            let imported =
                openclaw_cron::import(&jobs().await?, &wanted, all, instance.api, on_instance)?;
            for job in &imported.left_out {
                eprintln!("left out: {job}");
            }
            let text = openclaw_cron::render(&imported, format)?;
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?,
                None => print!("{text}"),
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Cutover { jobs, dry_run } => (jobs, dry_run, true),
        Command::Rollback { jobs, dry_run } => (jobs, dry_run, false),
    };
    let client = temporal_client::connect(&config.temporal).await?;
    let switch = Switch {
        config,
        instances,
        instance: &instance.name,
        api: instance.api,
        rpc: &rpc,
        client: &client,
        dry_run,
    };
    if dry_run {
        println!("dry run: nothing will be changed");
    }
    let (mut refused, mut changed) = (false, false);
    let mut print = |outcome: &Outcome| {
        refused |= matches!(outcome, Outcome::Refused(_));
        changed |= matches!(outcome, Outcome::Done(_));
        println!("{outcome}");
    };
    if cutover {
        switch.cutover(&wanted, &mut print).await?;
    } else {
        switch.rollback(&wanted, &mut print).await?;
        if changed && !dry_run {
            println!(
                "note: the config still declares these schedules unpaused; remove them (or set \
                 paused = true) before the next `schedules apply`, or it unpauses them"
            );
        }
    }
    Ok(if refused {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
