use anyhow::Result;
use clap::{Parser, Subcommand};
use clawfactory_temporal::config::{self, Config, GatewayApi};
use clawfactory_temporal::start::{Outcome, StartRequest};
use clawfactory_temporal::{
    dev, logging, schedules, server, shutdown, start, temporal_client, worker,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Durable orchestration of ClawFactory's OpenClaw agent jobs on Temporal.
///
/// Start with `dev` to get a local Temporal server, its UI and a worker in one command.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    /// Config file (TOML). A missing default file means all defaults.
    #[arg(long, global = true, env = "CLAWFACTORY_CONFIG", value_name = "PATH")]
    config: Option<PathBuf>,

    /// Log output: journald under systemd and text elsewhere (auto), or one of them always.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "auto",
        env = "CLAWFACTORY_LOG"
    )]
    log: logging::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Poll the task queue and run ClawFactory's workflows and activities.
    ///
    /// Registers PoetryResearchWorkflow, WeatherCheckWorkflow, CustomWorkflow and the
    /// activities trigger_agent_turn, check_weather, http_request. Waits for Temporal if it
    /// is not up yet. SIGTERM/Ctrl-C drains in-flight work, then exits 0.
    Worker,
    /// Validate the config and print the effective settings (secrets redacted). Exit 2 on error.
    CheckConfig {
        /// Check the file alone, not the certificate and key files it points at (for
        /// build-time checks, e.g. in a Nix build, where they do not exist yet).
        #[arg(long)]
        offline: bool,
    },
    /// Start a workflow by type name, optionally wait for its result.
    ///
    /// Example: run PoetryResearchWorkflow --input '{"settle": "10s"}' --wait
    Run {
        /// Workflow type: PoetryResearchWorkflow, WeatherCheckWorkflow or CustomWorkflow.
        workflow_type: String,
        /// The input as JSON (e.g. '"Paris"' for WeatherCheckWorkflow). Omit for none.
        #[arg(long, value_name = "JSON")]
        input: Option<String>,
        /// Workflow id (default: <type>-<unix millis>).
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Run the agent turns on this OpenClaw instance ([instances.<name>]).
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
        /// Wait for the result and print it; exit 1 if the workflow fails.
        #[arg(long)]
        wait: bool,
    },
    /// Declarative schedules: make the server match `[schedules.*]`, list, trigger, pause.
    Schedules {
        /// Temporal address to manage [default: temporal.address].
        #[arg(long, value_name = "HOST:PORT")]
        address: Option<String>,
        /// Namespace [default: temporal.namespace].
        #[arg(long)]
        namespace: Option<String>,
        #[command(subcommand)]
        command: SchedulesCommand,
    },
    /// Supervise `temporal server start-dev` for the clawfactory-temporal.service unit.
    ///
    /// Flags from [server] (loopback, fixed ports, SQLite file, namespace, JSON logs);
    /// creates the data dir; READY=1 once the frontend answers; SIGTERM/SIGINT are passed on;
    /// exits with the server's status; the server's log lines are re-emitted as ours.
    Server,
    /// Run a local Temporal dev server (UI included) plus the worker, until Ctrl-C.
    ///
    /// The server keeps its SQLite database in the state dir, so a later `dev` finds earlier
    /// workflows. The gateway is `echo` (no OpenClaw needed) unless the config sets gateway.api.
    Dev {
        /// Directory for the server's database [default: $XDG_STATE_HOME/clawfactory-temporal/dev].
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// The Temporal CLI binary [default: server.temporal_bin, i.e. `temporal` on PATH].
        #[arg(long, value_name = "PATH")]
        temporal: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SchedulesCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let mut source = config::Source::from_cli(cli.config);
    source.check_files = !matches!(cli.command, Command::CheckConfig { offline: true });
    let config = match Config::load(&source, &config::ProcessEnv) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    match execute(cli.command, config).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command, config: Config) -> Result<ExitCode> {
    match command {
        Command::Worker => {
            let stop = async {
                let signal = shutdown::requested().await;
                tracing::info!(signal, "stop requested");
            };
            worker::run(&config, GatewayApi::HooksAgent, stop).await?;
        }
        Command::CheckConfig { .. } => print!("{}", config.to_redacted_toml()?),
        Command::Run {
            workflow_type,
            input,
            id,
            instance,
            wait,
        } => {
            let request = StartRequest {
                workflow_type,
                input,
                workflow_id: id,
                instance,
                wait,
            };
            match start::start(&config, request).await? {
                Outcome::Started { workflow_id, .. } => println!("{workflow_id}"),
                Outcome::Completed { output } => println!("{output}"),
                Outcome::Failed { message } => {
                    eprintln!("workflow failed: {message}");
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
        Command::Schedules {
            address,
            namespace,
            command,
        } => return schedules_command(config, address, namespace, command).await,
        Command::Server => return server::supervise(&config).await,
        Command::Dev {
            state_dir,
            temporal,
        } => {
            let options = dev::DevOptions {
                state_dir: state_dir.unwrap_or_else(dev::default_state_dir),
                temporal_bin: temporal,
            };
            dev::run(config, options).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn schedules_command(
    mut config: Config,
    address: Option<String>,
    namespace: Option<String>,
    command: SchedulesCommand,
) -> Result<ExitCode> {
    if let Some(address) = address {
        config.temporal.address = address;
    }
    if let Some(namespace) = namespace {
        config.temporal.namespace = namespace;
    }
    let client = temporal_client::connect(&config.temporal).await?;
    let namespace = config.temporal.namespace.as_str();
    let (id, action) = match command {
        SchedulesCommand::Apply { dry_run, prune } => {
            let options = schedules::ApplyOptions { dry_run, prune };
            if dry_run {
                println!("dry run: nothing will be changed");
            }
            let mut print = |step: &schedules::Step| println!("{step}");
            schedules::apply(
                &client,
                namespace,
                &config.temporal.task_queue,
                &config.schedules,
                &options,
                &mut print,
            )
            .await?;
            return Ok(ExitCode::SUCCESS);
        }
        SchedulesCommand::List => {
            for line in schedules::list(&client, namespace).await? {
                println!("{line}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        SchedulesCommand::Trigger { schedule_id } => (schedule_id, schedules::Action::Trigger),
        SchedulesCommand::Pause { schedule_id } => (schedule_id, schedules::Action::Pause),
        SchedulesCommand::Unpause { schedule_id } => (schedule_id, schedules::Action::Unpause),
    };
    schedules::act(&client, namespace, &id, action).await?;
    println!("ok");
    Ok(ExitCode::SUCCESS)
}
