//! The command line as a person uses it: `run`, `check-config`, `dev`, and the promise that
//! no token ever shows up in anything we print.

use crate::common;

use clawfactory_temporal::config::GatewayApi;
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

/// The worked example's first version: a daily schedule of a run that may wait a whole day
/// for an approval, with the default `overlap = "skip"`.
const DAILY_DIGEST: &str = r#"
[declared.digest]
TIMEOUT
[[declared.digest.steps]]
id = "approve_publish"
type = "approval"
timeout = "24h"

[schedules.digest-daily]
workflow = "digest"
cron = ["0 5 * * *"]
SCHEDULE
"#;

#[tokio::test]
async fn check_config_warns_when_a_skipping_schedule_starts_runs_that_can_outlast_its_interval() {
    let dir = tempfile::tempdir().unwrap();
    let check = |timeout: &str, schedule: &str| {
        let path = dir.path().join("digest.toml");
        let config = DAILY_DIGEST
            .replace("TIMEOUT", timeout)
            .replace("SCHEDULE", schedule);
        std::fs::write(&path, config).unwrap();
        async move {
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
            assert!(
                out.status.success(),
                "a warning, not an error: {}",
                text(&out.stderr)
            );
            (text(&out.stdout), text(&out.stderr))
        }
    };
    let (_, warned) = check("", "").await;
    assert!(
        warned.contains(
            "schedules.digest-daily: a run of declared workflow \"digest\" can take up to 1day"
        ) && warned.contains("not less than the 1day between this schedule's fires")
            && warned.contains("Set a timeout shorter than 1day on [declared.digest] or on this schedule, or overlap = \"buffer_one\" or \"allow_all\""),
        "{warned}"
    );
    for (timeout, schedule) in [
        ("timeout = \"23h\"", ""),
        ("", "overlap = \"buffer_one\""),
        ("", "timeout = \"23h\""),
    ] {
        let (stdout, quiet) = check(timeout, schedule).await;
        assert!(
            !quiet.contains("schedules.digest-daily"),
            "{timeout} {schedule}: {quiet}"
        );
        if schedule.starts_with("timeout") {
            // The schedule's timeout goes to the server as the runs' input.
            assert!(stdout.contains("\"$timeout\" = \"23h\""), "{stdout}");
        }
    }
}

#[tokio::test]
async fn check_config_schema_prints_the_config_json_schema_without_reading_a_config() {
    let out = cli(
        &[
            "check-config",
            "--schema",
            "--config",
            "/nonexistent/clawfactory.toml",
        ],
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    let sections = schema["properties"].as_object().unwrap();
    for section in [
        "temporal",
        "worker",
        "gateway",
        "workflows",
        "weather",
        "server",
        "http",
        "backup",
        "schedules",
        "turns",
        "instances",
        "declared",
    ] {
        assert!(sections.contains_key(section), "{section}");
    }
    assert_eq!(
        text(&out.stdout),
        clawfactory_temporal::config::schema::pretty()
    );
}

/// Both tokens, distinctive, through every failure path we have: wrong token (the gateway
/// even echoes it back in its 401 body), the preflight, cron-job resolution over the admin
/// RPC, `run --wait`, `check-config` with a bad config next to the tokens, and the config's
/// `Debug` (what a panic message would print). Nothing may contain either token; each
/// world-readable token file gets a warning naming it.
#[tokio::test]
async fn no_token_appears_in_any_log_failure_or_output() {
    let setup = Setup::new().await;
    let hooks_secret = "hooks-tok-must-not-leak-5a1c7e";
    let gateway_secret = "gw-tok-must-not-leak-8d2f41";
    let echo = |secret: &str| {
        Reply::json(
            401,
            serde_json::json!({"error": format!("invalid token: Bearer {secret}")}),
        )
    };
    let gateway = &setup.gateway;
    gateway.script("/hooks/agent", [echo(hooks_secret)]);
    gateway.script("/api/v1/admin/rpc", (0..10).map(|_| echo(gateway_secret)));
    gateway.script("/api/cron/fire", [echo(gateway_secret)]);
    let hooks_file = setup.path("hooks-token");
    let gateway_file = setup.path("gateway-token");
    for (file, secret) in [(&hooks_file, hooks_secret), (&gateway_file, gateway_secret)] {
        std::fs::write(file, format!("{secret}\n")).unwrap();
        let world_readable = std::os::unix::fs::PermissionsExt::from_mode(0o644);
        std::fs::set_permissions(file, world_readable).unwrap();
    }
    let mut config = setup.config();
    config.gateway.api = Some(GatewayApi::HooksAgent);
    config.gateway.token_file = Some(gateway_file.clone());
    config.gateway.hooks_token_file = Some(hooks_file.clone());
    config.gateway.resolve_cron_jobs = true;
    // Written turns go straight to /hooks/agent; others are looked up over the admin RPC.
    let written = common::turn("Write.");
    config.turns.0.insert("written".into(), written);
    let config_path = config.write(&setup.path("worker.toml"));
    let worker =
        common::WorkerProcess::start_with_env(&config_path, &[("RUST_LOG", "trace")]).await;
    let client = setup.server.client().await;
    for (id, agent_turn) in [("leak-hooks", "written"), ("leak-rpc", "cron-named")] {
        let turn = serde_json::json!({"steps": [{"type": "agent_turn", "agent_id": agent_turn}]});
        common::start_workflow(&client, "CustomWorkflow", Some(turn), id).await;
    }
    let mut captured = Vec::new();
    for (id, expected) in [
        ("leak-hooks", "[GatewayUnauthorized]"),
        ("leak-rpc", "[GatewayUnauthorized]"),
    ] {
        let failure = workflow_result(&client, id).await.unwrap_err();
        assert!(
            failure.contains(expected) && failure.contains("<redacted>"),
            "{failure}"
        );
        captured.push(failure);
    }
    let run = cli(
        &[
            "run",
            "PoetryResearchWorkflow",
            "--id",
            "leak-run",
            "--wait",
            "--config",
            config_path.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(run.status.code(), Some(1), "{}", text(&run.stderr));
    // The cron-fire protocol with the gateway token from the environment.
    let mut fire = config;
    fire.gateway.api = Some(GatewayApi::CronFire);
    fire.gateway.token_file = None;
    let fire_path = fire.write(&setup.path("fire.toml"));
    let hooks_log = worker.output();
    drop(worker);
    let fire_worker = common::WorkerProcess::start_with_env(
        &fire_path,
        &[
            ("GATEWAY_INTERNAL_TOKEN", gateway_secret),
            ("RUST_LOG", "debug"),
        ],
    )
    .await;
    common::start_workflow(&client, "PoetryResearchWorkflow", None, "leak-fire").await;
    captured.push(workflow_result(&client, "leak-fire").await.unwrap_err());
    // check-config: fine, then broken next to the token files.
    let good = cli(
        &["check-config", "--config", config_path.to_str().unwrap()],
        &[],
    )
    .await;
    assert!(good.status.success(), "{}", text(&good.stderr));
    let bad_path = setup.path("bad.toml");
    let bad_text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &bad_path,
        bad_text.replace("timeout = \"10s\"", "timeout = 5"),
    )
    .unwrap();
    let bad = cli(
        &["check-config", "--config", bad_path.to_str().unwrap()],
        &[],
    )
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad.stderr).contains("gateway.timeout"),
        "{}",
        text(&bad.stderr)
    );
    let loaded = clawfactory_temporal::config::Config::load(
        &clawfactory_temporal::config::Source::from_cli(Some(config_path.clone())),
        &clawfactory_temporal::config::ProcessEnv,
    )
    .unwrap();

    // The tokens did go out, so the checks below can fail.
    let sent = |path: &str| {
        gateway.requests_to(path)[0]
            .header("authorization")
            .map(str::to_owned)
    };
    assert_eq!(sent("/hooks/agent"), Some(format!("Bearer {hooks_secret}")));
    assert_eq!(
        sent("/api/cron/fire"),
        Some(format!("Bearer {gateway_secret}"))
    );
    let fire_log = fire_worker.output();
    assert!(fire_log.contains("agent turn failed"), "{fire_log}");
    assert!(hooks_log.contains("agent turn failed"), "{hooks_log}");
    for file in [&hooks_file, &gateway_file] {
        let warning = format!(
            "secret file is readable by every user; restrict it (chmod 600 {})",
            file.display()
        );
        assert!(
            hooks_log.contains(&warning),
            "no warning naming {}",
            file.display()
        );
        assert!(
            text(&good.stderr).contains(&warning),
            "{}",
            text(&good.stderr)
        );
    }
    captured.extend([hooks_log, fire_log, format!("{loaded:?}")]);
    for output in [&run, &good, &bad] {
        captured.extend([text(&output.stdout), text(&output.stderr)]);
    }
    for output in &captured {
        for secret in [hooks_secret, gateway_secret] {
            assert!(!output.contains(secret), "{secret} leaked into: {output}");
        }
    }
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
    common::send_signal(child.id() as i32, libc::SIGINT);
    let status = child.wait();
    assert!(status.success(), "dev exit: {status}");
}
