//! `restore`: put a backup in place of the dev server's database, which must be stopped. The
//! machinery is `crate::dev_server::backup`; docs/backup.md has the procedure under systemd.

use crate::config::Config;
use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use std::path::PathBuf;
use std::process::ExitCode;

/// Replace the dev server's database (`[server] db_file`) with a backup. The server must be
/// stopped.
///
/// Refuses while any process has the database open (under systemd:
/// `systemctl stop clawfactory-temporal-worker clawfactory-temporal` first). Checks the file
/// (integrity, the server's tables), writes it beside the database with the database's owner
/// and mode (else the data dir's owner, 0600), and renames it into place. The database it
/// replaces, WAL included, is moved to `<db_file>.replaced-<UTC time>/`, never deleted.
#[derive(ClapArgs)]
pub struct Args {
    /// The backup to restore, e.g. /srv/clawfactory/backups/temporal-20261130T031500Z.db.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub async fn run(config: &Config, args: Args) -> Result<ExitCode> {
    let db = config.server.db_file.clone();
    let file = args.file;
    let target = db.clone();
    let restored =
        tokio::task::spawn_blocking(move || crate::dev_server::backup::restore(&file, &target))
            .await
            .context("the restore task failed")??;
    let line = format!(
        "restored {} (owner {}:{}, mode {:o}); {} namespace(s), {} execution(s)",
        db.display(),
        restored.uid,
        restored.gid,
        restored.mode,
        restored.contents.namespaces,
        restored.contents.executions
    );
    println!("{line}");
    match &restored.replaced {
        Some(aside) => println!("the replaced database is in {}", aside.display()),
        None => println!("there was no database to replace"),
    }
    println!(
        "start the server again (under systemd: systemctl start clawfactory-temporal clawfactory-temporal-worker)"
    );
    Ok(ExitCode::SUCCESS)
}
