//! `[backup]`: where `clawfactory-temporal backup` writes its copies of the dev server's
//! database, and how many it keeps. The copies live outside the server's data dir by default,
//! so wiping or replacing that dir (a restore, a fresh start) never takes them along.

use super::validate;
use anyhow::{Result, bail};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the appliance keeps its backups unless `[backup] dir` says otherwise.
pub const DEFAULT_BACKUP_DIR: &str = "/srv/clawfactory/backups";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Directory of the `temporal-<UTC time>.db` copies (`backup --to` overrides it).
    pub dir: PathBuf,
    /// How many copies to keep: after a backup, older ones beyond this many are removed.
    pub keep: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from(DEFAULT_BACKUP_DIR),
            keep: 7,
        }
    }
}

impl BackupConfig {
    pub(super) fn validate(&self) -> Result<()> {
        validate::non_empty("backup.dir", &self.dir.to_string_lossy())?;
        if self.keep == 0 {
            bail!("backup.keep: expected at least 1 (0 would remove the backup just taken)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::load_text;

    fn error_text(text: &str) -> String {
        format!("{:#}", load_text(text, &[]).unwrap_err())
    }

    #[test]
    fn backups_default_to_seven_copies_beside_the_data_dir_not_in_it() {
        let c = load_text("", &[]).unwrap();
        assert_eq!(
            c.backup.dir,
            std::path::Path::new("/srv/clawfactory/backups")
        );
        assert_eq!(c.backup.keep, 7);
        assert!(!c.backup.dir.starts_with(c.server.db_file.parent().unwrap()));
    }

    #[test]
    fn a_bad_backup_section_names_the_key() {
        let err = error_text("[backup]\nkeep = 0\n");
        assert!(err.contains("backup.keep: expected at least 1"), "{err}");
        let err = error_text("[backup]\ndir = \"\"\n");
        assert!(err.contains("backup.dir: must not be empty"), "{err}");
        let err = error_text("[backup]\nkeep = -1\n");
        assert!(err.contains("backup.keep"), "{err}");
        let err = error_text("[backup]\nkept = 3\n");
        assert!(err.contains("unknown field `kept`"), "{err}");
    }
}
