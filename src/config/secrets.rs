//! Secrets and other files the config points at, read with care: within a size limit (a path
//! pointing at `/dev/zero` or a log file must not make the worker read forever), with a warning
//! when a token is readable by everyone, and never from the TOML itself.
//!
//! A secret comes from its `*_file` key, else the systemd credential (`LoadCredential=`, read
//! from `$CREDENTIALS_DIRECTORY`), else — for the default instance only — the reference
//! worker's environment variable.

use super::Env;
use crate::secret::Secret;
use anyhow::{Context, Result, bail};
use std::path::Path;

/// The systemd credential name of the gateway token.
pub const GATEWAY_TOKEN_CREDENTIAL: &str = "gateway-token";
/// The systemd credential name of the hooks token (a different secret from the gateway token).
pub const HOOKS_TOKEN_CREDENTIAL: &str = "hooks-token";
/// The systemd credential name of a Temporal Cloud style API key.
pub const TEMPORAL_API_KEY_CREDENTIAL: &str = "temporal-api-key";
/// The systemd credential name of the mTLS client's private key.
pub const TEMPORAL_CLIENT_KEY_CREDENTIAL: &str = "temporal-client-key";

pub(super) const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
pub(super) const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// One OpenClaw instance's two tokens (not interchangeable: OpenClaw answers 401).
#[derive(Debug, Clone, Default)]
pub struct InstanceTokens {
    /// `gateway.auth.token`: chat completions, admin RPC, cron-fire.
    pub gateway: Option<Secret>,
    /// `hooks.token`: `/hooks/agent`.
    pub hooks: Option<Secret>,
}

/// A secret from its file, else the systemd credential, else the environment variable.
pub(super) fn resolve_secret(
    file: Option<&Path>,
    credential: &str,
    env_var: Option<&str>,
    env: &dyn Env,
) -> Result<Option<Secret>> {
    if let Some(file) = file {
        return read_secret_file(file);
    }
    if let Some(dir) = env.var("CREDENTIALS_DIRECTORY") {
        let file = Path::new(&dir).join(credential);
        if file.exists() {
            return read_secret_file(&file);
        }
    }
    Ok(env_var.and_then(|name| env.var(name)).and_then(Secret::new))
}

pub(super) fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {} KiB: is it the right file?",
            limit / 1024
        )));
    }
    Ok(text)
}

fn read_secret_file(path: &Path) -> Result<Option<Secret>> {
    let text = read_text(path, MAX_SECRET_BYTES)
        .with_context(|| format!("cannot read secret file {}", path.display()))?;
    warn_if_readable_by_others(path);
    Ok(Secret::new(text))
}

/// A token anyone on the machine can read is a leak waiting to happen; say which file.
pub(super) fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    if metadata.permissions().mode() & 0o004 != 0 {
        tracing::warn!(
            file = %path.display(),
            "secret file is readable by every user; restrict it (chmod 600 {})",
            path.display()
        );
    }
}

/// Reads a PEM file and checks it looks like one, so a wrong path or a DER file is caught
/// by `check-config` instead of as an opaque TLS handshake failure.
pub fn read_pem(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        bail!("{} is not a PEM file (no -----BEGIN line)", path.display());
    }
    Ok(bytes)
}
