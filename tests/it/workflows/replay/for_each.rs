//! The recorded run of a declared workflow with a `for_each` (two items at once), which
//! `replay.rs` replays with every other history; here its recorder and the check that the
//! history really holds concurrent items.

use super::{recorded, write_history};
use crate::common;

use clawfactory_temporal::config::Config;
use common::fake_http::Reply;
use common::{Setup, start_workflow, workflow_result};
use serde_json::json;
use std::time::Duration;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

/// The declared workflow with a `for_each` whose recorded history is replayed: two items
/// at once, each an agent turn and an http call that reads the item and the turn's reply.
pub(super) const FOR_EACH: &str = "topic-fanout";

const FOR_EACH_TOML: &str = r#"
[[declared.topic-fanout.steps]]
id = "research"
type = "http"
url = "{gw}/topics"

[[declared.topic-fanout.steps]]
id = "topics"
type = "for_each"
items = "steps.research.json.topics"
max_items = 5
concurrency = 2

  [[declared.topic-fanout.steps.steps]]
  id = "write"
  type = "agent_turn"
  turn = "poetry-research-synthesize"

  [[declared.topic-fanout.steps.steps]]
  id = "notify"
  type = "http"
  method = "POST"
  url = "{gw}/notify"
  body = "{{ index }} {{ item }}: {{ steps.write.result }}"

[[declared.topic-fanout.steps]]
id = "report"
type = "http"
method = "POST"
url = "{gw}/report"
body = "{{ steps.topics.json.map(e, e.item).join(', ') }}"
"#;

/// Records a run of [`FOR_EACH`] over three topics:
/// `cargo test --test it -- --ignored workflows::replay::for_each::record_for_each_history`.
#[tokio::test]
#[ignore = "records tests/histories from a real run; not a check"]
async fn record_for_each_history() {
    let setup = Setup::new().await;
    let topics = json!({"topics": ["sonnets", "odes", "haiku"]});
    setup.gateway.script("/topics", [Reply::json(200, topics)]);
    let slow = Duration::from_millis(500);
    let fired = (0..3).map(|i| Reply::ok(&format!("poem {i}")).delayed(slow));
    setup.gateway.script("/api/cron/fire", fired);
    let mut config = setup.config();
    let text = FOR_EACH_TOML.replace("{gw}", &setup.gateway.url());
    config.declared = Config::parse(&text).unwrap().declared;
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    let id = "declared-for-each";
    start_workflow(&client, FOR_EACH, None, id).await;
    let result = workflow_result(&client, id).await.unwrap();
    assert!(result.contains(r#""status": "completed""#), "{result}");
    assert_eq!(
        setup.gateway.requests_to("/report")[0].body,
        "sonnets, odes, haiku"
    );
    write_history(&client, id).await;
}

#[tokio::test]
async fn the_recorded_for_each_run_ran_two_items_at_once_and_replays() {
    // Replay above covers concurrent items only if the history really holds them: the
    // second item's turn is scheduled before the first one's completes.
    let (_, history) = recorded()
        .into_iter()
        .find(|(name, _)| name == "declared-for-each.json")
        .expect("the for_each history is recorded");
    let turns: Vec<&str> = history
        .events
        .iter()
        .filter_map(|event| match event.attributes.as_ref()? {
            Attributes::ActivityTaskScheduledEventAttributes(a)
                if a.activity_type.as_ref()?.name == "trigger_agent_turn" =>
            {
                Some("scheduled")
            }
            Attributes::ActivityTaskCompletedEventAttributes(_) => Some("completed"),
            _ => None,
        })
        .collect();
    assert_eq!(
        &turns[..3],
        ["completed", "scheduled", "scheduled"],
        "the topics call, then two turns at once: {turns:?}"
    );
    assert_eq!(turns.iter().filter(|t| **t == "scheduled").count(), 3);
}
