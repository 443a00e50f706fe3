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

use anyhow::{Context, Result, bail};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Tables every Temporal dev server database has: a file without them is not one.
pub const SERVER_TABLES: [&str; 7] = [
    "namespaces",
    "executions",
    "current_executions",
    "history_node",
    "history_tree",
    "timer_tasks",
    "executions_visibility",
];

const NAME_PREFIX: &str = "temporal-";
const NAME_SUFFIX: &str = ".db";
/// How long one attempt waits on a lock before SQLite reports SQLITE_BUSY. In WAL mode only
/// the server's recovery or a checkpoint that resets the log takes such a lock, briefly.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts before a backup or restore gives up on a locked database.
const ATTEMPTS: u32 = 4;
/// The WAL, the WAL index and the rollback journal: what makes up the database with its file.
const SIDECARS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// What a database holds, as counted by `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contents {
    pub namespaces: u64,
    /// Workflow executions the server keeps (open, and closed within their retention).
    pub executions: u64,
}

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

/// Checks that `path` is an intact Temporal dev server database and counts what it holds.
pub fn verify(path: &Path) -> Result<Contents> {
    let conn = open_read_only(path)?;
    check_integrity(&conn, path)?;
    check_tables(&conn, path)?;
    let contents = Contents {
        namespaces: count_rows(&conn, path, "namespaces")?,
        executions: count_rows(&conn, path, "executions")?,
    };
    if contents.namespaces == 0 {
        bail!(
            "{} has no namespace: not a database the server ever ran on",
            path.display()
        );
    }
    Ok(contents)
}

/// `PRAGMA integrity_check`: every page, index and constraint, `ok` or the problems found.
fn check_integrity(conn: &Connection, path: &Path) -> Result<()> {
    let problems = strings(conn, "PRAGMA integrity_check")
        .with_context(|| format!("{} is not a readable SQLite database", path.display()))?;
    if problems != ["ok"] {
        let shown: Vec<&str> = problems.iter().take(5).map(String::as_str).collect();
        bail!(
            "{}: integrity check failed ({} problems): {}",
            path.display(),
            problems.len(),
            shown.join("; ")
        );
    }
    Ok(())
}

fn check_tables(conn: &Connection, path: &Path) -> Result<()> {
    let tables = strings(conn, "SELECT name FROM sqlite_master WHERE type = 'table'")
        .with_context(|| format!("cannot list the tables of {}", path.display()))?;
    let missing: Vec<&str> = SERVER_TABLES
        .into_iter()
        .filter(|table| !tables.iter().any(|t| t == table))
        .collect();
    if !missing.is_empty() {
        bail!(
            "{} is not a Temporal dev server database: it has no table {}",
            path.display(),
            missing.join(", ")
        );
    }
    Ok(())
}

/// The first column of every row `sql` returns, as text.
fn strings(conn: &Connection, sql: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(sql)?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect()
}

fn count_rows(conn: &Connection, path: &Path, table: &str) -> Result<u64> {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get::<_, i64>(0)
    })
    .map(|n| n.max(0) as u64)
    .with_context(|| format!("cannot count the {table} of {}", path.display()))
}

/// `temporal-<UTC time>.db`, e.g. `temporal-20261130T031500Z.db`: names sort as times do.
pub fn backup_name(at: SystemTime) -> String {
    format!("{NAME_PREFIX}{}{NAME_SUFFIX}", utc_stamp(at))
}

/// Whether `name` is one `backup_name` makes (only those are ever pruned).
pub fn is_backup_name(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix(NAME_PREFIX)
        .and_then(|rest| rest.strip_suffix(NAME_SUFFIX))
    else {
        return false;
    };
    let bytes = stamp.as_bytes();
    bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8]
            .iter()
            .chain(&bytes[9..15])
            .all(u8::is_ascii_digit)
}

/// The backups in `dir`, oldest first.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)
        .with_context(|| format!("cannot read the backup directory {}", dir.display()))?
    {
        let entry = entry?;
        let is_ours = entry.file_name().to_str().is_some_and(is_backup_name);
        if is_ours && entry.file_type()?.is_file() {
            found.push(entry.path());
        }
    }
    found.sort();
    Ok(found)
}

/// Removes all but the newest `keep` backups in `dir`; other files are never touched.
pub fn prune(dir: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    let all = list(dir)?;
    let excess = all.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for old in &all[..excess] {
        match fs::remove_file(old) {
            Ok(()) => removed.push(old.clone()),
            // A backup running at the same time removed it first.
            Err(err) if err.kind() == ErrorKind::NotFound => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot remove {}", old.display()));
            }
        }
    }
    Ok(removed)
}

/// `YYYYMMDDTHHMMSSZ` in UTC: no `:` (awkward in file names), sortable as text.
fn utc_stamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "")
}

/// A backup name in `dir` not taken yet: two backups in one second get the next second's.
fn unused_name(dir: &Path) -> Result<PathBuf> {
    for _ in 0..3 {
        let now = SystemTime::now();
        let path = dir.join(backup_name(now));
        if !path.exists() {
            return Ok(path);
        }
        let into_second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        std::thread::sleep(Duration::from_nanos(1_000_000_000 - u64::from(into_second)));
    }
    bail!(
        "cannot find an unused backup name in {}: is the clock stuck?",
        dir.display()
    )
}

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

/// Copies the database at `source` into a new file `dest` (mode 0600) with SQLite's backup
/// API in one step, i.e. in one read transaction; retries while the database is locked.
/// Returns how often it retried.
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

fn copy_online(source: &Path, dest: &Path) -> Result<u32> {
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

/// The pid of a process holding SQLite's locks on `db`, if any. Every connection to a
/// database in WAL mode holds a shared lock on the WAL index's "dead man switch" byte and on
/// the database file as long as it is open; a rollback-journal connection holds the file's
/// lock bytes while it reads or writes. `F_GETLK` reports such a POSIX lock and its owner
/// without taking one.
pub fn lock_holder(db: &Path) -> Result<Option<i32>> {
    // SQLite's os_unix.c: PENDING_BYTE (1 GiB), then RESERVED_BYTE and 510 SHARED bytes; in
    // the WAL index, 8 lock bytes from offset 120 and the dead man switch at 128.
    const PENDING_BYTE: i64 = 0x4000_0000;
    let ranges = [
        (db.to_owned(), PENDING_BYTE, 512),
        (with_suffix(db, "-shm"), 120, 9),
    ];
    for (path, start, len) in ranges {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("cannot open {}", path.display())),
        };
        // SAFETY: a zeroed flock is a valid value; fcntl(F_GETLK) only fills it in.
        let mut lock: libc::flock = unsafe { std::mem::zeroed() };
        lock.l_type = libc::F_WRLCK as libc::c_short;
        lock.l_whence = libc::SEEK_SET as libc::c_short;
        lock.l_start = start;
        lock.l_len = len;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        // SAFETY: a valid open fd and a pointer to a live flock.
        if unsafe { libc::fcntl(fd, libc::F_GETLK, &mut lock) } == -1 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot query the locks on {}", path.display()));
        }
        if lock.l_type != libc::F_UNLCK as libc::c_short {
            return Ok(Some(lock.l_pid));
        }
    }
    Ok(None)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A database with the server's tables and one namespace, as a fixture for what the
    /// checks look at (the real server's own databases are tests/backup.rs's part).
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

    fn touch(dir: &Path, name: &str) {
        fs::write(dir.join(name), b"").unwrap();
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn backup_names_are_utc_times_that_sort_as_times_do() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(
            backup_name(at(1_796_008_500)),
            "temporal-20261130T031500Z.db"
        );
        let times = [
            0,
            59,
            60,
            3599,
            86_399,
            1_796_008_500,
            1_796_008_501,
            4_102_444_800,
        ];
        let named: Vec<String> = times.iter().map(|&t| backup_name(at(t))).collect();
        let mut sorted = named.clone();
        sorted.sort();
        assert_eq!(named, sorted);
        assert!(named.iter().all(|n| is_backup_name(n)), "{named:?}");
    }

    #[test]
    fn only_exact_backup_names_count_as_backups() {
        for name in [
            "temporal-20261130T031500Z.db.partial-12",
            ".temporal-20261130T031500Z.db.partial-12",
            "temporal-20261130T031500Z.db-wal",
            "temporal-20261130T0315Z.db",
            "temporal-2026113xT031500Z.db",
            "temporal.db",
            "notes.txt",
            "Temporal-20261130T031500Z.db",
        ] {
            assert!(!is_backup_name(name), "{name}");
        }
    }

    #[test]
    fn pruning_keeps_the_newest_backups_and_never_touches_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "temporal-20261128T031500Z.db",
            "temporal-20261130T031500Z.db",
            "temporal-20261126T031500Z.db",
            "temporal-20261129T031500Z.db",
            "temporal-20261127T031500Z.db",
            ".temporal-20261125T031500Z.db.partial-7",
            "temporal-20261101T000000Z.db.keep-me",
            "temporal.db",
        ] {
            touch(dir.path(), name);
        }
        fs::create_dir(dir.path().join("temporal-20261101T000000Z.db")).unwrap();
        let removed = prune(dir.path(), 3).unwrap();
        assert_eq!(
            names(&removed),
            [
                "temporal-20261126T031500Z.db",
                "temporal-20261127T031500Z.db"
            ]
        );
        assert_eq!(
            names(&list(dir.path()).unwrap()),
            [
                "temporal-20261128T031500Z.db",
                "temporal-20261129T031500Z.db",
                "temporal-20261130T031500Z.db"
            ]
        );
        for other in [
            ".temporal-20261125T031500Z.db.partial-7",
            "temporal-20261101T000000Z.db.keep-me",
            "temporal.db",
            "temporal-20261101T000000Z.db",
        ] {
            assert!(dir.path().join(other).exists(), "{other} was removed");
        }
        assert!(prune(dir.path(), 3).unwrap().is_empty());
        assert_eq!(prune(dir.path(), 1).unwrap().len(), 2);
    }

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

    #[test]
    fn verify_refuses_what_is_not_an_intact_server_database() {
        let dir = tempfile::tempdir().unwrap();
        let text = dir.path().join("notes.db");
        fs::write(&text, "not a database at all, just some text ".repeat(200)).unwrap();
        let err = format!("{:#}", verify(&text).unwrap_err());
        assert!(err.contains("not a readable SQLite database"), "{err}");

        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute("CREATE TABLE executions (id INTEGER)", [])
            .unwrap();
        let err = format!("{:#}", verify(&other).unwrap_err());
        assert!(
            err.contains("not a Temporal dev server database")
                && err.contains("namespaces")
                && !err.contains(" executions,"),
            "{err}"
        );

        // A page of the executions table overwritten: the file opens, the check finds it.
        let broken = dir.path().join("broken.db");
        let conn = fake_server_db(&broken, "delete");
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) \
             INSERT INTO executions (v) SELECT printf('run-%05d', i) FROM n",
            [],
        )
        .unwrap();
        let root: i64 = conn
            .query_row(
                "SELECT rootpage FROM sqlite_master WHERE name = 'executions'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        drop(conn);
        let mut bytes = fs::read(&broken).unwrap();
        let page = 4096 * (root as usize - 1);
        bytes[page..page + 64].fill(0xA5);
        fs::write(&broken, bytes).unwrap();
        let err = format!("{:#}", verify(&broken).unwrap_err());
        assert!(
            err.contains("integrity check failed") || err.contains("malformed"),
            "{err}"
        );
    }

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
