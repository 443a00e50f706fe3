//! `backup`: a consistent copy of the dev server's database, taken while it runs, checked,
//! named by UTC time; older copies beyond `[backup] keep` removed. The machinery is
//! `crate::dev_server::backup`; `clawfactory-temporal-backup.timer` runs this daily on the appliance.

use crate::config::Config;
use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use std::path::PathBuf;
use std::process::ExitCode;

/// Copy the dev server's database (`[server] db_file`) while it runs, check the copy and keep
/// the newest `[backup] keep`.
///
/// SQLite's online backup API takes the copy in one read transaction: one consistent moment,
/// while the server goes on writing. The copy must pass `PRAGMA integrity_check` and have the
/// server's tables before it is named `temporal-<UTC time>.db`. Prints its path, size and
/// what it holds.
#[derive(ClapArgs)]
pub struct Args {
    /// Write the backup here instead of `[backup] dir` (retention applies here too).
    #[arg(long, value_name = "DIR")]
    pub to: Option<PathBuf>,
}

pub async fn run(config: &Config, args: Args) -> Result<ExitCode> {
    let db = config.server.db_file.clone();
    let dir = args.to.unwrap_or_else(|| config.backup.dir.clone());
    let keep = config.backup.keep as usize;
    // SQLite blocks (for as long as the copy takes): off the async runtime's threads.
    let taken =
        tokio::task::spawn_blocking(move || crate::dev_server::backup::take(&db, &dir, keep))
            .await
            .context("the backup task failed")??;
    let line = format!(
        "backup {}: {:.1} MiB in {:.2} s (copy {:.2} s); integrity ok; {} namespace(s), {} execution(s)",
        taken.path.display(),
        taken.bytes as f64 / (1024.0 * 1024.0),
        taken.took.as_secs_f64(),
        taken.copying.as_secs_f64(),
        taken.contents.namespaces,
        taken.contents.executions,
    );
    println!("{line}");
    if taken.busy_retries > 0 {
        println!(
            "the database was locked; the copy was retried {} time(s)",
            taken.busy_retries
        );
    }
    for old in &taken.removed {
        println!("removed {} (keeping the newest {keep})", old.display());
    }
    Ok(ExitCode::SUCCESS)
}
