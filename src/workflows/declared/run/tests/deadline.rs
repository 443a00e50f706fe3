//! The deadline driven by [`ScriptedEngine`]: a wait nobody answers is cancelled when the
//! deadline fires, `on_failure` runs with `DeadlineExceeded`, and a run within its deadline,
//! or replayed from before the deadline existed, runs exactly as without one.

use super::scripted_engine::{Answer, ScriptedEngine, decide};
use super::{calls, http, pairs, run, run_with, statuses, turn};
use serde_json::{Value, json};

/// Research, an approval, publish; on failure an alert that says what happened.
fn digest(timeout: Option<&str>) -> Value {
    let approval = json!({"id": "ok", "type": "approval", "timeout": "24h"});
    let mut alert = http("alert");
    alert["body"] = json!("{{ failure.type }} at {{ failure.step }}; ok was {{ steps.ok.status }}");
    let mut definition = json!({
        "steps": [turn("research"), approval, turn("publish")],
        "on_failure": [alert],
    });
    if let Some(timeout) = timeout {
        definition["timeout"] = json!(timeout);
    }
    definition
}

#[test]
fn a_deadline_that_passes_mid_approval_cancels_it_runs_on_failure_and_fails_deadline_exceeded() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("three new poems"))
        .answer("ok", Answer::Hang)
        .answer("alert", Answer::Reply("sent"));
    let failed = run(&engine, digest(Some("1h"))).unwrap_err();
    assert_eq!(
        engine.calls(),
        calls(&[
            "deadline deadline",
            "agent_turn research",
            "decision ok",
            "cancel_steps",
            "http alert"
        ])
    );
    assert_eq!(
        engine.sent.borrow()["alert"],
        "DeadlineExceeded at ok; ok was cancelled"
    );
    assert_eq!(
        failed,
        "failed at ok: [DeadlineExceeded] t: the run's timeout of 1h passed; cancelled ok"
    );
}

#[test]
fn every_branch_still_waiting_is_cancelled_and_named_and_a_finished_one_keeps_its_result() {
    let engine = ScriptedEngine::default()
        .answer("notify", Answer::Reply("sent"))
        .answer("ok", Answer::Hang)
        .answer("wait", Answer::Hang)
        .answer("alert", Answer::Reply("sent"));
    let wait = json!({"id": "wait", "type": "delay", "duration": "2h"});
    let approval = json!({"id": "ok", "type": "approval", "timeout": "24h"});
    let mut alert = http("alert");
    alert["body"] = json!("{{ failure.step }}: {{ steps.notify.status }} {{ steps.both.status }}");
    let both = json!({"id": "both", "type": "parallel", "steps": [http("notify"), approval, wait]});
    let definition =
        json!({"timeout": "30m", "steps": [both, turn("never")], "on_failure": [alert]});
    let failed = run(&engine, definition).unwrap_err();
    assert_eq!(engine.sent.borrow()["alert"], "ok, wait: ok cancelled");
    assert!(!engine.calls().contains(&"agent_turn never".to_owned()));
    assert!(
        failed.starts_with("failed at ok, wait: [DeadlineExceeded] "),
        "{failed}"
    );
}

#[test]
fn a_run_that_ends_before_its_deadline_returns_what_it_would_without_one() {
    let script = || {
        ScriptedEngine::default()
            .answer("research", Answer::Reply("three new poems"))
            .answer("ok", decide(true, "ship it"))
            .answer("publish", Answer::Reply("published"))
    };
    let with = script();
    let bounded = run(&with, digest(Some("1h"))).unwrap();
    let without = script();
    let unbounded = run(&without, digest(None)).unwrap();
    assert_eq!(bounded, unbounded);
    assert_eq!(
        statuses(&bounded),
        pairs(&[("research", "ok"), ("ok", "ok"), ("publish", "ok")])
    );
    assert_eq!(with.calls()[0], "deadline deadline");
    assert_eq!(with.calls()[1..], without.calls()[..]);
    assert!(!with.calls().contains(&"cancel_steps".to_owned()));
}

#[test]
fn the_inputs_timeout_replaces_the_declared_one() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("x"))
        .answer("ok", Answer::Hang)
        .answer("alert", Answer::Reply("sent"));
    let failed = run_with(&engine, digest(None), json!({"$timeout": "5m"})).unwrap_err();
    assert!(
        failed.contains("the run's timeout of 5m passed"),
        "{failed}"
    );
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("x"))
        .answer("ok", Answer::Hang)
        .answer("alert", Answer::Reply("sent"));
    let failed = run_with(&engine, digest(Some("1h")), json!({"$timeout": 90})).unwrap_err();
    assert!(
        failed.contains("the run's timeout of 90s passed"),
        "{failed}"
    );
}

#[test]
fn a_run_recorded_before_the_deadline_patch_replays_without_a_deadline_timer() {
    let engine = ScriptedEngine::default()
        .unpatched()
        .answer("research", Answer::Reply("three new poems"))
        .answer("ok", decide(true, ""))
        .answer("publish", Answer::Reply("published"));
    let result = run(&engine, digest(Some("1h"))).unwrap();
    assert_eq!(result["status"], "completed");
    assert_eq!(
        engine.calls(),
        calls(&["agent_turn research", "decision ok", "agent_turn publish"])
    );
}

#[test]
fn a_deadline_inside_a_for_each_cancels_the_waiting_item_and_starts_no_other() {
    let engine = ScriptedEngine::default()
        .answer("ok", Answer::Hang)
        .answer("alert", Answer::Reply("sent"));
    let approval = json!({"id": "ok", "type": "approval", "timeout": "24h"});
    let each = json!({"id": "each", "type": "for_each", "items": "[1, 2, 3]", "max_items": 3,
                      "steps": [approval]});
    let mut alert = http("alert");
    alert["body"] = json!("{{ failure.type }}: {{ steps.each.status }}");
    let definition = json!({"timeout": "1h", "steps": [each], "on_failure": [alert]});
    let failed = run(&engine, definition).unwrap_err();
    let decisions = engine
        .calls()
        .iter()
        .filter(|c| *c == "decision ok")
        .count();
    assert_eq!(
        decisions,
        1,
        "one item waited, no other started: {:?}",
        engine.calls()
    );
    assert!(engine.calls().contains(&"cancel_steps".to_owned()));
    assert_eq!(engine.sent.borrow()["alert"], "DeadlineExceeded: cancelled");
    assert_eq!(
        failed,
        "failed at each: [DeadlineExceeded] t: the run's timeout of 1h passed; cancelled each"
    );
}
