//! Online backups of the appliance's Temporal dev server database, and restoring one.
//!
//! The dev server keeps everything (histories, open timers, schedules) in one SQLite file,
//! `[server] db_file`. A backup is taken with SQLite's online backup API while the server
//! runs and writes: the whole copy is made in one read transaction, so it is one consistent
//! moment of the database, never a file copy that could tear mid-write.
//!
//! That is only harmless to the server because it runs its database in WAL mode
//! (`super::supervisor::SQLITE_PRAGMAS`), where a reader never blocks the writer. In the
//! rollback-journal mode `temporal server start-dev` uses by default, any reader's lock makes
//! the server's commits fail at once with SQLITE_BUSY (it sets no busy timeout) and its
//! history shard goes "status unknown" for seconds; docs/backup.md has the measurements.
//!
//! A copy gets its final name, `temporal-<UTC time>.db`, only after it passed
//! `PRAGMA integrity_check` and shows the server's tables, so a file with that name is always
//! a whole, checked backup; then only the newest `keep` are kept. A restore refuses while any
//! process holds the database's locks, checks the file the same way, writes it beside the
//! database and swaps it in with one rename; the database it replaces, WAL included, is kept
//! in a directory beside it, never deleted.
//!
//! One file per step: `take`, `restore`, `verify` (the check both run), `names` (what a
//! backup is called, and pruning), `copy` (the online copy both make) and `lock` (who has the
//! database open, which a restore asks first).

mod copy;
mod lock;
mod names;
mod restore;
mod take;
mod verify;

pub use lock::lock_holder;
pub use names::{backup_name, is_backup_name, list, prune};
pub use restore::{Restored, restore};
pub use take::{Taken, take};
pub use verify::{Contents, SERVER_TABLES, verify};

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};
use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The WAL, the WAL index and the rollback journal: what makes up the database with its file.
const SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// `.<name>.<tag>` beside `path`: hidden, and never a backup name, so never pruned.
fn hidden_beside(path: &Path, tag: &str) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    parent_dir(path).join(format!(".{name}.{tag}"))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

fn open_read_only(path: &Path) -> Result<Connection> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("cannot open {}", path.display()))
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot sync {}", path.display()))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("cannot sync the directory {}", dir.display()))
}

/// A database with the server's tables and one namespace, as a fixture for what the
/// checks look at (the real server's own databases are tests/backup.rs's part).
#[cfg(test)]
fn fake_server_db(path: &Path, journal_mode: &str) -> Connection {
    let conn = Connection::open(path).unwrap();
    conn.pragma_update_and_check(None, "journal_mode", journal_mode, |_| Ok(()))
        .unwrap();
    for table in SERVER_TABLES {
        conn.execute(
            &format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, v TEXT)"),
            [],
        )
        .unwrap();
    }
    conn.execute("INSERT INTO namespaces (v) VALUES ('default')", [])
        .unwrap();
    conn
}
