//! `[http]`: where `http` steps may make the worker go (the policy itself, and why its default
//! is what it is, is in `http_policy`).

use crate::http_policy::{AllowRule, Policy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Destinations allowed even in special-purpose ranges (loopback, link-local, private,
    /// ...): URL prefixes, `host[:port]`, or networks.
    pub allow: Vec<AllowRule>,
    /// Unlisted public addresses are allowed; `false`: only what `allow` lists.
    pub allow_public: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            allow_public: true,
        }
    }
}

impl HttpConfig {
    pub fn policy(&self) -> Policy {
        Policy::new(self.allow.clone(), self.allow_public)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::load_text;

    #[test]
    fn allow_entries_are_checked_at_load_naming_the_entry() {
        let c = load_text(
            "[http]\nallow = [\"127.0.0.1:8080\", \"http://nas.lan/api/\", \"10.0.0.0/8\"]\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.http.allow.len(), 3);
        assert!(c.http.allow_public);
        let err = format!(
            "{:#}",
            load_text("[http]\nallow = [\"ok.lan\", \"*.lan\"]\n", &[]).unwrap_err()
        );
        assert!(
            err.contains("http.allow[1]") && err.contains("wildcards are not supported"),
            "{err}"
        );
    }
}
