//! The command line as a person uses it: `run`, `check-config`, `dev`, and the promise that
//! the gateway token never shows up in anything we print.

mod common;

use common::fake_http::Reply;
use common::{BIN, Setup, cli, free_port, temporal_bin, wait_until, workflow_result};
use std::process::{Command, Stdio};
use std::time::Duration;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn run_wait_prints_the_result_or_the_failure_and_sets_the_exit_code() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let config = setup.path("worker.toml");
    let config = config.to_str().unwrap();

    let ok = cli(
        &[
            "run",
            "PoetryResearchWorkflow",
            "--input",
            r#"{"settle": "1s"}"#,
            "--id",
            "cli-ok",
            "--wait",
            "--config",
            config,
        ],
        &[],
    )
    .await;
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout), "Poetry research workflow completed\n");
    assert!(text(&ok.stderr).contains("workflow_id=cli-ok"));

    let bad = cli(
        &[
            "run",
            "CustomWorkflow",
            "--input",
            r#"{"steps": [{"type": "nap"}]}"#,
            "--wait",
            "--config",
            config,
        ],
        &[],
    )
    .await;
    assert_eq!(bad.status.code(), Some(1));
    let stderr = text(&bad.stderr);
    assert!(
        stderr.contains("workflow failed: [InvalidDefinition] CustomWorkflow: steps[0].type"),
        "{stderr}"
    );

    let started = cli(
        &[
            "run",
            "PoetryResearchWorkflow",
            "--id",
            "cli-nowait",
            "--config",
            config,
        ],
        &[],
    )
    .await;
    assert!(started.status.success());
    assert_eq!(text(&started.stdout), "cli-nowait\n");

    let unknown = cli(&["run", "PoetryWorkflow", "--config", config], &[]).await;
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains(
        "unknown workflow type \"PoetryWorkflow\"; this worker runs PoetryResearchWorkflow"
    ));

    let garbage = cli(
        &[
            "run",
            "WeatherCheckWorkflow",
            "--input",
            "Paris",
            "--config",
            config,
        ],
        &[],
    )
    .await;
    assert!(text(&garbage.stderr).contains("--input is not valid JSON"));

    // The reference's env var points `run` at the server too.
    let via_env = cli(
        &[
            "run",
            "CustomWorkflow",
            "--input",
            r#"{"steps": []}"#,
            "--wait",
        ],
        &[("TEMPORAL_HOST", &setup.server.address())],
    )
    .await;
    assert_eq!(
        text(&via_env.stdout),
        "{\"name\": \"unnamed\", \"steps_completed\": 0, \"results\": []}\n"
    );

    let down = cli(
        &["run", "CustomWorkflow", "--wait"],
        &[("TEMPORAL_HOST", &format!("127.0.0.1:{}", free_port()))],
    )
    .await;
    assert_eq!(down.status.code(), Some(1));
    assert!(text(&down.stderr).contains("cannot connect to Temporal at http://127.0.0.1:"));
}

#[tokio::test]
async fn check_config_prints_the_effective_config_and_exits_2_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "file-secret-4711\n").unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "[gateway]\ntoken_file = {:?}\n[workflows.poetry_research]\nsettle = \"90m\"\n",
            token_file.display().to_string()
        ),
    )
    .unwrap();
    let out = cli(
        &["check-config"],
        &[
            ("CLAWFACTORY_CONFIG", good.to_str().unwrap()),
            ("GATEWAY_PORT", "18999"),
        ],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for expected in [
        "gateway token set (redacted)",
        "url = \"http://127.0.0.1:18999\"",
        "settle = \"90m\"",
        "task_queue = \"clawfactory\"",
        "initial_interval = \"30s\"",
    ] {
        assert!(stdout.contains(expected), "{expected} in {stdout}");
    }
    assert!(!stdout.contains("file-secret-4711"));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[gateway]\ntimeout = \"forever\"\n").unwrap();
    let out = cli(&["check-config", "--config", bad.to_str().unwrap()], &[]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.toml")
            && stderr.contains("gateway.timeout: invalid duration \"forever\""),
        "{stderr}"
    );

    let out = cli(
        &["check-config", "--config", "/nonexistent/clawfactory.toml"],
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read config file /nonexistent/clawfactory.toml"));

    let out = cli(
        &["check-config", "--config", good.to_str().unwrap()],
        &[("GATEWAY_INTERNAL_TOKEN", "env-secret-0815")],
    )
    .await;
    // A world-readable token file gets a warning that names it.
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let warned = cli(&["check-config", "--config", good.to_str().unwrap()], &[]).await;
    let stderr = text(&warned.stderr);
    assert!(
        stderr.contains("secret file is readable by every user") && stderr.contains("token"),
        "{stderr}"
    );
    assert!(!stderr.contains("file-secret-4711"));
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let quiet = cli(&["check-config", "--config", good.to_str().unwrap()], &[]).await;
    assert!(!text(&quiet.stderr).contains("readable by every user"));
    assert!(
        !text(&out.stdout).contains("env-secret-0815")
            && !text(&out.stderr).contains("env-secret-0815")
    );
}

#[tokio::test]
async fn the_gateway_token_never_appears_in_logs_or_failures() {
    let setup = Setup::new().await;
    let secret = "tok-must-not-leak-9f8e7d";
    setup.gateway.script(
        "/api/cron/fire",
        [Reply::json(401, serde_json::json!({"error": "bad token"}))],
    );
    let mut config = setup.config();
    config.gateway_api = "cron-fire";
    let config_path = config.write(&setup.path("worker.toml"));
    let worker = common::WorkerProcess::start_with_env(
        &config_path,
        &[("GATEWAY_INTERNAL_TOKEN", secret), ("RUST_LOG", "debug")],
    )
    .await;
    let client = setup.server.client().await;
    common::start_workflow(&client, "PoetryResearchWorkflow", None, "leak-check").await;
    let failure = workflow_result(&client, "leak-check").await.unwrap_err();
    assert!(failure.contains("[GatewayUnauthorized]"), "{failure}");
    let sent = setup.gateway.requests_to("/api/cron/fire");
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {secret}").as_str())
    );
    assert!(!failure.contains(secret));
    let log = worker.output();
    assert!(
        log.contains("agent turn failed"),
        "the log must have been written: {log}"
    );
    assert!(!log.contains(secret), "token leaked into the worker log");
}

/// `dev` as the README runs it: server + UI + worker, echo gateway, Ctrl-C, and a second
/// `dev` on the same state dir that still knows the first one's workflows.
#[tokio::test]
async fn dev_runs_the_appliance_and_keeps_its_history_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc, ui) = (free_port(), free_port());
    let config = dir.path().join("dev.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ngrpc_port = {grpc}\nhttp_port = {}\nui_port = {ui}\nmetrics_port = {}\n",
            free_port(),
            free_port()
        ),
    )
    .unwrap();
    let address = format!("127.0.0.1:{grpc}");
    let state = dir.path().join("state");

    let mut dev = start_dev(&config, &state, &dir.path().join("dev1.out")).await;
    let ui_page = reqwest::get(format!("http://127.0.0.1:{ui}/"))
        .await
        .unwrap();
    assert!(ui_page.status().is_success());
    assert!(
        ui_page
            .text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("<html")
    );

    let run = cli(
        &[
            "run",
            "PoetryResearchWorkflow",
            "--input",
            r#"{"settle": "1s"}"#,
            "--id",
            "dev-poetry",
            "--wait",
        ],
        &[("TEMPORAL_HOST", &address)],
    )
    .await;
    assert_eq!(
        text(&run.stdout),
        "Poetry research workflow completed\n",
        "{}",
        text(&run.stderr)
    );

    stop_dev(&mut dev);
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", grpc)).is_ok(),
        "server port still taken"
    );

    let mut dev = start_dev(&config, &state, &dir.path().join("dev2.out")).await;
    let client = clawfactory_temporal::temporal_client::connect(
        &clawfactory_temporal::config::TemporalConfig {
            address,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        workflow_result(&client, "dev-poetry").await,
        Ok("Poetry research workflow completed".into())
    );
    stop_dev(&mut dev);
}

async fn start_dev(
    config: &std::path::Path,
    state: &std::path::Path,
    out: &std::path::Path,
) -> common::ChildGuard {
    let child = common::ChildGuard(
        Command::new(BIN)
            .args(["dev", "--config"])
            .arg(config)
            .arg("--state-dir")
            .arg(state)
            .arg("--temporal")
            .arg(temporal_bin())
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = out.to_owned();
    wait_until("the dev banner", Duration::from_secs(60), || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .contains("Temporal UI:")
    })
    .await;
    child
}

fn stop_dev(child: &mut common::ChildGuard) {
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait();
    assert!(status.success(), "dev exit: {status}");
}
