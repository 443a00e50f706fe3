//! `[declared.<name>].inputs`: the run input a declared workflow takes — each field's type,
//! whether it is required, its default — and the check of an input against it.
//!
//! Why here and not in workflow code: three places check an input and must agree — config
//! validation (a schedule's `input`, so `check-config` and the NixOS build refuse a bad one),
//! `run <name> --input` (before it starts anything), and the run itself (its first step,
//! after the recorded definition, so a start from the UI or the `temporal` CLI is checked
//! too). The check is pure (the declaration and a JSON value in, a JSON value out), so it is
//! as deterministic as workflow code must be.
//!
//! With no `inputs` declared, nothing is checked and the input reaches the steps as it is
//! (what declared workflows did before). With `inputs`, a field not declared is refused:
//! expressions may read only declared inputs (the plan checks that), so an undeclared field
//! could only be a typo whose value would silently go nowhere. `instance` is always accepted:
//! it picks the OpenClaw instance for every workflow type (`run --instance`, a schedule's
//! `instance`); so are keys starting with `$`, the run's own (`$timeout`, its deadline).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The input keys every run accepts whatever its `inputs` say (read by the interpreter).
pub const RESERVED_INPUTS: [&str; 1] = ["instance"];

/// `inputs = { topic = { type = "string", required = true }, depth = { type = "int", default = 2 } }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,63}$" }))]
pub struct Inputs(pub BTreeMap<String, InputDecl>);

/// One input field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputDecl {
    /// The JSON type the value must have.
    #[serde(rename = "type")]
    pub kind: InputType,
    /// A start without this field fails (`InvalidInput`); excludes `default`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// The value expressions see when the start does not give one; of the field's type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// string only: the values allowed.
    #[serde(default, rename = "enum", skip_serializing_if = "Option::is_none")]
    pub allowed: Option<Vec<String>>,
    /// One line for people: what the field means.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// An input's type, as JSON has them (`int` is a whole number, `float` any number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum InputType {
    String,
    Int,
    Float,
    Bool,
    List,
    Object,
}

impl InputType {
    fn name(self) -> &'static str {
        match self {
            InputType::String => "a string",
            InputType::Int => "an int",
            InputType::Float => "a float",
            InputType::Bool => "a bool",
            InputType::List => "a list",
            InputType::Object => "an object",
        }
    }

    /// `value` as this type, or `None` if it is not one. An int is a float as well, and is
    /// made one so CEL compares it with `1.5` the way people expect.
    fn accept(self, value: &Value) -> Option<Value> {
        match (self, value) {
            (InputType::String, Value::String(_))
            | (InputType::Bool, Value::Bool(_))
            | (InputType::List, Value::Array(_))
            | (InputType::Object, Value::Object(_)) => Some(value.clone()),
            (InputType::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Some(value.clone()),
            (InputType::Float, Value::Number(n)) => n.as_f64().map(Value::from),
            _ => None,
        }
    }
}

/// What a JSON value is, for messages: `found a string ("2")`.
fn describe(value: &Value) -> String {
    let shown = value.to_string();
    let shown = if shown.chars().count() > 40 {
        format!("{}...", shown.chars().take(40).collect::<String>())
    } else {
        shown
    };
    let kind = match value {
        Value::Null => return "null".into(),
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an int",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    format!("{kind} ({shown})")
}

impl Inputs {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether expressions may read `input.<name>`.
    pub fn accepts_field(&self, name: &str) -> bool {
        // `$` keys are the run's own (`$timeout`, the deadline), not the starter's data.
        self.0.contains_key(name) || RESERVED_INPUTS.contains(&name) || name.starts_with('$')
    }

    /// The declared names, for messages.
    pub fn names(&self) -> String {
        let names: Vec<&str> = self.0.keys().map(String::as_str).collect();
        names.join(", ")
    }

    /// The declaration's own checks; the error starts with the field's key
    /// (`depth.default: ...`) for the caller to put `declared.<name>.inputs.` before it.
    pub fn validate(&self) -> Result<(), String> {
        for (name, decl) in &self.0 {
            check_field_name(name).map_err(|err| format!("{name}: {err}"))?;
            decl.validate().map_err(|err| format!("{name}.{err}"))?;
        }
        Ok(())
    }

    /// The run's input checked against the declaration, with defaults filled in: what the
    /// steps see. Nothing declared: the input as it is. The error names the field
    /// (`input.topic: missing ...`).
    pub fn apply(&self, input: &Value) -> Result<Value, String> {
        if self.is_empty() {
            return Ok(input.clone());
        }
        let given = match input {
            Value::Null => Map::new(),
            Value::Object(fields) => fields.clone(),
            other => {
                return Err(format!(
                    "input: expected a JSON object with the declared inputs ({}), found {}",
                    self.names(),
                    describe(other)
                ));
            }
        };
        for name in given.keys() {
            if !self.accepts_field(name) {
                return Err(format!(
                    "input.{name}: not a declared input (declared: {}; `instance` and `$` keys \
                     such as `$timeout` are always accepted)",
                    self.names()
                ));
            }
        }
        let mut out = Map::new();
        for (name, value) in &given {
            match self.0.get(name) {
                // An explicit null counts as not given: the default applies, or "missing".
                Some(_) if value.is_null() => {}
                Some(decl) => {
                    let value = decl
                        .check(value)
                        .map_err(|err| format!("input.{name}: {err}"))?;
                    out.insert(name.clone(), value);
                }
                None => {
                    out.insert(name.clone(), value.clone());
                }
            }
        }
        for (name, decl) in &self.0 {
            if out.contains_key(name) {
                continue;
            }
            if decl.required {
                return Err(format!(
                    "input.{name}: missing ({} is required; declared inputs: {})",
                    decl.kind.name(),
                    self.names()
                ));
            }
            if let Some(default) = &decl.default {
                // Checked at build time; `check` also turns an int default of a float into one.
                out.insert(name.clone(), decl.check(default).unwrap_or(default.clone()));
            }
        }
        Ok(Value::Object(out))
    }
}

impl InputDecl {
    fn validate(&self) -> Result<(), String> {
        if self.required && self.default.is_some() {
            return Err(
                "default: a required input has no default (a default makes it optional)".into(),
            );
        }
        if let Some(allowed) = &self.allowed {
            if self.kind != InputType::String {
                return Err("enum: only a string input can list its values".into());
            }
            if allowed.is_empty() {
                return Err("enum: lists no value (leave it out to allow any string)".into());
            }
        }
        if let Some(default) = &self.default {
            self.check(default)
                .map_err(|err| format!("default: {err}"))?;
        }
        Ok(())
    }

    /// One given value: of the type (and, for a string with `enum`, one of its values).
    fn check(&self, value: &Value) -> Result<Value, String> {
        let accepted = self
            .kind
            .accept(value)
            .ok_or_else(|| format!("expected {}, found {}", self.kind.name(), describe(value)))?;
        if let (Some(allowed), Value::String(text)) = (&self.allowed, value)
            && !allowed.contains(text)
        {
            return Err(format!("{text:?} is not one of {}", allowed.join(", ")));
        }
        Ok(accepted)
    }
}

/// A name expressions can read as `input.<name>`, and not a reserved one.
fn check_field_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64;
    if !plain {
        return Err(
            "an input name may use only letters, digits and '_', not starting with a digit \
             (expressions read it as input.<name>)"
                .into(),
        );
    }
    if RESERVED_INPUTS.contains(&name) {
        return Err(
            "is reserved: it picks the OpenClaw instance and is always accepted; do not \
             declare it"
                .into(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inputs(text: &str) -> Result<Inputs, String> {
        #[derive(Deserialize)]
        struct Wrapper {
            inputs: Inputs,
        }
        let wrapper: Wrapper = toml::from_str(text).map_err(|e| e.to_string())?;
        wrapper.inputs.validate()?;
        Ok(wrapper.inputs)
    }

    fn digest() -> Inputs {
        inputs(
            r#"inputs = { topic = { type = "string", required = true }, depth = { type = "int", default = 2 },
                 tone = { type = "string", enum = ["dry", "warm"] }, ratio = { type = "float", default = 1 } }"#,
        )
        .unwrap()
    }

    #[test]
    fn a_good_input_gets_the_defaults_of_the_fields_it_leaves_out() {
        let applied = digest()
            .apply(&json!({"topic": "sonnets", "instance": "lab"}))
            .unwrap();
        assert_eq!(
            applied,
            json!({"topic": "sonnets", "depth": 2, "ratio": 1.0, "instance": "lab"})
        );
        let given = digest()
            .apply(&json!({"topic": "odes", "depth": 5, "tone": "dry", "ratio": 2}))
            .unwrap();
        assert_eq!(given["depth"], 5);
        assert_eq!(given["ratio"], 2.0);
    }

    #[test]
    fn without_declared_inputs_the_input_passes_unchanged() {
        for input in [json!(null), json!("text"), json!({"anything": [1]})] {
            assert_eq!(Inputs::default().apply(&input).unwrap(), input);
        }
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_field_what_was_expected_and_what_came() {
        let d = digest();
        for (input, expected) in [
            (
                json!({}),
                "input.topic: missing (a string is required; declared inputs: depth, ratio, tone, topic)",
            ),
            (json!(null), "input.topic: missing"),
            (json!({"topic": null}), "input.topic: missing"),
            (
                json!({"topic": 3}),
                "input.topic: expected a string, found an int (3)",
            ),
            (
                json!({"topic": "x", "depth": "2"}),
                "input.depth: expected an int, found a string (\"2\")",
            ),
            (
                json!({"topic": "x", "depth": 2.5}),
                "input.depth: expected an int, found a float (2.5)",
            ),
            (
                json!({"topic": "x", "tone": "loud"}),
                "input.tone: \"loud\" is not one of dry, warm",
            ),
            (
                json!({"topic": "x", "topc": "y"}),
                "input.topc: not a declared input (declared: depth, ratio, tone, topic;",
            ),
            (
                json!(["x"]),
                "input: expected a JSON object with the declared inputs (depth, ratio, tone, topic), found a list ([\"x\"])",
            ),
        ] {
            let err = d.apply(&input).unwrap_err();
            assert!(err.starts_with(expected), "{input}: {err}");
        }
    }

    #[test]
    fn declarations_are_checked_naming_the_field_and_key() {
        for (text, expected) in [
            (
                r#"inputs = { n = { type = "int", default = "2" } }"#,
                "n.default: expected an int, found a string",
            ),
            (
                r#"inputs = { n = { type = "int", required = true, default = 2 } }"#,
                "n.default: a required input has no default",
            ),
            (
                r#"inputs = { n = { type = "int", enum = ["1"] } }"#,
                "n.enum: only a string input",
            ),
            (
                r#"inputs = { n = { type = "string", enum = [] } }"#,
                "n.enum: lists no value",
            ),
            (
                r#"inputs = { n = { type = "string", enum = ["a"], default = "b" } }"#,
                "n.default: \"b\" is not one of a",
            ),
            (
                r#"inputs = { "my-topic" = { type = "string" } }"#,
                "my-topic: an input name may use only",
            ),
            (
                r#"inputs = { instance = { type = "string" } }"#,
                "instance: is reserved",
            ),
            (
                r#"inputs = { n = { type = "integer" } }"#,
                "unknown variant `integer`",
            ),
            (
                r#"inputs = { n = { type = "int", requierd = true } }"#,
                "unknown field `requierd`",
            ),
        ] {
            let err = inputs(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
