//! A real `temporal server start-dev` per test, on free loopback ports with its own SQLite
//! file, that can be stopped and restarted on the same database.
//!
//! Why a real server rather than a mock: what the tests check (durable timers, retries,
//! replay after a crash, schedules) is the server's behaviour as much as the worker's.

use super::process::{append_to, free_port, free_ports};
use clawfactory_temporal::config::{ServerConfig, TemporalConfig};
use clawfactory_temporal::dev_server::supervisor::ServerSpec;
use clawfactory_temporal::temporal_client;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use temporalio_client::Client;

/// The task queue every test worker polls and every test workflow is started on.
pub const TASK_QUEUE: &str = "clawfactory";

/// The Temporal CLI: `$TEMPORAL_BIN`, else found as `dev` finds it.
pub fn temporal_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TEMPORAL_BIN") {
        return PathBuf::from(bin);
    }
    Some(clawfactory_temporal::dev_server::supervisor::locate_temporal_bin(Path::new("temporal")))
        .filter(|found| found.is_file())
        .expect(
            "the Temporal CLI is needed for these tests: `python3 -m venv target/venv && \
         target/venv/bin/pip install -r tests/requirements.txt`, then put target/venv/bin on \
         PATH (or set TEMPORAL_BIN)",
        )
}

/// A real Temporal dev server on free loopback ports with its own SQLite file.
pub struct TemporalServer {
    pub grpc_port: u16,
    pub db_file: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    /// Until the first start succeeds nobody knows the gRPC port, so it may still change.
    started: bool,
    /// Flags after the appliance's own (a later `--dynamic-config-value` of a key wins).
    extra_args: Vec<String>,
    /// Off: an external cluster's namespace, where nobody registered the attributes.
    search_attributes: bool,
}

impl TemporalServer {
    pub async fn start(dir: &Path) -> TemporalServer {
        TemporalServer::start_with(dir, Vec::new()).await
    }

    /// Started with these flags after the appliance's own.
    pub async fn start_with(dir: &Path, extra_args: Vec<String>) -> TemporalServer {
        TemporalServer::start_configured(dir, extra_args, true).await
    }

    /// Without the appliance's custom search attributes registered.
    pub async fn start_without_search_attributes(dir: &Path) -> TemporalServer {
        TemporalServer::start_configured(dir, Vec::new(), false).await
    }

    async fn start_configured(
        dir: &Path,
        extra_args: Vec<String>,
        search_attributes: bool,
    ) -> TemporalServer {
        let mut server = TemporalServer {
            grpc_port: free_port(),
            db_file: dir.join("temporal.db"),
            child: None,
            log: dir.join("temporal-server.log"),
            started: false,
            extra_args,
            search_attributes,
        };
        server.restart().await;
        server
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.grpc_port)
    }

    pub fn temporal_config(&self) -> TemporalConfig {
        TemporalConfig {
            address: self.address(),
            namespace: "default".into(),
            task_queue: TASK_QUEUE.into(),
            ..TemporalConfig::default()
        }
    }

    /// (Re)starts on the same gRPC port and database file. A port taken between picking
    /// and binding makes the server exit at once; that is retried with fresh side ports.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "server already running");
        for _attempt in 0..5 {
            if self.try_start().await {
                self.started = true;
                return;
            }
            if !self.started {
                self.grpc_port = free_port();
            }
        }
        panic!(
            "temporal dev server did not come up; its log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    async fn try_start(&mut self) -> bool {
        let log = append_to(&self.log);
        let [http, ui, metrics] = free_ports();
        // The flags the appliance's server unit uses (loopback, every port explicit), headless.
        let spec = ServerSpec {
            server: ServerConfig {
                grpc_port: self.grpc_port,
                http_port: http,
                ui_port: ui,
                metrics_port: metrics,
                db_file: self.db_file.clone(),
                log_level: "error".into(),
                ..ServerConfig::default()
            },
            namespace: "default".into(),
        };
        let mut args = spec.args();
        if !self.search_attributes {
            args = without_search_attributes(args);
        }
        let mut child = Command::new(temporal_bin())
            .args(args)
            .args(&self.extra_args)
            .arg("--headless")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start temporal dev server");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            let answered = temporal_client::connect(&self.temporal_config())
                .await
                .is_ok();
            // Only our own child counts: if it died, whatever answered is not ours.
            if answered && child.try_wait().unwrap().is_none() {
                self.child = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server process, while it runs.
    #[allow(dead_code, reason = "read by the benchmarks, not by every target")]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM and wait: the database stays for a restart.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::send_signal(child.id() as i32, libc::SIGTERM);
            child.wait().unwrap();
        }
    }

    pub async fn client(&self) -> Client {
        temporal_client::connect(&self.temporal_config())
            .await
            .unwrap()
    }
}

/// `args` without any `--search-attribute NAME=TYPE`.
fn without_search_attributes(args: Vec<OsString>) -> Vec<OsString> {
    let mut kept = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--search-attribute" {
            args.next();
        } else {
            kept.push(arg);
        }
    }
    kept
}

impl Drop for TemporalServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
