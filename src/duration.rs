//! Durations as people write them in ClawFactory configs and workflow definitions.
//!
//! One grammar everywhere: a whole number and a unit, `90s`, `5m`, `2h` (spaces between
//! number and unit allowed, unit case-insensitive). It is the reference worker's `delay`
//! grammar, so definitions that ran there parse here, and config uses the same words.

use std::time::Duration;

/// The longest duration anything accepts: 10 years. Longer ones are typos, and durations
/// become Temporal timers and timeouts, which must fit protobuf and the server's int64
/// nanoseconds (a 2^63 s delay used to panic the workflow task that started its timer).
pub const MAX: Duration = Duration::from_secs(87_600 * 3600);

/// What a duration must look like, for error messages.
pub const EXPECTED: &str = "a whole number followed by s, m or h (e.g. \"90s\", \"5m\", \"2h\")";

/// Parses `<digits><s|m|h>`. The error names the text and the expected form.
pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    let unit = unit.trim_start();
    let invalid = || format!("invalid duration {text:?}: expected {EXPECTED}");
    if number.is_empty() {
        return Err(invalid());
    }
    let seconds_per_unit = match unit.to_ascii_lowercase().as_str() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(invalid()),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: number too large"))?;
    value
        .checked_mul(seconds_per_unit)
        .map(Duration::from_secs)
        .filter(|duration| *duration <= MAX)
        .ok_or_else(|| {
            format!(
                "invalid duration {text:?}: longer than the maximum of {} (10 years)",
                format(MAX)
            )
        })
}

/// Formats a duration in the same grammar (largest exact unit), so printed config re-parses.
pub fn format(duration: Duration) -> String {
    let secs = duration.as_secs();
    if secs != 0 && secs.is_multiple_of(3600) {
        format!("{}h", secs / 3600)
    } else if secs != 0 && secs.is_multiple_of(60) {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// Serde adapter for `Duration` fields written as duration strings.
pub mod serde_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Serde adapter for `Option<Duration>` fields written as duration strings.
pub mod serde_text_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => super::serde_text::serialize(value, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_reference_grammar() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse(" 3 M "), Ok(Duration::from_secs(180)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_everything_else_with_the_text_in_the_error() {
        for bad in [
            "", "s", "10", "10d", "1.5h", "-1s", "10sec", "1h30m", "ten s",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert!(
            parse("99999999999999999999h")
                .unwrap_err()
                .contains("too large")
        );
        for long in ["18446744073709551615h", "9223372036854775808s", "87601h"] {
            let err = parse(long).unwrap_err();
            assert!(err.contains("longer than the maximum of 87600h"), "{err}");
        }
        assert_eq!(parse("87600h"), Ok(MAX));
    }

    #[test]
    fn format_round_trips() {
        for secs in [0, 1, 59, 60, 90, 3600, 7200, 5400] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse(&format(d)), Ok(d));
        }
        assert_eq!(format(Duration::from_secs(7200)), "2h");
    }
}
