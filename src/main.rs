//! The command line: global flags, loading the config (an error exits 2), and dispatch to
//! one file per subcommand in `commands/`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use clawfactory_temporal::commands::{
    approve, backup, check_config, dev, openclaw_cron, restore, resume, run, schedules, server,
    worker,
};
use clawfactory_temporal::config::{self, Config, Instances};
use clawfactory_temporal::service::{logging, systemd};
use clawfactory_temporal::workflows::declared;
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
    Worker(worker::Args),
    CheckConfig(check_config::Args),
    Run(run::Args),
    Approve(approve::Args),
    Resume(resume::Args),
    Schedules(schedules::Args),
    OpenclawCron(openclaw_cron::Args),
    Server(server::Args),
    Dev(dev::Args),
    Backup(backup::Args),
    Restore(restore::Args),
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    logging::init(cli.log);
    let runtime = match build_runtime() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(start(cli));
    systemd::flush(std::time::Duration::from_secs(1));
    code
}

/// One thread runs every task; `CLAWFACTORY_RUNTIME=multi-thread` gives tokio's thread pool
/// instead. One thread because the worker waits almost all the time and its CPU went to
/// handing tasks between threads: one thread took less CPU per workflow in the 500-burst
/// (docs/benchmark.md#cpu-per-workflow has the figures). Nothing may block it: systemd notifications have a
/// thread of their own (`service::systemd`, after the hang that doc records), as has the SDK core's
/// processing of workflow histories.
fn build_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = match std::env::var("CLAWFACTORY_RUNTIME").as_deref() {
        Ok("multi-thread") => tokio::runtime::Builder::new_multi_thread(),
        // `current-thread` (as `tests/current_thread.rs` sets it), unset, or anything else.
        _ => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build()
}

/// glibc's malloc serves blocks above 128 KiB with their own mmap and gives freed memory back
/// to the kernel as soon as 128 KiB are free at the top of the heap; the SDK's history and
/// HTTP/2 buffers crossed those lines on every workflow task, so the burst spent its CPU in
/// mmap, munmap and page faults. 4 MiB keeps them in the heap: less CPU per workflow, the same
/// peak RSS (docs/benchmark.md#cpu-per-workflow has the figures). Not done when `GLIBC_TUNABLES`
/// is set, so an operator's own malloc settings win.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        const THRESHOLD: libc::c_int = 4 << 20;
        #[allow(unsafe_code)] // mallopt has no safe wrapper.
        // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
        }
    }
}

async fn start(cli: Cli) -> ExitCode {
    if let Command::CheckConfig(check_config::Args { schema: true, .. }) = cli.command {
        return check_config::print_schema();
    }
    let mut source = config::Source::from_cli(cli.config);
    source.check_files = !matches!(
        cli.command,
        Command::CheckConfig(check_config::Args { offline: true, .. })
    );
    let config = match Config::load(&source, &config::ProcessEnv) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::from(2);
        }
    };
    // `dev` runs the echo protocol unless the config names one, as its instances do.
    let default_api = match cli.command {
        Command::Dev(_) => config::GatewayApi::Echo,
        _ => config::GatewayApi::HooksAgent,
    };
    let instances = Instances::resolve(&config, default_api);
    if let Err(err) = declared::check(&config, &instances) {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    match execute(cli.command, config, &instances).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `command`; `instances` are the config's, resolved once with the command's default
/// protocol.
async fn execute(command: Command, config: Config, instances: &Instances) -> Result<ExitCode> {
    match command {
        Command::Worker(_) => worker::run(&config, instances).await,
        Command::CheckConfig(args) => check_config::run(&config, instances, &args).await,
        Command::Run(args) => run::run(&config, instances, args).await,
        Command::Approve(args) => approve::run(&config, args).await,
        Command::Resume(args) => resume::run(&config, args).await,
        Command::Schedules(args) => schedules::run(config, instances, args).await,
        Command::OpenclawCron(args) => openclaw_cron::run(&config, instances, args).await,
        Command::Server(_) => server::run(&config).await,
        Command::Dev(args) => dev::run(config, instances, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Backup(args) => backup::run(&config, args).await,
        Command::Restore(args) => restore::run(&config, args).await,
    }
}
