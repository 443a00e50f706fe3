//! The worker's side of the systemd notify protocol, against a NOTIFY_SOCKET the test owns:
//! no READY before Temporal answers (with STATUS saying why), READY with a status line,
//! watchdog pings at half of WATCHDOG_USEC, STOPPING on SIGTERM, exit 0.

use crate::common;

use common::{BIN, Setup};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_status_watchdog_and_stopping_reach_systemd() {
    let mut setup = Setup::new().await;
    setup.server.stop();
    let config = setup.config().write(&setup.path("worker.toml"));
    let socket_path = setup.path("notify.sock");
    let mut notify = common::NotifySocket::bind(socket_path.clone());

    // WATCHDOG_PID must be the worker's own pid: `exec` keeps the shell's.
    let mut worker = common::ChildGuard(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "WATCHDOG_PID=$$ exec {BIN} worker --config {}",
                config.display()
            ))
            .env("NOTIFY_SOCKET", &socket_path)
            .env("WATCHDOG_USEC", "600000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    notify.wait_for(Duration::from_secs(30), |m| {
        m.contains("waiting for Temporal")
    });
    // Pings flow while the worker waits for its server, and READY does not.
    notify.wait_for(Duration::from_secs(5), |m| m.trim() == "WATCHDOG=1");
    notify.wait_for(Duration::from_secs(5), |m| m.trim() == "WATCHDOG=1");
    assert!(
        !notify.seen.iter().any(|m| m.contains("READY=1")),
        "{:?}",
        notify.seen
    );

    setup.server.restart().await;
    notify.wait_for(Duration::from_secs(30), |m| m.contains("READY=1"));
    let ready = notify.seen.last().unwrap().clone();
    assert!(
        ready.contains("STATUS=polling clawfactory on http://127.0.0.1:"),
        "{ready}"
    );

    let pings_before = notify
        .seen
        .iter()
        .filter(|m| m.trim() == "WATCHDOG=1")
        .count();
    notify.wait_for(Duration::from_secs(5), |m| m.trim() == "WATCHDOG=1");
    notify.wait_for(Duration::from_secs(5), |m| m.trim() == "WATCHDOG=1");
    assert!(
        notify
            .seen
            .iter()
            .filter(|m| m.trim() == "WATCHDOG=1")
            .count()
            >= pings_before + 2
    );
    notify.wait_for(Duration::from_secs(10), |m| {
        m.contains("activities in flight")
    });

    common::send_signal(worker.id() as i32, libc::SIGTERM);
    notify.wait_for(Duration::from_secs(10), |m| m.contains("STOPPING=1"));
    assert!(worker.wait().success());
}

/// With `--log json` (and natively in journald) an activity's records carry the run's identity.
#[tokio::test]
async fn activity_log_records_carry_the_run_identity() {
    let setup = Setup::new().await;
    let config = setup.config().write(&setup.path("worker.toml"));
    let log = setup.path("json.log");
    let worker = common::ChildGuard(
        Command::new(BIN)
            .args(["worker", "--log", "json", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let client = setup.server.client().await;
    common::start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(serde_json::json!({"settle": "0s"})),
        "json-log",
    )
    .await;
    assert!(common::workflow_result(&client, "json-log").await.is_ok());
    drop(worker);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let turn = lines
        .iter()
        .find(|l| l["message"] == "agent turn succeeded")
        .unwrap_or_else(|| panic!("no agent turn line in {lines:?}"));
    let span = &turn["span"];
    assert_eq!(span["workflow_id"], "json-log");
    assert_eq!(span["workflow_type"], "PoetryResearchWorkflow");
    assert_eq!(span["activity_type"], "trigger_agent_turn");
    assert_eq!(span["agent_id"], "poetry-research-execute");
    assert_eq!(span["attempt"], 1);
    assert!(span["run_id"].as_str().is_some_and(|r| !r.is_empty()));
}
