//! What every benchmark uses: settings from the environment, the fast fake gateway, the
//! worker under test and its resource counters, and small statistics.

use crate::common::{ChildGuard, NotifySocket, TemporalServer};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What a `PoetryResearchWorkflow` returns when both turns succeeded.
pub const DONE: &str = "Poetry research workflow completed";

/// A dev server started as the appliance starts it; `BENCH_TRANSFER_RPS` overrides the
/// history service's transfer-queue load rate the appliance sets (`dev_server::supervisor::DYNAMIC_CONFIG`;
/// 20 is the server's own default), to measure what that setting does.
pub async fn start_server(dir: &Path) -> TemporalServer {
    let extra = match std::env::var("BENCH_TRANSFER_RPS") {
        Ok(rps) => vec![
            "--dynamic-config-value".to_owned(),
            format!("history.transferProcessorMaxPollRPS={rps}"),
        ],
        Err(_) => Vec::new(),
    };
    TemporalServer::start_with(dir, extra).await
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The declared workflow the benchmark runs: 20 steps — 16 agent turns, each but the first
/// with a `when` reading the step before and every third with a templated message, 2 of them
/// in a parallel step, and a stop whose condition is false.
pub fn declared_bench() -> String {
    let mut text = String::from("[declared.bench20]\ndescription = \"20 steps\"\n");
    for i in 1..=16 {
        text.push_str(&format!(
            "[[declared.bench20.steps]]\nid = \"s{i}\"\ntype = \"agent_turn\"\nturn = \"poetry-research-execute\"\n"
        ));
        if i > 1 {
            text.push_str(&format!("when = \"steps.s{}.status == 'ok'\"\n", i - 1));
        }
        if i % 3 == 0 {
            text.push_str(&format!(
                "message = \"Step {i}, after: {{{{ steps.s{}.result }}}}\"\n",
                i - 1
            ));
        }
    }
    text.push_str(
        "[[declared.bench20.steps]]\nid = \"never\"\ntype = \"stop\"\nwhen = \"steps.s16.status != 'ok'\"\n\
         [[declared.bench20.steps]]\nid = \"both\"\ntype = \"parallel\"\n\
         [[declared.bench20.steps.steps]]\nid = \"left\"\ntype = \"agent_turn\"\nturn = \"poetry-research-synthesize\"\n\
         [[declared.bench20.steps.steps]]\nid = \"right\"\ntype = \"agent_turn\"\nturn = \"poetry-research-synthesize\"\n",
    );
    text
}

/// A gateway that answers every `/hooks/agent` POST with a finished run, at once, and keeps
/// connections open (HTTP/1.1 keep-alive, as OpenClaw does). Returns its port and how many
/// agent turns it has answered (other requests, such as the worker's preflight, not counted).
pub async fn fast_gateway() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    // One request: head, then Content-Length bytes of body.
                    let (head_end, length) = loop {
                        if let Some(pos) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buffer[..pos]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (pos + 4, length);
                        }
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    };
                    while buffer.len() < head_end + length {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
                    buffer.drain(..head_end + length);
                    let body = if head.starts_with("POST /hooks/agent") {
                        let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                        json!({"ok": true, "runId": format!("run-{n}"), "completion":
                               {"status": "ok", "replyDisposition": "visible"}})
                        .to_string()
                    } else {
                        json!({"ready": true}).to_string()
                    };
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, calls)
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` in the repository.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// `BENCH_WORKER`, else the shipped build (`cargo build --profile dist`): the driver itself may
/// be a debug build, which spares CI and you a second release tree (dev-dependencies change
/// the features of shared crates, so a release test build recompiles most of the SDK).
pub fn worker_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BENCH_WORKER") {
        return PathBuf::from(bin);
    }
    let bin = target_dir().join("dist/clawfactory-temporal");
    assert!(
        bin.is_file(),
        "no {}: run `cargo build --profile dist` first (or set BENCH_WORKER)",
        bin.display()
    );
    bin
}

/// Production-like settings, talking `hooks-agent` to the fast gateway; `sections` (TOML
/// tables, e.g. `[worker]`) and `$BENCH_CONFIG_EXTRA` are added.
pub fn write_config(
    dir: &Path,
    server: &TemporalServer,
    gateway_port: u16,
    sections: &str,
) -> PathBuf {
    let token = dir.join("hooks-token");
    std::fs::write(&token, "bench-hooks-token\n").unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let extra = std::env::var("BENCH_CONFIG_EXTRA").unwrap_or_default();
    let path = dir.join("bench.toml");
    std::fs::write(
        &path,
        format!(
            "[temporal]\naddress = \"{}\"\n\n[gateway]\napi = \"hooks-agent\"\n\
             url = \"http://127.0.0.1:{gateway_port}\"\nhooks_token_file = {:?}\n\
             killswitch_file = {:?}\n{extra}\n{sections}\n{}",
            server.address(),
            token.display().to_string(),
            dir.join("KILLSWITCH_bench").display().to_string(),
            declared_bench(),
        ),
    )
    .unwrap();
    path
}

/// The worker under a NOTIFY_SOCKET; returns it and the time from exec to `READY=1`. It
/// inherits the environment (`RUST_LOG`, ...), so a setting can be compared by setting it.
pub fn start_worker(
    config: &Path,
    notify: &mut NotifySocket,
    log: &Path,
) -> (ChildGuard, Duration) {
    start_worker_with(config, notify, log, &[])
}

/// [`start_worker`] with `env` set for the worker only.
pub fn start_worker_with(
    config: &Path,
    notify: &mut NotifySocket,
    log: &Path,
    env: &[(&str, &str)],
) -> (ChildGuard, Duration) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let began = Instant::now();
    let child = Command::new(worker_bin())
        .args(["worker", "--log", "text", "--config"])
        .arg(config)
        .env("NOTIFY_SOCKET", &notify.path)
        .envs(env.iter().copied())
        .env_remove("CLAWFACTORY_CONFIG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the worker");
    notify.wait_for(Duration::from_secs(30), |m| m.contains("READY=1"));
    (ChildGuard(child), began.elapsed())
}

pub fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// utime + stime of the process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of stat(5); `after_name` starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    #[allow(unsafe_code)] // sysconf(3) has no safe wrapper in std.
    // SAFETY: sysconf takes a constant name and no pointers.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    ticks as f64 / ticks_per_second as f64
}

/// The run's result, waiting up to 10 minutes (a loaded machine makes bursts slow).
pub async fn result(client: &temporalio_client::Client, id: &str) -> Result<String, String> {
    let handle = client.get_workflow_handle::<temporalio_common::UntypedWorkflow>(id);
    let raw = tokio::time::timeout(
        Duration::from_secs(600),
        handle.get_result(temporalio_client::WorkflowGetResultOptions::default()),
    )
    .await
    .map_err(|_| format!("{id} did not finish within 10 minutes"))?
    .map_err(|err| err.to_string())?;
    let payload = raw.payloads.first().ok_or("no result payload")?;
    // A string result as it is; a declared run's JSON object as JSON text.
    match serde_json::from_slice(&payload.data).map_err(|err| err.to_string())? {
        serde_json::Value::String(text) => Ok(text),
        other => Ok(other.to_string()),
    }
}

pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
