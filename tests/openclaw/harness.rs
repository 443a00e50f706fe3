//! The REAL OpenClaw gateway (`openclaw@2026.9.6` on Node 24, installed by
//! `tests/openclaw-real/install.sh`) for the tests in `tests/openclaw/real.rs`, with:
//! - a scripted OpenAI-compatible model stub ([`ModelStub`]: reply text, delay, failure, hold
//!   until released) as the gateway's only model provider;
//! - a "front door" on 127.0.0.1 that the worker and the tests talk to;
//! - per-test recording proxies ([`Tap`]) that see every request and answer on the wire;
//! - readers for what OpenClaw itself recorded (its log: hook runs, chat runs).
//!
//! As root the gateway runs in private network, PID and mount namespaces (see
//! `tests/openclaw-real/launch.sh`): its only interface is `lo`, so no traffic can leave the
//! machine, and killing its PID 1 kills everything it started. Updates, telemetry, discovery,
//! channels, the model catalog refresh and heartbeats are off in its config.
//!
//! When the install is missing, [`install`] runs the install script; a failed install fails
//! the test. With `CLAWFACTORY_SKIP_REAL_GATEWAY=<reason>` set (the Nix build sandbox: no
//! network, and neither the install script nor an install in its source set) the tests skip
//! instead, printing the reason, whatever the machine has installed.

use crate::common::fake_http::{Recorded, read_request};
use crate::common::{self, http1, wait_until};
use crate::fake_openclaw::FakeOpenClaw;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The gateway's three HTTP endpoints the worker calls.
pub const HOOKS: &str = "/hooks/agent";
pub const CHAT: &str = "/v1/chat/completions";
pub const ADMIN: &str = "/api/v1/admin/rpc";

/// The shared real gateway, or return from the test (skipped, the reason printed).
macro_rules! real_gateway {
    ($test:expr) => {
        match crate::harness::shared($test).await {
            Some(gateway) => gateway,
            None => return,
        }
    };
}
pub(crate) use real_gateway;

pub const OPENCLAW_VERSION: &str = "2026.9.6";
pub const NODE_VERSION: &str = "24.21.0";
/// Set (to the reason) where the install cannot happen, e.g. the Nix build sandbox.
pub const SKIP_VAR: &str = "CLAWFACTORY_SKIP_REAL_GATEWAY";
/// An existing install directory to use instead of the one under the target directory.
pub const DIR_VAR: &str = "CLAWFACTORY_OPENCLAW_REAL_DIR";
/// Set to run the gateway on the machine's loopback even as root (how non-root runs work).
pub const NO_NETNS_VAR: &str = "CLAWFACTORY_REAL_GATEWAY_NO_NETNS";
/// The agents the gateway knows; hooks may run only `main` and `writer`.
pub const HOOK_AGENTS: [&str; 2] = ["main", "writer"];
pub const NOT_A_HOOK_AGENT: &str = "reviewer";
/// What the stub answers when no script matches.
pub const DEFAULT_REPLY: &str = "MOCK-REPLY: poem drafted.";

fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openclaw-real")
}

/// `<target>/tmp`: Cargo's scratch directory for integration tests.
fn target_tmp() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
}

/// The install directory, installing it first if needed; `Err(reason)` when the tests are to
/// be skipped (only with `CLAWFACTORY_SKIP_REAL_GATEWAY` set). Panics when the install fails.
pub fn install() -> Result<PathBuf, String> {
    static INSTALL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    INSTALL.get_or_init(install_once).clone()
}

fn install_once() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(DIR_VAR) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.join(".installed").is_file(),
            "{DIR_VAR}={} holds no finished install (no .installed)",
            dir.display()
        );
        return Ok(dir);
    }
    let expected = target_tmp()
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .join("openclaw-real")
        .join(format!("openclaw-{OPENCLAW_VERSION}-node-{NODE_VERSION}"));
    if let Ok(reason) = std::env::var(SKIP_VAR) {
        return Err(reason);
    }
    // The script checks its own stamp: cached installs return at once.
    let started = Instant::now();
    let output = Command::new("bash")
        .arg(scripts_dir().join("install.sh"))
        .env(
            "CARGO_TARGET_DIR",
            expected.parent().unwrap().parent().unwrap(),
        )
        .stderr(Stdio::inherit())
        .output()
        .expect("run tests/openclaw-real/install.sh");
    assert!(
        output.status.success(),
        "tests/openclaw-real/install.sh failed ({}); set {SKIP_VAR}=<reason> only where it cannot \
         work (no network)",
        output.status
    );
    let dir = String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .map(PathBuf::from)
        .expect("install.sh prints the install directory");
    assert_eq!(dir, expected, "install.sh installed elsewhere");
    report(&format!(
        "real OpenClaw install checked in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    ));
    Ok(dir)
}

/// Writes a line straight to the process's stderr: `cargo test` captures `println!` and
/// `eprintln!` of passing tests, and these lines (skips, measured times) must show in CI logs.
pub fn report(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Says why the real-gateway test is skipped, uncaptured: a skip is never silent.
pub fn print_skip(test: &str, reason: &str) {
    report(&format!("SKIPPED {test}: {SKIP_VAR} says: {reason}"));
}

// ---------------------------------------------------------------------------------------------
// The model stub
// ---------------------------------------------------------------------------------------------

/// Lets a held model call answer.
#[derive(Clone)]
pub struct Gate(Arc<watch::Sender<bool>>);

impl Gate {
    pub fn new() -> Gate {
        Gate(Arc::new(watch::channel(false).0))
    }

    pub fn release(&self) {
        self.0.send_replace(true);
    }

    async fn wait(&self) {
        let mut open = self.0.subscribe();
        let _ = open.wait_for(|open| *open).await;
    }
}

/// What the stub does with one model call.
#[derive(Clone)]
pub enum Turn {
    /// Answer with this text.
    Reply(String),
    /// Answer this HTTP status with an OpenAI-style error body. Use 400: OpenClaw fails the run
    /// at once (401/403 put the provider in a one-minute cooldown for every later run, 5xx
    /// are retried for 60–90 s).
    Fail(u16),
    /// Wait until the gate is released, then answer this text.
    Hold(Gate, String),
}

/// One call the gateway made to the model.
#[derive(Debug, Clone)]
pub struct ModelCall {
    /// The text of the call's user messages.
    pub user_text: String,
    pub status: u16,
}

#[derive(Default)]
struct StubState {
    scripts: Vec<(String, VecDeque<Turn>)>,
    calls: Vec<ModelCall>,
}

/// The gateway's model provider: OpenAI-compatible `/v1/chat/completions` (JSON or SSE) and
/// `/v1/models`. A call whose user messages carry a script's marker gets that script's next
/// turn; any other call gets [`DEFAULT_REPLY`].
#[derive(Clone, Default)]
pub struct ModelStub {
    state: Arc<Mutex<StubState>>,
}

impl ModelStub {
    /// Calls carrying `marker` get these turns, in order; afterwards the default reply.
    pub fn script(&self, marker: &str, turns: impl IntoIterator<Item = Turn>) {
        let mut state = self.state.lock().unwrap();
        match state.scripts.iter_mut().find(|(m, _)| m == marker) {
            Some((_, queue)) => queue.extend(turns),
            None => state
                .scripts
                .push((marker.to_owned(), turns.into_iter().collect())),
        }
    }

    pub fn calls(&self) -> Vec<ModelCall> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls whose user messages carried `text` (a marker, or e.g. `Task: <name>`).
    pub fn calls_with(&self, text: &str) -> Vec<ModelCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.user_text.contains(text))
            .collect()
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&self, mut stream: S) {
        // Keep-alive: OpenClaw's HTTP client reuses connections.
        while let Some(http1::Request {
            method,
            target,
            body,
            ..
        }) = http1::read_request(&mut stream).await
        {
            let (status, content_type, body) = if method == "GET" && target.ends_with("/models") {
                (
                    200,
                    "application/json",
                    json!({"object": "list", "data": [{"id": "mock-model", "object": "model",
                           "created": 0, "owned_by": "clawfactory-tests"}]})
                    .to_string(),
                )
            } else if method == "POST" && target.ends_with("/chat/completions") {
                self.complete(&body).await
            } else {
                (404, "text/plain", "Not Found".to_owned())
            };
            let head = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                 Connection: keep-alive\r\n\r\n",
                if status == 200 { "OK" } else { "Error" },
                body.len()
            );
            if stream.write_all(head.as_bytes()).await.is_err()
                || stream.write_all(body.as_bytes()).await.is_err()
            {
                return;
            }
        }
    }

    async fn complete(&self, body: &[u8]) -> (u16, &'static str, String) {
        let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let user_text = user_text(&request);
        let stream = request["stream"] == Value::Bool(true);
        let turn = {
            let mut state = self.state.lock().unwrap();
            let found = state
                .scripts
                .iter_mut()
                .find(|(marker, _)| user_text.contains(marker.as_str()));
            match found {
                Some((_, queue)) => queue
                    .pop_front()
                    .unwrap_or_else(|| Turn::Reply(DEFAULT_REPLY.into())),
                None => Turn::Reply(DEFAULT_REPLY.into()),
            }
        };
        let index = {
            let mut state = self.state.lock().unwrap();
            state.calls.push(ModelCall {
                user_text,
                status: 0,
            });
            state.calls.len() - 1
        };
        let (status, reply) = match turn {
            Turn::Reply(text) => (200, text),
            Turn::Fail(status) => (status, String::new()),
            Turn::Hold(gate, text) => {
                gate.wait().await;
                (200, text)
            }
        };
        self.state.lock().unwrap().calls[index].status = status;
        if status != 200 {
            let error = json!({"error": {"message": format!("model stub answers {status}"),
                                         "type": "invalid_request_error"}});
            return (status, "application/json", error.to_string());
        }
        let model = request["model"].as_str().unwrap_or("mock-model");
        let created = 1_795_627_640;
        if !stream {
            let answer = json!({"id": "chatcmpl-stub", "object": "chat.completion", "created": created,
                "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop"}], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}});
            return (200, "application/json", answer.to_string());
        }
        let chunk = |choices: Value, usage: Value| {
            let mut chunk = json!({"id": "chatcmpl-stub", "object": "chat.completion.chunk",
                                   "created": created, "model": model, "choices": choices});
            if !usage.is_null() {
                chunk["usage"] = usage;
            }
            format!("data: {chunk}\n\n")
        };
        let mut events = String::new();
        events += &chunk(
            json!([{"index": 0, "delta": {"role": "assistant"}}]),
            Value::Null,
        );
        events += &chunk(
            json!([{"index": 0, "delta": {"content": reply}}]),
            Value::Null,
        );
        events += &chunk(
            json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
            Value::Null,
        );
        events += &chunk(
            json!([]),
            json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}),
        );
        events += "data: [DONE]\n\n";
        (200, "text/event-stream", events)
    }
}

/// The text of every user message (string or content parts).
fn user_text(request: &Value) -> String {
    let mut text = String::new();
    for message in request["messages"].as_array().into_iter().flatten() {
        if message["role"] != "user" {
            continue;
        }
        match &message["content"] {
            Value::String(s) => text.push_str(s),
            Value::Array(parts) => {
                for part in parts {
                    text.push_str(part["text"].as_str().unwrap_or_default());
                }
            }
            _ => {}
        }
        text.push('\n');
    }
    text
}

// ---------------------------------------------------------------------------------------------
// The gateway
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Options {
    pub hooks_enabled: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            hooks_enabled: true,
        }
    }
}

/// Where the gateway (inside its namespace or not) is reached from the test process.
#[derive(Clone)]
enum Upstream {
    Unix(PathBuf),
    Tcp(u16),
}

impl Upstream {
    async fn connect(&self) -> std::io::Result<Box<dyn Stream>> {
        Ok(match self {
            Upstream::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            Upstream::Tcp(port) => Box::new(TcpStream::connect(("127.0.0.1", *port)).await?),
        })
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One hook run as OpenClaw logged it (`hook agent run completed ...`).
#[derive(Debug, Clone, PartialEq)]
pub struct HookRun {
    pub run_id: String,
    pub name: String,
    pub agent_id: String,
    pub status: String,
    pub summary: Option<String>,
}

/// What the gateway's thread reports once it is ready.
struct Started {
    gateway_token: String,
    hooks_token: String,
    model: ModelStub,
    port: u16,
    ready_after: Duration,
    in_network_namespace: bool,
    state_dir: PathBuf,
}

/// A running real gateway. Stopped (SIGTERM, then SIGKILL of its process group) on drop; the
/// shared one ([`shared`]) at process exit. Its processes also die with the test process.
pub struct RealOpenClaw {
    pub gateway_token: String,
    pub hooks_token: String,
    pub model: ModelStub,
    /// The front door on 127.0.0.1 (relays to the gateway).
    pub port: u16,
    /// From launch to `/readyz` 200.
    pub ready_after: Duration,
    pub in_network_namespace: bool,
    pub state_dir: PathBuf,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl RealOpenClaw {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_path(&self) -> PathBuf {
        self.state_dir.join("logs/openclaw.log")
    }

    /// The gateway's own log (JSON lines).
    pub fn log_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.log_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Every hook run OpenClaw completed, in order.
    pub fn hook_runs(&self) -> Vec<HookRun> {
        self.log_lines()
            .into_iter()
            .filter(|line| {
                line["2"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("hook agent run completed"))
            })
            .map(|line| {
                let run = &line["1"];
                let text = |key: &str| run[key].as_str().unwrap_or_default().to_owned();
                HookRun {
                    run_id: text("runId"),
                    name: text("name"),
                    agent_id: text("agentId"),
                    status: text("status"),
                    summary: run["summary"].as_str().map(str::to_owned),
                }
            })
            .collect()
    }

    pub fn hook_runs_named(&self, name: &str) -> Vec<HookRun> {
        self.hook_runs()
            .into_iter()
            .filter(|r| r.name == name)
            .collect()
    }

    /// The chat-completions runs OpenClaw logged as ended: `(run id, stopReason)`.
    pub fn chat_runs(&self) -> Vec<(String, String)> {
        self.log_lines()
            .into_iter()
            .filter_map(|line| {
                let message = line["1"].as_str()?;
                let rest = message.strip_prefix("[agent] run ")?;
                let (id, reason) = rest.split_once(" ended with stopReason=")?;
                Some((id.to_owned(), reason.to_owned()))
            })
            .collect()
    }

    /// Calls the admin RPC (gateway token); the whole answer.
    pub async fn admin_rpc(&self, method: &str, params: Value) -> Value {
        let answer = reqwest::Client::new()
            .post(format!("{}/api/v1/admin/rpc", self.url()))
            .bearer_auth(&self.gateway_token)
            .json(&json!({"method": method, "params": params}))
            .send()
            .await
            .expect("admin RPC");
        answer.json().await.expect("admin RPC answers JSON")
    }

    /// Starts a gateway of its own (use [`shared`] where the default config does).
    pub async fn start(install: &Path, options: Options) -> RealOpenClaw {
        let install = install.to_owned();
        let (started_tx, reported) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        // Its own thread and runtime: the stub and the front door outlive any one test's
        // runtime, and the processes' parent-death signal is tied to this thread.
        let thread = std::thread::Builder::new()
            .name("openclaw-real".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(run_gateway(install, options, started_tx, stopped));
            })
            .unwrap();
        let started = reported
            .await
            .expect("the real gateway's thread ended before reporting");
        let started = match started {
            Ok(started) => started,
            Err(message) => {
                let _ = thread.join();
                panic!("{message}");
            }
        };
        RealOpenClaw {
            gateway_token: started.gateway_token,
            hooks_token: started.hooks_token,
            model: started.model,
            port: started.port,
            ready_after: started.ready_after,
            in_network_namespace: started.in_network_namespace,
            state_dir: started.state_dir,
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Stops the gateway and everything it started; waits (bounded) for it.
    pub fn stop(&self) {
        if let Some(stop) = self.stop.lock().unwrap().take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.lock().unwrap().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for RealOpenClaw {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

static SHARED: tokio::sync::OnceCell<Result<RealOpenClaw, String>> =
    tokio::sync::OnceCell::const_new();

/// At process exit: the shared gateway is a static, never dropped.
extern "C" fn stop_shared() {
    if let Some(Ok(gateway)) = SHARED.get() {
        gateway.stop();
        let _ = std::fs::remove_dir_all(&gateway.state_dir);
    }
}

/// The gateway with the default config, started once per test binary and shared by its tests
/// (it takes 10–20 s to start on 2 cores); `None` when skipped (the reason is printed).
pub async fn shared(test: &str) -> Option<&'static RealOpenClaw> {
    let gateway = SHARED
        .get_or_init(|| async {
            let install = tokio::task::spawn_blocking(install).await.unwrap()?;
            let gateway = RealOpenClaw::start(&install, Options::default()).await;
            #[allow(unsafe_code)] // atexit(3) has no safe wrapper.
            // SAFETY: `stop_shared` is a plain `extern "C" fn()` that touches only the static
            // gateway, which lives as long as the process.
            unsafe {
                libc::atexit(stop_shared);
            }
            Ok(gateway)
        })
        .await;
    match gateway {
        Ok(gateway) => Some(gateway),
        Err(reason) => {
            print_skip(test, reason);
            None
        }
    }
}

/// A gateway of the test's own; `None` when skipped (the reason is printed).
pub async fn own(test: &str, options: Options) -> Option<RealOpenClaw> {
    match tokio::task::spawn_blocking(install).await.unwrap() {
        Ok(install) => Some(RealOpenClaw::start(&install, options).await),
        Err(reason) => {
            print_skip(test, &reason);
            None
        }
    }
}

pub fn is_root() -> bool {
    #[allow(unsafe_code)] // geteuid(2) has no safe wrapper in std.
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe {
        libc::geteuid() == 0
    }
}

/// The gateway's `openclaw.json`: hooks, chat completions and the admin RPC plugin on; the
/// stub as the only model provider; updates, telemetry, discovery, the model catalog refresh
/// and recurring heartbeats off (channels are off by `OPENCLAW_SKIP_CHANNELS`).
fn config(
    options: &Options,
    state: &Path,
    gateway_port: u16,
    model_port: u16,
    tokens: (&str, &str),
) -> Value {
    let (gateway_token, hooks_token) = tokens;
    json!({
        "gateway": {"mode": "local", "port": gateway_port, "bind": "loopback",
            "auth": {"mode": "token", "token": gateway_token},
            "http": {"endpoints": {"chatCompletions": {"enabled": true}}}},
        "hooks": {"enabled": options.hooks_enabled, "token": hooks_token, "path": "/hooks",
            "allowedAgentIds": HOOK_AGENTS, "allowRequestSessionKey": false},
        "plugins": {"entries": {"admin-http-rpc": {"enabled": true}}},
        "models": {"mode": "merge", "catalogRefresh": {"enabled": false},
            "providers": {"mock": {"baseUrl": format!("http://127.0.0.1:{model_port}/v1"),
                "apiKey": "mock-local", "api": "openai-completions", "timeoutSeconds": 600,
                "models": [{"id": "mock-model", "name": "Mock Model", "reasoning": false,
                    "input": ["text"], "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                    "contextWindow": 128000, "maxTokens": 4096}]}}},
        "agents": {"defaults": {"model": {"primary": "mock/mock-model", "fallbacks": []},
                                "heartbeat": {"every": "0m"}},
            "entries": {"main": {"name": "Main"}, "writer": {"name": "Writer"},
                        NOT_A_HOOK_AGENT: {"name": "Reviewer"}}},
        "cron": {"enabled": true},
        "update": {"checkOnStart": false},
        "telemetry": {"enabled": false},
        "discovery": {"mdns": {"mode": "off"}},
        "logging": {"file": state.join("logs/openclaw.log")}
    })
}

fn free_port_pair() -> (u16, u16) {
    (common::free_port(), common::free_port())
}

/// Runs on the gateway's own thread: starts everything, reports, waits for `stop`, stops.
async fn run_gateway(
    install: PathBuf,
    options: Options,
    started_tx: tokio::sync::oneshot::Sender<Result<Started, String>>,
    stop: tokio::sync::oneshot::Receiver<()>,
) {
    std::fs::create_dir_all(target_tmp()).unwrap();
    let state_dir = tempfile::Builder::new()
        .prefix("openclaw-real-")
        .tempdir_in(target_tmp())
        .unwrap()
        .keep();
    std::fs::create_dir_all(state_dir.join("home")).unwrap();
    std::fs::create_dir_all(state_dir.join("logs")).unwrap();
    let netns = is_root() && std::env::var_os(NO_NETNS_VAR).is_none();
    // Inside a namespace of its own the ports are free by construction; outside, pick free ones.
    let (gateway_port, model_port) = if netns {
        (18789, 18790)
    } else {
        free_port_pair()
    };
    let gateway_token = "gw-real-token-0123456789abcdef".to_owned();
    let hooks_token = "hook-real-token-fedcba9876543210".to_owned();
    let config_path = state_dir.join("openclaw.json");
    let config = config(
        &options,
        &state_dir,
        gateway_port,
        model_port,
        (&gateway_token, &hooks_token),
    );
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    // The model stub: on a Unix socket the relay reaches from inside the namespace, or on
    // the machine's loopback.
    let model = ModelStub::default();
    // Unix socket paths must stay under 108 bytes: a deep checkout puts them in /dev/shm.
    let socket_dir = if state_dir.as_os_str().len() < 80 {
        state_dir.clone()
    } else {
        let dir = tempfile::Builder::new()
            .prefix("openclaw-real-")
            .tempdir_in("/dev/shm")
            .expect("a short directory for the Unix sockets")
            .keep();
        std::fs::write(
            state_dir.join("socket-dir"),
            dir.as_os_str().as_encoded_bytes(),
        )
        .unwrap();
        dir
    };
    let model_socket = socket_dir.join("model.sock");
    let gateway_socket = socket_dir.join("gateway.sock");
    if netns {
        let listener = tokio::net::UnixListener::bind(&model_socket).unwrap();
        let stub = model.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let stub = stub.clone();
                tokio::spawn(async move { stub.serve(stream).await });
            }
        });
    } else {
        let listener = TcpListener::bind(("127.0.0.1", model_port)).await.unwrap();
        let stub = model.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let stub = stub.clone();
                tokio::spawn(async move { stub.serve(stream).await });
            }
        });
    }

    let node = install.join("toolchain/node24/bin/node");
    let output = std::fs::File::create(state_dir.join("gateway.out")).unwrap();
    let mut command = if netns {
        let mut command = Command::new("unshare");
        command.args(["--net", "--pid", "--mount", "--fork", "--kill-child", "--"]);
        command.arg("bash");
        command
    } else {
        Command::new("bash")
    };
    command
        .arg(scripts_dir().join("launch.sh"))
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                node.parent().unwrap().display()
            ),
        )
        .env("LANG", "C.UTF-8")
        .env("TZ", "UTC")
        .env("NODE", &node)
        .env(
            "OPENCLAW_MJS",
            install.join("app/node_modules/openclaw/openclaw.mjs"),
        )
        .env("GATEWAY_PORT", gateway_port.to_string())
        .env("MODEL_PORT", model_port.to_string())
        .env("OPENCLAW_REAL_NETNS", if netns { "1" } else { "0" })
        .env("RELAY_MJS", scripts_dir().join("relay.mjs"))
        .env("GATEWAY_SOCKET", &gateway_socket)
        .env("MODEL_SOCKET", &model_socket)
        .env("HOME", state_dir.join("home"))
        .env("OPENCLAW_STATE_DIR", &state_dir)
        .env("OPENCLAW_CONFIG_PATH", &config_path)
        .env("OPENCLAW_SKIP_CHANNELS", "1")
        .env("OPENCLAW_DISABLE_BONJOUR", "1")
        .env("OPENCLAW_NO_RESPAWN", "1")
        .env("OPENCLAW_NO_AUTO_UPDATE", "1")
        .env("OPENCLAW_EXEC_SHELL_SNAPSHOT", "0")
        .env("OPENCLAW_SKIP_GMAIL_WATCHER", "1")
        .env("DO_NOT_TRACK", "1")
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output);
    #[allow(unsafe_code)] // pre_exec is unsafe: the closure runs between fork and exec.
    // SAFETY: the closure only makes two async-signal-safe syscalls (setpgid, prctl), and
    // allocates nothing.
    unsafe {
        use std::os::unix::process::CommandExt;
        command.pre_exec(|| {
            // Its own process group (stopped as one), and killed if this thread dies.
            libc::setpgid(0, 0);
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let launched = Instant::now();
    let mut child = command.spawn().expect("start the real OpenClaw gateway");

    let upstream = if netns {
        Upstream::Unix(gateway_socket)
    } else {
        Upstream::Tcp(gateway_port)
    };
    let front = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = front.local_addr().unwrap().port();
    let relay_to = upstream.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = front.accept().await {
            let upstream = relay_to.clone();
            tokio::spawn(async move {
                if let Ok(mut upstream) = upstream.connect().await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                }
            });
        }
    });

    let ready = wait_ready(port, &mut child, Duration::from_secs(180)).await;
    let started = match ready {
        Ok(()) => Ok(Started {
            gateway_token,
            hooks_token,
            model,
            port,
            ready_after: launched.elapsed(),
            in_network_namespace: netns,
            state_dir: state_dir.clone(),
        }),
        Err(why) => Err(format!(
            "the real OpenClaw gateway did not become ready: {why}; its output:\n{}",
            tail(&state_dir.join("gateway.out"), 60)
        )),
    };
    let failed = started.is_err();
    if let Ok(gateway) = &started {
        report(&format!(
            "real OpenClaw {OPENCLAW_VERSION} ready in {:.1} s on http://127.0.0.1:{} ({})",
            gateway.ready_after.as_secs_f64(),
            gateway.port,
            if netns {
                "private network namespace"
            } else {
                "machine loopback"
            }
        ));
    }
    let _ = started_tx.send(started);
    if !failed {
        let _ = stop.await;
    }
    stop_process_group(&mut child);
    if socket_dir != state_dir {
        let _ = std::fs::remove_dir_all(&socket_dir);
    }
    if failed {
        let _ = std::fs::remove_dir_all(&state_dir);
    }
}

async fn wait_ready(port: u16, child: &mut Child, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err(format!("it exited with {status}"));
        }
        let last = match raw_exchange(port, "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await
        {
            Ok(answer) if answer.status == 200 => return Ok(()),
            Ok(answer) => format!("HTTP {} {}", answer.status, answer.body),
            Err(err) => err.to_string(),
        };
        if Instant::now() > deadline {
            return Err(format!("not ready after {timeout:?}: {last}"));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// SIGTERM to the group (the gateway shuts down in 0.5–3 s), SIGKILL after 10 s.
fn stop_process_group(child: &mut Child) {
    let group = child.id() as i32;
    common::send_signal(-group, libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            common::send_signal(-group, libc::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    common::send_signal(-group, libc::SIGKILL);
    let _ = child.wait();
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------------
// Raw HTTP, for probes that must control every byte
// ---------------------------------------------------------------------------------------------

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Sends `request` (a whole HTTP/1.1 request; `Connection: close` is added) to 127.0.0.1:port
/// and reads the answer to the end.
pub async fn raw_exchange(port: u16, request: &str) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (head, body) = request.split_once("\r\n\r\n").unwrap_or((request, ""));
    let request = format!("{head}\r\nConnection: close\r\n\r\n{body}");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    parse_answer(&raw).ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {raw:?}")))
}

fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[head_end..].to_vec();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body)?;
    }
    Some(Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&raw[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(raw.get(line_end + 2..line_end + 2 + size)?);
        raw = raw.get(line_end + 2 + size + 2..)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The recording proxy
// ---------------------------------------------------------------------------------------------

/// One request through a [`Tap`] and what came back.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: Recorded,
    /// `None` when the client went away first (e.g. a killed worker) or the upstream failed.
    pub answer: Option<Answer>,
    pub answered_at: Option<Instant>,
}

/// A loopback proxy in front of a gateway (real or fake) that records every exchange. One
/// request per connection (it answers `Connection: close`); when the client goes away
/// mid-wait, so does its upstream connection, as if the client had been connected directly.
#[derive(Clone)]
pub struct Tap {
    pub port: u16,
    exchanges: Arc<Mutex<Vec<Exchange>>>,
}

impl Tap {
    pub async fn start(upstream_port: u16) -> Tap {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tap = Tap {
            port: listener.local_addr().unwrap().port(),
            exchanges: Arc::default(),
        };
        let recorder = tap.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let recorder = recorder.clone();
                tokio::spawn(async move { recorder.relay(client, upstream_port).await });
            }
        });
        tap
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    /// The exchanges with this path (the worker's startup `GET /readyz` left out by asking).
    pub fn to(&self, path: &str) -> Vec<Exchange> {
        self.exchanges()
            .into_iter()
            .filter(|e| e.request.path() == path)
            .collect()
    }

    async fn relay(&self, mut client: TcpStream, upstream_port: u16) {
        let Some(request) = read_request(&mut client).await else {
            return;
        };
        let index = {
            let mut exchanges = self.exchanges.lock().unwrap();
            exchanges.push(Exchange {
                request: request.clone(),
                answer: None,
                answered_at: None,
            });
            exchanges.len() - 1
        };
        let mut head = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
        for (name, value) in &request.headers {
            if name != "connection" && name != "content-length" {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        // One request per upstream connection too: kept alive, it would end only at the
        // gateway's keep-alive timeout, and every answer would wait for that (about 5 s).
        let forwarded = format!(
            "{head}connection: close\r\ncontent-length: {}\r\n\r\n{}",
            request.body.len(),
            request.body
        );
        let upstream = async {
            let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
            upstream.write_all(forwarded.as_bytes()).await?;
            let mut raw = Vec::new();
            upstream.read_to_end(&mut raw).await?;
            Ok::<_, std::io::Error>(raw)
        };
        let mut probe = [0u8; 1];
        let raw = tokio::select! {
            raw = upstream => raw,
            // HTTP/1.1 clients send nothing more: a read returning means the client left.
            _ = client.read(&mut probe) => return,
        };
        let Ok(raw) = raw else { return };
        let Some(answer) = parse_answer(&raw) else {
            return;
        };
        {
            let mut exchanges = self.exchanges.lock().unwrap();
            exchanges[index].answer = Some(answer.clone());
            exchanges[index].answered_at = Some(Instant::now());
        }
        // The same answer, re-framed: Content-Length and Connection: close.
        let mut head = format!("HTTP/1.1 {} Status\r\n", answer.status);
        for (name, value) in &answer.headers {
            if !matches!(
                name.as_str(),
                "connection" | "content-length" | "transfer-encoding" | "keep-alive"
            ) {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        head.push_str(&format!(
            "content-length: {}\r\nconnection: close\r\n\r\n",
            answer.body.len()
        ));
        let _ = client.write_all(head.as_bytes()).await;
        let _ = client.write_all(answer.body.as_bytes()).await;
        let _ = client.shutdown().await;
    }
}

/// A gateway under test, real or fake: where it listens and its two tokens.
pub struct Target {
    pub name: &'static str,
    pub port: u16,
    pub gateway_token: String,
    pub hooks_token: String,
}

impl Target {
    pub fn real(gateway: &RealOpenClaw) -> Target {
        Target {
            name: "real",
            port: gateway.port,
            gateway_token: gateway.gateway_token.clone(),
            hooks_token: gateway.hooks_token.clone(),
        }
    }

    pub fn fake(fake: &FakeOpenClaw) -> Target {
        Target {
            name: "fake",
            port: fake.port,
            gateway_token: fake.gateway_token.clone(),
            hooks_token: fake.hooks_token.clone(),
        }
    }
}

/// Waits until OpenClaw's log holds `count` hook runs named `name`, and returns them.
pub async fn hook_runs(gateway: &RealOpenClaw, name: &str, count: usize) -> Vec<HookRun> {
    wait_until(
        &format!("{count} hook run(s) named {name} in OpenClaw's log"),
        Duration::from_secs(20),
        || gateway.hook_runs_named(name).len() >= count,
    )
    .await;
    gateway.hook_runs_named(name)
}
