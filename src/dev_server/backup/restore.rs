//! Restoring a backup: refuse while any process holds the database's locks, check the file,
//! stage a checked copy beside the database with its owner and mode, set the database it
//! replaces (WAL included) aside in a directory of its own, and swap the copy in with one
//! rename.

use super::copy::copy_online;
use super::lock::lock_holder;
use super::names::utc_stamp;
use super::verify::{Contents, verify};
use super::{SIDECARS, hidden_beside, parent_dir, sync_dir, sync_file, with_suffix};
use anyhow::{Context, Result, bail};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// One restore done.
#[derive(Debug)]
pub struct Restored {
    pub contents: Contents,
    /// Where the database that was replaced went (with its WAL), if there was one.
    pub replaced: Option<PathBuf>,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Puts the backup `file` in place of `db`, which no process may have open. The replaced
/// database and its WAL are moved to `<db>.replaced-<UTC time>/`.
pub fn restore(file: &Path, db: &Path) -> Result<Restored> {
    let dir = parent_dir(db);
    if !dir.is_dir() {
        bail!(
            "the data directory {} does not exist: create it for the server's user first (the \
             Debian package and the NixOS module create theirs)",
            dir.display()
        );
    }
    if let Some(pid) = lock_holder(db)? {
        bail!(
            "{} is open in process {pid} ({}): stop the Temporal dev server first (under \
             systemd: systemctl stop clawfactory-temporal-worker clawfactory-temporal)",
            db.display(),
            process_name(pid)
        );
    }
    if same_file(file, db) {
        bail!(
            "{} is the database itself, not a backup of it",
            file.display()
        );
    }
    verify(file).with_context(|| format!("{} cannot be restored", file.display()))?;
    let (uid, gid, mode) = ownership(db, &dir)?;
    let staged = hidden_beside(db, &format!("restoring-{}", std::process::id()));
    let contents = stage(file, &staged, uid, gid, mode).inspect_err(|_| {
        let _ = fs::remove_file(&staged);
    })?;
    let replaced = set_aside(db)?;
    fs::rename(&staged, db)
        .with_context(|| format!("cannot move the restored database to {}", db.display()))?;
    sync_dir(&dir)?;
    Ok(Restored {
        contents,
        replaced,
        uid,
        gid,
        mode,
    })
}

/// Writes the backup `file` to `staged` with the database's owner and mode, checked and on disk.
fn stage(file: &Path, staged: &Path, uid: u32, gid: u32, mode: u32) -> Result<Contents> {
    match fs::remove_file(staged) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(err).with_context(|| format!("cannot remove {}", staged.display())),
    }
    copy_online(file, staged)?;
    let contents = verify(staged)?;
    let meta = fs::metadata(staged)?;
    if (meta.uid(), meta.gid()) != (uid, gid) {
        std::os::unix::fs::chown(staged, Some(uid), Some(gid)).with_context(|| {
            format!(
                "cannot give {} to uid {uid} gid {gid}, the database's owner (run the restore as root)",
                staged.display()
            )
        })?;
    }
    fs::set_permissions(staged, fs::Permissions::from_mode(mode))?;
    sync_file(staged)?;
    Ok(contents)
}

/// The owner and mode a restored database gets: those of the one it replaces, else the data
/// directory's owner with mode 0600 (what the server unit's `UMask=0077` gives its files).
fn ownership(db: &Path, dir: &Path) -> Result<(u32, u32, u32)> {
    match fs::metadata(db) {
        Ok(meta) => Ok((meta.uid(), meta.gid(), meta.mode() & 0o777)),
        Err(err) if err.kind() == ErrorKind::NotFound => {
            let meta =
                fs::metadata(dir).with_context(|| format!("cannot stat {}", dir.display()))?;
            Ok((meta.uid(), meta.gid(), 0o600))
        }
        Err(err) => Err(err).with_context(|| format!("cannot stat {}", db.display())),
    }
}

/// Moves the database and its WAL, WAL index and journal into `<db>.replaced-<UTC time>/`,
/// under their own names, so that set opens as it was. The database file itself is
/// hard-linked there first: until the restored file is renamed over it, `db` stays whole.
fn set_aside(db: &Path) -> Result<Option<PathBuf>> {
    let sidecars: Vec<PathBuf> = SIDECARS
        .iter()
        .map(|suffix| with_suffix(db, suffix))
        .filter(|path| path.symlink_metadata().is_ok())
        .collect();
    let has_db = db.symlink_metadata().is_ok();
    if !has_db && sidecars.is_empty() {
        return Ok(None);
    }
    let aside = with_suffix(db, &format!(".replaced-{}", utc_stamp(SystemTime::now())));
    let aside = (1..)
        .map(|n| match n {
            1 => aside.clone(),
            n => with_suffix(&aside, &format!("-{n}")),
        })
        .find(|candidate| !candidate.exists())
        .expect("an unused name");
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&aside)
        .with_context(|| format!("cannot create {}", aside.display()))?;
    let keep = |path: &Path| aside.join(path.file_name().unwrap_or_default());
    // A file system without hard links: moved instead, so until the rename `db` is absent.
    if has_db && fs::hard_link(db, keep(db)).is_err() {
        fs::rename(db, keep(db)).with_context(|| format!("cannot move {} aside", db.display()))?;
    }
    for sidecar in &sidecars {
        fs::rename(sidecar, keep(sidecar))
            .with_context(|| format!("cannot move {} aside", sidecar.display()))?;
    }
    sync_dir(&aside)?;
    sync_dir(&parent_dir(db))?;
    Ok(Some(aside))
}

fn process_name(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => (a.dev(), a.ino()) == (b.dev(), b.ino()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake_server_db;
    use super::*;

    #[test]
    fn restore_puts_a_checked_copy_in_place_and_keeps_the_replaced_database_with_its_wal_aside() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("temporal.db");
        let backup = dir.path().join("backup.db");
        let source = fake_server_db(&backup, "delete");
        source
            .execute("INSERT INTO executions (v) VALUES ('from-the-backup')", [])
            .unwrap();
        drop(source);
        let old = fake_server_db(&db, "delete");
        old.execute("INSERT INTO executions (v) VALUES ('old-1'), ('old-2')", [])
            .unwrap();
        drop(old);
        // A WAL and index left by a killed server, which must not be applied to the new file.
        fs::write(with_suffix(&db, "-wal"), b"stale wal").unwrap();
        fs::write(with_suffix(&db, "-shm"), b"stale index").unwrap();
        fs::set_permissions(&db, fs::Permissions::from_mode(0o640)).unwrap();

        let restored = restore(&backup, &db).unwrap();
        assert_eq!(restored.contents.executions, 1);
        assert_eq!(restored.mode, 0o640);
        assert_eq!(fs::metadata(&db).unwrap().mode() & 0o777, 0o640);
        assert_eq!(verify(&db).unwrap().executions, 1);
        assert!(!with_suffix(&db, "-wal").exists() && !with_suffix(&db, "-shm").exists());

        let aside = restored.replaced.unwrap();
        assert!(aside.starts_with(dir.path()), "{}", aside.display());
        assert_eq!(verify(&aside.join("temporal.db")).unwrap().executions, 2);
        // (Opening that set above rewrote its WAL index; the WAL itself is as it was.)
        assert!(fs::read(aside.join("temporal.db-wal")).unwrap() == b"stale wal");
        assert!(aside.join("temporal.db-shm").exists());
        let hidden: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(hidden.is_empty(), "staging files left: {hidden:?}");

        // Into an empty data dir: the dir's owner, mode 0600, nothing set aside.
        let empty = tempfile::tempdir().unwrap();
        let fresh = empty.path().join("temporal.db");
        let restored = restore(&backup, &fresh).unwrap();
        assert!(restored.replaced.is_none());
        assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o777, 0o600);
        assert_eq!(
            fs::metadata(&fresh).unwrap().uid(),
            fs::metadata(empty.path()).unwrap().uid()
        );
    }

    #[test]
    fn restore_refuses_a_broken_file_and_leaves_the_database_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("temporal.db");
        drop(fake_server_db(&db, "delete"));
        let before = fs::read(&db).unwrap();
        let junk = dir.path().join("junk.db");
        fs::write(&junk, b"SQLite format 3\0 but then nothing").unwrap();
        assert!(restore(&junk, &db).is_err());
        assert!(restore(&db, &db).is_err());
        assert!(restore(&dir.path().join("absent.db"), &db).is_err());
        assert_eq!(fs::read(&db).unwrap(), before);
        let entries = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(entries, 2, "nothing set aside or staged");
        let err = format!(
            "{:#}",
            restore(&db, &dir.path().join("gone/temporal.db")).unwrap_err()
        );
        assert!(
            err.contains("data directory") && err.contains("does not exist"),
            "{err}"
        );
    }
}
