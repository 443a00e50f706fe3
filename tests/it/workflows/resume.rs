//! `resume`: a declared run that failed after its approval runs again from the failed step,
//! on a real dev server with the real worker, and the loopback fake as both the gateway and
//! the step's HTTP endpoint — which counts what ran twice.

use crate::common;

use clawfactory_temporal::config::Config;
use common::fake_http::Reply;
use common::{ConfigFile, Setup, cli, event_types, start_workflow, wait_for_event};
use common::{workflow_failure, workflow_result};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use temporalio_client::{Client, WorkflowFetchHistoryOptions};
use temporalio_common::UntypedWorkflow;

/// Draft with an agent, ask a person, publish over HTTP (two quick attempts), and tell
/// `/alert` when anything fails.
const POST: &str = r#"
[[declared.post.steps]]
id = "draft"
type = "agent_turn"
turn = "drafting"

[[declared.post.steps]]
id = "ok"
type = "approval"
prompt = "Publish this draft?"
timeout = "1h"

[[declared.post.steps]]
id = "publish"
type = "http"
method = "POST"
url = "{gw}/publish"
body = "{{ steps.draft.result }}"
retry = { maximum_attempts = 2, initial_interval = "1s", maximum_interval = "1s" }

[[declared.post.on_failure]]
id = "alert"
type = "http"
method = "POST"
url = "{gw}/alert"
body = "{{ failure.step }}: {{ failure.type }}"
"#;

const FIRE: &str = "/api/cron/fire";

/// The worker's config file with [`POST`] declared.
fn config_path(setup: &Setup) -> PathBuf {
    let mut config: ConfigFile = setup.config();
    let text = POST.replace("{gw}", &setup.gateway.url());
    config.declared = Config::parse(&text).unwrap().declared;
    config.write(&setup.path("worker.toml"))
}

async fn run_cli(args: &[&str], config: &Path) -> (Option<i32>, String, String) {
    let mut all = args.to_vec();
    all.extend(["--config", config.to_str().unwrap()]);
    let out = tokio::time::timeout(Duration::from_secs(90), cli(&all, &[]))
        .await
        .unwrap_or_else(|_| panic!("{args:?} did not end within 90 s"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `post` as `id`, approves it once it waits, and waits for it to fail at `publish`
/// (the fake answers 500 to both attempts; afterwards its default, 200).
async fn fail_after_approval(setup: &Setup, client: &Client, config: &Path, id: &str) {
    setup
        .gateway
        .script(FIRE, [Reply::ok("a draft on sonnets")]);
    setup.gateway.script(
        "/publish",
        [Reply::status(500, "down"), Reply::status(500, "down")],
    );
    start_workflow(client, "post", None, id).await;
    wait_for_event(client, id, "TimerStarted").await;
    let (code, _, stderr) = run_cli(&["approve", id, "--comment", "ship it"], config).await;
    assert_eq!(code, Some(0), "{stderr}");
    let failed = workflow_failure(client, id).await;
    assert!(failed.chain.contains("HTTP 500"), "{}", failed.chain);
}

fn count(events: &[String], kind: &str) -> usize {
    events.iter().filter(|e| *e == kind).count()
}

#[tokio::test]
async fn a_run_that_failed_after_its_approval_resumes_at_the_failed_step_without_running_the_agent_or_asking_again()
 {
    let setup = Setup::new().await;
    let config = config_path(&setup);
    let _worker = common::WorkerProcess::start(&config).await;
    let client = setup.server.client().await;
    fail_after_approval(&setup, &client, &config, "post-1").await;
    assert_eq!(setup.gateway.requests_to("/publish").len(), 2);
    assert_eq!(setup.gateway.requests_to("/alert").len(), 1);

    let (code, stdout, stderr) = run_cli(&["resume", "post-1", "--dry-run"], &config).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "publish");
    assert!(
        stderr.contains("failed at publish: [HttpUnavailable]")
            && stderr.contains("keeping the results of: draft and the signal it received"),
        "{stderr}"
    );
    assert_eq!(
        setup.gateway.requests_to("/publish").len(),
        2,
        "a dry run changes nothing"
    );

    let (code, stdout, stderr) = run_cli(&["resume", "post-1", "--wait"], &config).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("resumed post-1 at publish"), "{stderr}");
    let result: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(result["status"], "completed", "{result}");
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps[0]["result"], "a draft on sonnets", "{result}");
    assert_eq!(
        serde_json::from_str::<Value>(steps[1]["result"].as_str().unwrap()).unwrap(),
        json!({"decision": "approved", "comment": "ship it", "timed_out": false})
    );
    assert_eq!(steps[2]["status"], "ok", "{result}");

    assert_eq!(
        setup.gateway.requests_to(FIRE).len(),
        1,
        "the draft's agent turn ran once"
    );
    let publishes = setup.gateway.requests_to("/publish");
    assert_eq!(publishes.len(), 3, "publish ran again");
    assert_eq!(publishes[2].body, "a draft on sonnets");
    assert_eq!(
        setup.gateway.requests_to("/alert").len(),
        1,
        "on_failure did not run for the resumed run"
    );
    // The new run's history holds the first run's approval wait and decision, and no other.
    let events = event_types(&client, "post-1").await;
    assert_eq!(count(&events, "TimerStarted"), 1, "{events:?}");
    assert_eq!(count(&events, "WorkflowExecutionSignaled"), 1, "{events:?}");
    assert_eq!(
        count(&events, "WorkflowTaskFailed"),
        1,
        "the reset: {events:?}"
    );

    let (code, _, stderr) = run_cli(&["resume", "post-1"], &config).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("completed: nothing to resume"), "{stderr}");
}

#[tokio::test]
async fn resume_refuses_an_unknown_workflow_and_a_run_still_waiting_with_a_clear_error() {
    let setup = Setup::new().await;
    let config = config_path(&setup);
    let _worker = common::WorkerProcess::start(&config).await;
    let client = setup.server.client().await;

    let (code, stdout, stderr) = run_cli(&["resume", "no-such-run"], &config).await;
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.contains(r#"no workflow "no-such-run" in namespace"#),
        "{stderr}"
    );

    start_workflow(&client, "post", None, "post-open").await;
    wait_for_event(&client, "post-open", "TimerStarted").await;
    let (code, _, stderr) = run_cli(&["resume", "post-open", "--wait"], &config).await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(r#"cannot resume "post-open""#) && stderr.contains("still running"),
        "{stderr}"
    );
}

/// Records the failed run the unit tests of `resume::point` read:
/// `cargo test --test it -- --ignored workflows::resume::record_failed_after_approval`.
#[tokio::test]
#[ignore = "records tests/histories/resume from a real run; not a check"]
async fn record_failed_after_approval() {
    let setup = Setup::new().await;
    let config = config_path(&setup);
    let _worker = common::WorkerProcess::start(&config).await;
    let client = setup.server.client().await;
    let id = "declared-failed-after-approval";
    fail_after_approval(&setup, &client, &config, id).await;
    // on_failure's alert has run by the time the failure is reported.
    assert!(workflow_result(&client, id).await.is_err());
    let history = client
        .get_workflow_handle::<UntypedWorkflow>(id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await
        .unwrap();
    let value: Value = serde_json::from_slice(&history).unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories/resume");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
    println!("recorded {}", path.display());
}
