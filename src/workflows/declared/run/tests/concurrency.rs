//! `concurrency` driven by [`ScriptedEngine`]: the lock is asked for before the first step
//! and given back however the run ends; a refused run ends `skipped` without running
//! anything; a run without `concurrency` asks for no lock at all.

use super::scripted_engine::{Answer, ScriptedEngine};
use super::{calls, http, run, run_with, statuses, turn};
use crate::workflows::declared::run::LockAnswer;
use serde_json::{Value, json};

fn digest(concurrency: Value) -> Value {
    let mut alert = http("alert");
    alert["body"] = json!("{{ failure.type }}");
    json!({"concurrency": concurrency, "steps": [turn("research"), turn("publish")],
           "on_failure": [alert]})
}

#[test]
fn the_lock_is_asked_before_the_first_step_and_given_back_after_the_last() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("poems"))
        .answer("publish", Answer::Reply("done"));
    let result = run(&engine, digest(json!({"key": "'digest'"}))).unwrap();
    assert_eq!(result["status"], "completed");
    assert_eq!(
        engine.calls(),
        calls(&[
            "acquire_lock digest 1 Queue",
            "agent_turn research",
            "agent_turn publish",
            "release_lock digest"
        ])
    );
    assert_eq!(engine.phases.borrow()[0], "waiting for lock digest");
}

#[test]
fn the_key_reads_the_input_and_limit_and_when_busy_reach_the_lock() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("poems"))
        .answer("publish", Answer::Reply("done"));
    let concurrency =
        json!({"key": "'agent-' + input.agent", "limit": 2, "when_busy": "cancel_other"});
    run_with(&engine, digest(concurrency), json!({"agent": "main"})).unwrap();
    assert_eq!(engine.calls()[0], "acquire_lock agent-main 2 CancelOther");
    assert_eq!(engine.calls().last().unwrap(), "release_lock agent-main");
}

#[test]
fn a_refused_run_runs_nothing_and_ends_skipped_saying_why() {
    let engine = ScriptedEngine::default().answer("lock", Answer::Lock(LockAnswer::Refused));
    let result = run(
        &engine,
        digest(json!({"key": "'digest'", "when_busy": "skip"})),
    )
    .unwrap();
    assert_eq!(engine.calls(), calls(&["acquire_lock digest 1 Skip"]));
    assert_eq!(result["status"], "skipped");
    assert!(
        result["reason"]
            .as_str()
            .unwrap()
            .contains("another run holds the lock \"digest\""),
        "{result}"
    );
    assert_eq!(
        statuses(&result),
        super::pairs(&[("research", "skipped"), ("publish", "skipped")])
    );
}

#[test]
fn a_failed_run_gives_the_lock_back_after_on_failure() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Fail("GatewayUnavailable", "down"))
        .answer("alert", Answer::Reply("sent"));
    let failed = run(&engine, digest(json!({"key": "'digest'"}))).unwrap_err();
    assert!(failed.contains("GatewayUnavailable"), "{failed}");
    assert_eq!(
        engine.calls(),
        calls(&[
            "acquire_lock digest 1 Queue",
            "agent_turn research",
            "http alert",
            "release_lock digest"
        ])
    );
}

#[test]
fn a_run_past_its_deadline_gives_the_lock_back_and_the_deadline_starts_once_it_holds_it() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("poems"))
        .answer("ok", Answer::Hang)
        .answer("alert", Answer::Reply("sent"));
    let approval = json!({"id": "ok", "type": "approval", "timeout": "24h"});
    let definition = json!({"concurrency": {"key": "'digest'"}, "timeout": "1h",
                            "steps": [turn("research"), approval], "on_failure": [http("alert")]});
    let failed = run(&engine, definition).unwrap_err();
    assert!(failed.contains("DeadlineExceeded"), "{failed}");
    assert_eq!(
        engine.calls(),
        calls(&[
            "acquire_lock digest 1 Queue",
            "deadline deadline",
            "agent_turn research",
            "decision ok",
            "cancel_steps",
            "http alert",
            "release_lock digest"
        ])
    );
}

#[test]
fn a_run_cancelled_while_it_waits_leaves_the_queue_and_runs_nothing() {
    let engine = ScriptedEngine::default().answer("lock", Answer::Cancel);
    let failed = run(&engine, digest(json!({"key": "'digest'"})));
    assert!(failed.is_err());
    assert_eq!(
        engine.calls(),
        calls(&["acquire_lock digest 1 Queue", "release_lock digest"])
    );
}

#[test]
fn without_concurrency_no_lock_is_asked_for() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("poems"))
        .answer("publish", Answer::Reply("done"));
    let mut definition = digest(Value::Null);
    definition.as_object_mut().unwrap().remove("concurrency");
    run(&engine, definition).unwrap();
    assert_eq!(
        engine.calls(),
        calls(&["agent_turn research", "agent_turn publish"])
    );
}

#[test]
fn an_empty_key_fails_the_run_before_any_lock_or_step() {
    let engine = ScriptedEngine::default();
    let failed = run_with(
        &engine,
        digest(json!({"key": "input.topic"})),
        json!({"topic": ""}),
    );
    assert!(failed.is_err());
    assert!(engine.calls().is_empty(), "{:?}", engine.calls());
}
