//! `for_each` driven by the [`ScriptedEngine`]: items in order, `concurrency` lanes, each
//! item's own records, failures as for parallel branches, and the typed failures of a list
//! that is too long or not a list.

use super::scripted_engine::{Answer, ScriptedEngine};
use super::{calls, http, pairs, run, run_with, statuses, turn};
use serde_json::{Value, json};

/// A for_each `topics` over `items`, running `write` (an agent turn whose message names the
/// item and its index) for each.
fn for_each(items: &str, max_items: u32, concurrency: u32) -> Value {
    let mut write = turn("write");
    write["message"] = json!("{{ index }}: {{ item }}");
    json!({"id": "topics", "type": "for_each", "items": items, "max_items": max_items,
           "concurrency": concurrency, "steps": [write]})
}

/// `[(item, status, result)]` of a for_each's entries, read from its recorded result.
fn entries(result: &Value, at: usize) -> Vec<(Value, String, String)> {
    let text = result["steps"][at]["result"].as_str().unwrap_or("[]");
    let entries: Vec<Value> = serde_json::from_str(text).unwrap();
    entries
        .iter()
        .enumerate()
        .map(|(index, e)| {
            assert_eq!(e["index"], json!(index));
            let text = |v: &Value| v.as_str().unwrap().to_owned();
            (e["item"].clone(), text(&e["status"]), text(&e["result"]))
        })
        .collect()
}

fn sent(engine: &ScriptedEngine) -> Vec<String> {
    engine.sent_in_order.borrow().clone()
}

#[test]
fn with_concurrency_1_items_run_one_after_another_in_item_order_and_the_result_lists_them() {
    let engine = ScriptedEngine::default()
        .answer(
            "research",
            Answer::Reply(r#"{"topics": ["sonnets", "odes"]}"#),
        )
        .answer("write", Answer::Slow("a sonnet", 2))
        .answer("write", Answer::Reply("an ode"))
        .answer("report", Answer::Reply("sent"));
    let mut report = http("report");
    report["body"] = json!("{{ steps.topics.json.map(e, e.result).join(', ') }}");
    let result = run(
        &engine,
        json!({"steps": [turn("research"),
                         for_each("steps.research.json.topics", 5, 1), report]}),
    )
    .unwrap();
    assert_eq!(
        engine.calls(),
        calls(&[
            "agent_turn research",
            "agent_turn write",
            "done agent_turn write",
            "agent_turn write",
            "http report"
        ])
    );
    assert_eq!(
        sent(&engine),
        [
            "write: 0: sonnets",
            "write: 1: odes",
            "report: a sonnet, an ode"
        ]
    );
    // The items' steps are in the for_each's result, not listed on their own.
    assert_eq!(
        statuses(&result),
        pairs(&[("research", "ok"), ("topics", "ok"), ("report", "ok")])
    );
    assert_eq!(
        entries(&result, 1),
        [
            (json!("sonnets"), "ok".into(), "a sonnet".into()),
            (json!("odes"), "ok".into(), "an ode".into())
        ]
    );
}

#[test]
fn with_concurrency_2_items_start_in_order_the_next_when_one_ends_and_results_keep_item_order() {
    let engine = ScriptedEngine::default()
        .answer("write", Answer::Slow("A", 3))
        .answer("write", Answer::Slow("B", 1))
        .answer("write", Answer::Reply("C"));
    let result = run_with(
        &engine,
        json!({"steps": [for_each("input.list", 3, 2)]}),
        json!({"list": ["a", "b", "c"]}),
    )
    .unwrap();
    // b ends first, so c starts while a still runs.
    assert_eq!(
        engine.calls(),
        calls(&[
            "agent_turn write",
            "agent_turn write",
            "done agent_turn write",
            "agent_turn write",
            "done agent_turn write"
        ])
    );
    assert_eq!(sent(&engine), ["write: 0: a", "write: 1: b", "write: 2: c"]);
    let items: Vec<(Value, String)> = entries(&result, 0)
        .into_iter()
        .map(|(item, _, result)| (item, result))
        .collect();
    assert_eq!(
        items,
        [
            (json!("a"), "A".into()),
            (json!("b"), "B".into()),
            (json!("c"), "C".into())
        ]
    );
    assert!(
        engine
            .phases
            .borrow()
            .contains(&"topics[0] write: agent turn x; topics[1] write: agent turn x".to_owned()),
        "the phase names every running item: {:?}",
        engine.phases.borrow()
    );
}

#[test]
fn each_item_reads_its_own_earlier_steps_and_the_steps_before_the_for_each() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("notes"))
        .answer("draft", Answer::Slow("draft of x", 1))
        .answer("draft", Answer::Slow("draft of y", 1))
        .answer("polish", Answer::Reply("x!"))
        .answer("polish", Answer::Reply("y!"));
    let mut draft = turn("draft");
    draft["message"] = json!("{{ steps.research.result }} {{ item.name }}");
    let mut polish = turn("polish");
    polish["message"] = json!("{{ steps.draft.result }}");
    let each = json!({"id": "each", "type": "for_each", "items": "input.things",
                      "max_items": 2, "concurrency": 2, "steps": [draft, polish]});
    let result = run_with(
        &engine,
        json!({"steps": [turn("research"), each]}),
        json!({"things": [{"name": "x"}, {"name": "y"}]}),
    )
    .unwrap();
    // Both drafts run at once; each polish reads its own item's draft.
    assert_eq!(
        sent(&engine),
        [
            "draft: notes x",
            "draft: notes y",
            "polish: draft of x",
            "polish: draft of y"
        ]
    );
    assert_eq!(
        entries(&result, 1)
            .into_iter()
            .map(|(_, _, r)| r)
            .collect::<Vec<_>>(),
        ["x!", "y!"]
    );
}

#[test]
fn a_failed_item_fails_the_step_after_the_running_ones_end_and_no_new_item_starts() {
    let engine = ScriptedEngine::default()
        .answer("write", Answer::Slow("A", 2))
        .answer("write", Answer::Fail("GatewayRejected", "no such agent"))
        .answer("alert", Answer::Reply("ok"));
    let mut alert = http("alert");
    alert["body"] = json!("{{ failure.step }} {{ steps.topics.status }} {{ steps.topics.error }}");
    let failed = run_with(
        &engine,
        json!({"steps": [for_each("input.list", 4, 2), turn("after")], "on_failure": [alert]}),
        json!({"list": ["a", "b", "c", "d"]}),
    )
    .unwrap_err();
    assert_eq!(
        engine.calls(),
        calls(&[
            "agent_turn write",
            "agent_turn write",
            "done agent_turn write",
            "http alert"
        ]),
        "a, which was running, ends; c and d never start"
    );
    assert_eq!(
        engine.sent.borrow()["alert"],
        "write failed [GatewayRejected] topics[1]: no such agent"
    );
    assert_eq!(
        failed,
        "failed at write: [GatewayRejected] topics[1]: no such agent"
    );
}

#[test]
fn with_continue_on_error_a_failed_item_is_recorded_in_its_entry_and_the_others_go_on() {
    let engine = ScriptedEngine::default()
        .answer("write", Answer::Fail("GatewayRejected", "no"))
        .answer("write", Answer::Reply("B"));
    let mut each = for_each("input.list", 2, 1);
    each["continue_on_error"] = json!(true);
    let result = run_with(&engine, json!({"steps": [each]}), json!({"list": [1, 2]})).unwrap();
    assert_eq!(result["steps"][0]["status"], "ok");
    let text = result["steps"][0]["result"].as_str().unwrap();
    let list: Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        list,
        json!([
            {"index": 0, "item": 1, "status": "failed-continued", "result": "", "json": null,
             "error": "[GatewayRejected] no"},
            {"index": 1, "item": 2, "status": "ok", "result": "B", "json": null, "error": ""}
        ])
    );
}

#[test]
fn a_list_longer_than_max_items_fails_typed_naming_the_limit_before_any_item_runs() {
    let engine = ScriptedEngine::default();
    let failed = run_with(
        &engine,
        json!({"steps": [for_each("input.list", 2, 1)]}),
        json!({"list": [1, 2, 3]}),
    )
    .unwrap_err();
    assert!(engine.calls().is_empty());
    assert!(
        failed.starts_with(
            "failed at topics: [TooManyItems] declared.t.steps[0] \"topics\".items: \
             \"input.list\" gave 3 items, more than max_items = 2"
        ),
        "{failed}"
    );
}

#[test]
fn items_that_are_not_a_list_fail_with_expression_failed_naming_the_expression_and_the_type() {
    let engine = ScriptedEngine::default();
    let failed = run_with(
        &engine,
        json!({"steps": [for_each("input.list", 2, 1)]}),
        json!({"list": {"a": 1}}),
    )
    .unwrap_err();
    assert!(engine.calls().is_empty());
    assert_eq!(
        failed,
        "failed at topics: [ExpressionFailed] declared.t.steps[0] \"topics\".items: \
         \"input.list\": expected a list, got a map: {\"a\":1}"
    );
    let mut each = for_each("input.list", 2, 1);
    each["continue_on_error"] = json!(true);
    let result = run_with(&engine, json!({"steps": [each]}), json!({"list": null})).unwrap();
    assert_eq!(result["steps"][0]["status"], "failed-continued");
    assert!(
        result["steps"][0]["error"]
            .as_str()
            .unwrap()
            .ends_with("expected a list, got null: "),
        "{result}"
    );
}

#[test]
fn a_false_when_skips_the_for_each_and_an_empty_list_runs_nothing_and_gives_an_empty_list() {
    let engine = ScriptedEngine::default();
    let mut each = for_each("input.list", 2, 1);
    each["when"] = json!("size(input.list) > 0");
    let result = run_with(&engine, json!({"steps": [each]}), json!({"list": []})).unwrap();
    assert_eq!(statuses(&result), pairs(&[("topics", "skipped")]));
    let result = run_with(
        &engine,
        json!({"steps": [for_each("input.list", 2, 2)]}),
        json!({"list": []}),
    )
    .unwrap();
    assert!(engine.calls().is_empty());
    assert_eq!(result["steps"][0]["result"], "[]");
}
