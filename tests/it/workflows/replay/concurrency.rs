//! The recorded runs behind `concurrency` (one run at a time per key), which `replay` replays
//! with every other history: a declared run that waited in the queue for its key's lock, and
//! the lock workflow that served it. Here their recorder and the check that the histories
//! really hold the wait, the grant and the release.

use super::{recorded, write_history_to};
use crate::common;

use clawfactory_temporal::config::{Config, GatewayApi};
use common::fake_http::Reply;
use common::{Setup, start_workflow, workflow_result};
use serde_json::json;
use std::time::Duration;
use temporalio_common::protos::temporal::api::history::v1::History;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

/// The declared workflow whose runs take turns on one key.
pub(super) const LOCKED: &str = "one-at-a-time";

const LOCKED_TOML: &str = r#"
[declared.one-at-a-time]
concurrency = { key = "'agent-main'" }
[[declared.one-at-a-time.steps]]
id = "turn"
type = "agent_turn"
turn = "hold"
"#;

/// Records two runs of [`LOCKED`], the second waiting for the first, and the lock:
/// `cargo test --test it -- --ignored workflows::replay::concurrency::record_concurrency_histories`.
#[tokio::test]
#[ignore = "records tests/histories from a real run; not a check"]
async fn record_concurrency_histories() {
    let setup = Setup::new().await;
    let held = Duration::from_millis(1500);
    let chat = |content: &str| {
        Reply::json(
            200,
            json!({"id": "c", "object": "chat.completion",
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop"}]}),
        )
        .delayed(held)
    };
    setup
        .gateway
        .script("fault:hold", [chat("first"), chat("second")]);
    let mut config = setup.config();
    config.declared = Config::parse(LOCKED_TOML).unwrap().declared;
    config.config.gateway.api = Some(GatewayApi::ChatCompletions);
    config
        .config
        .turns
        .0
        .insert("hold".into(), common::turn("fault:hold Hold."));
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, LOCKED, None, "declared-concurrency-first").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    start_workflow(&client, LOCKED, None, "declared-concurrency-waited").await;
    for id in ["declared-concurrency-first", "declared-concurrency-waited"] {
        let result = workflow_result(&client, id).await.unwrap();
        assert!(result.contains(r#""status":"completed""#), "{result}");
    }
    // The lock completes once idle; its history is then whole.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waited = "declared-concurrency-waited";
    write_history_to(&client, waited, waited).await;
    let lock = "clawfactory-lock:agent-main";
    write_history_to(&client, lock, "clawfactory-lock").await;
}

fn history(name: &str) -> History {
    recorded()
        .into_iter()
        .find(|(file, _)| file == name)
        .unwrap_or_else(|| panic!("{name} is recorded"))
        .1
}

/// What a history did, in order, among the events the lock is made of.
fn steps(history: &History) -> Vec<String> {
    history
        .events
        .iter()
        .filter_map(|event| match event.attributes.as_ref()? {
            Attributes::ActivityTaskScheduledEventAttributes(a) => {
                Some(format!("activity {}", a.activity_type.as_ref()?.name))
            }
            Attributes::WorkflowExecutionSignaledEventAttributes(s) => {
                Some(format!("signaled {}", s.signal_name))
            }
            Attributes::SignalExternalWorkflowExecutionInitiatedEventAttributes(s) => {
                Some(format!("signals {}", s.signal_name))
            }
            Attributes::WorkflowExecutionCompletedEventAttributes(_) => Some("completed".into()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_recorded_run_waited_for_the_lock_and_the_lock_served_both_runs_then_completed() {
    assert_eq!(
        steps(&history("declared-concurrency-waited.json")),
        [
            "activity acquire_lock",
            "signaled lock-granted",
            "activity trigger_agent_turn",
            "activity release_lock",
            "completed"
        ]
    );
    let lock = steps(&history("clawfactory-lock.json"));
    let count = |step: &str| lock.iter().filter(|s| *s == step).count();
    assert_eq!(count("signaled acquire"), 2, "{lock:?}");
    assert_eq!(count("signaled release"), 2, "{lock:?}");
    assert_eq!(count("signals lock-granted"), 2, "{lock:?}");
    assert_eq!(lock.last().map(String::as_str), Some("completed"));
    // The second grant follows the first release: the runs took turns.
    let first_release = lock.iter().position(|s| s == "signaled release").unwrap();
    let second_grant = lock
        .iter()
        .rposition(|s| s == "signals lock-granted")
        .unwrap();
    assert!(second_grant > first_release, "{lock:?}");
}
