//! Declared `inputs` in the interpreter, driven by [`ScriptedEngine`]: a bad input stops
//! the run before any step (no durable call), a good one reaches the steps with its
//! defaults filled in. `tests/it/workflows/declared/inputs.rs` proves the same on a server.

use super::super::Run;
use super::scripted_engine::{Answer, ScriptedEngine};
use crate::config::{Config, DeclaredWorkflow};
use crate::workflows::WorkflowSettings;
use crate::workflows::declared::plan::Plan;
use serde_json::{Value, json};

fn digest() -> Plan {
    let workflow: DeclaredWorkflow = serde_json::from_value(json!({
        "inputs": {
            "topic": {"type": "string", "required": true},
            "depth": {"type": "int", "default": 2},
        },
        "steps": [
            {"id": "research", "type": "agent_turn", "turn": "x",
             "message": "Research {{ input.topic }} to depth {{ input.depth }}",
             "when": "input.depth > 0"},
        ],
    }))
    .unwrap();
    Plan::compile("digest", &workflow).unwrap()
}

fn start(engine: &ScriptedEngine, input: Value) -> Result<Value, String> {
    let plan = digest();
    let settings = WorkflowSettings::from_config(&Config::default());
    let run = Run::new(engine, &settings, &plan, &input)?;
    let result = futures::executor::block_on(run.execute()).map_err(|_| engine.last_phase())?;
    Ok(serde_json::to_value(result).unwrap())
}

#[test]
fn a_missing_required_input_stops_the_run_before_any_step_naming_the_field() {
    let engine = ScriptedEngine::default();
    let err = start(&engine, json!({"depth": 3})).unwrap_err();
    assert!(
        err.starts_with("digest: input.topic: missing (a string is required"),
        "{err}"
    );
    assert!(engine.calls().is_empty());
}

#[test]
fn a_wrong_type_or_an_undeclared_field_stops_the_run_naming_it() {
    let engine = ScriptedEngine::default();
    let err = start(&engine, json!({"topic": "odes", "depth": "3"})).unwrap_err();
    assert!(
        err.starts_with("digest: input.depth: expected an int, found a string (\"3\")"),
        "{err}"
    );
    let err = start(&engine, json!({"topic": "odes", "dpeth": 3})).unwrap_err();
    assert!(
        err.starts_with("digest: input.dpeth: not a declared input (declared: depth, topic;"),
        "{err}"
    );
    assert!(engine.calls().is_empty());
}

#[test]
fn defaults_reach_templates_and_conditions_and_instance_is_still_accepted() {
    let engine = ScriptedEngine::default().answer("research", Answer::Reply("done"));
    let result = start(&engine, json!({"topic": "sonnets", "instance": "default"})).unwrap();
    assert_eq!(result["steps"][0]["status"], "ok");
    assert_eq!(
        engine.sent.borrow()["research"],
        "Research sonnets to depth 2"
    );
}
