//! `concurrency` end to end: a real dev server, the real worker binary, the fake gateway
//! holding each agent turn for a while. A burst of runs of one key must go through one at a
//! time (the gateway never sees two turns at once) and all complete; `when_busy = "skip"`
//! ends a run at once as `skipped` while another holds the lock; a worker SIGKILLed while a
//! run holds the lock and another waits loses no lock and makes no second holder.

use super::{phase, result_json, wait_for_phase, with_declared};
use crate::common;

use clawfactory_temporal::config::GatewayApi;
use common::fake_http::{Recorded, Reply};
use common::{ConfigFile, Setup, start_workflow, wait_until};
use serde_json::json;
use std::time::Duration;

/// One agent turn, held by the gateway, under the lock of one key.
const HOLD: &str = r#"
[declared.hold]
concurrency = { key = "'agent-main'", WHEN_BUSY }
[[declared.hold.steps]]
id = "turn"
type = "agent_turn"
turn = "hold"
timeout = "5s"
message = "fault:hold Run {{ input.n }}."
"#;

fn chat(content: &str) -> Reply {
    Reply::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop"}]}),
    )
}

fn config(setup: &Setup, when_busy: &str) -> ConfigFile {
    config_with(setup, when_busy, "")
}

/// [`config`] with more declarations.
fn config_with(setup: &Setup, when_busy: &str, more: &str) -> ConfigFile {
    let text = HOLD.replace("WHEN_BUSY", when_busy) + more;
    let mut config = with_declared(setup, &text);
    config.config.gateway.api = Some(GatewayApi::ChatCompletions);
    let turns = &mut config.config.turns.0;
    turns.insert("hold".into(), common::turn("fault:hold Hold."));
    config
}

/// Which run (`Run <n>`) a turn's request came from.
fn run_of(request: &Recorded) -> String {
    let at = request
        .body
        .find("Run ")
        .expect("the message names its run");
    request.body[at..]
        .chars()
        .take_while(|c| *c != '.')
        .collect()
}

/// Each run's turns span from its first request to its last answer (`held` after its last
/// request); no two runs' spans may overlap.
fn assert_one_at_a_time(requests: &[Recorded], held: Duration) {
    let mut spans: Vec<(String, std::time::Instant, std::time::Instant)> = Vec::new();
    for request in requests {
        let run = run_of(request);
        match spans.iter_mut().find(|(r, _, _)| *r == run) {
            Some(span) => span.2 = request.at + held,
            None => spans.push((run, request.at, request.at + held)),
        }
    }
    spans.sort_by_key(|span| span.1);
    for pair in spans.windows(2) {
        assert!(
            pair[1].1 >= pair[0].2,
            "{} started {:?} before {} had its answer",
            pair[1].0,
            pair[0].2 - pair[1].1,
            pair[0].0
        );
    }
}

#[tokio::test]
async fn a_burst_of_six_runs_of_one_key_goes_through_one_at_a_time_and_all_complete() {
    let setup = Setup::new().await;
    let held = Duration::from_millis(800);
    let replies = (0..6).map(|i| chat(&format!("reply {i}")).delayed(held));
    setup.gateway.script("fault:hold", replies);
    let _worker = setup.worker(&config(&setup, "limit = 1")).await;
    let client = setup.server.client().await;
    let starts = (0..6).map(|n| {
        let client = client.clone();
        async move {
            let id = format!("burst-{n}");
            start_workflow(&client, "hold", Some(json!({"n": n})), &id).await;
        }
    });
    futures::future::join_all(starts).await;
    for n in 0..6 {
        let result = result_json(&client, &format!("burst-{n}")).await;
        assert_eq!(result["status"], "completed", "burst-{n}: {result}");
    }
    let requests = setup.gateway.requests_for("fault:hold");
    assert_eq!(requests.len(), 6, "one turn per run");
    assert_one_at_a_time(&requests, held);
}

#[tokio::test]
async fn with_skip_a_run_started_while_another_holds_the_lock_ends_skipped_at_once() {
    let setup = Setup::new().await;
    let held = Duration::from_secs(3);
    setup
        .gateway
        .script("fault:hold", [chat("first").delayed(held)]);
    let _worker = setup.worker(&config(&setup, "when_busy = \"skip\"")).await;
    let client = setup.server.client().await;
    start_workflow(&client, "hold", Some(json!({"n": 1})), "skip-1").await;
    wait_for_phase(&client, "skip-1", "turn").await;
    start_workflow(&client, "hold", Some(json!({"n": 2})), "skip-2").await;
    let skipped = result_json(&client, "skip-2").await;
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert!(
        skipped["reason"]
            .as_str()
            .unwrap()
            .contains("another run holds the lock \"agent-main\""),
        "{skipped}"
    );
    assert!(
        phase(&client, "skip-1").await.starts_with("turn"),
        "the first still held the lock when the second was skipped"
    );
    let first = result_json(&client, "skip-1").await;
    assert_eq!(first["status"], "completed", "{first}");
    assert_eq!(setup.gateway.requests_for("fault:hold").len(), 1);
}

#[tokio::test]
async fn a_worker_killed_while_one_run_holds_the_lock_and_one_waits_loses_no_lock_and_makes_no_second_holder()
 {
    let setup = Setup::new().await;
    let held = Duration::from_millis(1500);
    let replies = (0..4).map(|i| chat(&format!("reply {i}")).delayed(held));
    setup.gateway.script("fault:hold", replies);
    let mut worker = setup.worker(&config(&setup, "limit = 1")).await;
    let client = setup.server.client().await;
    start_workflow(&client, "hold", Some(json!({"n": 1})), "kill-1").await;
    wait_for_phase(&client, "kill-1", "turn").await;
    start_workflow(&client, "hold", Some(json!({"n": 2})), "kill-2").await;
    wait_for_phase(&client, "kill-2", "waiting for lock agent-main").await;
    wait_until("the holder's turn", Duration::from_secs(10), || {
        !setup.gateway.requests_for("fault:hold").is_empty()
    })
    .await;

    worker.kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    worker.restart().await;

    for id in ["kill-1", "kill-2"] {
        let result = result_json(&client, id).await;
        assert_eq!(result["status"], "completed", "{id}: {result}");
    }
    let requests = setup.gateway.requests_for("fault:hold");
    assert!(
        requests.iter().any(|r| run_of(r) == "Run 2"),
        "the waiter got the lock"
    );
    assert_one_at_a_time(&requests, held);
}

/// A second declared workflow on the same key (the same agent), which goes first.
const URGENT: &str = r#"
[declared.urgent]
concurrency = { key = "'agent-' + 'main'", when_busy = "cancel_other" }
[[declared.urgent.steps]]
id = "turn"
type = "agent_turn"
turn = "hold"
message = "fault:hold Run urgent."
"#;

#[tokio::test]
async fn cancel_other_from_another_workflow_on_the_same_key_cancels_the_holder_and_runs_next() {
    let setup = Setup::new().await;
    let held = Duration::from_secs(30);
    setup.gateway.script(
        "fault:hold",
        [
            chat("slow").delayed(held),
            chat("urgent").delayed(Duration::from_millis(200)),
        ],
    );
    let _worker = setup
        .worker(&config_with(&setup, "limit = 1", URGENT))
        .await;
    let client = setup.server.client().await;
    start_workflow(&client, "hold", Some(json!({"n": 1})), "slow-1").await;
    wait_for_phase(&client, "slow-1", "turn").await;
    let started = std::time::Instant::now();
    start_workflow(&client, "urgent", None, "urgent-1").await;
    let result = result_json(&client, "urgent-1").await;
    assert_eq!(result["status"], "completed", "{result}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the holder was cancelled and gave the lock back, not waited for: {:?}",
        started.elapsed()
    );
    let events = common::wait_for_event(&client, "slow-1", "WorkflowExecutionCanceled").await;
    assert!(
        events
            .iter()
            .any(|e| e == "WorkflowExecutionCancelRequested"),
        "{events:?}"
    );
    let requests = setup.gateway.requests_for("fault:hold");
    let runs: Vec<String> = requests.iter().map(run_of).collect();
    assert_eq!(runs, ["Run 1", "Run urgent"]);
}

#[tokio::test]
async fn a_waiter_terminated_in_the_queue_is_passed_over_and_the_next_gets_the_lock() {
    let setup = Setup::new().await;
    let held = Duration::from_secs(2);
    let replies = (0..2).map(|i| chat(&format!("reply {i}")).delayed(held));
    setup.gateway.script("fault:hold", replies);
    let _worker = setup.worker(&config(&setup, "limit = 1")).await;
    let client = setup.server.client().await;
    start_workflow(&client, "hold", Some(json!({"n": 1})), "queue-1").await;
    wait_for_phase(&client, "queue-1", "turn").await;
    for n in 2..=3 {
        let id = format!("queue-{n}");
        start_workflow(&client, "hold", Some(json!({"n": n})), &id).await;
        wait_for_phase(&client, &id, "waiting for lock").await;
    }
    client
        .get_workflow_handle::<temporalio_client::UntypedWorkflow>("queue-2")
        .terminate(temporalio_client::WorkflowTerminateOptions::default())
        .await
        .expect("terminate the first waiter");

    for id in ["queue-1", "queue-3"] {
        let result = result_json(&client, id).await;
        assert_eq!(result["status"], "completed", "{id}: {result}");
    }
    let runs: Vec<String> = setup
        .gateway
        .requests_for("fault:hold")
        .iter()
        .map(run_of)
        .collect();
    assert_eq!(runs, ["Run 1", "Run 3"], "the terminated waiter never ran");
    assert_one_at_a_time(&setup.gateway.requests_for("fault:hold"), held);
}
