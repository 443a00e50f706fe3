//! Several OpenClaw instances from one worker: `[instances.<name>]` with their own gateway,
//! token, killswitch and (optionally) task queue; workflows pick the instance from their
//! input; `run --instance` and `[schedules.<id>] instance` target one; and the Prometheus
//! endpoint counts agent turns by instance and outcome.

use crate::common;

use clawfactory_temporal::config::InstanceConfig;
use clawfactory_temporal::config::{ScheduleConfig, Schedules};
use common::fake_http::FakeHttp;
use common::{Setup, cli, free_port};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_gets_its_own_gateway_token_queue_and_metrics() {
    let setup = Setup::new().await;
    let lab = FakeHttp::start().await;
    let dir = setup.dir.path();
    let lab_token = dir.join("lab-token");
    std::fs::write(&lab_token, "lab-secret-token\n").unwrap();
    let lab_killswitch = dir.join("KILLSWITCH_lab");
    let metrics_port = free_port();
    let mut config = setup.config();
    config.instances.insert(
        "lab".into(),
        InstanceConfig {
            url: lab.url(),
            api: None,
            token_file: Some(lab_token.clone()),
            hooks_token_file: None,
            killswitch_file: Some(lab_killswitch.clone()),
        },
    );
    let lab_daily = ScheduleConfig {
        instance: Some("lab".into()),
        input: Some(json!({"settle": "1s"})),
        cron: vec!["0 4 * * *".into()],
        ..common::schedule("PoetryResearchWorkflow")
    };
    config.schedules = Schedules(BTreeMap::from([("lab-daily".into(), lab_daily)]));
    config.worker.instance_task_queues = true;
    config.worker.metrics_address = Some(format!("127.0.0.1:{metrics_port}"));
    let path = config.write(&setup.path("worker.toml"));
    let config_arg = path.display().to_string();

    let checked = cli(&["--config", &config_arg, "check-config"], &[]).await;
    let report = text(&checked.stdout);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(
        report.contains("# instance lab: ")
            && report.contains("on task queue clawfactory-lab")
            && report.contains("task_queue = \"clawfactory-lab\"")
            && !report.contains("lab-secret-token"),
        "{report}"
    );

    let worker = common::WorkerProcess::start(Path::new(&path)).await;
    assert!(
        worker.output().contains("clawfactory, clawfactory-lab"),
        "polls both queues: {}",
        worker.output()
    );
    let run = |id: &'static str, instance: Option<&'static str>| {
        let config_arg = config_arg.clone();
        async move {
            let mut args = vec![
                "--config",
                config_arg.as_str(),
                "run",
                "PoetryResearchWorkflow",
                "--input",
                r#"{"settle": "0s"}"#,
                "--id",
                id,
                "--wait",
            ];
            if let Some(instance) = instance {
                args.extend(["--instance", instance]);
            }
            cli(&args, &[]).await
        }
    };

    let default_run = run("on-default", None).await;
    assert!(
        default_run.status.success(),
        "{}",
        text(&default_run.stderr)
    );
    let lab_run = run("on-lab", Some("lab")).await;
    assert!(lab_run.status.success(), "{}", text(&lab_run.stderr));
    assert_eq!(setup.gateway.requests_to("/api/cron/fire").len(), 2);
    let lab_calls = lab.requests_to("/api/cron/fire");
    assert_eq!(lab_calls.len(), 2, "the lab run went to the lab gateway");
    assert_eq!(
        lab_calls[0].header("authorization"),
        Some("Bearer lab-secret-token"),
        "with the lab's own token"
    );

    // The lab's killswitch stops the lab only.
    std::fs::write(&lab_killswitch, "").unwrap();
    let stopped = run("lab-switched-off", Some("lab")).await;
    assert!(!stopped.status.success());
    assert!(
        text(&stopped.stderr).contains("KillswitchActive"),
        "{}",
        text(&stopped.stderr)
    );
    let still = run("default-still-on", None).await;
    assert!(still.status.success(), "{}", text(&still.stderr));
    std::fs::remove_file(&lab_killswitch).unwrap();

    // Unknown names: refused by `run`, and typed when a workflow names one itself.
    let unknown = run("unknown-cli", Some("nope")).await;
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("--instance \"nope\" is not configured"),
        "{}",
        text(&unknown.stderr)
    );
    let named_in_input = cli(
        &[
            "--config",
            &config_arg,
            "run",
            "CustomWorkflow",
            "--input",
            r#"{"steps": [{"type": "agent_turn", "agent_id": "x", "instance": "nope"}]}"#,
            "--wait",
        ],
        &[],
    )
    .await;
    let err = text(&named_in_input.stderr);
    assert!(
        err.contains("UnknownInstance") && err.contains("\"nope\""),
        "{err}"
    );

    // A schedule declared for the lab runs there.
    let applied = cli(&["--config", &config_arg, "schedules", "apply"], &[]).await;
    assert!(applied.status.success(), "{}", text(&applied.stderr));
    let triggered = cli(
        &["--config", &config_arg, "schedules", "trigger", "lab-daily"],
        &[],
    )
    .await;
    assert!(triggered.status.success(), "{}", text(&triggered.stderr));
    common::wait_until(
        "the scheduled lab run's two turns",
        std::time::Duration::from_secs(60),
        || lab.requests_to("/api/cron/fire").len() >= 4,
    )
    .await;

    let scraped = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let turns = |instance: &str, outcome: &str| {
        scraped
            .lines()
            .find(|line| {
                line.starts_with("clawfactory_agent_turns")
                    && line.contains(&format!("instance=\"{instance}\""))
                    && line.contains(&format!("outcome=\"{outcome}\""))
            })
            .and_then(|line| line.rsplit(' ').next())
            .map(|n| n.to_owned())
    };
    assert_eq!(
        turns("default", "succeeded").as_deref(),
        Some("4"),
        "{scraped}"
    );
    assert_eq!(turns("lab", "succeeded").as_deref(), Some("4"), "{scraped}");
    assert_eq!(
        turns("lab", "failed_non_retryable").as_deref(),
        Some("1"),
        "the killswitch refusal: {scraped}"
    );
    assert!(
        scraped.contains("clawfactory_gateway_request_latency_bucket")
            && scraped.contains("temporal_worker_task_slots_available"),
        "our histogram and the SDK's own metrics: {scraped}"
    );
}

#[tokio::test]
async fn instance_settings_that_cannot_work_are_config_errors() {
    let setup = Setup::new().await;
    let cases = [
        (
            "[instances.\"a b\"]\nurl = \"http://127.0.0.1:1\"\n",
            "only letters, digits",
        ),
        (
            "[instances.default]\nurl = \"http://127.0.0.1:1\"\n",
            "already the default instance",
        ),
        ("[instances.lab]\nurl = \"ftp://x\"\n", "instances.lab.url"),
        ("[instances.lab]\napi = \"hooks-agent\"\n", "url"),
        (
            "[schedules.s]\nworkflow = \"PoetryResearchWorkflow\"\ninstance = \"nope\"\ncron = [\"0 4 * * *\"]\n",
            "schedules.s.instance: \"nope\" is not configured",
        ),
        (
            "[instances.lab]\nurl = \"http://127.0.0.1:1\"\n[schedules.w]\nworkflow = \"WeatherCheckWorkflow\"\ninstance = \"lab\"\ninput = \"Paris\"\ncron = [\"0 4 * * *\"]\n",
            "runs no agent turns",
        ),
        (
            "[worker]\nmetrics_address = \"localhost\"\n",
            "worker.metrics_address",
        ),
    ];
    for (i, (table, words)) in cases.iter().enumerate() {
        let path = setup.path(&format!("bad-{i}.toml"));
        std::fs::write(&path, table).unwrap();
        let out = cli(&["--config", path.to_str().unwrap(), "check-config"], &[]).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{table}: {err}");
        assert!(err.contains(words), "{table}: {err}");
    }
}
