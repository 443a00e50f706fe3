//! The backup benchmark of docs/benchmark.md ("Backups"): `backup::take` on a database of
//! 10 000 completed runs, and what back-to-back backups do to a run's latency. It runs the
//! debug worker binary of `cargo test` (the backup's cost is SQLite's, not the worker's).

use crate::common::{
    self, ConfigFile, Setup, start_workflow, start_zero_settle_runs, workflow_result,
};
use crate::harness::DONE;
use clawfactory_temporal::config::GatewayApi;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use temporalio_client::Client;

/// The figures of docs/benchmark.md ("Backups"): backup time and size for a database with
/// `BACKUP_BENCH_RUNS` (10 000) completed runs, and the p50/p95 latency of a run started
/// while backups run back to back, against one started while none runs. Run it with
/// `PATH="$PWD/target/venv/bin:$PATH" cargo test --test bench -- --ignored --nocapture backup::`.
#[tokio::test]
#[ignore]
async fn backup_benchmark() {
    let runs: usize = std::env::var("BACKUP_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let samples: usize = 100;
    let setup = Setup::on_tmpfs().await;
    let mut config: ConfigFile = setup.config();
    config.gateway.api = Some(GatewayApi::Echo);
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;

    let filled = Instant::now();
    let chunk = 200;
    for first in (0..runs).step_by(chunk) {
        let ids: Vec<String> = (first..(first + chunk).min(runs))
            .map(|n| format!("fill-{n}"))
            .collect();
        start_zero_settle_runs(&client, &ids).await;
        for id in &ids {
            assert_eq!(workflow_result(&client, id).await, Ok(DONE.into()));
        }
    }
    let fill_secs = filled.elapsed().as_secs_f64();
    let db = setup.server.db_file.clone();
    let size = |path: &Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let live_mib = (size(&db) + size(&db.with_extension("db-wal"))) as f64 / 1048576.0;

    // Backups to tmpfs (the copy alone) and to the disk under target/ (with its fsyncs).
    let disk = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let shm = common::tmpfs_dir();
    let mut lines = Vec::new();
    for (what, dir) in [("tmpfs", shm.path()), ("disk", disk.path())] {
        for _ in 0..3 {
            let db = db.clone();
            let dir = dir.to_owned();
            let taken = tokio::task::spawn_blocking(move || {
                clawfactory_temporal::dev_server::backup::take(&db, &dir, 2)
            })
            .await
            .unwrap()
            .unwrap();
            lines.push(format!(
                "backup to {what}: {:.0} ms (copy {:.0} ms), {:.1} MiB, {} executions",
                taken.took.as_secs_f64() * 1000.0,
                taken.copying.as_secs_f64() * 1000.0,
                taken.bytes as f64 / 1048576.0,
                taken.contents.executions
            ));
        }
    }

    // Latency of a zero-settle run (two echo turns) with and without a backup running.
    async fn latencies(client: &Client, tag: &str, samples: usize) -> Vec<Duration> {
        let mut all = Vec::new();
        for n in 0..samples {
            let id = format!("{tag}-{n}");
            let began = Instant::now();
            start_workflow(
                client,
                "PoetryResearchWorkflow",
                Some(json!({"settle": "0s"})),
                &id,
            )
            .await;
            assert_eq!(workflow_result(client, &id).await, Ok(DONE.into()));
            all.push(began.elapsed());
        }
        all.sort();
        all
    }
    let quiet = latencies(&client, "quiet", samples).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let backups_taken = {
        let (stop, db, dir) = (stop.clone(), db.clone(), shm.path().to_owned());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                clawfactory_temporal::dev_server::backup::take(&db, &dir, 2).unwrap();
                n += 1;
            }
            n
        })
    };
    let busy = latencies(&client, "during-backup", samples).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let backups_taken = backups_taken.join().unwrap();
    let ms = |all: &[Duration], p: usize| {
        all[(all.len() * p / 100).min(all.len() - 1)].as_secs_f64() * 1000.0
    };
    let server_log = std::fs::read_to_string(setup.path("temporal-server.log")).unwrap();

    println!(
        "\nbackup benchmark: {runs} completed runs made in {fill_secs:.0} s; live database {live_mib:.1} MiB (db + WAL)"
    );
    for line in &lines {
        println!("  {line}");
    }
    println!(
        "  run latency p50 / p95 ({samples} sequential runs): no backup {:.0} / {:.0} ms; during back-to-back backups ({backups_taken} taken) {:.0} / {:.0} ms",
        ms(&quiet, 50),
        ms(&quiet, 95),
        ms(&busy, 50),
        ms(&busy, 95)
    );
    println!(
        "  SQLITE_BUSY in the server's log: {}",
        server_log.matches("SQLITE_BUSY").count()
    );
}
