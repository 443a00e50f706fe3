//! A declared run's deadline and its result, end to end: a real dev server, the real worker
//! binary, the loopback fake HTTP server as the `on_failure` step's URL. An approval nobody
//! answers must end the run within seconds of its `timeout`, typed `DeadlineExceeded`,
//! after `on_failure` ran; a declared run's result is a JSON object.

use crate::common;

use clawfactory_temporal::config::Config;
use common::fake_http::Reply;
use common::{Setup, event_types, start_workflow, workflow_failure, workflow_result_value};
use serde_json::json;
use std::time::{Duration, Instant};

/// An approval that waits an hour, a run that may take `TIMEOUT`, and an alert on failure.
const WAITING: &str = r#"
[declared.waiting]
TIMEOUT
[[declared.waiting.steps]]
id = "wait_for_ok"
type = "approval"
timeout = "1h"
prompt = "Nobody will answer."

[[declared.waiting.steps]]
id = "never"
type = "http"
url = "{gw}/never"

[[declared.waiting.on_failure]]
id = "alert"
type = "http"
method = "POST"
url = "{gw}/alert"
body = "{{ failure.type }} at {{ failure.step }}; wait_for_ok was {{ steps.wait_for_ok.status }}"
"#;

fn waiting(setup: &Setup, timeout: &str) -> common::ConfigFile {
    let text = WAITING
        .replace("TIMEOUT", timeout)
        .replace("{gw}", &setup.gateway.url());
    let mut config = setup.config();
    config.declared = Config::parse(&text).unwrap().declared;
    config
}

#[tokio::test]
async fn an_approval_nobody_answers_ends_at_the_timeout_with_on_failure_run_and_deadline_exceeded()
{
    let setup = Setup::new().await;
    setup.gateway.script("/alert", [Reply::ok("alerted")]);
    let _worker = setup.worker(&waiting(&setup, "timeout = \"3s\"")).await;
    let client = setup.server.client().await;
    let started = Instant::now();
    start_workflow(&client, "waiting", None, "waiting-1").await;
    let failed = workflow_failure(&client, "waiting-1").await;
    let took = started.elapsed();
    assert_eq!(
        failed.chain,
        "[DeadlineExceeded] waiting: the run's timeout of 3s passed; cancelled wait_for_ok"
    );
    assert!(failed.non_retryable, "{failed:?}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "took {took:?}"
    );
    let alerts = setup.gateway.requests_to("/alert");
    assert_eq!(alerts.len(), 1, "on_failure's alert ran once");
    assert_eq!(
        alerts[0].body,
        "DeadlineExceeded at wait_for_ok; wait_for_ok was cancelled"
    );
    assert!(setup.gateway.requests_to("/never").is_empty());
    // The approval's own timer was cancelled, not left to fire an hour later.
    let events = event_types(&client, "waiting-1").await;
    let count = |kind: &str| events.iter().filter(|e| *e == kind).count();
    assert_eq!(count("TimerStarted"), 2, "{events:?}");
    assert_eq!(count("TimerFired"), 1, "{events:?}");
    assert_eq!(count("TimerCanceled"), 1, "{events:?}");
}

#[tokio::test]
async fn a_start_with_a_timeout_in_its_input_gets_that_deadline_and_one_without_keeps_the_declared()
{
    let setup = Setup::new().await;
    setup
        .gateway
        .script("/alert", [Reply::ok("alerted"), Reply::ok("alerted")]);
    // Declared: an hour. The input's `$timeout` replaces it.
    let _worker = setup.worker(&waiting(&setup, "timeout = \"1h\"")).await;
    let client = setup.server.client().await;
    let started = Instant::now();
    start_workflow(&client, "waiting", Some(json!({"$timeout": "2s"})), "short").await;
    let failed = workflow_failure(&client, "short").await;
    assert!(
        failed
            .chain
            .starts_with("[DeadlineExceeded] waiting: the run's timeout of 2s passed"),
        "{}",
        failed.chain
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // A bad one is refused up front, naming the key.
    start_workflow(&client, "waiting", Some(json!({"$timeout": "soon"})), "bad").await;
    let refused = workflow_failure(&client, "bad").await;
    assert!(
        refused.chain.starts_with("[InvalidInput] input.$timeout: "),
        "{}",
        refused.chain
    );
    assert_eq!(setup.gateway.requests_to("/alert").len(), 1);
}

#[tokio::test]
async fn a_declared_runs_result_is_a_json_object_and_custom_workflows_stays_a_string() {
    let setup = Setup::new().await;
    let text = "[declared.quick]\ntimeout = \"1h\"\n[[declared.quick.steps]]\nid = \"done\"\ntype = \"stop\"\nreason = \"nothing to do\"\n";
    let mut config = setup.config();
    config.declared = Config::parse(text).unwrap().declared;
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "quick", None, "quick-1").await;
    let result = workflow_result_value(&client, "quick-1").await.unwrap();
    assert_eq!(
        result,
        json!({"name": "quick", "status": "stopped", "reason": "nothing to do",
               "steps": [{"id": "done", "type": "stop", "status": "ok", "result": "nothing to do"}]})
    );
    let definition = json!({"name": "try", "steps": [{"id": "done", "type": "stop"}]});
    start_workflow(&client, "CustomWorkflow", Some(definition), "custom-1").await;
    let result = workflow_result_value(&client, "custom-1").await.unwrap();
    let text = result.as_str().expect("CustomWorkflow returns JSON text");
    assert!(
        text.starts_with(r#"{"name": "try", "status": "stopped""#),
        "{text}"
    );
}
