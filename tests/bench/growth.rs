//! The database's growth under a retention: what a day of runs costs in disk once the server
//! deletes as many runs as finish, whether the pages of deleted runs are reused, and the WAL.
//!
//! Time is compressed: the namespace keeps closed runs `BENCH_GROWTH_RETENTION_SECS` (120)
//! instead of 30 days, and runs start at `BENCH_GROWTH_RATE` (2) a second instead of 1 000 a
//! day. The server deletes each run by a timer at close + retention, the same way whatever the
//! retention, so after one retention the database holds rate × retention runs and a steady
//! state is reached in minutes. What transfers is the cost of one retained run and whether the
//! file stops growing; the count it multiplies at 30 days is 30 000 for 1 000 runs a day.
//! The dev server refuses a retention under 1 h unless `system.namespaceMinRetentionLocal` is
//! lowered, and spreads each deletion over up to 30 min (`history.retentionTimerJitterDuration`);
//! both are set for this benchmark only.
//!
//! 1. steady: `PoetryResearchWorkflow` runs (two agent turns and a 1 s settle) started at the
//!    rate for `BENCH_GROWTH_SECS` (420), the database sampled every 5 s: file and `-wal`
//!    sizes, `page_count`, `freelist_count`, rows in `executions` (a read-only connection);
//! 2. burst: `BENCH_GROWTH_BURST` (300) runs at once, the WAL sampled every 250 ms; the WAL
//!    after 30 s idle (the server's own checkpoints), then after `wal_checkpoint(TRUNCATE)`;
//! 3. drain: one retention later, the burst's runs deleted: the file against its free pages.
//!
//! The database is on a real disk (`target/bench/growth`), not tmpfs: when the server's
//! checkpoints run, and so how far the WAL grows, depends on how long its commits take.
//! Prints a table and one `BENCH_JSON {...}` line; every sample goes to
//! `target/bench/growth.jsonl`.

use crate::common::{NotifySocket, TemporalServer, start_workflow};
use crate::harness::{
    DONE, env_or, fast_gateway, mib, result, start_worker, target_dir, write_config,
};
use anyhow::{Context, Result};
use clawfactory_temporal::namespace;
use futures::StreamExt;
use rusqlite::{Connection, OpenFlags};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often the steady phase samples the database.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Runs of the burst started and awaited at once (as many as a busy gateway day might).
const BURST_CONCURRENCY: usize = 64;

/// The server's flags on top of the appliance's: a retention of seconds is allowed, and a run
/// is deleted when its retention ends rather than up to 30 min later.
const COMPRESSED_TIME: [&str; 2] = [
    "system.namespaceMinRetentionLocal=\"1s\"",
    "history.retentionTimerJitterDuration=\"1s\"",
];

#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Sample {
    t_s: f64,
    started: u64,
    completed: u64,
    executions: u64,
    db_bytes: u64,
    wal_bytes: u64,
    page_count: u64,
    freelist_count: u64,
    page_size: u64,
}

impl Sample {
    fn used_bytes(&self) -> u64 {
        (self.page_count - self.freelist_count) * self.page_size
    }

    /// The database's size once checkpointed: until then part of it is only in the WAL.
    fn allocated_bytes(&self) -> u64 {
        self.page_count * self.page_size
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The database as a reader sees it, without writing to it.
fn inspect(db: &Path) -> Result<(u64, u64, u64, u64)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("open {} read-only", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let count = |sql: &str| -> Result<u64> {
        let n: i64 = conn
            .query_row(sql, [], |row| row.get(0))
            .with_context(|| sql.to_owned())?;
        Ok(n as u64)
    };
    let executions = count("SELECT count(*) FROM executions")?;
    let pragma = |name: &str| count(&format!("PRAGMA {name}"));
    Ok((
        pragma("page_count")?,
        pragma("freelist_count")?,
        pragma("page_size")?,
        executions,
    ))
}

struct Counters {
    began: Instant,
    started: AtomicU64,
    completed: AtomicU64,
}

async fn sample(db: &Path, counters: &Counters) -> Sample {
    let path = db.to_owned();
    let (page_count, freelist_count, page_size, executions) =
        tokio::task::spawn_blocking(move || inspect(&path))
            .await
            .unwrap()
            .expect("inspect the database");
    Sample {
        t_s: counters.began.elapsed().as_secs_f64(),
        started: counters.started.load(Ordering::Relaxed),
        completed: counters.completed.load(Ordering::Relaxed),
        executions,
        db_bytes: file_len(db),
        wal_bytes: file_len(&wal_path(db)),
        page_count,
        freelist_count,
        page_size,
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)` from outside the server: (busy, log frames, checkpointed).
fn checkpoint_truncate(db: &Path) -> Result<(i64, i64, i64)> {
    let conn = Connection::open(db).with_context(|| format!("open {}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
    .context("wal_checkpoint(TRUNCATE)")
}

async fn run_one(client: temporalio_client::Client, id: String, counters: Arc<Counters>) {
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "1s"})),
        &id,
    )
    .await;
    counters.started.fetch_add(1, Ordering::Relaxed);
    assert_eq!(result(&client, &id).await.as_deref(), Ok(DONE), "{id}");
    counters.completed.fetch_add(1, Ordering::Relaxed);
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    cov / var
}

/// KiB a minute by which the file grew over these samples.
fn growth_kib_per_min(samples: &[Sample]) -> f64 {
    let points: Vec<(f64, f64)> = samples
        .iter()
        .map(|s| (s.t_s / 60.0, s.allocated_bytes() as f64 / 1024.0))
        .collect();
    slope(&points)
}

/// A fresh directory on the disk under the target dir.
fn disk_dir() -> PathBuf {
    let dir = target_dir().join("bench/growth");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo test --test bench -- --ignored --nocapture growth::"]
async fn benchmark() {
    let retention = Duration::from_secs(env_or("BENCH_GROWTH_RETENTION_SECS", 120));
    let rate: f64 = env_or("BENCH_GROWTH_RATE", 2.0);
    let steady_secs: u64 = env_or("BENCH_GROWTH_SECS", 420);
    let burst_size: usize = env_or("BENCH_GROWTH_BURST", 300);
    assert!(
        steady_secs > retention.as_secs() + 120,
        "BENCH_GROWTH_SECS must leave two minutes of steady state after one retention"
    );

    let dir = disk_dir();
    println!("bench: server database in {}", dir.display());
    let extra = COMPRESSED_TIME
        .iter()
        .flat_map(|v| ["--dynamic-config-value".to_owned(), (*v).to_owned()])
        .collect();
    let server = TemporalServer::start_with(&dir, extra).await;
    namespace::apply_retention(&server.client().await, "default", retention)
        .await
        .expect("set the namespace's retention");
    let (gateway_port, _) = fast_gateway().await;
    let config = write_config(&dir, &server, gateway_port, "");
    let mut notify = NotifySocket::bind(dir.join("notify.sock"));
    let (_worker, _) = start_worker(&config, &mut notify, &dir.join("worker.log"));
    let client = server.client().await;
    let db = server.db_file.clone();

    let counters = Arc::new(Counters {
        began: Instant::now(),
        started: AtomicU64::new(0),
        completed: AtomicU64::new(0),
    });
    let steady = Duration::from_secs(steady_secs);
    let samples = steady_phase(&client, &db, &counters, rate, steady).await;
    let steady_runs = counters.completed.load(Ordering::Relaxed);
    let burst = burst_phase(&client, &db, &counters, burst_size).await;

    // One retention later every run is gone: what the file keeps of them.
    tokio::time::sleep(retention + Duration::from_secs(20)).await;
    let drained = sample(&db, &counters).await;

    let figures = summarize(&samples, retention, rate, steady_runs, burst, drained);
    print_table(&samples, &figures);
    write_samples(&samples);
    println!("BENCH_JSON {figures}");
}

/// Runs started at `rate` a second for `duration`, all awaited; the database every
/// `SAMPLE_EVERY` from the first start to the last result.
async fn steady_phase(
    client: &temporalio_client::Client,
    db: &Path,
    counters: &Arc<Counters>,
    rate: f64,
    duration: Duration,
) -> Vec<Sample> {
    let mut samples = vec![sample(db, counters).await];
    let mut runs = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_sample = SAMPLE_EVERY;
    while counters.began.elapsed() < duration {
        ticks.tick().await;
        let id = format!("growth-{}", runs.len());
        runs.push(tokio::spawn(run_one(client.clone(), id, counters.clone())));
        if counters.began.elapsed() >= next_sample {
            samples.push(sample(db, counters).await);
            next_sample += SAMPLE_EVERY;
        }
    }
    for run in runs {
        run.await.unwrap();
    }
    samples.push(sample(db, counters).await);
    samples
}

/// `size` runs at once and the WAL's largest size while they last (a sample every 250 ms
/// sees what a burst does to it; the 5 s of the steady phase would miss a short peak), then
/// the WAL after 30 s idle and after a checkpoint from outside the server.
async fn burst_phase(
    client: &temporalio_client::Client,
    db: &Path,
    counters: &Arc<Counters>,
    size: usize,
) -> Value {
    let began = Instant::now();
    let peak_wal = Arc::new(AtomicU64::new(0));
    let watching = Arc::new(AtomicBool::new(true));
    let watcher = tokio::spawn({
        let (peak_wal, watching, wal) = (peak_wal.clone(), watching.clone(), wal_path(db));
        async move {
            while watching.load(Ordering::Relaxed) {
                peak_wal.fetch_max(file_len(&wal), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    });
    futures::stream::iter(0..size)
        .map(|i| run_one(client.clone(), format!("burst-{i}"), counters.clone()))
        .buffer_unordered(BURST_CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    watching.store(false, Ordering::Relaxed);
    watcher.await.unwrap();
    let wall = began.elapsed().as_secs_f64();
    let after = sample(db, counters).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let idle = sample(db, counters).await;
    let path = db.to_owned();
    let (busy, log, checkpointed) = tokio::task::spawn_blocking(move || checkpoint_truncate(&path))
        .await
        .unwrap()
        .expect("checkpoint");
    json!({
        "runs": size, "wall_s": wall,
        "peak_wal_bytes": peak_wal.load(Ordering::Relaxed),
        "after": after, "after_30s_idle": idle,
        "checkpoint_truncate": {"busy": busy, "log_frames": log, "checkpointed_frames": checkpointed},
        "after_checkpoint": sample(db, counters).await,
    })
}

/// The steady window: from one retention plus a minute after the start (the first deletions
/// have caught up with the starts) to the end of the steady phase.
fn steady_window(samples: &[Sample], retention: Duration) -> &[Sample] {
    let from = retention.as_secs_f64() + 60.0;
    let first = samples.iter().position(|s| s.t_s >= from).unwrap();
    &samples[first..]
}

fn summarize(
    samples: &[Sample],
    retention: Duration,
    rate: f64,
    steady_runs: u64,
    burst: Value,
    drained: Sample,
) -> Value {
    let base = samples[0];
    let fill: Vec<Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.t_s <= retention.as_secs_f64())
        .collect();
    let window = steady_window(samples, retention);
    let live = window.iter().map(|s| s.executions as f64).sum::<f64>() / window.len() as f64;
    let used = window.iter().map(|s| s.used_bytes() as f64).sum::<f64>() / window.len() as f64;
    let last = *window.last().unwrap();
    let used_per_run = (used - base.used_bytes() as f64) / live;
    let allocated_per_run = (last.allocated_bytes() - base.allocated_bytes()) as f64 / live;
    // Before the first deletion every run adds its rows and nothing frees any: the slope of
    // the used bytes over the rows in `executions` is one run's share, without the base.
    let fill_points: Vec<(f64, f64)> = fill
        .iter()
        .map(|s| (s.executions as f64, s.used_bytes() as f64))
        .collect();
    let peak_wal = burst["peak_wal_bytes"].as_u64().unwrap();
    let runs_at_30_days = 30_000.0;
    let db_at_30_days = base.allocated_bytes() as f64 + runs_at_30_days * allocated_per_run;
    json!({
        "retention_s": retention.as_secs(),
        "rate_per_s": rate,
        "steady_runs": steady_runs,
        "base": base,
        "steady": {
            "from_s": window[0].t_s, "to_s": last.t_s,
            "executions_mean": live,
            "kept_s_per_run": live / rate,
            "used_bytes_mean": used,
            "last": last,
            "growth_kib_per_min": growth_kib_per_min(window),
            "fill_growth_kib_per_min": growth_kib_per_min(&fill),
        },
        "bytes_per_retained_run": {"used": used_per_run, "allocated": allocated_per_run,
                                   "fill_slope": slope(&fill_points)},
        "burst": burst,
        "drained": drained,
        "at_1000_runs_a_day_30_days": {
            "runs_kept": runs_at_30_days,
            "db_mib": db_at_30_days / 1_048_576.0,
            "wal_peak_mib_measured": peak_wal as f64 / 1_048_576.0,
        },
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    })
}

fn bytes_mib(bytes: u64) -> String {
    format!("{:.2}", mib(bytes / 1024))
}

fn print_table(samples: &[Sample], figures: &Value) {
    println!();
    // "db MiB" is the file; part of the database may still be only in the WAL ("pages").
    println!("|  t (s) | started | done | executions | db MiB | wal MiB | pages | free pages |");
    println!("|-------:|--------:|-----:|-----------:|-------:|--------:|------:|-----------:|");
    for s in samples.iter().step_by(3) {
        println!(
            "| {:>6.0} | {:>7} | {:>4} | {:>10} | {:>6} | {:>7} | {:>5} | {:>10} |",
            s.t_s,
            s.started,
            s.completed,
            s.executions,
            bytes_mib(s.db_bytes),
            bytes_mib(s.wal_bytes),
            s.page_count,
            s.freelist_count
        );
    }
    let f = |path: &str| figures.pointer(path).cloned().unwrap_or(Value::Null);
    let num = |path: &str| f(path).as_f64().unwrap_or(f64::NAN);
    let sampled = |path: &str| -> Sample { serde_json::from_value(f(path)).unwrap() };
    println!();
    println!("| measure                                          | value          |");
    println!("|--------------------------------------------------|----------------|");
    let row = |name: &str, value: String| println!("| {name:<48} | {value:>14} |");
    row(
        "retention; start rate",
        format!("{} s; {}/s", num("/retention_s"), num("/rate_per_s")),
    );
    row(
        "steady: executions kept (mean)",
        format!("{:.0}", num("/steady/executions_mean")),
    );
    row(
        "steady: seconds a run is kept after it starts",
        format!("{:.0} s", num("/steady/kept_s_per_run")),
    );
    row(
        "fill (no deletions yet): file growth",
        format!("{:.0} KiB/min", num("/steady/fill_growth_kib_per_min")),
    );
    row(
        "steady: file growth",
        format!("{:.0} KiB/min", num("/steady/growth_kib_per_min")),
    );
    row(
        "bytes per retained run (used pages)",
        format!("{:.0}", num("/bytes_per_retained_run/used")),
    );
    row(
        "bytes per retained run (all pages, free too)",
        format!("{:.0}", num("/bytes_per_retained_run/allocated")),
    );
    row(
        "bytes per run while nothing is deleted (slope)",
        format!("{:.0}", num("/bytes_per_retained_run/fill_slope")),
    );
    row(
        "burst: runs, wall",
        format!("{}, {:.0} s", num("/burst/runs"), num("/burst/wall_s")),
    );
    row(
        "burst: peak WAL",
        format!("{} MiB", bytes_mib(num("/burst/peak_wal_bytes") as u64)),
    );
    for (name, path) in [
        ("WAL after the burst", "/burst/after"),
        ("WAL after 30 s idle", "/burst/after_30s_idle"),
        (
            "WAL after wal_checkpoint(TRUNCATE)",
            "/burst/after_checkpoint",
        ),
    ] {
        row(name, format!("{} MiB", bytes_mib(sampled(path).wal_bytes)));
    }
    let drained = sampled("/drained");
    row(
        "drained: executions, database",
        format!(
            "{}, {} MiB",
            drained.executions,
            bytes_mib(drained.allocated_bytes())
        ),
    );
    row(
        "drained: free pages of all pages",
        format!("{} / {}", drained.freelist_count, drained.page_count),
    );
    row(
        "1 000 runs/day, 30 days: database",
        format!("{:.0} MiB", num("/at_1000_runs_a_day_30_days/db_mib")),
    );
    println!();
}

fn write_samples(samples: &[Sample]) {
    let file = target_dir().join("bench/growth.jsonl");
    let mut out = std::fs::File::create(&file).unwrap();
    for s in samples {
        writeln!(out, "{}", serde_json::to_string(s).unwrap()).unwrap();
    }
}
