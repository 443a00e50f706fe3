//! The worker benchmark. Not run by `cargo test` (ignored), only compiled; run it with:
//!
//! ```sh
//! cargo build --profile dist && cargo test --test bench -- --ignored --nocapture
//! ```
//!
//! It starts a Temporal dev server, a fast fake gateway (loopback, answers `/hooks/agent` at
//! once, keep-alive) and the dist-profile worker binary (`target/dist/clawfactory-temporal`, or
//! `BENCH_WORKER=/path/to/binary`), then prints a table and one JSON line:
//! exec → READY (sd_notify `READY=1` on a NOTIFY_SOCKET it binds; the server already up),
//! idle RSS after `BENCH_IDLE_SECS` (30), sequential end-to-end latency of a 2-turn
//! zero-settle `PoetryResearchWorkflow` (`BENCH_LATENCY_RUNS`, 100), and a burst of
//! `BENCH_N` (500) runs with a 1 s settle: wall time, workflows/s, worker CPU per 1000 runs
//! (utime + stime), peak RSS (VmHWM); then `BENCH_DECLARED_N` (100) runs of a 20-step declared
//! workflow (agent turns with conditions and templated messages, a parallel step): worker CPU
//! per run.

mod common;

use common::{ChildGuard, NotifySocket, TemporalServer, start_workflow};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DONE: &str = "Poetry research workflow completed";

/// The declared workflow the benchmark runs: 20 steps — 16 agent turns, each but the first
/// with a `when` reading the step before and every third with a templated message, 2 of them
/// in a parallel step, and a stop whose condition is false.
fn declared_bench() -> String {
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

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A gateway that answers every `/hooks/agent` POST with a finished run, at once, and keeps
/// connections open (HTTP/1.1 keep-alive, as OpenClaw does).
async fn fast_gateway() -> (u16, Arc<AtomicUsize>) {
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
                    let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
                    buffer.drain(..head_end + length);
                    let body = if head.starts_with("POST /hooks/agent") {
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

/// `BENCH_WORKER`, else the shipped build (`cargo build --profile dist`): the driver itself may
/// be a debug build, which spares CI and you a second release tree (dev-dependencies change
/// the features of shared crates, so a release test build recompiles most of the SDK).
fn worker_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("BENCH_WORKER") {
        return PathBuf::from(bin);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("dist/clawfactory-temporal");
    assert!(
        bin.is_file(),
        "no {}: run `cargo build --profile dist` first (or set BENCH_WORKER)",
        bin.display()
    );
    bin
}

/// Production-like settings, talking `hooks-agent` to the fast gateway.
fn write_config(dir: &Path, server: &TemporalServer, gateway_port: u16) -> PathBuf {
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
             killswitch_file = {:?}\n{extra}\n{}",
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
fn start_worker(config: &Path, notify: &mut NotifySocket, log: &Path) -> (ChildGuard, Duration) {
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
        .env_remove("CLAWFACTORY_CONFIG")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the worker");
    notify.wait_for(Duration::from_secs(30), |m| m.contains("READY=1"));
    (ChildGuard(child), began.elapsed())
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// utime + stime of the process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of stat(5); `after_name` starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Where one run's time went, from its history (server timestamps), in milliseconds:
/// workflow tasks waiting in a queue (scheduled → started), workflow tasks being worked on
/// (started → completed: the worker's processing plus the completion round trip), activities
/// (scheduled → completed), how many workflow tasks there were, and the whole run (started →
/// completed, i.e. without the driver's own start and result round trips).
#[derive(Debug, Default, Clone, Copy)]
struct Phases {
    total: f64,
    wft_wait: f64,
    wft_work: f64,
    activity: f64,
    wfts: u32,
}

async fn phases(client: &temporalio_client::Client, id: &str) -> Phases {
    use futures::StreamExt;
    use temporalio_common::protos::temporal::api::enums::v1::EventType;
    let handle = client.get_workflow_handle::<temporalio_common::UntypedWorkflow>(id);
    let events: Vec<_> = handle
        .fetch_history(temporalio_client::WorkflowFetchHistoryOptions::default())
        .filter_map(|e| async move { e.ok() })
        .collect()
        .await;
    let at = |e: &temporalio_common::protos::temporal::api::history::v1::HistoryEvent| {
        e.event_time
            .as_ref()
            .map(|t| t.seconds as f64 * 1000.0 + t.nanos as f64 / 1e6)
            .unwrap_or_default()
    };
    let mut phases = Phases::default();
    let (mut wft_scheduled, mut wft_started, mut act_scheduled) = (0.0, 0.0, 0.0);
    let first = events.first().map(at).unwrap_or_default();
    for event in &events {
        match event.event_type() {
            EventType::WorkflowExecutionCompleted => phases.total = at(event) - first,
            EventType::WorkflowTaskScheduled => wft_scheduled = at(event),
            EventType::WorkflowTaskStarted => {
                wft_started = at(event);
                phases.wft_wait += wft_started - wft_scheduled;
                phases.wfts += 1;
            }
            EventType::WorkflowTaskCompleted => phases.wft_work += at(event) - wft_started,
            EventType::ActivityTaskScheduled => act_scheduled = at(event),
            EventType::ActivityTaskCompleted => phases.activity += at(event) - act_scheduled,
            _ => {}
        }
    }
    phases
}

/// The median of each phase over `all`.
fn median_phases(all: &[Phases]) -> Phases {
    let median = |f: fn(&Phases) -> f64| {
        let mut values: Vec<f64> = all.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or_default()
    };
    Phases {
        total: median(|p| p.total),
        wft_wait: median(|p| p.wft_wait),
        wft_work: median(|p| p.wft_work),
        activity: median(|p| p.activity),
        wfts: all.first().map(|p| p.wfts).unwrap_or_default(),
    }
}

/// The run's result, waiting up to 10 minutes (a loaded machine makes bursts slow).
async fn result(client: &temporalio_client::Client, id: &str) -> Result<String, String> {
    let handle = client.get_workflow_handle::<temporalio_common::UntypedWorkflow>(id);
    let raw = tokio::time::timeout(
        Duration::from_secs(600),
        handle.get_result(temporalio_client::WorkflowGetResultOptions::default()),
    )
    .await
    .map_err(|_| format!("{id} did not finish within 10 minutes"))?
    .map_err(|err| err.to_string())?;
    let payload = raw.payloads.first().ok_or("no result payload")?;
    serde_json::from_slice::<String>(&payload.data).map_err(|err| err.to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo build --profile dist && cargo test --test bench -- --ignored --nocapture"]
async fn bench() {
    let burst_size: usize = env_or("BENCH_N", 500);
    let idle_secs: u64 = env_or("BENCH_IDLE_SECS", 30);
    let latency_runs: usize = env_or("BENCH_LATENCY_RUNS", 100);
    let ready_runs: usize = env_or("BENCH_READY_RUNS", 5);
    // The server's SQLite file on tmpfs: on this VM's disk its fsyncs, not the worker, set the
    // pace (a 200-burst ran at ~4 workflows/s with the worker 95 % idle).
    let dir = common::tmpfs_dir();
    println!("bench: server database in {}", dir.path().display());
    let server = TemporalServer::start(dir.path()).await;
    let (gateway_port, gateway_calls) = fast_gateway().await;
    let config = write_config(dir.path(), &server, gateway_port);
    let log = dir.path().join("worker.log");
    let mut notify = NotifySocket::bind(dir.path().join("notify.sock"));
    let client = server.client().await;
    println!("bench: worker {}", worker_bin().display());

    // exec → READY, a few times (the last worker stays for the rest).
    let mut ready_times = Vec::new();
    let mut worker = None;
    for i in 0..ready_runs.max(1) {
        let (child, took) = start_worker(&config, &mut notify, &log);
        ready_times.push(took);
        if i + 1 < ready_runs {
            drop(child); // SIGTERM, wait
        } else {
            worker = Some(child);
        }
    }
    let worker = worker.unwrap();
    let pid = worker.id();
    ready_times.sort();
    let ready_median = percentile(&ready_times, 0.5);

    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let idle_rss = proc_status_kib(pid, "VmRSS:");

    // Sequential latency of a 2-turn, zero-settle run (a few untimed runs first).
    let mut latencies = Vec::new();
    for i in 0..latency_runs + 5 {
        let id = format!("latency-{i}");
        let began = Instant::now();
        start_workflow(
            &client,
            "PoetryResearchWorkflow",
            Some(json!({"settle": "0s"})),
            &id,
        )
        .await;
        assert_eq!(result(&client, &id).await.as_deref(), Ok(DONE));
        if i >= 5 {
            latencies.push(began.elapsed());
        }
    }
    latencies.sort();
    let mut latency_phases = Vec::new();
    for i in 5..latency_runs + 5 {
        latency_phases.push(phases(&client, &format!("latency-{i}")).await);
    }
    let latency_phases = median_phases(&latency_phases);

    // The burst: all started as fast as the server takes them, then wait for every result.
    let cpu_before = cpu_seconds(pid);
    let began = Instant::now();
    let ids: Vec<String> = (0..burst_size).map(|i| format!("burst-{i}")).collect();
    {
        use futures::StreamExt;
        futures::stream::iter(&ids)
            .for_each_concurrent(32, |id| {
                let client = &client;
                async move {
                    start_workflow(
                        client,
                        "PoetryResearchWorkflow",
                        Some(json!({"settle": "1s"})),
                        id,
                    )
                    .await;
                }
            })
            .await;
        let results: Vec<_> = futures::stream::iter(&ids)
            .map(|id| result(&client, id))
            .buffered(32)
            .collect()
            .await;
        assert!(results.iter().all(|r| r.as_deref() == Ok(DONE)));
    }
    let burst_wall = began.elapsed();
    let burst_cpu = cpu_seconds(pid) - cpu_before;
    let mut burst_phases = Vec::new();
    for id in ids.iter().step_by(10) {
        burst_phases.push(phases(&client, id).await);
    }
    let burst_phases = median_phases(&burst_phases);
    let peak_rss = proc_status_kib(pid, "VmHWM:");
    let after_rss = proc_status_kib(pid, "VmRSS:");

    // The 20-step declared workflow: CPU per run, 16 concurrent at a time.
    let declared_n: usize = env_or("BENCH_DECLARED_N", 100);
    let cpu_before = cpu_seconds(pid);
    let began = Instant::now();
    {
        use futures::StreamExt;
        let results: Vec<_> = futures::stream::iter(0..declared_n)
            .map(|i| {
                let client = &client;
                async move {
                    let id = format!("declared-{i}");
                    start_workflow(client, "bench20", None, &id).await;
                    result(client, &id).await
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for r in &results {
            assert!(
                r.as_ref()
                    .is_ok_and(|text| text.contains("\"status\": \"completed\"")),
                "{r:?}"
            );
        }
    }
    let declared_wall = began.elapsed();
    let declared_cpu = cpu_seconds(pid) - cpu_before;
    let threads = proc_status_kib(pid, "Threads:");
    drop(worker);

    let mib = |kib: u64| kib as f64 / 1024.0;
    let figures = json!({
        "exec_to_ready_ms": {"median": ms(ready_median), "min": ms(ready_times[0]),
                             "max": ms(*ready_times.last().unwrap()), "runs": ready_times.len()},
        "idle_rss_mib": mib(idle_rss),
        "idle_after_s": idle_secs,
        "latency_2turn_zero_settle_ms": {"p50": ms(percentile(&latencies, 0.5)),
                                          "p95": ms(percentile(&latencies, 0.95)),
                                          "runs": latencies.len()},
        "burst": {"workflows": burst_size, "settle_s": 1, "wall_s": burst_wall.as_secs_f64(),
                  "workflows_per_s": burst_size as f64 / burst_wall.as_secs_f64(),
                  "worker_cpu_s_per_1000": burst_cpu * 1000.0 / burst_size as f64,
                  "worker_cpu_ms_per_workflow": burst_cpu * 1000.0 / burst_size as f64},
        "declared_20_steps": {"runs": declared_n, "wall_s": declared_wall.as_secs_f64(),
                              "worker_cpu_ms_per_run": declared_cpu * 1000.0 / declared_n as f64},
        "peak_rss_mib": mib(peak_rss),
        "rss_after_burst_mib": mib(after_rss),
        "threads": threads,
        "latency_phases_median_ms": {"workflow_tasks": latency_phases.wfts,
            "started_to_completed": latency_phases.total,
            "wft_queue_wait": latency_phases.wft_wait, "wft_work": latency_phases.wft_work,
            "activities": latency_phases.activity},
        "burst_phases_median_ms": {"workflow_tasks": burst_phases.wfts,
            "wft_queue_wait": burst_phases.wft_wait, "wft_work": burst_phases.wft_work,
            "activities": burst_phases.activity},
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "gateway_calls": gateway_calls.load(Ordering::Relaxed),
    });
    let b = &figures["burst"];
    println!();
    println!("| measure                                   | value        |");
    println!("|-------------------------------------------|--------------|");
    let row = |name: &str, value: String| println!("| {name:<41} | {value:>12} |");
    row(
        &format!("exec → READY (median of {})", ready_times.len()),
        format!("{:.1} ms", ms(ready_median)),
    );
    row(
        &format!("idle RSS after {idle_secs} s"),
        format!("{:.1} MiB", mib(idle_rss)),
    );
    row(
        &format!("2-turn zero-settle latency p50 ({} runs)", latencies.len()),
        format!("{:.1} ms", ms(percentile(&latencies, 0.5))),
    );
    row(
        "2-turn zero-settle latency p95",
        format!("{:.1} ms", ms(percentile(&latencies, 0.95))),
    );
    row(
        &format!("burst of {burst_size} (1 s settle): wall"),
        format!("{:.2} s", burst_wall.as_secs_f64()),
    );
    row(
        "burst: workflows/s",
        format!("{:.1}", b["workflows_per_s"].as_f64().unwrap()),
    );
    row(
        "burst: worker CPU per 1000 workflows",
        format!("{:.2} s", b["worker_cpu_s_per_1000"].as_f64().unwrap()),
    );
    row(
        &format!("20-step declared: {declared_n} runs, wall"),
        format!("{:.2} s", declared_wall.as_secs_f64()),
    );
    row(
        "20-step declared: worker CPU per run",
        format!("{:.1} ms", declared_cpu * 1000.0 / declared_n as f64),
    );
    row("peak RSS (VmHWM)", format!("{:.1} MiB", mib(peak_rss)));
    row("RSS after the burst", format!("{:.1} MiB", mib(after_rss)));
    row("threads", format!("{threads}"));
    row(
        "latency run: server side, start→end",
        format!("{:.1} ms", latency_phases.total),
    );
    for (name, p) in [("latency run", latency_phases), ("burst run", burst_phases)] {
        row(
            &format!("{name}: {} WFTs, queue wait (sum)", p.wfts),
            format!("{:.1} ms", p.wft_wait),
        );
        row(
            &format!("{name}: WFT started→completed (sum)"),
            format!("{:.1} ms", p.wft_work),
        );
        row(
            &format!("{name}: activities sched.→completed (sum)"),
            format!("{:.1} ms", p.activity),
        );
    }
    println!();
    println!("BENCH_JSON {figures}");
}
