//! Scaling out the Temporal way: several worker processes on one task queue share the work,
//! and losing one mid-run loses no workflow.

use crate::common;

use common::{Setup, WorkerProcess, start_workflow, workflow_result};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_a_queue_and_survive_losing_one() {
    let setup = Setup::new().await;
    let config = setup.config();
    let mut workers = Vec::new();
    for i in 0..3 {
        // The same settings on every worker; one file each, so each has its own log.
        let path = config.write(&setup.path(&format!("worker-{i}.toml")));
        workers.push(WorkerProcess::start(&path).await);
    }
    let client = setup.server.client().await;
    let ids: Vec<String> = (0..24).map(|i| format!("scale-{i}")).collect();
    for id in &ids {
        start_workflow(
            &client,
            "PoetryResearchWorkflow",
            Some(json!({"settle": "3s"})),
            id,
        )
        .await;
    }
    // Most runs are now in their durable wait; one worker goes away for good.
    tokio::time::sleep(Duration::from_secs(1)).await;
    workers[0].kill9();
    for id in &ids {
        assert_eq!(
            workflow_result(&client, id).await,
            Ok("Poetry research workflow completed".into()),
            "{id}"
        );
    }
    let calls = setup.gateway.requests_to("/api/cron/fire");
    assert!(calls.len() >= 48, "two turns per run: {}", calls.len());
    let served: Vec<usize> = workers
        .iter()
        .map(|w| w.output().matches("agent turn succeeded").count())
        .collect();
    assert!(
        served.iter().filter(|n| **n > 0).count() >= 2,
        "work was shared: {served:?}"
    );
}
