//! Durable execution: runs survive a SIGKILLed worker and a restarted server, and a worker
//! asked to stop lets go of in-flight work promptly.

use crate::common;

use clawfactory_temporal::workflows::PoetryResearchWorkflow;
use common::fake_http::Reply;
use common::{Setup, start_workflow, wait_until, workflow_result};
use serde_json::json;
use std::time::Duration;
use temporalio_client::WorkflowQueryOptions;

const FIRE: &str = "/api/cron/fire";
const DONE: &str = "Poetry research workflow completed";

#[tokio::test]
async fn a_run_survives_its_worker_being_killed_during_the_wait() {
    let setup = Setup::new().await;
    let mut worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "4s"})),
        "survive-kill",
    )
    .await;
    wait_for_settling(&client, "survive-kill").await;

    worker.kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(setup.gateway.requests_to(FIRE).len(), 1);
    worker.restart().await;

    assert_eq!(
        workflow_result(&client, "survive-kill").await,
        Ok(DONE.into())
    );
    let jobs: Vec<_> = setup
        .gateway
        .requests_to(FIRE)
        .iter()
        .map(|r| r.json()["job_id"].clone())
        .collect();
    assert_eq!(
        jobs,
        [
            json!("poetry-research-execute"),
            json!("poetry-research-synthesize")
        ]
    );
}

#[tokio::test]
async fn a_run_survives_a_server_restart_on_the_same_database() {
    let mut setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "4s"})),
        "survive-server",
    )
    .await;
    wait_for_settling(&client, "survive-server").await;

    setup.server.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    setup.server.restart().await;

    // The same worker process reconnects by itself; a fresh client sees the same run.
    let client = setup.server.client().await;
    assert_eq!(
        workflow_result(&client, "survive-server").await,
        Ok(DONE.into())
    );
    assert_eq!(setup.gateway.requests_to(FIRE).len(), 2);
}

#[tokio::test]
async fn a_worker_starting_before_its_server_waits_for_it() {
    let mut setup = Setup::new().await;
    setup.server.stop();
    let config = setup.config().write(&setup.path("worker.toml"));
    let worker = tokio::spawn(async move { common::WorkerProcess::start(&config).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    setup.server.restart().await;
    let _worker = worker.await.unwrap();
    let client = setup.server.client().await;
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "0s"})),
        "late-server",
    )
    .await;
    assert_eq!(
        workflow_result(&client, "late-server").await,
        Ok(DONE.into())
    );
}

#[tokio::test]
async fn sigterm_stops_the_worker_promptly_even_with_an_agent_turn_in_flight() {
    let setup = Setup::new().await;
    setup.gateway.script(
        FIRE,
        [Reply::ok("never seen").delayed(Duration::from_secs(60))],
    );
    let mut config = setup.config();
    config.gateway.timeout = Duration::from_secs(120);
    config.worker.graceful_shutdown = Duration::from_secs(1);
    let mut worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "0s"})),
        "in-flight",
    )
    .await;
    let gateway = setup.gateway.clone();
    wait_until("the slow turn to start", Duration::from_secs(30), || {
        gateway.requests_to(FIRE).len() == 1
    })
    .await;

    let (status, took) = worker.terminate();
    assert!(status.success(), "worker exit: {status}");
    assert!(took < Duration::from_secs(15), "stopping took {took:?}");

    // The interrupted attempt is retried by the next worker and the run completes.
    worker.restart().await;
    assert_eq!(workflow_result(&client, "in-flight").await, Ok(DONE.into()));
}

/// Waits until the execute turn is recorded as done (the run is in its durable wait), so a
/// crash now tests the wait, not the at-least-once redelivery of an unreported activity.
async fn wait_for_settling(client: &temporalio_client::Client, workflow_id: &str) {
    let handle = client.get_workflow_handle::<PoetryResearchWorkflow>(workflow_id);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let phase = handle
            .query(
                PoetryResearchWorkflow::phase,
                (),
                WorkflowQueryOptions::default(),
            )
            .await
            .unwrap_or_default();
        if phase.starts_with("settling until") {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never reached the wait; phase {phase:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
