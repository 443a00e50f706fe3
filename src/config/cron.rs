//! Cron expressions as Temporal schedules accept them, checked before anything is sent, so
//! `schedules apply` can refuse a whole config without touching the server.
//!
//! Five fields (minute hour day-of-month month day-of-week), each a comma list of `*`, `N`,
//! `N-M`, optionally `/step`; month and weekday names (`JAN`, `MON-FRI`); or one of the
//! `@yearly @annually @monthly @weekly @daily @midnight @hourly` shorthands.

const SHORTHANDS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];
const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Index of `names[0]` (JAN is 1, SUN is 0).
    names_start: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        names_start: 0,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        names_start: 0,
    },
    Field {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
        names_start: 0,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
        names_start: 1,
    },
    // 7 is Sunday too, as in most crons.
    Field {
        name: "day of week",
        min: 0,
        max: 7,
        names: &WEEKDAYS,
        names_start: 0,
    },
];

pub fn validate(expression: &str) -> Result<(), String> {
    let expression = expression.trim();
    if expression.starts_with('@') {
        return if SHORTHANDS.contains(&expression.to_ascii_lowercase().as_str()) {
            Ok(())
        } else {
            Err(format!(
                "{expression:?}: unknown shorthand (expected one of {})",
                SHORTHANDS.join(" ")
            ))
        };
    }
    if expression.contains('#') {
        return Err(format!(
            "{expression:?}: comments are not allowed (the tool uses them to mark its own)"
        ));
    }
    let parts: Vec<&str> = expression.split_whitespace().collect();
    if parts.len() != FIELDS.len() {
        return Err(format!(
            "{expression:?}: expected 5 fields (minute hour day-of-month month day-of-week), got {}",
            parts.len()
        ));
    }
    for (part, field) in parts.iter().zip(&FIELDS) {
        validate_field(part, field)
            .map_err(|err| format!("{expression:?}: {}: {err}", field.name))?;
    }
    Ok(())
}

fn validate_field(text: &str, field: &Field) -> Result<(), String> {
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(step) if step > 0 => {}
                _ => return Err(format!("{item:?}: step must be a positive number")),
            }
        }
        if range == "*" {
            continue;
        }
        let (start, end) = match range.split_once('-') {
            Some((start, end)) => (value(start, field)?, value(end, field)?),
            None => {
                let v = value(range, field)?;
                (v, v)
            }
        };
        if start > end {
            return Err(format!("{item:?}: range runs backwards"));
        }
    }
    Ok(())
}

fn value(text: &str, field: &Field) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    if let Some(index) = field.names.iter().position(|n| *n == upper) {
        return Ok(index as u32 + field.names_start);
    }
    let number: u32 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number{}", names_hint(field)))?;
    if number < field.min || number > field.max {
        return Err(format!("{number} is outside {}-{}", field.min, field.max));
    }
    Ok(number)
}

/// The shortest time between two fires of a valid expression, in UTC, over four years from
/// 2024 (so leap days and every weekday of every month are seen). Every field must match a
/// fire time, as in the server's calendar specs. `None` for an expression that never fires.
pub fn shortest_gap(expression: &str) -> Option<std::time::Duration> {
    let expression = expression.trim().to_ascii_lowercase();
    let expanded = match expression.as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let parts: Vec<&str> = expanded.split_whitespace().collect();
    let mut sets = Vec::new();
    for (part, field) in parts.iter().zip(&FIELDS) {
        sets.push(values(part, field).ok()?);
    }
    let [minutes, hours, days, months, weekdays] = sets.try_into().ok()?;
    let times: Vec<u64> = hours
        .iter()
        .flat_map(|h| minutes.iter().map(move |m| u64::from(h * 60 + m)))
        .collect();
    let (mut last, mut shortest): (Option<u64>, Option<u64>) = (None, None);
    let mut day_number = 0u64;
    // 2024-01-01 was a Monday.
    let mut weekday = 1u32;
    for year in 2024..2028u32 {
        for month in 1..=12u32 {
            for day in 1..=days_in(year, month) {
                let fires = days.contains(&day)
                    && months.contains(&month)
                    && (weekdays.contains(&weekday) || (weekday == 0 && weekdays.contains(&7)));
                if fires {
                    for time in &times {
                        let at = day_number * 1440 + time;
                        if let Some(previous) = last {
                            shortest =
                                Some(shortest.map_or(at - previous, |s| s.min(at - previous)));
                        }
                        last = Some(at);
                    }
                }
                day_number += 1;
                weekday = (weekday + 1) % 7;
            }
        }
    }
    shortest.map(|minutes| std::time::Duration::from_secs(minutes * 60))
}

fn days_in(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The values a field's text allows (checked by `validate_field` first).
fn values(text: &str, field: &Field) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, step.parse::<u32>().map_err(|e| e.to_string())?),
            None => (item, 1),
        };
        let (start, end) = match (range, range.split_once('-')) {
            ("*", _) => (field.min, field.max),
            (_, Some((start, end))) => (value(start, field)?, value(end, field)?),
            // `N/step` runs from N to the field's end, as in most crons.
            (_, None) if step > 1 => (value(range, field)?, field.max),
            (_, None) => (value(range, field)?, value(range, field)?),
        };
        out.extend((start..=end).step_by(step.max(1) as usize));
    }
    Ok(out)
}

fn names_hint(field: &Field) -> String {
    match field.names.first() {
        Some(first) => format!(" or a name like {first}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::{shortest_gap, validate};
    use std::time::Duration;

    #[test]
    fn the_shortest_gap_is_between_the_closest_two_fires() {
        let hours = |h: u64| Some(Duration::from_secs(h * 3600));
        assert_eq!(shortest_gap("0 5 * * *"), hours(24));
        assert_eq!(shortest_gap("@daily"), hours(24));
        assert_eq!(shortest_gap("@hourly"), hours(1));
        assert_eq!(shortest_gap("*/15 * * * *"), Some(Duration::from_secs(900)));
        assert_eq!(shortest_gap("0 9,17 * * *"), hours(8));
        // Friday 17:00 to Monday 9:00 is longer; Monday to Friday 9:00 is a day.
        assert_eq!(shortest_gap("0 9 * * MON-FRI"), hours(24));
        assert_eq!(shortest_gap("0 4 * * 0"), hours(7 * 24));
        assert_eq!(shortest_gap("0 0 1 * *"), hours(28 * 24));
        assert_eq!(shortest_gap("0 0 31 2 *"), None);
    }

    #[test]
    fn accepts_common_expressions() {
        for ok in [
            "0 4 * * *",
            "*/15 * * * *",
            "0 9-17/2 * * MON-FRI",
            "30 6 1,15 jan,Jul *",
            "0 0 * * 7",
            "@daily",
            "@HOURLY",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_with_the_field_named() {
        for (bad, expected) in [
            ("61 4 * * *", "minute: 61 is outside 0-59"),
            ("0 24 * * *", "hour: 24 is outside 0-23"),
            ("0 4 0 * *", "day of month: 0 is outside 1-31"),
            ("0 4 * 13 *", "month: 13 is outside 1-12"),
            (
                "0 4 * * FUNDAY",
                "day of week: \"FUNDAY\" is not a number or a name like SUN",
            ),
            ("0 4 * *", "expected 5 fields"),
            ("0 4 * * * *", "expected 5 fields"),
            ("*/0 * * * *", "step must be a positive number"),
            ("0 5-3 * * *", "range runs backwards"),
            ("@sometimes", "unknown shorthand"),
            ("0 4 * * * # x", "comments are not allowed"),
        ] {
            let err = validate(bad).unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }
}
