//! What a backup is called and which files are backups: `temporal-<UTC time>.db`, names that
//! sort as times do, and pruning that removes only files with such a name, oldest first.

use anyhow::{Context, Result, bail};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const NAME_PREFIX: &str = "temporal-";
const NAME_SUFFIX: &str = ".db";

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
pub(super) fn utc_stamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at)
        .to_string()
        .replace(['-', ':'], "")
}

/// A backup name in `dir` not taken yet: two backups in one second get the next second's.
pub(super) fn unused_name(dir: &Path) -> Result<PathBuf> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
