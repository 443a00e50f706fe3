//! `openclaw-cron list|import`: the command line of `crate::openclaw_cron`.

use crate::config::{Config, Instances};
use crate::gateway::AdminRpc;
use crate::openclaw_cron::{self, Format};
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
}

pub async fn run(config: &Config, args: Args) -> Result<ExitCode> {
    let instances = Instances::resolve(config, crate::config::GatewayApi::HooksAgent);
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
    match args.command {
        Command::List => {
            for line in openclaw_cron::list_lines(&jobs().await?, instance.api) {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
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
            Ok(ExitCode::SUCCESS)
        }
    }
}
