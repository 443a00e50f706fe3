//! Chaos and soak: many `PoetryResearchWorkflow` runs through the faithful fake OpenClaw
//! gateway (`hooks-agent`).
//!
//! - Chaos: 200 runs while the worker is SIGKILLed 5 times at random instants (restarted each
//!   time) and the Temporal server is restarted once on the same database. Every run
//!   completes, and OpenClaw saw exactly one run per logical agent turn: the calls re-sent
//!   after a crash (at-least-once delivery) re-attached to, or replayed, the same run.
//! - Soak: 2000 runs through one worker; its RSS and open file descriptors do not grow with
//!   the number of workflows.
//!
//! Both print their figures (`cargo test --test heavy -- --nocapture`). They run one at a
//! time: on a 2-core machine two loads at once would only measure each other.

use crate::common;

use crate::fake_openclaw::{FakeOpenClaw, Outcome};
use clawfactory_temporal::config::GatewayApi;
use common::{ConfigFile, Setup, workflow_result};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use temporalio_client::{Client, WorkflowStartOptions};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;

const HOOKS: &str = "/hooks/agent";
const DONE: &str = "Poetry research workflow completed";
const TURNS: [&str; 2] = ["poetry-research-execute", "poetry-research-synthesize"];

/// One load test at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A small seeded generator (SplitMix64): the same seed replays the same chaos schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[low, high)` milliseconds.
    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(low + self.next() % (high - low))
    }
}

/// `CHAOS_SEED=<n>` replays a schedule; otherwise the clock picks one (printed).
fn seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// A worker config speaking `hooks-agent` to the fake OpenClaw.
///
/// Agent turns get a 5 s start-to-close (`workflows.agent_turn.start_to_close`): a turn whose
/// worker was SIGKILLed is only retried once Temporal times the attempt out, and with the
/// production 60 s heartbeat timeout each kill mid-turn would cost a minute. 5 s is still far
/// longer than any fake run here (≤ 400 ms), so no attempt times out on its own.
fn hooks_config(setup: &Setup, openclaw: &FakeOpenClaw, settle: Duration) -> ConfigFile {
    let hooks = setup.path("hooks-token");
    std::fs::write(&hooks, format!("{}\n", openclaw.hooks_token)).unwrap();
    std::fs::set_permissions(&hooks, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut config = setup.config();
    config.gateway.api = Some(GatewayApi::HooksAgent);
    config.gateway.url = openclaw.url();
    config.gateway.hooks_token_file = Some(hooks);
    config.workflows.poetry_research.settle = settle;
    let agent_turn = &mut config.workflows.agent_turn;
    agent_turn.start_to_close = Duration::from_secs(5);
    agent_turn.retry.initial_interval = Duration::from_secs(1);
    agent_turn.retry.maximum_interval = Duration::from_secs(1);
    // Kills and the server restart may cost one turn several attempts; none may run out.
    agent_turn.retry.maximum_attempts = 20;
    config
}

/// Starts a run, riding out a server restart: a start whose answer was lost and that is
/// re-sent finds its workflow already started, which is as good.
async fn start_run(setup_client: &tokio::sync::RwLock<Client>, id: &str, settle: Duration) {
    let input = json!({"settle": format!("{}s", settle.as_secs())});
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let client = setup_client.read().await.clone();
        let started = client
            .start_workflow(
                UntypedWorkflow::new("PoetryResearchWorkflow"),
                RawValue {
                    payloads: vec![clawfactory_temporal::payload::json_payload(&input)],
                },
                WorkflowStartOptions::new(common::TASK_QUEUE, id).build(),
            )
            .await;
        match started {
            Ok(_) => return,
            Err(err) if err.to_string().to_lowercase().contains("already") => return,
            Err(err) => {
                assert!(Instant::now() < deadline, "cannot start {id}: {err}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Event {
    KillWorker,
    RestartServer,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_runs_survive_five_worker_kills_and_a_server_restart() {
    const RUNS: usize = 200;
    const KILLS: usize = 5;
    /// Starts are spread over this window, and so are the kills and the server restart.
    const WINDOW_MS: u64 = 20_000;
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let seed = seed();
    println!("chaos: seed {seed} (CHAOS_SEED={seed} replays this schedule)");
    let mut rng = Rng(seed);

    let setup = Setup::on_tmpfs().await;
    let openclaw = FakeOpenClaw::start().await;
    // Each run takes 0–400 ms on the gateway, so kills also land while turns are running.
    openclaw.outcomes((0..RUNS * TURNS.len()).map(|_| Outcome::ok_after(rng.millis(0, 400))));
    let config = hooks_config(&setup, &openclaw, Duration::from_secs(1));
    let mut worker = setup.worker(&config).await;

    let mut events: Vec<(Duration, Event)> = (0..KILLS)
        .map(|_| (rng.millis(500, WINDOW_MS), Event::KillWorker))
        .collect();
    events.push((rng.millis(2_000, WINDOW_MS), Event::RestartServer));
    events.sort_by_key(|(at, _)| *at);
    println!("chaos: schedule {events:?}");

    let client = Arc::new(tokio::sync::RwLock::new(setup.server.client().await));
    let ids: Vec<String> = (0..RUNS).map(|i| format!("chaos-{i:03}")).collect();
    let settles: Vec<Duration> = (0..RUNS)
        .map(|_| Duration::from_secs(1 + rng.next() % 3))
        .collect();
    let starter = {
        let client = client.clone();
        let ids = ids.clone();
        tokio::spawn(async move {
            let gap = Duration::from_millis(WINDOW_MS * 3 / 4) / RUNS as u32;
            let mut tick = tokio::time::interval(gap);
            for (id, settle) in ids.iter().zip(settles) {
                tick.tick().await;
                start_run(&client, id, settle).await;
            }
        })
    };

    // The chaos driver: one event at a time, each at its instant (or as soon as the previous
    // one is over).
    let mut server = setup.server;
    for (at, event) in &events {
        tokio::time::sleep_until((began + *at).into()).await;
        match event {
            Event::KillWorker => {
                worker.kill9();
                tokio::time::sleep(rng.millis(0, 500)).await;
                worker.restart().await;
            }
            Event::RestartServer => {
                server.stop();
                tokio::time::sleep(rng.millis(200, 1_000)).await;
                server.restart().await;
                *client.write().await = server.client().await;
            }
        }
        println!(
            "chaos: {event:?} at {:.1} s done at {:.1} s",
            at.as_secs_f64(),
            began.elapsed().as_secs_f64()
        );
    }
    starter.await.unwrap();

    let client = client.read().await.clone();
    let results = tokio::time::timeout(
        Duration::from_secs(120),
        futures::future::join_all(ids.iter().map(|id| {
            let client = &client;
            async move {
                let result = workflow_result(client, id).await;
                (result, began.elapsed())
            }
        })),
    )
    .await
    .expect("all 200 runs finish within 2 minutes of the last start");
    let mut slowest: Vec<(Duration, &String)> =
        results.iter().map(|(_, at)| *at).zip(&ids).collect();
    slowest.sort();
    println!(
        "chaos: the last runs finished at {:?}",
        &slowest[slowest.len() - 3..]
    );
    let results: Vec<Result<String, String>> = results.into_iter().map(|(r, _)| r).collect();

    let requests = openclaw.requests_to(HOOKS);
    let runs = openclaw.runs();
    let logical_turns = RUNS * TURNS.len();
    let resent = requests.len().saturating_sub(logical_turns);
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for request in &requests {
        let key = request
            .header("idempotency-key")
            .unwrap_or("none")
            .to_owned();
        *per_key.entry(key).or_default() += 1;
    }
    let keys_resent = per_key.values().filter(|n| **n > 1).count();
    let summary = format!(
        "seed {seed}: {} /hooks/agent calls for {logical_turns} logical agent turns = {resent} \
         re-sent (at-least-once) on {keys_resent} keys; {} OpenClaw runs; wall time {:.1} s",
        requests.len(),
        runs.len(),
        began.elapsed().as_secs_f64()
    );
    println!("chaos: {summary}");

    for (id, result) in ids.iter().zip(&results) {
        assert_eq!(result.as_deref(), Ok(DONE), "{id}; {summary}");
    }
    // Exactly one run per logical agent turn: both turns of every workflow, each under its
    // own key, none twice, none under a second-generation key.
    let mut turns_seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut keys_seen: BTreeSet<String> = BTreeSet::new();
    for run in &runs {
        let key = run.idempotency_key.clone().expect("every run has a key");
        let workflow_id = key.split('/').next().unwrap().to_owned();
        let turn = run.body["name"].as_str().unwrap().to_owned();
        assert!(
            !key.contains("/run-"),
            "{key}: a second run generation; {summary}"
        );
        assert!(keys_seen.insert(key.clone()), "{key} ran twice; {summary}");
        assert!(
            turns_seen.insert((workflow_id, turn.clone())),
            "{key}: {turn} ran twice for one workflow; {summary}"
        );
    }
    assert_eq!(runs.len(), logical_turns, "one run per turn; {summary}");
    for id in &ids {
        for turn in TURNS {
            assert!(
                turns_seen.contains(&(id.clone(), turn.to_owned())),
                "{id}: no run of {turn}; {summary}"
            );
        }
    }
    // Every call carried a key that has a run: re-sent calls found their run.
    for key in per_key.keys() {
        assert!(keys_seen.contains(key), "call under {key} without a run");
    }
    drop(worker);
}

/// What the kernel says about a process: resident memory (KiB) and open file descriptors.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    rss_kib: u64,
    fds: usize,
}

impl Footprint {
    fn of(pid: u32) -> Footprint {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let rss_kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        Footprint { rss_kib, fds }
    }
}

/// Starts `ids` (zero settle), a few at a time, then waits for every result.
async fn burst(client: &Client, ids: &[String]) -> Vec<Result<String, String>> {
    use futures::StreamExt;
    futures::stream::iter(ids)
        .for_each_concurrent(16, |id| async move {
            common::start_workflow(
                client,
                "PoetryResearchWorkflow",
                Some(json!({"settle": "0s"})),
                id,
            )
            .await;
        })
        .await;
    futures::stream::iter(ids)
        .map(|id| workflow_result(client, id))
        .buffered(16)
        .collect()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_runs_through_one_worker_leave_no_memory_or_fd_growth() {
    const WARM_UP: usize = 200;
    const RUNS: usize = 2000;
    let _serial = SERIAL.lock().await;
    let began = Instant::now();
    let setup = Setup::on_tmpfs().await;
    let openclaw = FakeOpenClaw::start().await;
    let worker = setup
        .worker(&hooks_config(&setup, &openclaw, Duration::ZERO))
        .await;
    let pid = worker.pid();
    let client = setup.server.client().await;
    let started = Footprint::of(pid);

    // Baseline: after a warm-up burst, once the worker is idle again. By then the allocator's
    // arenas, the HTTP and gRPC connection pools and the SDK's caches have their working size;
    // what remains is growth per workflow, the thing this test is about.
    let warm_up: Vec<String> = (0..WARM_UP).map(|i| format!("warm-{i:04}")).collect();
    let bounded = Duration::from_secs(600);
    let results = tokio::time::timeout(bounded, burst(&client, &warm_up))
        .await
        .expect("the warm-up finishes within 10 minutes");
    assert!(results.iter().all(|r| r.as_deref() == Ok(DONE)));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let baseline = Footprint::of(pid);
    let warm_up_took = began.elapsed();

    let ids: Vec<String> = (0..RUNS).map(|i| format!("soak-{i:04}")).collect();
    let burst_began = Instant::now();
    let results = tokio::time::timeout(bounded, burst(&client, &ids))
        .await
        .expect("2000 runs finish within 10 minutes");
    let burst_took = burst_began.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = Footprint::of(pid);

    let summary = format!(
        "worker RSS {} KiB at start, {} KiB after {WARM_UP} warm-up runs, {} KiB after {RUNS} \
         more ({:+.1} %); fds {} / {} / {}; {RUNS} runs in {:.1} s ({:.1}/s); warm-up {:.1} s; \
         total {:.1} s",
        started.rss_kib,
        baseline.rss_kib,
        after.rss_kib,
        (after.rss_kib as f64 / baseline.rss_kib as f64 - 1.0) * 100.0,
        started.fds,
        baseline.fds,
        after.fds,
        burst_took.as_secs_f64(),
        RUNS as f64 / burst_took.as_secs_f64(),
        warm_up_took.as_secs_f64(),
        began.elapsed().as_secs_f64(),
    );
    println!("soak: {summary}");
    for (id, result) in ids.iter().zip(&results) {
        assert_eq!(result.as_deref(), Ok(DONE), "{id}; {summary}");
    }
    assert_eq!(
        openclaw.runs().len(),
        (WARM_UP + RUNS) * TURNS.len(),
        "{summary}"
    );
    assert!(
        after.rss_kib * 10 <= baseline.rss_kib * 11,
        "RSS grew more than 10 %: {summary}"
    );
    assert!(
        after.fds <= baseline.fds + 4,
        "file descriptors grew: {summary}"
    );
}
