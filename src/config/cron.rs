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

fn names_hint(field: &Field) -> String {
    match field.names.first() {
        Some(first) => format!(" or a name like {first}"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::validate;

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
