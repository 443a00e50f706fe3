//! `[http]`: where `http` steps may make the worker go (the policy itself, and why its default
//! is what it is, is in `crate::http::policy`).

use super::declared::{Declared, StepDecl};
use crate::http::policy::{AllowRule, Policy};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Destinations allowed even in special-purpose ranges (loopback, link-local, private,
    /// ...): URL prefixes (`"http://nas.lan/api/"`), `host[:port]` (`"127.0.0.1:8080"`), or
    /// networks (`"10.0.0.0/8"`); no wildcards.
    #[schemars(with = "Vec<String>")]
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

    /// The declared `http` steps that this policy will refuse, each as one line naming the
    /// workflow, the step and why — as far as the URL alone tells: a literal address or
    /// `localhost`. (A name is resolved only when the step runs; a templated URL is known only
    /// then.) Runs started before an upgrade that brought the policy meet it at that step.
    pub fn refused_declared_steps(&self, declared: &Declared) -> Vec<String> {
        let policy = self.policy();
        let mut refused = Vec::new();
        for (name, workflow) in &declared.0 {
            let mut steps: Vec<&StepDecl> =
                workflow.steps.iter().chain(&workflow.on_failure).collect();
            while let Some(step) = steps.pop() {
                steps.extend(&step.steps);
                let Some(url) = step.url.as_deref().filter(|url| !url.contains("{{")) else {
                    continue;
                };
                if let Some(refusal) =
                    known_address(url).and_then(|(url, address)| policy.check(&url, address).err())
                {
                    let id = step.id.as_deref().unwrap_or("(no id)");
                    refused.push(format!(
                        "declared.{name} step {id}: http to {url} will be refused: {refusal}"
                    ));
                }
            }
        }
        refused.sort();
        refused
    }

    /// What the worker says once at start: which destinations `http` steps may not reach.
    pub fn describe_refusals(&self) -> String {
        let allowed: Vec<String> = self.allow.iter().map(ToString::to_string).collect();
        format!(
            "http steps may not reach loopback, private, link-local or other special-purpose \
             addresses{} unless [http] allow lists them (allow = [{}])",
            if self.allow_public {
                ""
            } else {
                ", nor public ones (http.allow_public = false),"
            },
            allowed.join(", ")
        )
    }
}

/// The URL and the address it names, when the text alone says which.
fn known_address(url: &str) -> Option<(reqwest::Url, IpAddr)> {
    let url = reqwest::Url::parse(url).ok()?;
    let host = url.host_str()?.trim_matches(['[', ']']);
    let address = match host.parse::<IpAddr>() {
        Ok(address) => address,
        Err(_) if host.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Err(_) => return None,
    };
    Some((url, address))
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

    const DECLARED: &str = r#"
[[declared.digest.steps]]
id = "both"
type = "parallel"

  [[declared.digest.steps.steps]]
  id = "local"
  type = "http"
  url = "http://127.0.0.1:9/notify"

  [[declared.digest.steps.steps]]
  id = "by-name"
  type = "http"
  url = "http://localhost:9/notify"

[[declared.digest.steps]]
id = "public"
type = "http"
url = "https://93.184.215.14/hook"

[[declared.digest.steps]]
id = "templated"
type = "http"
url = "http://{{ input.host }}/hook"

[[declared.digest.steps]]
id = "resolved-when-run"
type = "http"
url = "https://hooks.example.org/x"

[[declared.digest.on_failure]]
id = "alarm"
type = "http"
url = "http://[::1]:8080/alarm"
"#;

    #[test]
    fn declared_http_steps_to_special_addresses_are_named_before_they_run() {
        let c = load_text(DECLARED, &[]).unwrap();
        let refused = c.http.refused_declared_steps(&c.declared);
        let steps: Vec<&str> = refused
            .iter()
            .map(|line| line.split(':').next().unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                "declared.digest step alarm",
                "declared.digest step by-name",
                "declared.digest step local",
            ],
            "{refused:#?}"
        );
        assert!(
            refused[2].contains("127.0.0.1, which is loopback"),
            "{refused:#?}"
        );

        let allowed = load_text(
            &format!("[http]\nallow = [\"127.0.0.1:9\", \"localhost:9\", \"::1/128\"]\n{DECLARED}"),
            &[],
        )
        .unwrap();
        assert!(
            allowed
                .http
                .refused_declared_steps(&allowed.declared)
                .is_empty()
        );
    }
}
