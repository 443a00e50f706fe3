//! Declared workflows end to end: `[declared.<name>]` in the worker's config, a real Temporal
//! dev server, the real worker binary, the loopback fake HTTP server as gateway and as the
//! URLs of http steps. Each test starts runs BY NAME, as the UI, the `temporal` CLI and
//! schedules do.

mod concurrency;
mod deadline;
mod for_each;
mod inputs;

use crate::common;

use clawfactory_temporal::config::{Config, Declared, GatewayApi};
use clawfactory_temporal::payload::json_payload;
use common::fake_http::Reply;
use common::{
    ConfigFile, Setup, TASK_QUEUE, cancel_and_close, cli, event_types, in_order, search_attributes,
    start_workflow, temporal_bin, wait_for_event, wait_until, wait_until_visible, workflow_failure,
    workflow_result,
};
use serde_json::{Value, json};
use std::time::Duration;
use temporalio_client::WorkflowSignalOptions;
use temporalio_client::{Client, UntypedQuery, UntypedSignal, WorkflowQueryOptions};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;

/// `[declared.*]` from TOML text with `{gw}` standing for the fake server's URL.
fn declared(setup: &Setup, text: &str) -> Declared {
    let text = text.replace("{gw}", &setup.gateway.url());
    Config::parse(&text)
        .expect("the test's declaration parses")
        .declared
}

pub(super) fn with_declared(setup: &Setup, text: &str) -> ConfigFile {
    let mut config = setup.config();
    config.declared = declared(setup, text);
    config
}

/// The run's result JSON.
pub(super) async fn result_json(client: &Client, workflow_id: &str) -> Value {
    let text = workflow_result(client, workflow_id)
        .await
        .unwrap_or_else(|err| panic!("{workflow_id} failed: {err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{text}: {err}"))
}

/// `(id, status)` of every step in a run's result.
pub(super) fn statuses(result: &Value) -> Vec<(String, String)> {
    result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub(super) fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

pub(super) async fn phase(client: &Client, workflow_id: &str) -> String {
    let handle = client.get_workflow_handle::<UntypedWorkflow>(workflow_id);
    let raw = handle
        .query(
            UntypedQuery::new("phase"),
            RawValue { payloads: vec![] },
            WorkflowQueryOptions::default(),
        )
        .await
        .expect("the phase query");
    serde_json::from_slice(&raw.payloads[0].data).unwrap()
}

pub(super) async fn wait_for_phase(
    client: &Client,
    workflow_id: &str,
    starts_with: &str,
) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        last = phase(client, workflow_id).await;
        if last.starts_with(starts_with) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{workflow_id}: phase never started with {starts_with:?}; last {last:?}");
}

const SCORED: &str = r#"
[declared.scored]
description = "branches on a JSON result and the input"

[[declared.scored.steps]]
id = "score"
type = "http"
url = "{gw}/score"

[[declared.scored.steps]]
id = "many"
type = "http"
url = "{gw}/many"
when = "steps.score.json.count > 2 && input.topic == 'sonnets'"

[[declared.scored.steps]]
id = "few"
type = "http"
url = "{gw}/few"
when = "steps.score.json.count <= 2"

[[declared.scored.steps]]
id = "report"
type = "http"
method = "POST"
url = "{gw}/report"
body = '{"count": {{ steps.score.json.count }}, "topic": "{{ input.topic }}", "few": "{{ steps.few.status }}"}'
"#;

#[tokio::test]
async fn conditions_read_an_earlier_json_result_and_the_input_and_a_false_one_skips_its_step() {
    let setup = Setup::new().await;
    setup
        .gateway
        .script("/score", [Reply::json(200, json!({"count": 3}))]);
    let _worker = setup.worker(&with_declared(&setup, SCORED)).await;
    let client = setup.server.client().await;
    start_workflow(
        &client,
        "scored",
        Some(json!({"topic": "sonnets"})),
        "scored-1",
    )
    .await;
    let result = result_json(&client, "scored-1").await;
    assert_eq!(
        statuses(&result),
        pairs(&[
            ("score", "ok"),
            ("many", "ok"),
            ("few", "skipped"),
            ("report", "ok")
        ])
    );
    assert_eq!(result["name"], "scored");
    assert_eq!(result["status"], "completed");
    assert_eq!(setup.gateway.requests_to("/many").len(), 1);
    assert!(setup.gateway.requests_to("/few").is_empty());
    let report = &setup.gateway.requests_to("/report")[0];
    assert_eq!(
        report.json(),
        json!({"count": 3, "topic": "sonnets", "few": "skipped"})
    );
    assert_eq!(report.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_templated_message_passes_one_turns_reply_to_the_next() {
    let setup = Setup::new().await;
    let mut config = with_declared(
        &setup,
        r#"
[[declared.relay.steps]]
id = "research"
type = "agent_turn"
turn = "poetry-research-execute"

[[declared.relay.steps]]
id = "synthesize"
type = "agent_turn"
turn = "poetry-research-synthesize"
message = "Summarize this: {{ steps.research.result }}"
"#,
    );
    config.gateway.api = Some(GatewayApi::Echo);
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "relay", None, "relay-1").await;
    let result = result_json(&client, "relay-1").await;
    let second = result["steps"][1]["result"].as_str().unwrap();
    assert!(
        second.contains(
            r#"with message "Summarize this: echo gateway: agent turn \"poetry-research-execute\""#
        ),
        "{second}"
    );
}

const FAILING: &str = r#"
[[declared.guarded.steps]]
id = "optional"
type = "http"
url = "{gw}/missing"
continue_on_error = true

[[declared.guarded.steps]]
id = "flaky"
type = "http"
url = "{gw}/flaky"
continue_on_error = true
retry = { initial_interval = "1s", maximum_attempts = 2 }

[[declared.guarded.steps]]
id = "after"
type = "http"
url = "{gw}/after"
when = "steps.optional.status == 'failed-continued' && steps.flaky.status == 'failed-continued'"

[[declared.guarded.steps]]
id = "publish"
type = "http"
url = "{gw}/publish"

[[declared.guarded.steps]]
id = "never"
type = "http"
url = "{gw}/never"

[[declared.guarded.on_failure]]
id = "alert"
type = "http"
method = "POST"
url = "{gw}/alert"
body = "{{ failure.type }} at {{ failure.step }}: {{ failure.message }}"
"#;

#[tokio::test]
async fn continue_on_error_goes_on_and_on_failure_runs_before_the_original_failure_is_reported() {
    let setup = Setup::new().await;
    setup
        .gateway
        .script("/missing", [Reply::status(404, "no such page")]);
    setup
        .gateway
        .script("/flaky", (0..5).map(|_| Reply::status(503, "busy")));
    setup
        .gateway
        .script("/publish", [Reply::status(403, "read-only")]);
    let _worker = setup.worker(&with_declared(&setup, FAILING)).await;
    let client = setup.server.client().await;
    start_workflow(&client, "guarded", None, "guarded-1").await;
    let failed = workflow_failure(&client, "guarded-1").await;
    assert!(failed.chain.contains("[HttpRejected]"), "{}", failed.chain);
    assert!(failed.chain.contains("read-only"), "{}", failed.chain);
    assert_eq!(
        setup.gateway.requests_to("/flaky").len(),
        2,
        "the step's own retry policy: two attempts"
    );
    assert_eq!(setup.gateway.requests_to("/after").len(), 1);
    assert!(setup.gateway.requests_to("/never").is_empty());
    let alert = &setup.gateway.requests_to("/alert")[0];
    assert!(
        alert.body.starts_with("HttpRejected at publish: GET "),
        "{}",
        alert.body
    );
    assert!(
        alert.at > setup.gateway.requests_to("/publish")[0].at,
        "on_failure runs after the failure"
    );
    assert!(
        phase(&client, "guarded-1")
            .await
            .starts_with("failed at publish: [HttpRejected]")
    );
}

#[tokio::test]
async fn agent_turns_on_parallel_branches_overlap_in_time() {
    let setup = Setup::new().await;
    let slow = Duration::from_millis(1500);
    setup.gateway.script(
        "/api/cron/fire",
        [
            Reply::ok("a done").delayed(slow),
            Reply::ok("b done").delayed(slow),
        ],
    );
    let config = with_declared(
        &setup,
        r#"
[[declared.fanout.steps]]
id = "both"
type = "parallel"

  [[declared.fanout.steps.steps]]
  id = "left"
  type = "agent_turn"
  turn = "left-turn"

  [[declared.fanout.steps.steps]]
  id = "right"
  type = "sequence"

    [[declared.fanout.steps.steps.steps]]
    id = "right_turn"
    type = "agent_turn"
    turn = "right-turn"

[[declared.fanout.steps]]
id = "after"
type = "http"
url = "{gw}/after"
when = "steps.left.status == 'ok' && steps.right_turn.status == 'ok'"
"#,
    );
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "fanout", None, "fanout-1").await;
    let result = result_json(&client, "fanout-1").await;
    assert_eq!(
        statuses(&result),
        pairs(&[
            ("both", "ok"),
            ("left", "ok"),
            ("right", "ok"),
            ("right_turn", "ok"),
            ("after", "ok")
        ])
    );
    let fires = setup.gateway.requests_to("/api/cron/fire");
    assert_eq!(fires.len(), 2);
    let gap = if fires[1].at > fires[0].at {
        fires[1].at - fires[0].at
    } else {
        fires[0].at - fires[1].at
    };
    assert!(
        gap < slow,
        "the second turn started {gap:?} after the first, which took {slow:?}: they did not overlap"
    );
    let after = &setup.gateway.requests_to("/after")[0];
    assert!(
        after.at - fires[0].at >= slow,
        "the next step waits for both branches"
    );
}

#[tokio::test]
async fn a_declared_run_is_findable_by_its_name_and_the_turns_of_every_branch() {
    let setup = Setup::new().await;
    let config = with_declared(
        &setup,
        r#"
[[declared.fanout.steps]]
id = "both"
type = "parallel"

  [[declared.fanout.steps.steps]]
  id = "left"
  type = "agent_turn"
  turn = "left-turn"

  [[declared.fanout.steps.steps]]
  id = "right"
  type = "agent_turn"
  turn = "right-turn"

[[declared.fanout.steps]]
id = "again"
type = "agent_turn"
turn = "left-turn"
"#,
    );
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "fanout", None, "fanout-found").await;
    result_json(&client, "fanout-found").await;
    let attributes = search_attributes(&client, "fanout-found").await;
    assert_eq!(attributes.get("ClawWorkflow"), Some(&json!("fanout")));
    assert_eq!(
        attributes.get("ClawTurns"),
        Some(&json!(["left-turn", "right-turn"])),
        "each turn once, branches in declaration order"
    );
    assert_eq!(attributes.get("ClawInstance"), Some(&json!(["default"])));
    let query = r#"ClawWorkflow = "fanout" AND ClawTurns = "right-turn""#;
    wait_until_visible(&client, query, &["fanout-found"]).await;
    let events = event_types(&client, "fanout-found").await;
    let upserts = events
        .iter()
        .filter(|e| e.as_str() == "UpsertWorkflowSearchAttributes")
        .count();
    // The SDK's for the marker, `ClawWorkflow`, one per new turn; none for a turn run again.
    assert_eq!(upserts, 4, "{events:?}");
}

const GATE: &str = r#"
[[declared.gate.steps]]
id = "ok_to_publish"
type = "approval"
prompt = "Publish the digest on {{ input.topic }}?"
timeout = "60s"

[[declared.gate.steps]]
id = "publish"
type = "http"
method = "POST"
url = "{gw}/publish"
body = "{{ steps.ok_to_publish.json.comment }}"

[[declared.hurry.steps]]
id = "quick"
type = "approval"
timeout = "1s"
on_timeout = "fail"
"#;

#[tokio::test]
async fn an_approval_waits_for_approve_or_reject_and_a_timeout_does_what_it_declares() {
    let setup = Setup::new().await;
    let config = with_declared(&setup, GATE);
    let config_path = config.write(&setup.path("worker.toml"));
    let _worker = common::WorkerProcess::start(&config_path).await;
    let client = setup.server.client().await;

    start_workflow(
        &client,
        "gate",
        Some(json!({"topic": "sonnets"})),
        "gate-yes",
    )
    .await;
    let waiting = wait_for_phase(&client, "gate-yes", "ok_to_publish: waiting for approval").await;
    assert!(
        waiting.contains("Publish the digest on sonnets?"),
        "{waiting}"
    );
    assert!(setup.gateway.requests_to("/publish").is_empty());
    let out = cli(
        &[
            "approve",
            "gate-yes",
            "--comment",
            "lgtm",
            "--config",
            config_path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("sent approve to gate-yes"));
    let result = result_json(&client, "gate-yes").await;
    assert_eq!(result["status"], "completed");
    assert_eq!(
        serde_json::from_str::<Value>(result["steps"][0]["result"].as_str().unwrap()).unwrap(),
        json!({"decision": "approved", "comment": "lgtm", "timed_out": false})
    );
    assert_eq!(setup.gateway.requests_to("/publish")[0].body, "lgtm");

    start_workflow(&client, "gate", Some(json!({"topic": "odes"})), "gate-no").await;
    wait_for_phase(&client, "gate-no", "ok_to_publish: waiting").await;
    client
        .get_workflow_handle::<UntypedWorkflow>("gate-no")
        .signal(
            UntypedSignal::new("reject"),
            RawValue {
                payloads: vec![json_payload(&json!("not this week"))],
            },
            WorkflowSignalOptions::default(),
        )
        .await
        .unwrap();
    let result = result_json(&client, "gate-no").await;
    assert_eq!(result["status"], "stopped");
    assert_eq!(result["reason"], "ok_to_publish: rejected: not this week");
    assert_eq!(
        statuses(&result),
        pairs(&[("ok_to_publish", "ok"), ("publish", "skipped")])
    );
    assert_eq!(
        setup.gateway.requests_to("/publish").len(),
        1,
        "only the approved run"
    );

    start_workflow(&client, "hurry", None, "hurry-1").await;
    let failed = workflow_failure(&client, "hurry-1").await;
    assert!(
        failed
            .chain
            .starts_with("[ApprovalTimedOut] quick: nobody approved"),
        "{}",
        failed.chain
    );
}

#[tokio::test]
async fn cancelling_a_declared_run_cancels_its_approval_timeout_and_its_delay() {
    let setup = Setup::new().await;
    let delay = "[[declared.pause.steps]]\nid = \"wait\"\ntype = \"delay\"\nduration = \"1h\"\n";
    let config = with_declared(&setup, &format!("{GATE}\n{delay}"));
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, "gate", Some(json!({"topic": "odes"})), "gate-off").await;
    start_workflow(&client, "pause", None, "pause-off").await;
    wait_for_phase(&client, "gate-off", "ok_to_publish: waiting").await;
    wait_for_event(&client, "pause-off", "TimerStarted").await;

    for id in ["gate-off", "pause-off"] {
        let events = cancel_and_close(&client, id).await;
        assert!(
            in_order(&events, "TimerCanceled", "WorkflowExecutionCanceled"),
            "{id}: {events:?}"
        );
    }
    assert!(setup.gateway.requests_to("/publish").is_empty());
}

#[tokio::test]
async fn a_run_keeps_the_definition_it_started_with_when_the_declaration_changes_during_its_wait() {
    let setup = Setup::new().await;
    let v1 = r#"
[[declared.digest.steps]]
id = "before"
type = "http"
url = "{gw}/v1-before"

[[declared.digest.steps]]
id = "settle"
type = "delay"
duration = "4s"

[[declared.digest.steps]]
id = "after"
type = "http"
url = "{gw}/v1-after"
"#;
    let v2 = r#"
[[declared.digest.steps]]
id = "first"
type = "http"
url = "{gw}/v2-first"

[[declared.digest.steps]]
id = "second"
type = "http"
url = "{gw}/v2-second"
"#;
    let mut worker = setup.worker(&with_declared(&setup, v1)).await;
    let client = setup.server.client().await;
    start_workflow(&client, "digest", None, "digest-old").await;
    let gateway = setup.gateway.clone();
    wait_until("the old run's first step", Duration::from_secs(30), || {
        !gateway.requests_to("/v1-before").is_empty()
    })
    .await;
    wait_for_phase(&client, "digest-old", "settle: waiting 4s").await;
    // nixos-rebuild switch: a new config, the worker restarted.
    worker.kill9();
    with_declared(&setup, v2).write(&worker.config);
    worker.restart().await;
    start_workflow(&client, "digest", None, "digest-new").await;

    let old = result_json(&client, "digest-old").await;
    assert_eq!(
        statuses(&old),
        pairs(&[("before", "ok"), ("settle", "ok"), ("after", "ok")])
    );
    let new = result_json(&client, "digest-new").await;
    assert_eq!(statuses(&new), pairs(&[("first", "ok"), ("second", "ok")]));
    assert_eq!(setup.gateway.requests_to("/v1-after").len(), 1);
    assert_eq!(
        setup.gateway.requests_to("/v2-first").len(),
        1,
        "only the new run"
    );
}

#[tokio::test]
async fn a_declared_workflow_starts_by_name_from_the_temporal_cli_and_from_a_schedule() {
    let setup = Setup::new().await;
    let declaration = r#"
[[declared.ping.steps]]
id = "call"
type = "http"
url = "{gw}/ping"
body = "{{ input.who }}"
"#;
    let schedule = r#"
[schedules.ping-hourly]
workflow = "ping"
input = { who = "schedule" }
every = ["1h"]
"#;
    let mut config = with_declared(&setup, declaration);
    config.append_raw_toml(schedule);
    let config_path = config.write(&setup.path("worker.toml"));
    let _worker = common::WorkerProcess::start(&config_path).await;

    let started = std::process::Command::new(temporal_bin())
        .args([
            "workflow",
            "start",
            "--type",
            "ping",
            "--task-queue",
            TASK_QUEUE,
            "--workflow-id",
            "ping-cli",
            "--input",
            r#"{"who": "cli"}"#,
            "--address",
            &setup.server.address(),
        ])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let client = setup.server.client().await;
    result_json(&client, "ping-cli").await;

    let path = config_path.to_str().unwrap();
    let applied = cli(&["schedules", "apply", "--config", path], &[]).await;
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let triggered = cli(
        &["schedules", "trigger", "ping-hourly", "--config", path],
        &[],
    )
    .await;
    assert!(
        triggered.status.success(),
        "{}",
        String::from_utf8_lossy(&triggered.stderr)
    );
    let gateway = setup.gateway.clone();
    wait_until("the scheduled run's call", Duration::from_secs(30), || {
        gateway.requests_to("/ping").len() == 2
    })
    .await;
    let bodies: Vec<String> = setup
        .gateway
        .requests_to("/ping")
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies, ["cli", "schedule"]);
}

#[tokio::test]
async fn a_custom_workflow_definition_gets_the_same_checks_in_either_form() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    // 10 000 delays fit (5 events each); 10 000 agent turns (6 each) do not.
    let huge = json!({"steps": vec![json!({"type": "agent_turn", "agent_id": "x"}); 10_000]});
    start_workflow(&client, "CustomWorkflow", Some(huge), "huge").await;
    let err = workflow_result(&client, "huge").await.unwrap_err();
    assert!(
        err.starts_with("[InvalidDefinition] CustomWorkflow: steps: 10000 steps could need up to"),
        "{err}"
    );
    assert!(err.contains("past 51200 events"), "{err}");

    let bad_read = json!({"name": "x", "steps": [
        {"id": "a", "type": "delay", "duration": "1s", "when": "steps.b.status == 'ok'"},
        {"id": "b", "type": "delay", "duration": "1s"},
    ]});
    start_workflow(&client, "CustomWorkflow", Some(bad_read), "bad-read").await;
    let err = workflow_result(&client, "bad-read").await.unwrap_err();
    assert!(
        err.contains("declared.x.steps[0] \"a\".when: \"steps.b.status == 'ok'\" reads steps.b, which has not finished"),
        "{err}"
    );

    // The declared form runs too, and answers with every step's status.
    let declared_form = json!({"name": "inline", "input": {"n": 1}, "steps": [
        {"id": "wait", "type": "delay", "duration": "1s", "when": "input.n == 1"},
        {"id": "skip", "type": "delay", "duration": "1s", "when": "input.n == 2"},
    ]});
    start_workflow(
        &client,
        "CustomWorkflow",
        Some(json!(declared_form.to_string())),
        "inline",
    )
    .await;
    let result = result_json(&client, "inline").await;
    assert_eq!(
        statuses(&result),
        pairs(&[("wait", "ok"), ("skip", "skipped")])
    );
}

/// `check-config --offline` (what the NixOS build runs) on `text`: exit code and stderr.
pub(super) async fn check_config(dir: &std::path::Path, text: &str) -> (Option<i32>, String) {
    let path = dir.join("check.toml");
    std::fs::write(&path, text).unwrap();
    let out = cli(
        &[
            "check-config",
            "--offline",
            "--config",
            path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn check_config_rejects_every_kind_of_bad_declaration_naming_the_workflow_step_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let turns = "[turns.research]\nmessage = \"Research.\"\n";
    let many_steps: String = (0..11000)
        .map(|i| {
            format!("[[declared.big.steps]]\nid = \"s{i}\"\ntype = \"delay\"\nduration = \"1s\"\n")
        })
        .collect();
    let cases: Vec<(String, &str)> = vec![
        (
            "[[declared.d.steps]]\nid = \"a\"\ntype = \"sleep\"\n".into(),
            "declared.d.steps[0] \"a\".type: unknown step type \"sleep\" (expected one of agent_turn, http, delay, parallel, sequence, approval, stop, for_each)",
        ),
        (
            "[[declared.d.steps]]\nid = \"a\"\ntype = \"stop\"\nwhen = \"1 +\"\n".into(),
            "declared.d.steps[0] \"a\".when: does not compile",
        ),
        (
            "[[declared.d.steps]]\nid = \"a\"\ntype = \"stop\"\nwhen = \"steps.nope.status == 'ok'\"\n".into(),
            "declared.d.steps[0] \"a\".when: \"steps.nope.status == 'ok'\" reads steps.nope, but no step has the id \"nope\"",
        ),
        (
            "[[declared.d.steps]]\nid = \"a\"\ntype = \"delay\"\nduration = \"1s\"\n[[declared.d.steps]]\nid = \"a\"\ntype = \"stop\"\n".into(),
            "declared.d.steps[1].id: \"a\" is used twice (first at declared.d.steps[0])",
        ),
        (
            "[[declared.d.steps]]\ntype = \"stop\"\n".into(),
            "declared.d.steps[0].id: missing",
        ),
        (
            "[[declared.d.steps]]\nid = \"a\"\ntype = \"agent_turn\"\nturn = \"unwritten\"\n".into(),
            "declared.d.steps[0] \"a\".turn: agent turn \"unwritten\" is not defined: add [turns.unwritten]",
        ),
        (
            "[schedules.s]\nworkflow = \"nothing-declared\"\nevery = [\"1h\"]\n".into(),
            "schedules.s.workflow: unknown workflow type \"nothing-declared\": neither built in nor in [declared]",
        ),
        (
            many_steps,
            "declared.big.steps: a run could need up to 55016 history events",
        ),
        (
            "[[declared.d.steps]]\nid = \"a\"\ntype = \"delay\"\nduration = \"1s\"\nurl = \"http://127.0.0.1/\"\n".into(),
            "declared.d.steps[0] \"a\".url: does not apply to a step of type delay",
        ),
        (
            "[[declared.d.steps]]\nid = \"a\"\ntype = \"approval\"\n".into(),
            "declared.d.steps[0] \"a\".timeout: missing",
        ),
    ];
    for (text, expected) in &cases {
        let (code, err) = check_config(dir.path(), &format!("{turns}{text}")).await;
        assert_eq!(code, Some(2), "{text}: {err}");
        assert!(err.contains(expected), "expected {expected:?} in:\n{err}");
    }
    // Within the limit passes; so does an unwritten turn when OpenClaw's cron jobs resolve it.
    let fine = format!(
        "{turns}[gateway]\nresolve_cron_jobs = true\n[[declared.d.steps]]\nid = \"a\"\ntype = \"agent_turn\"\nturn = \"unwritten\"\n"
    );
    let (code, err) = check_config(dir.path(), &fine).await;
    assert_eq!(code, Some(0), "{err}");
}
