//! A secret string that cannot leak through `Debug`, `Display` or serialization by accident.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Empty values mean "no secret": the reference sends no Authorization header then.
    pub fn new(value: impl Into<String>) -> Option<Self> {
        let value = value.into();
        let trimmed = value.trim_end_matches(['\n', '\r']);
        (!trimmed.is_empty()).then(|| Secret(trimmed.to_owned()))
    }

    /// The only way to read the value: call sites that put it on the wire are easy to find.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("hunter2\n").unwrap();
        assert_eq!(s.expose(), "hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn empty_is_none() {
        assert!(Secret::new("").is_none());
        assert!(Secret::new("\n").is_none());
    }
}
