//! `[secrets.<name>]`: values `http` steps may put in a header (`{{ secrets.<name> }}`), each
//! named here by where it is read from — a file, or a systemd credential — never by value.
//!
//! Why the worker reads a secret only when a step sends it (and again for every request): the
//! workflow never sees the value, so it cannot reach a history (see
//! `docs/declared-workflows.md`, "Headers and secrets"); and a file rotated in place is picked up
//! without a restart. The worker still reads every secret once at start ([`SecretFiles::check`])
//! so a wrong path fails the start instead of the first run that needs it.

use super::Env;
use super::secrets::{MAX_SECRET_BYTES, read_text, warn_if_readable_by_others};
use crate::secret::Secret;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `[secrets]`: every secret `http` steps may reference, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$" }))]
pub struct StepSecrets(pub BTreeMap<String, SecretSource>);

/// Where one secret is read from: exactly one of `file` and `credential`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// A file holding the value (a final newline is dropped); it should be readable by the
    /// worker only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// A systemd credential of the worker's unit (`LoadCredential=<name>:<path>`), read from
    /// `$CREDENTIALS_DIRECTORY/<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl StepSecrets {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Names a template can read (`secrets.<name>` is a CEL field), one source each.
    pub fn validate(&self) -> Result<(), String> {
        for (name, source) in &self.0 {
            if !is_secret_name(name) {
                return Err(format!(
                    "secrets.{name:?}: a secret's name may use only letters, digits and '_', not \
                     start with a digit, and be at most 64 long (templates read it as secrets.<name>)"
                ));
            }
            match (&source.file, &source.credential) {
                (Some(_), Some(_)) => {
                    return Err(format!("secrets.{name}: set file or credential, not both"));
                }
                (None, None) => {
                    return Err(format!(
                        "secrets.{name}: set file (a path) or credential (a systemd credential name)"
                    ));
                }
                (None, Some(credential)) if !is_credential_name(credential) => {
                    return Err(format!(
                        "secrets.{name}.credential: {credential:?} is not a credential name \
                         (letters, digits, '.', '-', '_')"
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Each secret's file, a credential resolved against `$CREDENTIALS_DIRECTORY` as the
    /// process sees it now.
    pub fn files(&self, env: &dyn Env) -> SecretFiles {
        let credentials = env.var("CREDENTIALS_DIRECTORY");
        SecretFiles(
            self.0
                .iter()
                .map(|(name, source)| {
                    let place = match (&source.file, &source.credential, &credentials) {
                        (Some(file), _, _) => Ok(file.clone()),
                        (None, Some(credential), Some(dir)) => Ok(Path::new(dir).join(credential)),
                        (None, Some(credential), None) => Err(format!(
                            "credential {credential:?}, but $CREDENTIALS_DIRECTORY is not set (is \
                             the worker running under its systemd unit with LoadCredential=?)"
                        )),
                        (None, None, _) => Err("no source".to_owned()),
                    };
                    (name.clone(), place)
                })
                .collect(),
        )
    }
}

/// A secret's name: a CEL identifier, short.
fn is_secret_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

fn is_credential_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && name != "."
        && name != ".."
}

/// Where each secret is read from, resolved; the values are read on each use.
#[derive(Debug, Clone, Default)]
pub struct SecretFiles(BTreeMap<String, Result<PathBuf, String>>);

impl SecretFiles {
    /// The value, read now. The error names the secret and the file, never a value.
    pub fn read(&self, name: &str) -> Result<Secret, String> {
        let place = self.0.get(name).ok_or_else(|| {
            format!(
                "secret {name:?} is not in this worker's [secrets] (configured: {:?})",
                self.0.keys().collect::<Vec<_>>()
            )
        })?;
        let path = place
            .as_ref()
            .map_err(|why| format!("secret {name:?}: {why}"))?;
        let text = read_text(path, MAX_SECRET_BYTES)
            .map_err(|err| format!("secret {name:?}: cannot read {}: {err}", path.display()))?;
        Secret::new(text).ok_or_else(|| format!("secret {name:?}: {} is empty", path.display()))
    }

    /// Every secret read once, as the worker starts: the first that cannot be read, named.
    /// Warns about a file every user can read.
    pub fn check(&self) -> Result<(), String> {
        for (name, place) in &self.0 {
            self.read(name)?;
            if let Ok(path) = place {
                warn_if_readable_by_others(path);
            }
        }
        Ok(())
    }

    /// One line per secret for `check-config`: its name, where it comes from and whether it
    /// can be read now — never the value.
    pub fn describe(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(name, place)| {
                let from = match place {
                    Ok(path) => path.display().to_string(),
                    Err(why) => why.clone(),
                };
                let state = match self.read(name) {
                    Ok(_) => "readable".to_owned(),
                    Err(err) => format!("NOT readable: {err}"),
                };
                format!("# secret {name}: from {from}; {state}")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{env, load_text};

    #[test]
    fn a_secret_is_read_from_its_file_or_credential_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("slack"), "xoxb-file\n").unwrap();
        std::fs::write(dir.path().join("gh-token"), "ghp-cred").unwrap();
        let text = format!(
            "[secrets]\nslack = {{ file = \"{}\" }}\ngithub = {{ credential = \"gh-token\" }}\n",
            dir.path().join("slack").display()
        );
        let c = load_text(&text, &[]).unwrap();
        let creds = dir.path().to_str().unwrap();
        let files = c.secrets.files(&env(&[("CREDENTIALS_DIRECTORY", creds)]));
        assert_eq!(files.read("slack").unwrap().expose(), "xoxb-file");
        assert_eq!(files.read("github").unwrap().expose(), "ghp-cred");
        files.check().unwrap();
        let described = files.describe().join("\n");
        assert!(
            described.contains("# secret slack: from ") && described.contains("readable"),
            "{described}"
        );
        assert!(!described.contains("xoxb-file") && !described.contains("ghp-cred"));
        let err = files.read("matrix").unwrap_err();
        assert!(
            err.contains("\"matrix\" is not in this worker's [secrets]"),
            "{err}"
        );
    }

    #[test]
    fn an_unreadable_secret_is_named_with_its_file() {
        let c = load_text(
            "[secrets]\nslack = { file = \"/nonexistent/slack\" }\ngh = { credential = \"gh\" }\n",
            &[],
        )
        .unwrap();
        let files = c.secrets.files(&env(&[]));
        let err = files.check().unwrap_err();
        assert!(
            err.contains("secret \"gh\"") && err.contains("CREDENTIALS_DIRECTORY"),
            "{err}"
        );
        let err = files.read("slack").unwrap_err();
        assert!(err.contains("/nonexistent/slack"), "{err}");
        assert!(files.describe()[1].contains("NOT readable"));
    }

    #[test]
    fn bad_secret_declarations_name_the_key() {
        for (text, expected) in [
            (
                "[secrets]\n\"a-b\" = { file = \"/x\" }\n",
                "secrets.\"a-b\": a secret's name",
            ),
            ("[secrets]\n9x = { file = \"/x\" }\n", "secrets.\"9x\""),
            ("[secrets]\nx = {}\n", "secrets.x: set file"),
            (
                "[secrets]\nx = { file = \"/x\", credential = \"c\" }\n",
                "not both",
            ),
            (
                "[secrets]\nx = { credential = \"../c\" }\n",
                "secrets.x.credential",
            ),
            (
                "[secrets]\nx = { value = \"hunter2\" }\n",
                "unknown field `value`",
            ),
            ("[secrets]\nx = \"hunter2\"\n", "secrets.x"),
        ] {
            let err = format!("{:#}", load_text(text, &[]).unwrap_err());
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
