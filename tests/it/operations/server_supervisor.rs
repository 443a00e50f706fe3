//! `clawfactory-temporal server`, as the clawfactory-temporal.service unit runs it: READY
//! only once the frontend answers, the server's own log lines re-emitted with their level,
//! SIGTERM passed on, the server's exit status as ours.

use crate::common;

use clawfactory_temporal::config::TemporalConfig;
use clawfactory_temporal::{search_attributes, temporal_client};
use common::{BIN, TemporalServer, free_port, temporal_bin};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A `server` config on free loopback ports with its database at `db_file`.
fn server_config(dir: &Path, grpc: u16, db_file: &Path) -> PathBuf {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntemporal_bin = {:?}\ngrpc_port = {grpc}\nhttp_port = {}\nui_port = {}\nmetrics_port = {}\n\
             db_file = {:?}\nlog_level = \"info\"\n",
            temporal_bin().display().to_string(),
            free_port(),
            free_port(),
            free_port(),
            db_file.display().to_string(),
        ),
    )
    .unwrap();
    config
}

/// `server` on `config`, notifying `socket`, its log in `log`.
fn spawn_server(config: &Path, socket: &Path, log: &Path) -> common::ChildGuard {
    common::ChildGuard(
        Command::new(BIN)
            .args(["server", "--log", "json", "--config"])
            .arg(config)
            .env("NOTIFY_SOCKET", socket)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_the_search_attributes_gets_them_by_the_time_server_is_ready() {
    // start-dev's `--search-attribute` flags apply only to a database it creates.
    let dir = tempfile::tempdir().unwrap();
    let old = TemporalServer::start_without_search_attributes(dir.path()).await;
    let db_file = old.db_file.clone();
    let client = old.client().await;
    let missing = search_attributes::missing_on(&client, "default")
        .await
        .unwrap();
    assert_eq!(missing.len(), search_attributes::ALL.len());
    drop(old);

    let grpc = free_port();
    let config = server_config(dir.path(), grpc, &db_file);
    let socket_path = dir.path().join("notify.sock");
    let mut notify = common::NotifySocket::bind(socket_path.clone());
    let _server = spawn_server(&config, &socket_path, &dir.path().join("server.log"));
    notify.wait_for(Duration::from_secs(60), |m| m.contains("READY=1"));
    let temporal = TemporalConfig {
        address: format!("127.0.0.1:{grpc}"),
        ..Default::default()
    };
    let client = temporal_client::connect(&temporal).await.unwrap();
    let missing = search_attributes::missing_on(&client, "default")
        .await
        .unwrap();
    assert_eq!(missing, Vec::<&str>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_runs_the_dev_server_as_a_notify_service() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let data = dir.path().join("data");
    let config = server_config(dir.path(), grpc, &data.join("temporal.db"));
    let socket_path = dir.path().join("notify.sock");
    let mut notify = common::NotifySocket::bind(socket_path.clone());
    let log = dir.path().join("server.log");
    let mut server = spawn_server(&config, &socket_path, &log);

    let ready = notify.wait_for(Duration::from_secs(60), |m| m.contains("READY=1"));
    assert!(
        ready.contains(&format!("STATUS=Temporal dev server on 127.0.0.1:{grpc}")),
        "{ready}"
    );
    // READY means it answers: a client connects at once.
    let temporal = TemporalConfig {
        address: format!("127.0.0.1:{grpc}"),
        ..Default::default()
    };
    temporal_client::connect(&temporal).await.unwrap();
    assert!(data.join("temporal.db").exists(), "the data dir is created");

    common::send_signal(server.id() as i32, libc::SIGTERM);
    notify.wait_for(Duration::from_secs(30), |m| m.contains("STOPPING=1"));
    let status = server.wait();
    assert!(status.success(), "exit {status}");
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", grpc)).is_ok(),
        "the dev server is gone"
    );

    let output = std::fs::read_to_string(&log).unwrap();
    let server_lines: Vec<serde_json::Value> = output
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter(|line: &serde_json::Value| line["target"] == "temporal_server")
        .collect();
    assert!(
        !server_lines.is_empty(),
        "the server's own lines are re-emitted: {output}"
    );
    assert!(
        server_lines
            .iter()
            .all(|l| l["level"].is_string() && l["message"].is_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_cannot_start_fails_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    // The gRPC port is taken: the dev server exits, and so must we, non-zero.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntemporal_bin = {:?}\ngrpc_port = {}\nhttp_port = {}\nui_port = {}\nmetrics_port = {}\ndb_file = {:?}\n",
            temporal_bin().display().to_string(),
            taken.local_addr().unwrap().port(),
            free_port(),
            free_port(),
            free_port(),
            dir.path().join("t.db").display().to_string(),
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(BIN)
        .args(["server", "--config"])
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("temporal server exited before it was ready"),
        "{stderr}"
    );
}

/// The server's config with `retention`, and the worker-side address that points at it.
fn retention_config(dir: &Path, grpc: u16, retention: &str) -> PathBuf {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "[temporal]\naddress = \"127.0.0.1:{grpc}\"\n\n[server]\ntemporal_bin = {:?}\ngrpc_port = {grpc}\n\
             http_port = {}\nui_port = {}\nmetrics_port = {}\ndb_file = {:?}\nretention = {retention:?}\n",
            temporal_bin().display().to_string(),
            free_port(),
            free_port(),
            free_port(),
            dir.join("temporal.db").display().to_string(),
        ),
    )
    .unwrap();
    config
}

/// Runs `server` until READY, then returns it (stopped by `ChildGuard`'s drop or a SIGTERM).
fn start_server(config: &Path, dir: &Path) -> common::ChildGuard {
    let socket_path = dir.join(format!("notify-{}.sock", free_port()));
    let mut notify = common::NotifySocket::bind(socket_path.clone());
    let server = common::ChildGuard(
        Command::new(BIN)
            .args(["server", "--config"])
            .arg(config)
            .env("NOTIFY_SOCKET", &socket_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    notify.wait_for(Duration::from_secs(60), |m| m.contains("READY=1"));
    server
}

/// Stops it and waits until it is gone, with its dev server, so the next start gets the ports.
/// (How the exit status is passed on is `server_runs_the_dev_server_as_a_notify_service`'s.)
fn stop_server(mut server: common::ChildGuard) {
    common::send_signal(server.id() as i32, libc::SIGTERM);
    let status = server.wait();
    if !status.success() {
        eprintln!("the server stopped with {status}");
    }
}

fn check_config(config: &Path) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["check-config", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_sets_the_namespaces_retention_at_every_start_and_check_config_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let grpc = free_port();
    let temporal = TemporalConfig {
        address: format!("127.0.0.1:{grpc}"),
        ..Default::default()
    };
    let day = Duration::from_secs(24 * 3600);

    // The dev server creates the namespace with one day; the first start makes it 90 days.
    let config = retention_config(dir.path(), grpc, "2160h");
    let server = start_server(&config, dir.path());
    let client = temporal_client::connect(&temporal).await.unwrap();
    let kept = clawfactory_temporal::namespace::retention(&client, "default").await;
    assert_eq!(kept.unwrap(), 90 * day);
    let (code, text) = check_config(&config);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("# namespace default: closed runs are kept for 2160h\n"),
        "{text}"
    );
    stop_server(server);

    // Same database, another setting: applied again at the next start.
    let config = retention_config(dir.path(), grpc, "48h");
    let (_, text) = check_config(&config);
    assert!(
        text.contains("# namespace default: retention not checked (cannot connect"),
        "a stopped server is reported, not an error: {text}"
    );
    let server = start_server(&config, dir.path());
    let client = temporal_client::connect(&temporal).await.unwrap();
    let kept = clawfactory_temporal::namespace::retention(&client, "default").await;
    assert_eq!(kept.unwrap(), 2 * day);
    stop_server(server);

    let too_short = retention_config(dir.path(), grpc, "30m");
    let (code, text) = check_config(&too_short);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("server.retention: must be at least 1h (got 30m)"),
        "{text}"
    );
}
