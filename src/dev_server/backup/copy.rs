//! The online copy: SQLite's backup API copies the whole database in one read transaction
//! while the server keeps writing (WAL mode: the reader never blocks it), retrying while the
//! database is locked. Taking a backup and staging a restore both copy this way.

use super::open_read_only;
use anyhow::{Context, Result, bail};
use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

/// How long one attempt waits on a lock before SQLite reports SQLITE_BUSY. In WAL mode only
/// the server's recovery or a checkpoint that resets the log takes such a lock, briefly.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts before a backup or restore gives up on a locked database.
const ATTEMPTS: u32 = 4;

/// Copies the database at `source` into a new file `dest` (mode 0600) with SQLite's backup
/// API in one step, i.e. in one read transaction; retries while the database is locked.
/// Returns how often it retried.
pub(super) fn copy_online(source: &Path, dest: &Path) -> Result<u32> {
    let from = open_read_only(source)?;
    from.busy_timeout(BUSY_TIMEOUT)?;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .with_context(|| format!("cannot create {}", dest.display()))?;
    let mut to =
        Connection::open(dest).with_context(|| format!("cannot open {}", dest.display()))?;
    let mut retries = 0;
    {
        let backup = Backup::new(&from, &mut to)
            .with_context(|| format!("cannot start a backup of {}", source.display()))?;
        loop {
            let step = backup
                .step(-1)
                .map_err(|err| copy_failed(err, source, dest))?;
            match step {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked if retries + 1 < ATTEMPTS => {
                    retries += 1;
                    tracing::warn!(retries, db = %source.display(), "database locked; retrying");
                    std::thread::sleep(Duration::from_millis(250) * 2u32.pow(retries - 1));
                }
                locked => bail!(
                    "{} stayed locked ({locked:?}) through {ATTEMPTS} attempts of up to {:?} each",
                    source.display(),
                    BUSY_TIMEOUT
                ),
            }
        }
    }
    // The copy carries the source's WAL flag; a backup is one self-contained file.
    let mode: String =
        to.pragma_update_and_check(None, "journal_mode", "DELETE", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("delete") {
        bail!(
            "{}: journal mode stayed {mode:?}, expected delete",
            dest.display()
        );
    }
    to.close()
        .map_err(|(_, err)| err)
        .with_context(|| format!("cannot close {}", dest.display()))?;
    Ok(retries)
}

/// SQLite says "database or disk is full" for the copy it writes; which disk, the operator
/// needs to know: the source is only read.
fn copy_failed(err: rusqlite::Error, source: &Path, dest: &Path) -> anyhow::Error {
    let full = err.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull);
    let err = anyhow::Error::new(err);
    match (full, dest.parent()) {
        (true, Some(dir)) => err.context(format!(
            "copying {} failed: no space left on the device of {} (nothing was kept there)",
            source.display(),
            dir.display()
        )),
        _ => err.context(format!("copying {} failed", source.display())),
    }
}
