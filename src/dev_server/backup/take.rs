//! Taking a backup: copy online into a hidden file, check it, sync it, and only then give it
//! its backup name; then prune to the newest `keep`.

use super::copy::copy_online;
use super::names::{prune, unused_name};
use super::verify::{Contents, verify};
use super::{hidden_beside, sync_dir, sync_file};
use anyhow::{Context, Result, bail};
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One backup taken.
#[derive(Debug)]
pub struct Taken {
    pub path: PathBuf,
    pub bytes: u64,
    /// The whole backup: copy, check, sync, rename.
    pub took: Duration,
    /// The copy alone: at most this long was a read transaction open on the server's database.
    pub copying: Duration,
    pub contents: Contents,
    /// How often the database was locked and the copy retried.
    pub busy_retries: u32,
    /// Older backups removed to keep `keep`.
    pub removed: Vec<PathBuf>,
}

/// Copies `db` (while its server runs) into `dir` as `temporal-<UTC time>.db`, checks the
/// copy, then removes all but the newest `keep` backups there.
pub fn take(db: &Path, dir: &Path, keep: usize) -> Result<Taken> {
    if !db.is_file() {
        bail!(
            "no database at {}: nothing to back up (is [server] db_file right, and has the \
             server run once?)",
            db.display()
        );
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the backup directory {}", dir.display()))?;
    let path = unused_name(dir)?;
    let started = Instant::now();
    let partial = hidden_beside(&path, &format!("partial-{}", std::process::id()));
    let checked = copy_online(db, &partial).and_then(|retries| {
        let copying = started.elapsed();
        let contents = verify(&partial)?;
        sync_file(&partial)?;
        Ok((retries, copying, contents))
    });
    let (busy_retries, copying, contents) = match checked {
        Ok(checked) => checked,
        Err(err) => {
            let _ = fs::remove_file(&partial);
            return Err(err);
        }
    };
    fs::rename(&partial, &path)
        .with_context(|| format!("cannot name the backup {}", path.display()))?;
    sync_dir(dir)?;
    let bytes = fs::metadata(&path)?.len();
    let took = started.elapsed();
    let removed = prune(dir, keep)?;
    Ok(Taken {
        path,
        bytes,
        took,
        copying,
        contents,
        busy_retries,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::super::names::is_backup_name;
    use super::super::{fake_server_db, open_read_only, with_suffix};
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_backup_of_a_wal_database_is_one_checked_self_contained_file() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("temporal.db");
        let live = fake_server_db(&db, "wal");
        live.execute("INSERT INTO executions (v) VALUES ('run-1')", [])
            .unwrap();
        // Held open, as the server holds it: the last rows are still only in the WAL.
        assert!(with_suffix(&db, "-wal").metadata().unwrap().len() > 0);
        let taken = take(&db, &dir.path().join("backups"), 7).unwrap();
        assert_eq!(
            taken.contents,
            Contents {
                namespaces: 1,
                executions: 1
            }
        );
        assert!(is_backup_name(
            &taken.path.file_name().unwrap().to_string_lossy()
        ));
        assert_eq!(fs::metadata(&taken.path).unwrap().mode() & 0o777, 0o600);
        let copy = open_read_only(&taken.path).unwrap();
        let mode: String = copy
            .pragma_query_value(None, "journal_mode", |row| row.get(0))
            .unwrap();
        assert_eq!(mode, "delete");
        assert!(!with_suffix(&taken.path, "-wal").exists());
        let leftovers: Vec<_> = fs::read_dir(dir.path().join("backups"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    }
}
