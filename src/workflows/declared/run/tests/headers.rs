//! An http step's `headers` and the `[secrets]` they name: where a secret may be read (only
//! alone in a header), which secrets exist (checked against the config), and what the
//! activity input — the history — carries (the secret's name, never its value).

use super::super::Run;
use super::scripted_engine::{Answer, ScriptedEngine};
use crate::config::{Config, DeclaredWorkflow, GatewayApi, Instances};
use crate::workflows::WorkflowSettings;
use crate::workflows::declared::config_checks::Facts;
use crate::workflows::declared::plan::Plan;
use crate::workflows::declared::resolve::{DeclaredActivities, ResolveRequest};
use serde_json::{Value, json};

fn workflow(steps: Value) -> DeclaredWorkflow {
    serde_json::from_value(json!({ "steps": steps })).unwrap()
}

fn compile(steps: Value) -> Result<Plan, String> {
    Plan::compile("t", &workflow(steps))
}

fn notify(headers: Value) -> Value {
    json!({"id": "notify", "type": "http", "url": "https://example.org/hook",
           "method": "POST", "headers": headers})
}

/// A config with `[secrets] slack`, and its facts.
fn config_with_slack() -> (Config, Facts) {
    let config =
        Config::parse("[secrets]\nslack = { file = \"/run/credentials/slack\" }\n").unwrap();
    let instances = Instances::resolve(&config, GatewayApi::HooksAgent);
    let facts = Facts::new(&config, &instances);
    (config, facts)
}

#[test]
fn a_secret_read_anywhere_but_alone_in_a_header_is_refused_naming_the_step_and_key() {
    let turn = json!({"id": "ask", "type": "agent_turn", "turn": "x",
                      "message": "use {{ secrets.slack }}"});
    let body = json!({"id": "post", "type": "http", "url": "https://example.org/",
                      "body": "{\"token\": \"{{ secrets.slack }}\"}"});
    let when = json!({"id": "gate", "type": "stop", "when": "secrets.slack != ''"});
    let mixed = notify(json!({"Authorization": "{{ 'Bearer ' + secrets.slack }}"}));
    for (step, key) in [
        (turn, "\"ask\".message"),
        (body, "\"post\".body"),
        (when, "\"gate\".when"),
        (mixed, "\"notify\".headers.Authorization"),
    ] {
        let err = compile(json!([step])).unwrap_err();
        assert!(
            err.contains(key) && err.contains("only an http step's headers may use"),
            "{key}: {err}"
        );
    }
    let ok = compile(json!([notify(
        json!({"Authorization": "Bearer {{ secrets.slack }}"})
    )]));
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn header_names_are_checked_when_the_declaration_compiles() {
    for (name, expected) in [
        ("Host", "\"Host\" is set by the worker's HTTP client"),
        ("X Title", "is not a header name"),
    ] {
        let err = compile(json!([notify(json!({ name: "x" }))])).unwrap_err();
        assert!(
            err.contains("\"notify\".headers") && err.contains(expected),
            "{err}"
        );
    }
}

#[test]
fn a_secret_not_in_the_config_is_refused_before_the_run() {
    let (_, facts) = config_with_slack();
    let plan = compile(json!([notify(
        json!({"Authorization": "Bearer {{ secrets.slak }}"})
    )]))
    .unwrap();
    let err = facts.check(&plan).unwrap_err();
    assert!(
        err.contains("\"notify\".headers.Authorization: reads secrets.slak")
            && err.contains("[\"slack\"]"),
        "{err}"
    );
    let plan = compile(json!([notify(
        json!({"Authorization": "Bearer {{ secrets.slack }}"})
    )]))
    .unwrap();
    facts.check(&plan).unwrap();
}

#[test]
fn a_definition_sent_with_a_run_may_not_use_the_workers_secrets() {
    let (config, facts) = config_with_slack();
    let resolver = DeclaredActivities::new(config.declared.clone(), facts);
    let definition = workflow(json!([notify(
        json!({"Authorization": "Bearer {{ secrets.slack }}"})
    )]));
    let (failure_type, message) = resolver
        .answer(ResolveRequest {
            workflow: "adhoc".into(),
            definition: Some(definition),
        })
        .unwrap_err();
    assert_eq!(failure_type.name(), "InvalidDefinition");
    assert!(
        message.contains("only a workflow declared in the worker's config"),
        "{message}"
    );
}

#[test]
fn the_activity_input_names_the_secret_and_carries_the_rendered_rest() {
    let engine = ScriptedEngine::default()
        .answer("topic", Answer::Reply("poetry"))
        .answer("notify", Answer::Reply("ok"));
    let topic = json!({"id": "topic", "type": "agent_turn", "turn": "x"});
    let definition = workflow(json!([
        topic,
        notify(json!({
            "Authorization": "Bearer {{ secrets.slack }}",
            "X-Topic": "{{ steps.topic.result }} daily",
        }))
    ]));
    let plan = Plan::compile("t", &definition).unwrap();
    let settings = WorkflowSettings::from_config(&Config::default());
    let run = Run::new(&engine, &settings, &plan, &Value::Null).unwrap();
    futures::executor::block_on(run.execute()).unwrap();
    let sent: Value = serde_json::from_str(&engine.http_params.borrow()[0]).unwrap();
    assert_eq!(
        sent["headers"],
        json!({
            "Authorization": ["Bearer ", {"secret": "slack"}],
            "X-Topic": ["poetry daily"],
        })
    );
}

#[test]
fn a_step_without_headers_sends_the_input_it_always_sent() {
    let engine = ScriptedEngine::default().answer("notify", Answer::Reply("ok"));
    let definition = workflow(json!([{"id": "notify", "type": "http",
                                      "url": "https://example.org/hook", "body": "hi"}]));
    let plan = Plan::compile("t", &definition).unwrap();
    let settings = WorkflowSettings::from_config(&Config::default());
    let run = Run::new(&engine, &settings, &plan, &Value::Null).unwrap();
    futures::executor::block_on(run.execute()).unwrap();
    assert_eq!(
        engine.http_params.borrow()[0],
        r#"{"method":"GET","url":"https://example.org/hook","timeout":30.0,"body":"hi"}"#
    );
}
