//! Who has the database open: SQLite's POSIX locks, read with `F_GETLK`, so a restore can
//! refuse while the server (or anyone's `sqlite3`) still uses the file.

use super::with_suffix;
use anyhow::{Context, Result};
use std::fs::File;
use std::io::ErrorKind;
use std::path::Path;

/// The pid of a process holding SQLite's locks on `db`, if any. Every connection to a
/// database in WAL mode holds a shared lock on the WAL index's "dead man switch" byte and on
/// the database file as long as it is open; a rollback-journal connection holds the file's
/// lock bytes while it reads or writes. `F_GETLK` reports such a POSIX lock and its owner
/// without taking one.
#[allow(unsafe_code)] // F_GETLK through libc: std has no way to ask who holds a lock.
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
