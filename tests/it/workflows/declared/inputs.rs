//! Typed `inputs` of declared workflows end to end: a real dev server, the real worker and
//! CLI binaries, the fake gateway. A bad input fails the run at once, typed, before any
//! agent turn; a good one reaches the steps with its defaults; `run` and `check-config`
//! refuse a bad input before anything starts.

use crate::common;

use clawfactory_temporal::config::{Config, GatewayApi};
use common::fake_http::Reply;
use common::{Setup, cli, start_workflow, workflow_failure, workflow_result};
use serde_json::json;

const BRIEFING: &str = r#"
[declared.briefing]
inputs = { topic = { type = "string", required = true, description = "what to research" }, depth = { type = "int", default = 2 } }

[[declared.briefing.steps]]
id = "research"
type = "agent_turn"
turn = "brief"
message = "Research {{ input.topic }} to depth {{ input.depth }}"
"#;

fn hooks_answer() -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "runId": "run-1",
               "completion": {"status": "ok", "replyDisposition": "none"}}),
    )
}

#[tokio::test]
async fn a_bad_input_fails_the_run_at_once_typed_and_a_default_reaches_the_message() {
    let setup = Setup::new().await;
    setup.gateway.script("/hooks/agent", [hooks_answer()]);
    let mut config = setup.config();
    config.declared = Config::parse(BRIEFING).unwrap().declared;
    config.gateway.api = Some(GatewayApi::HooksAgent);
    config
        .turns
        .0
        .insert("brief".into(), common::turn("Research."));
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;

    start_workflow(&client, "briefing", Some(json!({"depth": 3})), "missing").await;
    let failed = workflow_failure(&client, "missing").await;
    assert!(
        failed
            .chain
            .starts_with("[InvalidInput] briefing: input.topic: missing (a string is required"),
        "{}",
        failed.chain
    );
    assert!(failed.non_retryable, "{}", failed.chain);
    start_workflow(&client, "briefing", Some(json!({"topic": 7})), "wrong").await;
    let failed = workflow_failure(&client, "wrong").await;
    assert!(
        failed
            .chain
            .contains("input.topic: expected a string, found an int (7)"),
        "{}",
        failed.chain
    );
    assert!(
        setup.gateway.requests_to("/hooks/agent").is_empty(),
        "no agent turn may run on a bad input"
    );

    start_workflow(
        &client,
        "briefing",
        Some(json!({"topic": "sonnets"})),
        "good",
    )
    .await;
    workflow_result(&client, "good").await.unwrap();
    let sent = &setup.gateway.requests_to("/hooks/agent")[0];
    assert!(
        sent.body.contains("Research sonnets to depth 2"),
        "{}",
        sent.body
    );

    // `run` checks the same before it starts anything.
    let path = setup.path("worker.toml");
    let out = cli(
        &[
            "run",
            "briefing",
            "--input",
            r#"{"topc": "odes"}"#,
            "--config",
            path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--input does not fit briefing's inputs: input.topc: not a declared input"),
        "{stderr}"
    );
}

#[tokio::test]
async fn check_config_refuses_a_schedule_whose_input_does_not_fit_naming_schedule_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let check = |schedule_input: &str| {
        let path = dir
            .path()
            .join(format!("check-{}.toml", schedule_input.len()));
        let text = format!(
            "{BRIEFING}\n[turns.brief]\nmessage = \"Research.\"\n\n\
             [schedules.daily]\nworkflow = \"briefing\"\ncron = [\"0 5 * * *\"]\n{schedule_input}\n"
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    for (input, expected) in [
        ("", "schedules.daily.input.topic: missing"),
        (
            "input = { topic = \"odes\", depth = \"deep\" }",
            "schedules.daily.input.depth: expected an int, found a string (\"deep\")",
        ),
    ] {
        let path = check(input);
        let args = [
            "check-config",
            "--offline",
            "--config",
            path.to_str().unwrap(),
        ];
        let out = cli(&args, &[]).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{input}: {stderr}");
        assert!(stderr.contains(expected), "{input}: {stderr}");
    }
    let path = check("input = { topic = \"odes\" }");
    let args = [
        "check-config",
        "--offline",
        "--config",
        path.to_str().unwrap(),
    ];
    let out = cli(&args, &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
