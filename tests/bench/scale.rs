//! The scale curve: what the worker costs while many runs wait, and how soon they resume.
//!
//! An appliance accumulates runs that wait for hours (the poetry settle, declared waits,
//! approvals), so for each count in `BENCH_SCALE_OPEN` (100, 1000, 5000) and each cache size
//! in `BENCH_SCALE_CACHE` (the worker's `max_cached_workflows`; default: the worker's own
//! default) it measures, on a fresh server and worker:
//!
//! 1. fill: that many `PoetryResearchWorkflow` runs started (32 at a time); each does its first
//!    turn and then waits in its settle. Every settle ends at one moment, the deadline, so
//!    that all timers fire together after the restarts below (the worst case for a resume);
//! 2. waiting (`BENCH_SCALE_WAIT_SECS`, 30): the worker's RSS and CPU, the database's size;
//! 3. a worker restart (SIGTERM, as systemd stops it; then exec → `READY=1`) and a server
//!    restart on the same database, after which one zero-settle run must complete;
//! 4. resume: when the timers fire, the new worker (its cache empty) replays every run and
//!    does its second turn. From each run's history: how late its timer fired and how long
//!    after the expected moment a worker picked it up; the worker's CPU per run and peak RSS.
//!
//! The fill must end before the deadline: it is set `BENCH_SCALE_FILL_MS` (60) per run plus
//! `BENCH_SCALE_MARGIN_SECS` (120) after the fill starts; a slower machine must raise them,
//! and the benchmark says so rather than measure a resume that began during the fill.
//!
//! Each point is printed as a table row and appended as one JSON line to
//! `target/bench/scale.jsonl`, which `plot::` renders.

use crate::common::{self, NotifySocket, start_workflow};
use crate::harness::{
    DONE, cpu_seconds, env_or, fast_gateway, mib, percentile, proc_status_kib, result,
    start_server, start_worker, target_dir, write_config,
};
use crate::history::{at, events};
use clawfactory_temporal::config::WorkerConfig;
use futures::StreamExt;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

pub fn list_or(name: &str, default: Vec<usize>) -> Vec<usize> {
    match std::env::var(name) {
        Ok(text) => text
            .split(',')
            .map(|item| {
                item.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {item:?} is not a count"))
            })
            .collect(),
        Err(_) => default,
    }
}

/// Where the points go: `target/bench/scale.jsonl` (or under `$CARGO_TARGET_DIR`).
pub fn points_file() -> PathBuf {
    target_dir().join("bench/scale.jsonl")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo build --profile dist && cargo test --test bench -- --ignored --nocapture scale::"]
async fn benchmark() {
    let opens = list_or("BENCH_SCALE_OPEN", vec![100, 1000, 5000]);
    let caches = list_or(
        "BENCH_SCALE_CACHE",
        vec![WorkerConfig::default().max_cached_workflows],
    );
    let file = points_file();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut points = Vec::new();
    for &cache in &caches {
        for &open in &opens {
            let point = measure(open, cache).await;
            println!("SCALE_JSON {point}");
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .unwrap();
            writeln!(out, "{point}").unwrap();
            points.push(point);
        }
    }
    println!();
    println!(
        "| open runs | cache | fill CPU/run | waiting: RSS | CPU/min | database | restart → READY | \
         server restart | resume CPU/run | resume peak RSS | resumed: p50 / max after due |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for p in &points {
        println!(
            "| {} | {} | {:.2} ms | {:.1} MiB | {:.0} ms | {:.1} MiB | {:.0} ms | {:.1} s | {:.2} ms | {:.1} MiB | {:.1} / {:.1} s |",
            p["open"],
            p["max_cached_workflows"],
            p["fill"]["worker_cpu_ms_per_run"].as_f64().unwrap(),
            p["waiting"]["rss_mib"].as_f64().unwrap(),
            p["waiting"]["worker_cpu_ms_per_min"].as_f64().unwrap(),
            p["waiting"]["database_mib"].as_f64().unwrap(),
            p["worker_restart"]["exec_to_ready_ms"].as_f64().unwrap(),
            p["server_restart"]["until_a_run_completes_s"]
                .as_f64()
                .unwrap(),
            p["resume"]["worker_cpu_ms_per_run"].as_f64().unwrap(),
            p["resume"]["peak_rss_mib"].as_f64().unwrap(),
            p["resume"]["picked_up_after_due_s"]["p50"]
                .as_f64()
                .unwrap(),
            p["resume"]["picked_up_after_due_s"]["max"]
                .as_f64()
                .unwrap(),
        );
    }
    println!("\npoints appended to {}", file.display());
}

/// Waits until the gateway has answered `count` agent turns, or panics with `why` at `deadline`.
async fn turns_reach(turns: &AtomicUsize, count: usize, deadline: Instant, why: &str) {
    while turns.load(Ordering::Relaxed) < count {
        assert!(
            Instant::now() < deadline,
            "{why}: {} of {count} agent turns",
            turns.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the worker has used less than 20 ms of CPU in a second (its last workflow
/// tasks done), at most 60 s.
pub async fn quiet(pid: u32) {
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut before = cpu_seconds(pid);
    while Instant::now() < give_up {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = cpu_seconds(pid);
        if now - before < 0.02 {
            return;
        }
        before = now;
    }
}

/// The server's SQLite files (database, WAL, shared memory), in MiB.
fn database_mib(db_file: &Path) -> f64 {
    let name = db_file.file_name().unwrap().to_string_lossy().into_owned();
    let bytes: u64 = std::fs::read_dir(db_file.parent().unwrap())
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&name))
        .map(|entry| entry.metadata().map(|m| m.len()).unwrap_or_default())
        .sum();
    bytes as f64 / (1024.0 * 1024.0)
}

async fn measure(open: usize, cache: usize) -> Value {
    println!("scale: {open} open runs, max_cached_workflows = {cache}");
    let dir = common::tmpfs_dir();
    let mut server = start_server(dir.path()).await;
    let (gateway_port, turns) = fast_gateway().await;
    let metrics_port = common::free_port();
    let config = write_config(
        dir.path(),
        &server,
        gateway_port,
        &format!(
            "[worker]\nmax_cached_workflows = {cache}\nmetrics_address = \"127.0.0.1:{metrics_port}\"\n"
        ),
    );
    let log = dir.path().join("worker.log");
    let mut notify = NotifySocket::bind(dir.path().join("notify.sock"));
    let client = server.client().await;
    let (worker, _) = start_worker(&config, &mut notify, &log);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let pid = worker.id();
    let rss_before = proc_status_kib(pid, "VmRSS:");

    // 1. Fill.
    let per_run = Duration::from_millis(env_or("BENCH_SCALE_FILL_MS", 60));
    let margin = Duration::from_secs(env_or("BENCH_SCALE_MARGIN_SECS", 120));
    let began = Instant::now();
    let deadline = began + per_run * open as u32 + margin;
    let cpu_before = cpu_seconds(pid);
    futures::stream::iter(0..open)
        .for_each_concurrent(32, |i| {
            let client = &client;
            async move {
                let settle = deadline.saturating_duration_since(Instant::now()).as_secs();
                let input = json!({"settle": format!("{}s", settle.max(1))});
                start_workflow(client, "PoetryResearchWorkflow", Some(input), &run_id(i)).await;
            }
        })
        .await;
    let too_slow = "the fill did not end before the timers' deadline: raise BENCH_SCALE_FILL_MS";
    turns_reach(&turns, open, deadline, too_slow).await;
    quiet(pid).await;
    let fill_wall = began.elapsed();
    let fill_cpu = cpu_seconds(pid) - cpu_before;

    // 2. Waiting.
    let wait = Duration::from_secs(env_or("BENCH_SCALE_WAIT_SECS", 30));
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(wait).await;
    let wait_cpu = cpu_seconds(pid) - cpu_before;
    let rss_waiting = proc_status_kib(pid, "VmRSS:");
    let hwm_filled = proc_status_kib(pid, "VmHWM:");
    let database = database_mib(&server.db_file);
    let cached = sticky_cache_size(metrics_port).await;

    // 3. Restarts.
    let stopping = Instant::now();
    drop(worker);
    let stop_took = stopping.elapsed();
    let (worker, ready_took) = start_worker(&config, &mut notify, &log);
    let pid = worker.id();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_restarted = proc_status_kib(pid, "VmRSS:");
    let restarting = Instant::now();
    server.stop();
    server.restart().await;
    let server_took = restarting.elapsed();
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "0s"})),
        "probe",
    )
    .await;
    assert_eq!(result(&client, "probe").await.as_deref(), Ok(DONE));
    let serving_again = restarting.elapsed();
    assert_eq!(turns.load(Ordering::Relaxed), open + 2, "{too_slow}");
    assert!(Instant::now() < deadline, "{too_slow}");

    // 4. Resume.
    let cpu_before = cpu_seconds(pid);
    turns_reach(
        &turns,
        2 * open + 2,
        deadline + Duration::from_secs(900),
        "the runs did not all resume within 15 minutes of their deadline",
    )
    .await;
    let last_turn_after_deadline = Instant::now().saturating_duration_since(deadline);
    quiet(pid).await;
    let resume_cpu = cpu_seconds(pid) - cpu_before;
    let resume_hwm = proc_status_kib(pid, "VmHWM:");
    let rss_after = proc_status_kib(pid, "VmRSS:");
    let resumed = resumptions(&client, open).await;
    drop(worker);

    json!({
        "open": open,
        "max_cached_workflows": cache,
        "rss_before_fill_mib": mib(rss_before),
        "fill": {"wall_s": fill_wall.as_secs_f64(),
                 "worker_cpu_ms_per_run": fill_cpu * 1000.0 / open as f64,
                 "peak_rss_mib": mib(hwm_filled)},
        "waiting": {"secs": wait.as_secs(), "rss_mib": mib(rss_waiting), "cached_runs": cached,
                    "worker_cpu_ms_per_min": wait_cpu * 1000.0 * 60.0 / wait.as_secs_f64(),
                    "database_mib": database},
        "worker_restart": {"stop_ms": stop_took.as_secs_f64() * 1000.0,
                           "exec_to_ready_ms": ready_took.as_secs_f64() * 1000.0,
                           "rss_after_5s_mib": mib(rss_restarted)},
        "server_restart": {"until_it_answers_s": server_took.as_secs_f64(),
                           "until_a_run_completes_s": serving_again.as_secs_f64()},
        "resume": {"worker_cpu_ms_per_run": resume_cpu * 1000.0 / open as f64,
                   "peak_rss_mib": mib(resume_hwm), "rss_after_mib": mib(rss_after),
                   "last_turn_after_deadline_s": last_turn_after_deadline.as_secs_f64(),
                   "timer_late_s": summary(&resumed.iter().map(|r| r.late).collect::<Vec<_>>()),
                   "picked_up_after_due_s": summary(&resumed.iter().map(|r| r.picked_up).collect::<Vec<_>>()),
                   "completed_after_due_s": summary(&resumed.iter().map(|r| r.completed).collect::<Vec<_>>())},
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    })
}

/// How many runs the worker holds in its workflow cache, from its own metrics.
async fn sticky_cache_size(metrics_port: u16) -> f64 {
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .and_then(|response| response.error_for_status())
        .expect("the worker's metrics")
        .text()
        .await
        .expect("the worker's metrics");
    text.lines()
        .find(|line| line.starts_with("temporal_sticky_cache_size"))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no temporal_sticky_cache_size in the worker's metrics:\n{text}"))
}

fn run_id(i: usize) -> String {
    format!("open-{i}")
}

/// One run's resume, in seconds after its timer was due (start + settle): when the timer
/// fired, when a worker started the workflow task that followed, when the run completed.
struct Resumption {
    late: f64,
    picked_up: f64,
    completed: f64,
}

async fn resumptions(client: &temporalio_client::Client, open: usize) -> Vec<Resumption> {
    futures::stream::iter(0..open)
        .map(|i| async move { resumption(client, &run_id(i)).await })
        .buffer_unordered(16)
        .collect()
        .await
}

async fn resumption(client: &temporalio_client::Client, id: &str) -> Resumption {
    let events = events(client, id).await;
    let (mut due, mut fired, mut picked_up, mut completed) = (None, None, None, None);
    for event in &events {
        match (event.event_type(), &event.attributes) {
            (EventType::TimerStarted, Some(Attributes::TimerStartedEventAttributes(timer))) => {
                let wait = timer.start_to_fire_timeout.as_ref().expect("a timeout");
                due = Some(at(event) + wait.seconds as f64 * 1000.0 + wait.nanos as f64 / 1e6);
            }
            (EventType::TimerFired, _) => fired = Some(at(event)),
            (EventType::WorkflowTaskStarted, _) if fired.is_some() && picked_up.is_none() => {
                picked_up = Some(at(event))
            }
            (EventType::WorkflowExecutionCompleted, _) => completed = Some(at(event)),
            _ => {}
        }
    }
    let due = due.unwrap_or_else(|| panic!("{id}: no timer in its history"));
    let after_due = |t: Option<f64>, what: &str| {
        (t.unwrap_or_else(|| panic!("{id}: no {what} in its history")) - due) / 1000.0
    };
    Resumption {
        late: after_due(fired, "TimerFired"),
        picked_up: after_due(picked_up, "workflow task after the timer"),
        completed: after_due(completed, "WorkflowExecutionCompleted"),
    }
}

/// p50, p99 and max of `values` (seconds).
fn summary(values: &[f64]) -> Value {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    json!({"p50": percentile(&sorted, 0.5), "p99": percentile(&sorted, 0.99),
           "max": sorted.last().copied().unwrap_or_default()})
}
