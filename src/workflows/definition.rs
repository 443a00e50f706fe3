//! `CustomWorkflow` definitions: parsed and validated WHOLE before any step runs, so a typo
//! in step 5 cannot leave steps 0–4 half-run. Errors name the step index and field.
//!
//! Shape (the reference's): `{"name": str = "unnamed", "steps": [step, ...]}` with steps
//! `{"type": "agent_turn", "agent_id"}`, `{"type": "delay", "duration": "90s"}`,
//! `{"type": "http", "url", "method"?, "timeout"?}`. Extra keys are ignored, as the
//! reference ignores them. Ours: `"instance"` at the top or on an agent_turn step picks the
//! OpenClaw instance (the step's wins; neither means the default instance).

use super::declared::HISTORY_EVENT_LIMIT;
use crate::activities::HttpRequestParams;
use crate::duration;
use crate::payload::json_value;
use serde_json::{Map, Value};
use std::time::Duration;
use temporalio_common::data_converters::RawValue;

#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub name: String,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    AgentTurn {
        agent_id: String,
        instance: Option<String>,
    },
    Delay {
        /// As written, echoed back in the result like the reference does.
        text: String,
        duration: Duration,
    },
    Http {
        params: HttpRequestParams,
    },
}

impl Definition {
    /// Decodes and validates a workflow input (no payload, `null`, a JSON string or object).
    pub fn from_raw(input: &RawValue) -> Result<Definition, String> {
        json_value(input).and_then(Definition::from_input)
    }

    /// Accepts the definition as a JSON string (what controllers send) or as a JSON object.
    pub fn from_input(input: Option<Value>) -> Result<Definition, String> {
        Definition::from_value(&Definition::value(input)?)
    }

    /// The definition as JSON, unwrapped from a JSON string if it came as one.
    pub fn value(input: Option<Value>) -> Result<Value, String> {
        match input {
            None => {
                Err("definition: missing (expected a JSON object or a JSON string of one)".into())
            }
            Some(Value::String(text)) => serde_json::from_str(&text)
                .map_err(|err| format!("definition: not valid JSON: {err}")),
            Some(value) => Ok(value),
        }
    }

    /// Whether a definition is in the declared form (docs/declared-workflows.md): it uses a
    /// key the reference's form does not have — step ids, conditions, error handling, nested
    /// steps. The reference's form ignores keys it does not know, so an old definition that
    /// happens to carry, say, a `note` stays in the old form and returns the old result.
    pub fn is_declared_form(value: &Value) -> bool {
        const TOP: [&str; 3] = ["on_failure", "description", "input"];
        const STEP: [&str; 15] = [
            "id",
            "when",
            "continue_on_error",
            "retry",
            "turn",
            "message",
            "body",
            "steps",
            "prompt",
            "on_timeout",
            "on_reject",
            "reason",
            "items",
            "max_items",
            "concurrency",
        ];
        let Some(object) = value.as_object() else {
            return false;
        };
        let step_is_declared = |step: &Value| {
            step.as_object()
                .is_some_and(|s| STEP.iter().any(|key| s.contains_key(*key)))
        };
        TOP.iter().any(|key| object.contains_key(*key))
            || object
                .get("steps")
                .and_then(Value::as_array)
                .is_some_and(|steps| steps.iter().any(step_is_declared))
    }

    pub fn from_value(value: &Value) -> Result<Definition, String> {
        let object = value
            .as_object()
            .ok_or_else(|| format!("definition: expected a JSON object, got {}", kind(value)))?;
        let name = match object.get("name") {
            None | Some(Value::Null) => "unnamed".to_owned(),
            Some(Value::String(name)) => name.clone(),
            Some(other) => return Err(format!("name: expected a string, got {}", kind(other))),
        };
        let steps = match object.get("steps") {
            Some(Value::Array(steps)) => steps,
            None => return Err("steps: missing (expected an array of steps)".into()),
            Some(other) => return Err(format!("steps: expected an array, got {}", kind(other))),
        };
        let instance = instance_field(object)?;
        let steps = steps
            .iter()
            .enumerate()
            .map(|(index, step)| {
                parse_step(step, instance).map_err(|err| format!("steps[{index}].{err}"))
            })
            .collect::<Result<Vec<Step>, _>>()?;
        check_history_size(&steps)?;
        Ok(Definition { name, steps })
    }
}

/// A run must fit in Temporal's history: each activity step records up to 6 events (an agent
/// turn one more, its search-attribute upsert), each delay 5, the run itself 8 (with the
/// search attributes' marker, the SDK's `TemporalChangeVersion` upsert and our first); the
/// server terminates a run past the limit, midway.
fn check_history_size(steps: &[Step]) -> Result<(), String> {
    use super::declared::{ACTIVITY_EVENTS, TIMER_EVENTS, TURN_UPSERT_EVENTS};
    let events: u64 = 8 + steps
        .iter()
        .map(|step| match step {
            Step::Delay { duration, .. } if duration.is_zero() => 0,
            Step::Delay { .. } => TIMER_EVENTS,
            Step::AgentTurn { .. } => ACTIVITY_EVENTS + TURN_UPSERT_EVENTS,
            Step::Http { .. } => ACTIVITY_EVENTS,
        })
        .sum::<u64>();
    if events > HISTORY_EVENT_LIMIT {
        return Err(format!(
            "steps: {} steps could need up to {events} history events, and Temporal terminates a \
             run past {HISTORY_EVENT_LIMIT} events (its history limit); split the definition",
            steps.len()
        ));
    }
    Ok(())
}

/// An optional instance name; present means non-empty.
fn instance_field(object: &Map<String, Value>) -> Result<Option<&str>, String> {
    let instance = optional_string(object, "instance")?;
    super::failures::check_instance(instance)?;
    Ok(instance)
}

fn parse_step(value: &Value, default_instance: Option<&str>) -> Result<Step, String> {
    let step = value
        .as_object()
        .ok_or_else(|| format!("type: step must be a JSON object, got {}", kind(value)))?;
    match required_string(step, "type")? {
        "agent_turn" => {
            let agent_id = required_string(step, "agent_id")?;
            if agent_id.trim().is_empty() {
                return Err("agent_id: must not be empty".into());
            }
            let instance = instance_field(step)?.or(default_instance);
            Ok(Step::AgentTurn {
                agent_id: agent_id.to_owned(),
                instance: instance.map(str::to_owned),
            })
        }
        "delay" => {
            let text = required_string(step, "duration")?;
            let duration = duration::parse(text).map_err(|err| format!("duration: {err}"))?;
            Ok(Step::Delay {
                text: text.to_owned(),
                duration,
            })
        }
        "http" => {
            let params = HttpRequestParams {
                method: optional_string(step, "method")?.unwrap_or("GET").to_owned(),
                url: required_string(step, "url")?.to_owned(),
                timeout: optional_number(step, "timeout")?.unwrap_or(30.0),
                body: None,
                headers: Default::default(),
            };
            params.validate()?;
            Ok(Step::Http { params })
        }
        other => Err(format!(
            "type: unknown step type {other:?} (expected \"agent_turn\", \"delay\" or \"http\")"
        )),
    }
}

fn required_string<'a>(step: &'a Map<String, Value>, field: &str) -> Result<&'a str, String> {
    optional_string(step, field)?.ok_or_else(|| format!("{field}: missing"))
}

fn optional_string<'a>(
    step: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, String> {
    match step.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(format!("{field}: expected a string, got {}", kind(other))),
    }
}

fn optional_number(step: &Map<String, Value>, field: &str) -> Result<Option<f64>, String> {
    match step.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(other) => Err(format!(
            "{field}: expected a number of seconds, got {}",
            kind(other)
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> Result<Definition, String> {
        Definition::from_input(Some(value))
    }

    #[test]
    fn parses_every_step_kind_from_a_json_string() {
        let text = json!({
            "name": "daily",
            "steps": [
                {"type": "agent_turn", "agent_id": "poetry-research-execute"},
                {"type": "delay", "duration": "2 M"},
                {"type": "http", "url": "http://127.0.0.1:9/x", "method": "post", "timeout": 5},
            ]
        })
        .to_string();
        let def = parse(Value::String(text)).unwrap();
        assert_eq!(def.name, "daily");
        assert_eq!(
            def.steps[0],
            Step::AgentTurn {
                agent_id: "poetry-research-execute".into(),
                instance: None,
            }
        );
        assert_eq!(
            def.steps[1],
            Step::Delay {
                text: "2 M".into(),
                duration: Duration::from_secs(120)
            }
        );
        let Step::Http { params } = &def.steps[2] else {
            panic!("http step expected");
        };
        assert_eq!((params.method.as_str(), params.timeout), ("post", 5.0));
    }

    #[test]
    fn name_defaults_and_empty_steps_are_fine() {
        let def = parse(json!({"steps": []})).unwrap();
        assert_eq!(def.name, "unnamed");
        assert!(def.steps.is_empty());
    }

    #[test]
    fn every_error_names_the_step_and_field() {
        let cases = [
            (json!("{not json"), "definition: not valid JSON"),
            (json!([1]), "definition: expected a JSON object"),
            (json!({}), "steps: missing"),
            (json!({"steps": {}}), "steps: expected an array"),
            (json!({"name": 3, "steps": []}), "name: expected a string"),
            (
                json!({"steps": [7]}),
                "steps[0].type: step must be a JSON object",
            ),
            (json!({"steps": [{}]}), "steps[0].type: missing"),
            (
                json!({"steps": [{"type": "sleep"}]}),
                "steps[0].type: unknown step type \"sleep\"",
            ),
            (
                json!({"steps": [{"type": "delay", "duration": "1s"}, {"type": "agent_turn"}]}),
                "steps[1].agent_id: missing",
            ),
            (
                json!({"steps": [{"type": "agent_turn", "agent_id": ""}]}),
                "steps[0].agent_id: must not be empty",
            ),
            (
                json!({"steps": [{"type": "delay", "duration": "5 days"}]}),
                "steps[0].duration: invalid duration",
            ),
            (
                json!({"steps": [{"type": "delay", "duration": 5}]}),
                "steps[0].duration: expected a string",
            ),
            (
                json!({"steps": [{"type": "http"}]}),
                "steps[0].url: missing",
            ),
            (
                json!({"steps": [{"type": "http", "url": "x"}]}),
                "steps[0].url: \"x\" is not a URL",
            ),
            (
                json!({"steps": [{"type": "http", "url": "http://h/", "timeout": "5"}]}),
                "steps[0].timeout: expected a number",
            ),
            (
                json!({"steps": [{"type": "http", "url": "http://h/", "timeout": 0}]}),
                "steps[0].timeout: expected seconds",
            ),
        ];
        for (input, expected) in cases {
            let err = parse(input.clone()).unwrap_err();
            assert!(err.starts_with(expected), "{input}: {err}");
        }
        assert!(
            Definition::from_input(None)
                .unwrap_err()
                .contains("missing")
        );
    }

    #[test]
    fn the_instance_comes_from_the_step_else_the_definition() {
        let def = parse(json!({
            "instance": "lab",
            "steps": [
                {"type": "agent_turn", "agent_id": "a"},
                {"type": "agent_turn", "agent_id": "b", "instance": "prod"},
            ]
        }))
        .unwrap();
        let instances: Vec<_> = def
            .steps
            .iter()
            .map(|step| match step {
                Step::AgentTurn { instance, .. } => instance.clone(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(instances, [Some("lab".into()), Some("prod".into())]);
        let err =
            parse(json!({"steps": [{"type": "agent_turn", "agent_id": "a", "instance": ""}]}))
                .unwrap_err();
        assert!(
            err.starts_with("steps[0].instance: must not be empty"),
            "{err}"
        );
        let err = parse(json!({"instance": 7, "steps": []})).unwrap_err();
        assert!(err.starts_with("instance: expected a string"), "{err}");
    }
}
