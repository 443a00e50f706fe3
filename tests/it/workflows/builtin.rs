//! Each workflow end to end: real Temporal dev server, real worker binary, fake gateway.

use crate::common;

use clawfactory_temporal::config::GatewayApi;
use clawfactory_temporal::workflows::PoetryResearchWorkflow;
use common::fake_http::Reply;
use common::{
    Setup, cancel_and_close, in_order, search_attributes, start_workflow, wait_for_event,
    wait_until, wait_until_visible, workflow_result,
};
use serde_json::json;
use std::time::Duration;
use temporalio_client::WorkflowQueryOptions;

#[tokio::test]
async fn poetry_research_runs_both_turns_around_a_durable_wait() {
    let setup = Setup::new().await;
    let token_file = setup.path("gateway-token");
    std::fs::write(&token_file, "tok-poetry-123\n").unwrap();
    setup.gateway.require_bearer("tok-poetry-123");
    let mut config = setup.config();
    config.gateway.token_file = Some(token_file);
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;

    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "3s"})),
        "poetry-1",
    )
    .await;
    let handle = client.get_workflow_handle::<PoetryResearchWorkflow>("poetry-1");
    let phase = || async {
        handle
            .query(
                PoetryResearchWorkflow::phase,
                (),
                WorkflowQueryOptions::default(),
            )
            .await
            .unwrap()
    };
    let gateway = setup.gateway.clone();
    wait_until("the execute turn", Duration::from_secs(30), || {
        gateway.requests_to("/api/cron/fire").len() == 1
    })
    .await;
    let mut settling = phase().await;
    for _ in 0..40 {
        if settling.starts_with("settling until ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        settling = phase().await;
    }
    assert!(settling.starts_with("settling until 20"), "{settling}");
    assert_eq!(
        setup.gateway.requests_to("/api/cron/fire").len(),
        1,
        "synthesize must wait"
    );

    assert_eq!(
        workflow_result(&client, "poetry-1").await,
        Ok("Poetry research workflow completed".into())
    );
    assert_eq!(phase().await, "done");
    let calls = setup.gateway.requests_to("/api/cron/fire");
    let jobs: Vec<_> = calls.iter().map(|r| r.json()["job_id"].clone()).collect();
    assert_eq!(
        jobs,
        [
            json!("poetry-research-execute"),
            json!("poetry-research-synthesize")
        ]
    );
    let settle_gap = calls[1].at - calls[0].at;
    assert!(
        settle_gap >= Duration::from_secs(3),
        "settled only {settle_gap:?}"
    );
    for call in &calls {
        assert_eq!(call.method, "POST");
        assert_eq!(call.header("authorization"), Some("Bearer tok-poetry-123"));
        let key = call.header("idempotency-key").unwrap();
        assert!(key.starts_with("poetry-1/"), "{key}");
    }
    assert_ne!(
        calls[0].header("idempotency-key"),
        calls[1].header("idempotency-key")
    );
}

#[tokio::test]
async fn poetry_research_takes_no_input_or_null_and_uses_the_configured_settle() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    start_workflow(&client, "PoetryResearchWorkflow", None, "poetry-none").await;
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!(null)),
        "poetry-null",
    )
    .await;
    for id in ["poetry-none", "poetry-null"] {
        assert_eq!(
            workflow_result(&client, id).await,
            Ok("Poetry research workflow completed".into())
        );
    }
    assert_eq!(setup.gateway.requests_to("/api/cron/fire").len(), 4);
}

#[tokio::test]
async fn poetry_research_rejects_a_bad_settle_without_calling_the_gateway() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "2 days"})),
        "bad",
    )
    .await;
    let err = workflow_result(&client, "bad").await.unwrap_err();
    assert!(
        err.starts_with("[InvalidInput] settle: invalid duration \"2 days\""),
        "{err}"
    );
    assert!(setup.gateway.calls().is_empty());
}

#[tokio::test]
async fn custom_workflow_runs_every_step_kind_and_returns_the_reference_json_string() {
    let setup = Setup::new().await;
    setup
        .gateway
        .script("/api/cron/fire", [Reply::ok("fired: digest")]);
    setup.gateway.script("/data", [Reply::ok(&"é".repeat(600))]);
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let definition = json!({
        "name": "digest",
        "steps": [
            {"type": "agent_turn", "agent_id": "digest-agent"},
            {"type": "delay", "duration": "1s"},
            {"type": "http", "url": format!("{}/data", setup.gateway.url()), "method": "post", "timeout": 5},
        ]
    });
    // Controllers send the definition as a JSON string.
    start_workflow(
        &client,
        "CustomWorkflow",
        Some(json!(definition.to_string())),
        "custom-1",
    )
    .await;
    let result = workflow_result(&client, "custom-1").await.unwrap();
    let expected_http = format!(
        r#"{{"step": 2, "type": "http", "result": "{}"}}"#,
        "\\u00e9".repeat(500)
    );
    assert_eq!(
        result,
        format!(
            r#"{{"name": "digest", "steps_completed": 3, "results": [{{"step": 0, "type": "agent_turn", "result": "fired: digest"}}, {{"step": 1, "type": "delay", "duration": "1s"}}, {expected_http}]}}"#
        )
    );
    let fire = &setup.gateway.requests_to("/api/cron/fire")[0];
    assert_eq!(fire.json(), json!({"job_id": "digest-agent"}));
    let http = &setup.gateway.requests_to("/data")[0];
    assert_eq!(http.method, "POST");
    assert!(
        http.at - fire.at >= Duration::from_secs(1),
        "the delay step must wait"
    );
}

#[tokio::test]
async fn weather_check_summarises_the_configured_weather_service() {
    let setup = Setup::new().await;
    setup.gateway.script(
        "/Paris",
        [Reply::json(
            200,
            json!({"current_condition": [{"temp_F": "61", "weatherDesc": [{"value": "Partly cloudy"}],
                   "humidity": "72", "windspeedMiles": "9", "winddir16Point": "WSW"}]}),
        )],
    );
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    start_workflow(
        &client,
        "WeatherCheckWorkflow",
        Some(json!("Paris")),
        "weather-1",
    )
    .await;
    assert_eq!(
        workflow_result(&client, "weather-1").await,
        Ok("Paris: 61°F, Partly cloudy, humidity 72%, wind 9mph WSW".into())
    );
    assert_eq!(
        setup.gateway.requests_to("/Paris")[0].target,
        "/Paris?format=j1"
    );
}

#[tokio::test]
async fn echo_gateway_needs_no_network() {
    let setup = Setup::new().await;
    let mut config = setup.config();
    config.gateway.api = Some(GatewayApi::Echo);
    config.gateway.url = "http://127.0.0.1:9".into();
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    let definition =
        json!({"steps": [{"type": "agent_turn", "agent_id": "poetry-research-execute"}]});
    start_workflow(&client, "CustomWorkflow", Some(definition), "echo-1").await;
    let result: serde_json::Value =
        serde_json::from_str(&workflow_result(&client, "echo-1").await.unwrap()).unwrap();
    let line = result["results"][0]["result"].as_str().unwrap();
    assert!(
        line.contains("\"poetry-research-execute\" would have run"),
        "{line}"
    );
    assert_eq!(result["name"], "unnamed");
}

#[tokio::test]
async fn cancelling_a_poetry_run_mid_settle_cancels_its_timer_and_skips_the_second_turn() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let input = json!({"settle": "1h"});
    start_workflow(&client, "PoetryResearchWorkflow", Some(input), "settling").await;
    wait_for_event(&client, "settling", "TimerStarted").await;

    let events = cancel_and_close(&client, "settling").await;
    assert!(
        in_order(&events, "TimerCanceled", "WorkflowExecutionCanceled"),
        "{events:?}"
    );
    assert_eq!(setup.gateway.requests_to("/api/cron/fire").len(), 1);
}

#[tokio::test]
async fn cancelling_a_poetry_run_mid_turn_requests_the_turns_cancellation() {
    let setup = Setup::new().await;
    let slow = Reply::ok("fired").delayed(Duration::from_secs(60));
    setup.gateway.script("/api/cron/fire", [slow]);
    let mut config = setup.config();
    config.gateway.timeout = Duration::from_secs(120);
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "PoetryResearchWorkflow", None, "turning").await;
    // Not ActivityTaskStarted: the server records it only when the attempt ends.
    let gateway = setup.gateway.clone();
    wait_until("the execute turn", Duration::from_secs(30), || {
        gateway.requests_to("/api/cron/fire").len() == 1
    })
    .await;

    let events = cancel_and_close(&client, "turning").await;
    assert!(
        in_order(
            &events,
            "ActivityTaskCancelRequested",
            "WorkflowExecutionCanceled"
        ),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e == "TimerStarted"), "{events:?}");
}

#[tokio::test]
async fn cancelling_a_custom_run_mid_delay_cancels_its_timer() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let definition = json!({"steps": [{"type": "delay", "duration": "1h"}]});
    start_workflow(&client, "CustomWorkflow", Some(definition), "delaying").await;
    wait_for_event(&client, "delaying", "TimerStarted").await;

    let events = cancel_and_close(&client, "delaying").await;
    assert!(
        in_order(&events, "TimerCanceled", "WorkflowExecutionCanceled"),
        "{events:?}"
    );
}

#[tokio::test]
async fn a_poetry_run_is_findable_by_the_turns_it_ran_its_instance_and_its_workflow() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let fire = "/api/cron/fire";
    setup.gateway.script(fire, [Reply::ok("fired")]);
    for id in ["poetry-a", "poetry-b"] {
        start_workflow(
            &client,
            "PoetryResearchWorkflow",
            Some(json!({"settle": "0s"})),
            id,
        )
        .await;
        workflow_result(&client, id).await.unwrap();
    }
    // A run whose first turn fails never reaches the second.
    setup
        .gateway
        .script(fire, (0..3).map(|_| Reply::status(500, "model overloaded")));
    start_workflow(&client, "PoetryResearchWorkflow", None, "poetry-failed").await;
    workflow_result(&client, "poetry-failed").await.unwrap_err();

    let attributes = search_attributes(&client, "poetry-a").await;
    assert_eq!(
        attributes.get("ClawTurns"),
        Some(&json!([
            "poetry-research-execute",
            "poetry-research-synthesize"
        ]))
    );
    assert_eq!(attributes.get("ClawInstance"), Some(&json!(["default"])));
    assert_eq!(
        attributes.get("ClawWorkflow"),
        Some(&json!("PoetryResearchWorkflow"))
    );
    let all = ["poetry-a", "poetry-b", "poetry-failed"];
    let execute = r#"ClawTurns = "poetry-research-execute""#;
    wait_until_visible(&client, execute, &all).await;
    let synthesize = r#"ClawTurns = "poetry-research-synthesize""#;
    wait_until_visible(&client, synthesize, &["poetry-a", "poetry-b"]).await;
    let by_workflow = r#"ClawWorkflow = "PoetryResearchWorkflow" AND ClawInstance = "default""#;
    wait_until_visible(&client, by_workflow, &all).await;
}

#[tokio::test]
async fn a_worker_on_a_namespace_without_the_attributes_warns_once_and_its_runs_complete() {
    let setup = Setup::without_search_attributes().await;
    let worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    setup.gateway.script("/api/cron/fire", [Reply::ok("fired")]);
    for id in ["plain-1", "plain-2"] {
        start_workflow(
            &client,
            "PoetryResearchWorkflow",
            Some(json!({"settle": "0s"})),
            id,
        )
        .await;
        assert_eq!(
            workflow_result(&client, id).await,
            Ok("Poetry research workflow completed".into())
        );
    }
    let attributes = search_attributes(&client, "plain-1").await;
    assert!(!attributes.contains_key("ClawTurns"), "{attributes:?}");
    let log = worker.output();
    assert_eq!(
        log.matches("search attributes not registered").count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("temporal operator search-attribute create --namespace default --name ClawInstance --name ClawTurns --type KeywordList"),
        "{log}"
    );
}
