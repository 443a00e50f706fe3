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
