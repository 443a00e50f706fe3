//! Checks shared by every section: each names the key it checks (`gateway.timeout: must be
//! longer than 0s`), so an error points at the line to fix.

use anyhow::{Result, bail};
use std::time::Duration;

pub(super) fn non_empty(key: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        bail!("{key}: must not be empty");
    }
    Ok(())
}

pub(super) fn positive(key: &str, value: Duration) -> Result<()> {
    if value.is_zero() {
        bail!("{key}: must be longer than 0s");
    }
    Ok(())
}

pub(super) fn http_url(text: &str) -> Result<()> {
    let url = reqwest::Url::parse(text)
        .map_err(|err| anyhow::anyhow!("expected an http(s) URL, got {text:?} ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!("expected an http(s) URL with a host, got {text:?}");
    }
    Ok(())
}

/// `host:port` gets `http://`; an address that already has a scheme stays as it is.
pub(super) fn address_url(address: &str) -> String {
    if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    }
}

pub(super) fn temporal_address(text: &str) -> Result<()> {
    let url = reqwest::Url::parse(&address_url(text))
        .map_err(|err| anyhow::anyhow!("expected host:port, got {text:?} ({err})"))?;
    if url.host_str().is_none() || url.port_or_known_default().is_none() {
        bail!("expected host:port, got {text:?}");
    }
    Ok(())
}
