//! The interpreter driven by [`ScriptedEngine`], without a server: what runs, in which
//! order, what each step records, and what the run ends with. `tests/it/workflows/declared/`
//! prove the same semantics end to end on a real server; these pin them where they are
//! decided. One file per feature beside this one (`deadline`, `for_each`, `headers`,
//! `inputs`); the steps of every kind and their error handling are here.

mod concurrency;
mod deadline;
mod for_each;
mod headers;
mod inputs;
mod scripted_engine;

use super::Run;
use crate::config::{Config, DeclaredWorkflow};
use crate::workflows::WorkflowSettings;
use crate::workflows::declared::plan::Plan;
use scripted_engine::{Answer, ScriptedEngine, decide};
use serde_json::{Value, json};
use std::time::Duration;
use temporalio_common::ActivityCloseTimeouts;

/// Runs `definition` with `input`: the result, or (the run failed) the phase it ended in.
pub(super) fn run_with(
    engine: &ScriptedEngine,
    definition: Value,
    input: Value,
) -> Result<Value, String> {
    let workflow: DeclaredWorkflow = serde_json::from_value(definition).unwrap();
    let plan = Plan::compile("t", &workflow).unwrap();
    let settings = WorkflowSettings::from_config(&Config::default());
    let run = Run::new(engine, &settings, &plan, &input).unwrap();
    match futures::executor::block_on(run.execute()) {
        Ok(result) => Ok(serde_json::to_value(result).unwrap()),
        Err(_) => Err(engine.last_phase()),
    }
}

pub(super) fn run(engine: &ScriptedEngine, definition: Value) -> Result<Value, String> {
    run_with(engine, definition, Value::Null)
}

/// `[(id, status)]` of the result's steps, in its order.
pub(super) fn statuses(result: &Value) -> Vec<(String, String)> {
    result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (text(&s["id"]), text(&s["status"])))
        .collect()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

pub(super) fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(id, status)| (id.to_string(), status.to_string()))
        .collect()
}

pub(super) fn calls(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|call| call.to_string()).collect()
}

pub(super) fn turn(id: &str) -> Value {
    json!({"id": id, "type": "agent_turn", "turn": "x"})
}

pub(super) fn http(id: &str) -> Value {
    json!({"id": id, "type": "http", "url": "https://example.org/hook", "method": "POST"})
}

fn approval(on_timeout: &str, on_reject: &str) -> Value {
    json!({"id": "ok", "type": "approval", "timeout": "1h",
           "on_timeout": on_timeout, "on_reject": on_reject})
}

#[test]
fn a_false_when_skips_the_step_which_the_result_records_as_skipped_without_a_result() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Reply("nothing new"))
        .answer("publish", Answer::Reply("done"));
    let mut digest = turn("digest");
    digest["when"] = json!("steps.research.result != 'nothing new'");
    let result = run(
        &engine,
        json!({"steps": [turn("research"), digest, turn("publish")]}),
    )
    .unwrap();
    assert_eq!(
        engine.calls(),
        calls(&["agent_turn research", "agent_turn publish"])
    );
    assert_eq!(result["status"], "completed");
    assert_eq!(
        statuses(&result),
        pairs(&[("research", "ok"), ("digest", "skipped"), ("publish", "ok")])
    );
    assert_eq!(
        result["steps"][1],
        json!({"id": "digest", "type": "agent_turn", "status": "skipped"})
    );
    assert_eq!(result["steps"][2]["result"], "done");
}

#[test]
fn a_skipped_parallel_step_skips_every_branch_inside_it() {
    let engine = ScriptedEngine::default();
    let both = json!({"id": "both", "type": "parallel", "when": "input.go",
                      "steps": [turn("a"), http("b")]});
    let result = run_with(&engine, json!({"steps": [both]}), json!({"go": false})).unwrap();
    assert!(engine.calls().is_empty());
    assert_eq!(
        statuses(&result),
        pairs(&[("both", "skipped"), ("a", "skipped"), ("b", "skipped")])
    );
}

#[test]
fn continue_on_error_records_the_failure_and_later_steps_read_it() {
    let engine = ScriptedEngine::default()
        .answer("notify", Answer::Fail("HttpUnavailable", "HTTP 503"))
        .answer("report", Answer::Reply("sent"));
    let mut notify = http("notify");
    notify["continue_on_error"] = json!(true);
    let mut report = turn("report");
    report["message"] = json!("{{ steps.notify.status }} {{ steps.notify.error }}");
    let result = run(&engine, json!({"steps": [notify, report]})).unwrap();
    assert_eq!(engine.calls(), calls(&["http notify", "agent_turn report"]));
    assert_eq!(
        engine.sent.borrow()["report"],
        "failed-continued [HttpUnavailable] HTTP 503"
    );
    assert_eq!(result["status"], "completed");
    assert_eq!(
        result["steps"][0],
        json!({"id": "notify", "type": "http", "status": "failed-continued",
               "error": "[HttpUnavailable] HTTP 503"})
    );
    assert_eq!(engine.last_phase(), "done");
}

#[test]
fn a_failed_step_stops_the_run_and_on_failure_runs_after_it_reading_the_failure() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Fail("GatewayRejected", "no such agent"))
        .answer("alert", Answer::Reply("ok"));
    let mut alert = http("alert");
    alert["body"] = json!(
        "{{ failure.step }} {{ failure.type }} {{ failure.message }} {{ steps.research.status }} {{ steps.publish.status }}"
    );
    let failed = run(
        &engine,
        json!({"steps": [turn("research"), turn("publish")], "on_failure": [alert]}),
    )
    .unwrap_err();
    assert_eq!(
        engine.calls(),
        calls(&["agent_turn research", "http alert"])
    );
    assert_eq!(
        engine.sent.borrow()["alert"],
        "research GatewayRejected no such agent failed pending"
    );
    assert_eq!(
        failed,
        "failed at research: [GatewayRejected] no such agent"
    );
}

#[test]
fn a_failing_on_failure_step_does_not_replace_the_original_failure() {
    let engine = ScriptedEngine::default()
        .answer("research", Answer::Fail("GatewayRejected", "no"))
        .answer("alert", Answer::Fail("HttpUnavailable", "HTTP 503"))
        .answer("cleanup", Answer::Reply("ok"));
    let failed = run(
        &engine,
        json!({"steps": [turn("research")], "on_failure": [http("alert"), turn("cleanup")]}),
    )
    .unwrap_err();
    // The first failing on_failure step ends on_failure: `cleanup` does not run.
    assert_eq!(
        engine.calls(),
        calls(&["agent_turn research", "http alert"])
    );
    assert_eq!(failed, "failed at research: [GatewayRejected] no");
}

#[test]
fn a_when_that_cannot_be_evaluated_fails_its_step_with_expression_failed() {
    let engine = ScriptedEngine::default();
    let mut a = turn("a");
    a["when"] = json!("input.missing > 1");
    let failed = run_with(&engine, json!({"steps": [a]}), json!({})).unwrap_err();
    assert!(engine.calls().is_empty());
    assert!(
        failed.starts_with("failed at a: [ExpressionFailed] declared.t.steps[0] \"a\".when: "),
        "{failed}"
    );
}

#[test]
fn every_parallel_branch_runs_to_its_end_and_a_failed_branch_then_fails_the_step() {
    let engine = ScriptedEngine::default()
        .answer("write", Answer::Fail("GatewayRejected", "no"))
        .answer("notify", Answer::Reply("ok"))
        .answer("alert", Answer::Reply("ok"));
    let share = json!({"id": "share", "type": "parallel", "steps": [
        turn("write"), http("notify"), {"id": "pause", "type": "delay", "duration": "1m"}]});
    let mut alert = http("alert");
    alert["body"] = json!(
        "{{ steps.share.status }} {{ steps.write.status }} {{ steps.notify.status }} {{ steps.pause.status }} at {{ failure.step }}"
    );
    let failed = run(
        &engine,
        json!({"steps": [share, turn("publish")], "on_failure": [alert]}),
    )
    .unwrap_err();
    assert_eq!(
        engine.calls(),
        calls(&[
            "agent_turn write",
            "http notify",
            "timer pause",
            "http alert"
        ])
    );
    assert_eq!(
        engine.sent.borrow()["alert"],
        "failed failed ok ok at write"
    );
    assert_eq!(failed, "failed at write: [GatewayRejected] no");
}

#[test]
fn a_branch_with_continue_on_error_fails_alone_and_the_parallel_step_succeeds() {
    let engine = ScriptedEngine::default()
        .answer("write", Answer::Reply("digest"))
        .answer("notify", Answer::Fail("HttpUnavailable", "HTTP 503"))
        .answer("publish", Answer::Reply("published"));
    let mut notify = http("notify");
    notify["continue_on_error"] = json!(true);
    let share = json!({"id": "share", "type": "parallel", "steps": [turn("write"), notify]});
    let result = run(&engine, json!({"steps": [share, turn("publish")]})).unwrap();
    assert_eq!(
        statuses(&result),
        pairs(&[
            ("share", "ok"),
            ("write", "ok"),
            ("notify", "failed-continued"),
            ("publish", "ok")
        ])
    );
    assert_eq!(result["status"], "completed");
}

#[test]
fn an_approval_records_the_decision_and_the_next_step_reads_it() {
    let engine = ScriptedEngine::default()
        .answer("ok", decide(true, "ship it"))
        .answer("publish", Answer::Reply("published"));
    let mut publish = turn("publish");
    publish["message"] = json!("{{ steps.ok.json.decision }}: {{ steps.ok.json.comment }}");
    let mut ask = approval("reject", "stop");
    ask["prompt"] = json!("Publish {{ input.topic }}?");
    let result = run_with(
        &engine,
        json!({"steps": [ask, publish]}),
        json!({"topic": "sonnets"}),
    )
    .unwrap();
    assert_eq!(
        engine.calls(),
        calls(&["decision ok", "agent_turn publish"])
    );
    assert_eq!(engine.sent.borrow()["publish"], "approved: ship it");
    let recorded: Value =
        serde_json::from_str(result["steps"][0]["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        recorded,
        json!({"decision": "approved", "comment": "ship it", "timed_out": false})
    );
    assert!(
        engine.phases.borrow().contains(
            &"ok: waiting for approval: Publish sonnets? until 1970-01-01T01:00:00Z".to_owned()
        ),
        "{:?}",
        engine.phases.borrow()
    );
}

#[test]
fn a_rejection_stops_the_run_by_default_with_the_comment_as_the_reason() {
    let engine = ScriptedEngine::default().answer("ok", decide(false, "not today"));
    let result = run(
        &engine,
        json!({"steps": [approval("reject", "stop"), turn("publish")]}),
    )
    .unwrap();
    assert_eq!(engine.calls(), calls(&["decision ok"]));
    assert_eq!(result["status"], "stopped");
    assert_eq!(result["reason"], "ok: rejected: not today");
    assert_eq!(
        statuses(&result),
        pairs(&[("ok", "ok"), ("publish", "skipped")])
    );
    assert_eq!(engine.last_phase(), "stopped: ok: rejected: not today");
}

#[test]
fn a_rejection_with_on_reject_fail_fails_the_run_as_approval_rejected() {
    let engine = ScriptedEngine::default().answer("ok", decide(false, ""));
    let failed = run(
        &engine,
        json!({"steps": [approval("reject", "fail"), turn("publish")]}),
    )
    .unwrap_err();
    assert_eq!(engine.calls(), calls(&["decision ok"]));
    assert_eq!(failed, "failed at ok: [ApprovalRejected] ok: rejected");
}

#[test]
fn a_rejection_with_on_reject_continue_is_recorded_and_the_run_goes_on() {
    let engine = ScriptedEngine::default()
        .answer("ok", decide(false, "meh"))
        .answer("publish", Answer::Reply("published"));
    let mut publish = turn("publish");
    publish["when"] = json!("steps.ok.json.decision == 'rejected'");
    let result = run(
        &engine,
        json!({"steps": [approval("reject", "continue"), publish]}),
    )
    .unwrap();
    assert_eq!(
        engine.calls(),
        calls(&["decision ok", "agent_turn publish"])
    );
    assert_eq!(result["status"], "completed");
}

#[test]
fn a_timeout_rejects_by_default_approves_with_on_timeout_approve_and_fails_with_on_timeout_fail() {
    let timed_out = || ScriptedEngine::default().answer("ok", Answer::Decide(None));

    let result = run(&timed_out(), json!({"steps": [approval("reject", "stop")]})).unwrap();
    assert_eq!(result["status"], "stopped");
    assert_eq!(result["reason"], "ok: not approved in time");
    let recorded: Value =
        serde_json::from_str(result["steps"][0]["result"].as_str().unwrap()).unwrap();
    assert_eq!(
        recorded,
        json!({"decision": "rejected", "comment": "", "timed_out": true})
    );

    let engine = timed_out().answer("publish", Answer::Reply("published"));
    let result = run(
        &engine,
        json!({"steps": [approval("approve", "stop"), turn("publish")]}),
    )
    .unwrap();
    assert_eq!(result["status"], "completed");
    assert_eq!(
        engine.calls(),
        calls(&["decision ok", "agent_turn publish"])
    );

    let failed = run(&timed_out(), json!({"steps": [approval("fail", "stop")]})).unwrap_err();
    assert_eq!(
        failed,
        "failed at ok: [ApprovalTimedOut] ok: nobody approved or rejected in time"
    );
}

#[test]
fn a_stop_in_a_sequence_ends_the_whole_run_successfully_and_skips_everything_after_it() {
    let engine = ScriptedEngine::default().answer("a", Answer::Reply("nothing new"));
    let halt = json!({"id": "halt", "type": "stop", "reason": "{{ steps.a.result }} on {{ input.topic }}"});
    let seq = json!({"id": "seq", "type": "sequence", "steps": [turn("a"), halt, turn("b")]});
    let later = json!({"id": "later", "type": "parallel", "steps": [turn("c"), http("d")]});
    let result = run_with(
        &engine,
        json!({"steps": [seq, later], "on_failure": [turn("alert")]}),
        json!({"topic": "sonnets"}),
    )
    .unwrap();
    assert_eq!(engine.calls(), calls(&["agent_turn a"]));
    assert_eq!(result["status"], "stopped");
    assert_eq!(result["reason"], "nothing new on sonnets");
    assert_eq!(
        statuses(&result),
        pairs(&[
            ("seq", "ok"),
            ("a", "ok"),
            ("halt", "ok"),
            ("b", "skipped"),
            ("later", "skipped"),
            ("c", "skipped"),
            ("d", "skipped")
        ])
    );
    assert_eq!(result["steps"][2]["result"], "nothing new on sonnets");
}

#[test]
fn a_cancelled_run_ends_at_once_without_on_failure() {
    let engine = ScriptedEngine::default().answer("wait", Answer::Cancel);
    let wait = json!({"id": "wait", "type": "delay", "duration": "2h"});
    let ended = run(
        &engine,
        json!({"steps": [wait, turn("after")], "on_failure": [turn("alert")]}),
    );
    assert!(ended.is_err());
    assert_eq!(engine.calls(), calls(&["timer wait"]));
}

#[test]
fn a_steps_own_timeout_and_retry_reach_its_activity_and_the_rest_keep_their_defaults() {
    let engine = ScriptedEngine::default()
        .answer("a", Answer::Reply("ok"))
        .answer("h", Answer::Reply("ok"));
    let mut a = turn("a");
    a["timeout"] = json!("42s");
    a["retry"] = json!({"maximum_attempts": 7});
    let mut h = http("h");
    h["timeout"] = json!(5);
    run(&engine, json!({"steps": [a, h]})).unwrap();
    let options = engine.options.borrow();
    let start_to_close = |id: &str| match options[id].close_timeouts {
        ActivityCloseTimeouts::StartToClose(duration) => duration,
        other => panic!("{other:?}"),
    };
    assert_eq!(start_to_close("a"), Duration::from_secs(42));
    let retry = options["a"].retry_policy.as_ref().unwrap();
    assert_eq!(retry.maximum_attempts(), 7);
    assert_eq!(retry.initial_interval(), Duration::from_secs(30));
    assert_eq!(start_to_close("h"), Duration::from_secs(15));
    assert_eq!(
        options["h"]
            .retry_policy
            .as_ref()
            .unwrap()
            .maximum_attempts(),
        3
    );
    assert_eq!(
        options["h"].summary.as_deref(),
        Some("h: POST https://example.org/hook")
    );
}
