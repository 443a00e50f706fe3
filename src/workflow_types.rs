//! The workflow types this worker registers, by the names starters use (the reference's),
//! and what a starter adds to an input to target an OpenClaw instance. A leaf: the config
//! checks schedules against these names without depending on workflow code.

/// The workflow type names this worker registers (the reference's names).
pub const WORKFLOW_TYPES: [&str; 3] = [
    "PoetryResearchWorkflow",
    "WeatherCheckWorkflow",
    "CustomWorkflow",
];

/// How many `[declared.<name>]` workflows one worker registers. Each is a Rust type of its
/// own (the SDK keys registrations by type), made from a fixed set of slots; see
/// `crate::workflows::declared`.
pub const MAX_DECLARED: usize = 32;

/// The input key that sets a declared run's deadline (`{"$timeout": "30m"}`), replacing its
/// declaration's `timeout`. Why `$`: an input is the starter's own data, which expressions
/// read as `input.<name>`; a CEL name cannot start with `$`, so no input an expression reads
/// field by field can be using this key already, and `$` marks it as the run's, not the data's.
pub const TIMEOUT_INPUT_KEY: &str = "$timeout";

/// Adds `"$timeout": <duration>` to a declared workflow's input (`[schedules.<id>] timeout`).
pub fn with_timeout(
    input: Option<serde_json::Value>,
    timeout: &str,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    let mut object = match input {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(object)) => object,
        Some(_) => return Err("input: must be a JSON object to add a timeout to".into()),
    };
    if object.contains_key(TIMEOUT_INPUT_KEY) {
        return Err(format!(
            "input: sets {TIMEOUT_INPUT_KEY:?} already; set the timeout in one place"
        ));
    }
    object.insert(TIMEOUT_INPUT_KEY.into(), Value::String(timeout.to_owned()));
    Ok(Value::Object(object))
}

/// Adds `"instance": <name>` to a workflow input, for starters that target an instance
/// (`run --instance`, `[schedules.<id>] instance`). A CustomWorkflow definition given as a
/// JSON string is parsed first, so the instance lands inside it.
pub fn with_instance(
    workflow_type: &str,
    input: Option<serde_json::Value>,
    instance: &str,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    if workflow_type == "WeatherCheckWorkflow" {
        return Err(format!(
            "{workflow_type} runs no agent turns; an instance does not apply to it"
        ));
    }
    let mut object = match input {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(object)) => object,
        Some(Value::String(text)) => match serde_json::from_str(&text) {
            Ok(Value::Object(object)) => object,
            _ => {
                return Err(
                    "input: a string input must be a JSON object to add an instance to".into(),
                );
            }
        },
        Some(_) => return Err("input: must be a JSON object to add an instance to".into()),
    };
    object.insert("instance".into(), Value::String(instance.to_owned()));
    Ok(Value::Object(object))
}

/// The workflow type of a `concurrency` key's lock (`crate::workflows::lock`), one run per
/// key; not a type people start.
pub const LOCK_WORKFLOW_TYPE: &str = "ClawfactoryLock";
