//! Retry and failure classification: what is retried, how often, how far apart, and which
//! typed failure a caller sees when it is not.

use crate::common;

use clawfactory_temporal::workflows::PoetryResearchWorkflow;
use common::fake_http::Reply;
use common::{Setup, free_port, start_workflow, workflow_result};
use serde_json::json;
use std::time::Duration;
use temporalio_client::WorkflowQueryOptions;

const FIRE: &str = "/api/cron/fire";

fn one_turn() -> serde_json::Value {
    json!({"name": "t", "steps": [{"type": "agent_turn", "agent_id": "job-a"}]})
        .to_string()
        .into()
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_and_one_idempotency_key() {
    let setup = Setup::new().await;
    setup.gateway.script(
        FIRE,
        [Reply::status(500, "boom"), Reply::status(500, "boom")],
    );
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    start_workflow(&client, "CustomWorkflow", Some(one_turn()), "retry-1").await;
    assert!(workflow_result(&client, "retry-1").await.is_ok());
    let calls = setup.gateway.requests_to(FIRE);
    assert_eq!(calls.len(), 3, "500, 500, 200");
    for pair in calls.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(950),
            "retried after only {gap:?}"
        );
    }
    let keys: Vec<_> = calls
        .iter()
        .map(|c| c.header("idempotency-key").unwrap())
        .collect();
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert!(keys[0].starts_with("retry-1/"), "{}", keys[0]);
}

#[tokio::test]
async fn exhausted_retries_fail_the_workflow_with_the_gateway_message() {
    let setup = Setup::new().await;
    setup
        .gateway
        .script(FIRE, (0..3).map(|_| Reply::status(503, "draining")));
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    start_workflow(&client, "CustomWorkflow", Some(one_turn()), "exhaust").await;
    let err = workflow_result(&client, "exhaust").await.unwrap_err();
    assert!(err.contains("[GatewayUnavailable]"), "{err}");
    assert!(
        err.contains("HTTP 503 Service Unavailable: draining"),
        "{err}"
    );
    assert_eq!(setup.gateway.requests_to(FIRE).len(), 3);
}

#[tokio::test]
async fn unauthorized_and_unknown_job_fail_at_once_with_their_types() {
    let setup = Setup::new().await;
    setup.gateway.script(
        FIRE,
        [
            Reply::json(401, json!({"error": "bad token"})),
            Reply::status(404, "Not Found"),
            Reply::status(422, "job disabled"),
        ],
    );
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    for (id, expected) in [
        ("unauth", "[GatewayUnauthorized]"),
        ("unknown", "[UnknownAgentJob]"),
        ("rejected", "[GatewayRejected]"),
    ] {
        start_workflow(&client, "CustomWorkflow", Some(one_turn()), id).await;
        let err = workflow_result(&client, id).await.unwrap_err();
        assert!(err.contains(expected), "{id}: {err}");
    }
    assert_eq!(
        setup.gateway.requests_to(FIRE).len(),
        3,
        "exactly one call each"
    );
}

#[tokio::test]
async fn a_429_retry_after_sets_the_next_retry_delay() {
    let setup = Setup::new().await;
    setup.gateway.script(
        FIRE,
        [Reply::status(429, "slow down").header("Retry-After", "3")],
    );
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    start_workflow(&client, "CustomWorkflow", Some(one_turn()), "throttled").await;
    assert!(workflow_result(&client, "throttled").await.is_ok());
    let calls = setup.gateway.requests_to(FIRE);
    assert_eq!(calls.len(), 2);
    let gap = calls[1].at - calls[0].at;
    // The policy alone would retry after 1 s.
    assert!(
        gap >= Duration::from_millis(2900),
        "Retry-After ignored: {gap:?}"
    );
}

#[tokio::test]
async fn connection_refused_and_timeouts_are_retryable() {
    let setup = Setup::new().await;
    // Slower than the 1 s client timeout once, then answered at once.
    setup
        .gateway
        .script(FIRE, [Reply::ok("late").delayed(Duration::from_secs(3))]);
    let mut config = setup.config();
    config.gateway.timeout = Duration::from_secs(1);
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "CustomWorkflow", Some(one_turn()), "timeout").await;
    let result = workflow_result(&client, "timeout").await.unwrap();
    assert!(result.contains(r#""result": "ok""#), "{result}");
    assert_eq!(setup.gateway.requests_to(FIRE).len(), 2);

    let refused = Setup::new().await;
    let mut config = refused.config();
    config.gateway.url = format!("http://127.0.0.1:{}", free_port());
    config.workflows.agent_turn.retry.maximum_attempts = 2;
    let _worker = refused.worker(&config).await;
    let client = refused.server.client().await;
    start_workflow(&client, "CustomWorkflow", Some(one_turn()), "refused").await;
    let err = workflow_result(&client, "refused").await.unwrap_err();
    assert!(
        err.contains("[GatewayUnavailable]") && err.contains("could not connect"),
        "{err}"
    );
}

#[tokio::test]
async fn the_killswitch_stops_agent_turns_before_any_network_call() {
    let setup = Setup::new().await;
    let config = setup.config();
    std::fs::write(config.gateway.killswitch_path(), "").unwrap();
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "PoetryResearchWorkflow", None, "killed").await;
    let err = workflow_result(&client, "killed").await.unwrap_err();
    assert!(err.contains("[KillswitchActive]"), "{err}");
    assert!(err.contains("KILLSWITCH_test"), "{err}");
    assert!(setup.gateway.calls().is_empty());
    let phase = client
        .get_workflow_handle::<PoetryResearchWorkflow>("killed")
        .query(
            PoetryResearchWorkflow::phase,
            (),
            WorkflowQueryOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(phase, "failed while executing");
}

#[tokio::test]
async fn invalid_custom_definitions_fail_typed_before_any_step_runs() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let turn = json!({"type": "agent_turn", "agent_id": "runs-first-if-we-were-sloppy"});
    let cases = [
        (json!("{not json"), "definition: not valid JSON"),
        (json!({"name": "x"}).to_string().into(), "steps: missing"),
        (
            json!({"steps": [turn, {"type": "sleep"}]}),
            "steps[1].type: unknown step type \"sleep\"",
        ),
        (
            json!({"steps": [turn, {"type": "delay", "duration": "soon"}]}),
            "steps[1].duration: invalid duration",
        ),
        (
            json!({"steps": [turn, {"type": "agent_turn"}]}),
            "steps[1].agent_id: missing",
        ),
        (
            json!({"steps": [turn, {"type": "http", "url": "nope"}]}),
            "steps[1].url:",
        ),
        (json!(null), "definition: missing"),
    ];
    for (index, (definition, expected)) in cases.iter().enumerate() {
        let id = format!("invalid-{index}");
        start_workflow(&client, "CustomWorkflow", Some(definition.clone()), &id).await;
        let err = workflow_result(&client, &id).await.unwrap_err();
        assert!(
            err.starts_with("[InvalidDefinition] CustomWorkflow: "),
            "{err}"
        );
        assert!(err.contains(expected), "{definition}: {err}");
    }
    assert!(setup.gateway.calls().is_empty(), "no step may run");
}

#[tokio::test]
async fn http_steps_classify_statuses_like_the_gateway() {
    let setup = Setup::new().await;
    setup
        .gateway
        .script("/missing", [Reply::status(404, "no such page")]);
    setup
        .gateway
        .script("/flaky", [Reply::status(502, "bad gateway")]);
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let step = |path: &str| json!({"steps": [{"type": "http", "url": format!("{}{path}", setup.gateway.url())}]});
    start_workflow(
        &client,
        "CustomWorkflow",
        Some(step("/missing")),
        "http-404",
    )
    .await;
    let err = workflow_result(&client, "http-404").await.unwrap_err();
    assert!(
        err.contains("[HttpRejected]") && err.contains("no such page"),
        "{err}"
    );
    assert_eq!(setup.gateway.requests_to("/missing").len(), 1);
    start_workflow(&client, "CustomWorkflow", Some(step("/flaky")), "http-502").await;
    assert!(workflow_result(&client, "http-502").await.is_ok());
    assert_eq!(setup.gateway.requests_to("/flaky").len(), 2);
}
