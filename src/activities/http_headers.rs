//! The headers of an `http` step: which names a step may set, how a value's
//! `{{ secrets.<name> }}` parts are filled in here — in the activity, from the worker's
//! `[secrets]` — and how every echo of those values is cut out of what the step returns.
//!
//! Why here and not in the workflow: the workflow's activity input is written to the run's
//! history, so it carries only the secret's name (`{"secret": "slack"}`); the value exists
//! only in this process, on the wire to the step's URL, and nowhere else.

use super::activity_error::non_retryable;
use crate::config::SecretFiles;
use crate::failure::FailureType;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use temporalio_sdk::activities::ActivityError;

/// One part of a header value, as the activity's input carries it: text (already rendered
/// by the workflow), or the name of a secret the worker fills in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeaderPart {
    Text(String),
    Secret { secret: String },
}

/// Headers a step may not set: the client writes them from the URL and body, and a `Host`
/// of the step's own would send the request to another site than the one the `[http]` policy
/// checked.
const REFUSED: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
    "expect",
];

/// More headers than this is surely a mistake.
pub const MAX_HEADERS: usize = 32;
/// A header value's longest, secrets filled in.
const MAX_VALUE_BYTES: usize = 8 * 1024;

/// A header name a step may set: an HTTP token, not one of the refused ones.
pub fn check_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    if !token {
        return Err(format!(
            "{name:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"
        ));
    }
    if REFUSED.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "{name:?} is set by the worker's HTTP client, not by a step (refused: {})",
            REFUSED.join(", ")
        ));
    }
    Ok(())
}

/// The names of a step's headers checked together: each valid, none twice in another case.
pub fn check_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for name in names {
        check_name(name)?;
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(format!("{name:?} is set twice (header names ignore case)"));
        }
    }
    if seen.len() > MAX_HEADERS {
        return Err(format!(
            "{} headers; a step may set at most {MAX_HEADERS}",
            seen.len()
        ));
    }
    Ok(())
}

/// The headers to send, and what to cut out of anything the step returns.
pub struct Resolved {
    pub headers: HeaderMap,
    pub redactor: Redactor,
}

/// Fills in the secrets and builds the header map; an error never shows a value.
pub fn resolve(
    headers: &BTreeMap<String, Vec<HeaderPart>>,
    secrets: &SecretFiles,
) -> Result<Resolved, ActivityError> {
    let invalid = |msg: String| non_retryable(FailureType::InvalidHttpRequest, msg);
    check_names(headers.keys().map(String::as_str))
        .map_err(|err| invalid(format!("headers: {err}")))?;
    let mut map = HeaderMap::new();
    let mut redactor = Redactor::default();
    for (name, parts) in headers {
        let mut value = String::new();
        let mut secret_names = Vec::new();
        for part in parts {
            match part {
                HeaderPart::Text(text) => value.push_str(text),
                HeaderPart::Secret { secret } => {
                    let read = secrets.read(secret).map_err(|err| {
                        non_retryable(
                            FailureType::SecretUnavailable,
                            format!("headers.{name}: {err}"),
                        )
                    })?;
                    value.push_str(read.expose());
                    redactor.add(secret, read.expose());
                    secret_names.push(secret.as_str());
                }
            }
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(invalid(format!(
                "headers.{name}: longer than {} KiB",
                MAX_VALUE_BYTES / 1024
            )));
        }
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            // The text part came from the workflow and may be shown; a secret may not.
            let what = match secret_names.as_slice() {
                [] => format!("{value:?}"),
                names => format!("the value with secret(s) {}", names.join(", ")),
            };
            invalid(format!(
                "headers.{name}: {what} is not valid header text (a line break or other control \
                 character?)"
            ))
        })?;
        header.set_sensitive(!secret_names.is_empty());
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("headers: {name:?} is not a header name")))?;
        map.insert(name, header);
    }
    Ok(Resolved {
        headers: map,
        redactor,
    })
}

/// Cuts secret values out of text: each becomes `[redacted:<name>]`.
#[derive(Debug, Default)]
pub struct Redactor {
    /// (value, name), longest value first so a secret that contains another goes whole.
    secrets: Vec<(String, String)>,
}

/// A value cut off at the end of a text is cut out too from this many characters on: fewer
/// would match ordinary text too often to be worth it.
const MIN_TAIL: usize = 4;

impl Redactor {
    fn add(&mut self, name: &str, value: &str) {
        if !self.secrets.iter().any(|(v, _)| v == value) {
            self.secrets.push((value.to_owned(), name.to_owned()));
            self.secrets
                .sort_by_key(|(value, _)| std::cmp::Reverse(value.len()));
        }
    }

    /// Every whole occurrence, and a start of a value at the very end (where a response was
    /// cut off, or a result shortened).
    pub fn redact(&self, text: &str) -> String {
        // The cut-off end first: a shorter secret inside it must not break it up.
        let mut out = text.to_owned();
        for (value, name) in &self.secrets {
            let longest = (MIN_TAIL..value.len())
                .rev()
                .filter(|&n| value.is_char_boundary(n))
                .find(|&n| out.ends_with(&value[..n]));
            if let Some(n) = longest {
                out.truncate(out.len() - n);
                out.push_str(&format!("[redacted:{name}]"));
                break;
            }
        }
        for (value, name) in &self.secrets {
            out = out.replace(value.as_str(), &format!("[redacted:{name}]"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_names_are_tokens_and_the_clients_own_are_refused() {
        for ok in ["Authorization", "X-Title", "content-type", "Priority"] {
            check_name(ok).unwrap();
        }
        for (bad, expected) in [
            ("", "is not a header name"),
            ("X Title", "is not a header name"),
            ("X:Title", "is not a header name"),
            ("Host", "is set by the worker's HTTP client"),
            ("content-LENGTH", "is set by the worker's HTTP client"),
            ("Transfer-Encoding", "refused: host, content-length"),
        ] {
            let err = check_name(bad).unwrap_err();
            assert!(err.contains(expected), "{bad:?}: {err}");
        }
        let err = check_names(["Title", "title"]).unwrap_err();
        assert!(err.contains("\"title\" is set twice"), "{err}");
    }

    #[test]
    fn every_echo_of_a_secret_is_cut_out_whole_or_cut_off() {
        let mut redactor = Redactor::default();
        redactor.add("slack", "xoxb-123456");
        redactor.add("short", "xoxb");
        let text = "auth: Bearer xoxb-123456, again xoxb-123456; short xoxb.";
        assert_eq!(
            redactor.redact(text),
            "auth: Bearer [redacted:slack], again [redacted:slack]; short [redacted:short]."
        );
        assert_eq!(
            redactor.redact("cut off at Bearer xoxb-12"),
            "cut off at Bearer [redacted:slack]"
        );
        assert_eq!(redactor.redact("nothing here"), "nothing here");
    }

    #[test]
    fn a_secret_that_cannot_be_read_or_sent_is_named_without_its_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad"), "s3cr3t\nvalue").unwrap();
        let config = crate::config::Config::parse(&format!(
            "[secrets]\nbad = {{ file = \"{}\" }}\n",
            dir.path().join("bad").display()
        ))
        .unwrap();
        let files = config.secrets.files(&crate::config::ProcessEnv);
        let headers = |secret: &str| {
            BTreeMap::from([(
                "Authorization".to_owned(),
                vec![
                    HeaderPart::Text("Bearer ".into()),
                    HeaderPart::Secret {
                        secret: secret.into(),
                    },
                ],
            )])
        };
        let err = format!("{:?}", resolve(&headers("bad"), &files).err().unwrap());
        assert!(
            err.contains("the value with secret(s) bad") && !err.contains("s3cr3t"),
            "{err}"
        );
        let err = format!("{:?}", resolve(&headers("nope"), &files).err().unwrap());
        assert!(
            err.contains("SecretUnavailable") && err.contains("nope"),
            "{err}"
        );
    }
}
