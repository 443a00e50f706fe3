//! Backups and restore on a real Temporal dev server: a backup taken while the server is
//! busy is a consistent database that, restored into a wiped data directory, brings back
//! the waiting runs (their timers fire at the original deadline), the schedules (they go on
//! firing) and the history of the completed runs.
//!
//! The ignored test at the end is the backup benchmark of docs/benchmark.md (10 000
//! completed runs); `cargo test` only compiles it.

mod common;

use clawfactory_temporal::config::{GatewayApi, Schedules};
use common::{ConfigFile, Setup, cli, start_workflow, workflow_result};
use futures::StreamExt;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
use temporalio_client::{Client, WorkflowFetchHistoryOptions};
use temporalio_common::UntypedWorkflow;
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::protos::temporal::api::history::v1::HistoryEvent;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;

const DONE: &str = "Poetry research workflow completed";
const SCHEDULE: &str = "backup-test-every-5s";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The worker's config, which also tells `backup`, `restore` and `schedules` where the
/// server's database, the backups and the server are.
fn appliance_config(setup: &Setup, backups: &Path) -> PathBuf {
    let mut config = setup.config();
    config.server.db_file = setup.server.db_file.clone();
    config.server.grpc_port = setup.server.grpc_port;
    config.backup.dir = backups.to_owned();
    config.backup.keep = 3;
    let mut every = common::schedule("PoetryResearchWorkflow");
    every.workflow_id = Some("scheduled".into());
    every.input = Some(json!({"settle": "0s"}));
    every.every = vec![Duration::from_secs(5)];
    config.schedules = Schedules([(SCHEDULE.to_owned(), every)].into());
    config.write(&setup.path("appliance.toml"))
}

/// Runs the binary's `args` with `--config config`; exit code, stdout, stderr.
async fn run(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut full = vec!["--config", config.to_str().unwrap(), "--log", "text"];
    full.extend_from_slice(args);
    let out = cli(&full, &[]).await;
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

async fn history(client: &Client, id: &str) -> Vec<HistoryEvent> {
    client
        .get_workflow_handle::<UntypedWorkflow>(id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .filter_map(|e| async move { e.ok() })
        .collect()
        .await
}

fn event_time(event: &HistoryEvent) -> SystemTime {
    let t = event.event_time.as_ref().expect("an event time");
    SystemTime::UNIX_EPOCH + Duration::new(t.seconds as u64, t.nanos as u32)
}

/// When the run's durable wait was due: its TimerStarted event's time plus the timeout.
fn timer_deadline(events: &[HistoryEvent]) -> Option<SystemTime> {
    events.iter().find_map(|event| match &event.attributes {
        Some(Attributes::TimerStartedEventAttributes(timer)) => {
            let timeout = timer.start_to_fire_timeout.as_ref()?;
            Some(event_time(event) + Duration::new(timeout.seconds as u64, timeout.nanos as u32))
        }
        _ => None,
    })
}

fn fired_at(events: &[HistoryEvent]) -> Option<SystemTime> {
    events
        .iter()
        .find(|e| e.event_type() == EventType::TimerFired)
        .map(event_time)
}

/// Starts `ids` as zero-settle runs, all at once.
async fn burst(client: &Client, ids: &[String]) {
    futures::future::join_all(ids.iter().map(|id| {
        start_workflow(
            client,
            "PoetryResearchWorkflow",
            Some(json!({"settle": "0s"})),
            id,
        )
    }))
    .await;
}

/// The schedule's first run that the server started after `since`, once there is one.
async fn scheduled_run_after(client: &Client, since: SystemTime) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let described = clawfactory_temporal::schedules::describe(client, SCHEDULE)
            .await
            .expect("describe the schedule")
            .expect("the schedule exists");
        let started = described
            .info
            .iter()
            .flat_map(|i| &i.recent_actions)
            .find_map(|action| {
                let at = action.actual_time.as_ref()?;
                let at = SystemTime::UNIX_EPOCH + Duration::new(at.seconds as u64, at.nanos as u32);
                (at > since).then(|| {
                    action
                        .start_workflow_result
                        .as_ref()
                        .map(|r| r.workflow_id.clone())
                })?
            });
        if let Some(id) = started {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "the schedule started nothing within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_waiting_runs_schedules_and_histories() {
    let mut setup = Setup::on_tmpfs().await;
    let backups = common::tmpfs_dir();
    let config = appliance_config(&setup, backups.path());
    let mut worker = common::WorkerProcess::start(&config).await;
    let client = setup.server.client().await;

    // Completed runs, a schedule, and a run in its durable wait.
    let completed: Vec<String> = (1..=3).map(|n| format!("completed-{n}")).collect();
    burst(&client, &completed).await;
    for id in &completed {
        assert_eq!(workflow_result(&client, id).await, Ok(DONE.into()));
    }
    let (code, out, err) = run(&config, &["schedules", "apply"]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "40s"})),
        "waiting",
    )
    .await;
    let deadline = {
        let client = client.clone();
        let mut deadline = None;
        let started = Instant::now();
        while deadline.is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "never waited");
            tokio::time::sleep(Duration::from_millis(100)).await;
            deadline = timer_deadline(&history(&client, "waiting").await);
        }
        deadline.unwrap()
    };

    // The backup, while a burst of starts keeps the server writing.
    let load: Vec<String> = (1..=60).map(|n| format!("load-{n}")).collect();
    let (_, (code, out, err)) = tokio::join!(burst(&client, &load), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        run(&config, &["backup"]).await
    });
    assert_eq!(code, Some(0), "{out}{err}");
    let file = out
        .lines()
        .find_map(|l| l.strip_prefix("backup ")?.split(": ").next())
        .map(PathBuf::from)
        .expect("the backup's path");
    assert!(file.starts_with(backups.path()), "{out}");
    assert!(out.contains("integrity ok"), "{out}");
    let server_log = std::fs::read_to_string(setup.path("temporal-server.log")).unwrap();
    assert!(
        !server_log.contains("SQLITE_BUSY") && !server_log.contains("database is locked"),
        "the backup got in the server's way:\n{server_log}"
    );

    // While the server has the database open, a restore refuses and changes nothing.
    let (code, _, err) = run(&config, &["restore", file.to_str().unwrap()]).await;
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("is open in process") && err.contains("systemctl stop"),
        "{err}"
    );

    // The disk is lost: the data directory's database is gone.
    worker.terminate();
    setup.server.stop();
    for entry in std::fs::read_dir(setup.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("temporal.db")
        {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let (code, out, err) = run(&config, &["restore", file.to_str().unwrap()]).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("there was no database to replace"), "{out}");
    setup.server.restart().await;
    worker.restart().await;
    let back_at = SystemTime::now();
    assert!(
        back_at < deadline,
        "the restore took until after the waiting run's deadline: nothing left to check"
    );
    let client = setup.server.client().await;

    // The waiting run's timer fires at its original deadline, and the run completes.
    assert_eq!(workflow_result(&client, "waiting").await, Ok(DONE.into()));
    let events = history(&client, "waiting").await;
    assert_eq!(timer_deadline(&events), Some(deadline));
    let fired = fired_at(&events).expect("the timer fired");
    let late = fired
        .duration_since(deadline)
        .expect("not before the deadline");
    assert!(late < Duration::from_secs(15), "fired {late:?} late");

    // The completed runs' histories are there, whole.
    for id in &completed {
        assert_eq!(workflow_result(&client, id).await, Ok(DONE.into()));
        let events = history(&client, id).await;
        assert_eq!(
            events.last().map(HistoryEvent::event_type),
            Some(EventType::WorkflowExecutionCompleted),
            "{id}"
        );
        assert!(
            events
                .iter()
                .filter(|e| e.event_type() == EventType::ActivityTaskCompleted)
                .count()
                == 2,
            "{id}: both agent turns"
        );
    }

    // The schedule goes on firing, and what it starts completes.
    let id = scheduled_run_after(&client, back_at).await;
    assert_eq!(workflow_result(&client, &id).await, Ok(DONE.into()));

    // Each run of the burst is either in the backup, and finishes, or was started after it.
    let mut in_backup = 0;
    for id in &load {
        match workflow_result(&client, id).await {
            Ok(result) => {
                assert_eq!(result, DONE, "{id}");
                in_backup += 1;
            }
            Err(err) => assert!(err.to_lowercase().contains("not found"), "{id}: {err}"),
        }
    }
    println!(
        "{in_backup} of {} burst runs were in the backup",
        load.len()
    );
}

#[tokio::test]
async fn backup_says_what_is_wrong_when_there_is_no_database() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ndb_file = {:?}\n[backup]\ndir = {:?}\n",
            dir.path().join("absent.db").display().to_string(),
            dir.path().join("backups").display().to_string()
        ),
    )
    .unwrap();
    let (code, _, err) = run(&config, &["backup"]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no database at") && err.contains("absent.db"),
        "{err}"
    );
    std::fs::write(&config, "[backup]\nkeep = 0\n").unwrap();
    let (code, _, err) = run(&config, &["backup"]).await;
    assert_eq!(code, Some(2));
    assert!(err.contains("backup.keep"), "{err}");
}

/// The figures of docs/benchmark.md ("Backups"): backup time and size for a database with
/// `BACKUP_BENCH_RUNS` (10 000) completed runs, and the p50/p95 latency of a run started
/// while backups run back to back, against one started while none runs. Run it with
/// `PATH="$PWD/target/venv/bin:$PATH" cargo test --test backup -- --ignored --nocapture`.
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
        burst(&client, &ids).await;
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
