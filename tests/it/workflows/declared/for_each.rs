//! `for_each` end to end: an agent turn answers with a JSON list, and a for_each runs a turn
//! per item, two at a time, on the real worker against a real dev server; the build refuses
//! a for_each without `max_items`. Beside `declared.rs`, whose helpers it uses.

use super::{check_config, pairs, result_json, statuses, with_declared};
use crate::common;

use clawfactory_temporal::config::GatewayApi;
use common::fake_http::Reply;
use common::{Setup, start_workflow, workflow_failure};
use serde_json::{Value, json};
use std::time::Duration;

/// A chat-completions answer whose content is `content`.
fn chat(content: &str) -> Reply {
    Reply::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop"}]}),
    )
}

const POEMS: &str = r#"
[[declared.poems.steps]]
id = "research"
type = "agent_turn"
turn = "research"

[[declared.poems.steps]]
id = "topics"
type = "for_each"
items = "steps.research.json.topics"
max_items = 5
concurrency = 2

  [[declared.poems.steps.steps]]
  id = "write"
  type = "agent_turn"
  turn = "write"
  message = "fault:write Write a poem about {{ item }} (topic {{ index }})."

[[declared.poems.steps]]
id = "report"
type = "http"
method = "POST"
url = "{gw}/report"
body = "{{ steps.topics.json.map(e, e.item + '=' + e.status).join(', ') }}"
"#;

#[tokio::test]
async fn a_for_each_runs_a_turn_per_topic_of_an_earlier_turns_json_two_at_a_time_and_lists_them() {
    let setup = Setup::new().await;
    let slow = Duration::from_millis(1500);
    let topics = r#"{"topics": ["sonnets", "odes", "haiku"]}"#;
    setup.gateway.script("fault:research", [chat(topics)]);
    setup.gateway.script(
        "fault:write",
        (0..3).map(|i| chat(&format!("poem {i}")).delayed(slow)),
    );
    let mut config = with_declared(&setup, POEMS);
    config.config.gateway.api = Some(GatewayApi::ChatCompletions);
    let turns = &mut config.config.turns.0;
    turns.insert(
        "research".into(),
        common::turn("fault:research Find topics."),
    );
    turns.insert("write".into(), common::turn("fault:write Write."));
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "poems", None, "poems-1").await;
    let result = result_json(&client, "poems-1").await;

    assert_eq!(
        statuses(&result),
        pairs(&[("research", "ok"), ("topics", "ok"), ("report", "ok")])
    );
    let entries: Vec<Value> =
        serde_json::from_str(result["steps"][1]["result"].as_str().unwrap()).unwrap();
    let items: Vec<&Value> = entries.iter().map(|e| &e["item"]).collect();
    assert_eq!(items, [&json!("sonnets"), &json!("odes"), &json!("haiku")]);
    for entry in &entries {
        assert!(
            entry["result"].as_str().unwrap().starts_with("poem "),
            "{entry}"
        );
    }
    assert_eq!(
        setup.gateway.requests_to("/report")[0].body,
        "sonnets=ok, odes=ok, haiku=ok"
    );

    let writes = setup.gateway.requests_for("fault:write");
    assert_eq!(writes.len(), 3);
    for (index, topic) in ["sonnets", "odes", "haiku"].iter().enumerate() {
        let asked = format!("Write a poem about {topic} (topic {index}).");
        assert!(
            writes.iter().any(|w| w.body.contains(&asked)),
            "no request asked {asked:?}"
        );
    }
    let (first, second, third) = (writes[0].at, writes[1].at, writes[2].at);
    assert!(
        second - first < slow,
        "the first two items ran at once: {:?} apart",
        second - first
    );
    assert!(
        third - first >= slow,
        "the third item waited for a free lane: it started {:?} after the first",
        third - first
    );
}

#[tokio::test]
async fn a_list_longer_than_max_items_fails_the_run_typed_and_the_build_requires_max_items() {
    let setup = Setup::new().await;
    let text = r#"
[[declared.many.steps]]
id = "each"
type = "for_each"
items = "input.urls"
max_items = 2

  [[declared.many.steps.steps]]
  id = "call"
  type = "http"
  url = "{gw}/call"
  body = "{{ item }}"
"#;
    let _worker = setup.worker(&with_declared(&setup, text)).await;
    let client = setup.server.client().await;
    start_workflow(&client, "many", Some(json!({"urls": [1, 2, 3]})), "many-1").await;
    let failed = workflow_failure(&client, "many-1").await;
    assert!(
        failed
            .chain
            .starts_with("[TooManyItems] declared.many.steps[0] \"each\".items: \"input.urls\" gave 3 items, more than max_items = 2"),
        "{}",
        failed.chain
    );
    assert!(failed.non_retryable, "{}", failed.chain);
    assert!(setup.gateway.requests_to("/call").is_empty());

    let dir = tempfile::tempdir().unwrap();
    let unbounded = text
        .replace("max_items = 2\n", "")
        .replace("{gw}", "http://127.0.0.1:9");
    let (code, err) = check_config(dir.path(), &unbounded).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("declared.many.steps[0] \"each\".max_items: missing"),
        "{err}"
    );
}
