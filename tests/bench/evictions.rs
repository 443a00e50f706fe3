//! What a run evicted from the worker's cache while it waits leaves behind.
//!
//! The benchmark (`evictions::benchmark`, ignored): for each kind of waiting run, a fresh
//! server and worker (`max_cached_workflows` = `BENCH_EVICT_CACHE`, 100); runs are started
//! until `BENCH_EVICT_RUNS` (500, 1 000, 2 000, 5 000) are open and waiting, so all but the
//! last 100 have been evicted mid-wait; at each point, once the worker is quiet, its VmRSS
//! and RssAnon. The slope of RssAnon over evictions is what each eviction leaves behind.
//! After the last point, the `custom-delay` kind also signals `BENCH_EVICT_SIGNALS` (1 000)
//! evicted runs `BENCH_EVICT_SIGNAL_PASSES` (2) times: each signal replays a run into the cache and evicts another. Last,
//! a fresh worker on the same open runs: the control. Each kind runs with each token mode in
//! `BENCH_EVICT_TOKENS`: `own` (the shipped code) and `shared` (`CLAWFACTORY_BENCH_WORKFLOW_TOKEN`:
//! every command on the workflow's own token, as before issue 25). `BENCH_EVICT_MALLOC`:
//! see [`malloc_mode`].
//!
//! The two tests that are not ignored are the SDK's canary: an in-process worker with a
//! cache of one, workflows written only against the SDK, and a marker that is dropped only
//! when an evicted run's context is freed. They fail the day temporalio-workflow changes
//! what `src/workflows/own_token.rs` works around.

use crate::common::{self, NotifySocket, TASK_QUEUE, TemporalServer, start_workflow, wait_until};
use crate::harness::{
    env_or, fast_gateway, mib, proc_status_kib, start_server, start_worker_with, target_dir,
    write_config,
};
use crate::history::events;
use crate::scale::{list_or, quiet};
use clawfactory_temporal::payload::json_payload;
use clawfactory_temporal::workflows::own_token::{BENCH_TOKEN_ENV, with_own_token};
use futures::StreamExt;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::{Duration, Instant};
use temporalio_client::{UntypedSignal, WorkflowSignalOptions};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;
use temporalio_common::protos::temporal::api::enums::v1::EventType;
use temporalio_common::telemetry::TelemetryOptions;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::runtime::RuntimeOptions;
use temporalio_sdk::{
    Runtime, TimerOptions, Worker, WorkerOptions, WorkflowContext, WorkflowResult,
};

/// The waits measured: a name, the workflow type, its input.
const KINDS: [(&str, &str); 4] = [
    ("poetry-settle", "PoetryResearchWorkflow"),
    ("custom-delay", "CustomWorkflow"),
    ("declared-approval", "evict-approval"),
    ("declared-delay", "evict-delay"),
];

const DECLARED: &str = "\
[[declared.evict-approval.steps]]\nid = \"ok\"\ntype = \"approval\"\ntimeout = \"24h\"\n\
[[declared.evict-delay.steps]]\nid = \"wait\"\ntype = \"delay\"\nduration = \"2h\"\n";

const FIXED_MALLOC: &str = "glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold=131072";

fn input(kind: &str) -> Option<Value> {
    match kind {
        "poetry-settle" => Some(json!({"settle": "2h"})),
        "custom-delay" => Some(json!({"steps": [{"type": "delay", "duration": "2h"}]})),
        _ => None,
    }
}

fn run_id(kind: &str, i: usize) -> String {
    format!("{kind}-{i}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo build --profile dist && cargo test --test bench -- --ignored --nocapture evictions::"]
async fn benchmark() {
    let counts = list_or("BENCH_EVICT_RUNS", vec![500, 1000, 2000, 5000]);
    let cache: usize = env_or("BENCH_EVICT_CACHE", 100);
    let tokens = std::env::var("BENCH_EVICT_TOKENS").unwrap_or_else(|_| "own,shared".into());
    let kinds = std::env::var("BENCH_EVICT_KINDS")
        .unwrap_or_else(|_| KINDS.map(|(kind, _)| kind).join(","));
    let file = evictions_file();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let mut rows = Vec::new();
    for token in tokens.split(',') {
        for (kind, workflow) in KINDS
            .iter()
            .filter(|(k, _)| kinds.split(',').any(|n| n == *k))
        {
            let row = measure(kind, workflow, token, &counts, cache).await;
            println!("EVICT_JSON {row}");
            let mut out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .unwrap();
            writeln!(out, "{row}").unwrap();
            rows.push(row);
        }
    }
    print_table(&rows, &counts);
    println!("\nrows appended to {}", file.display());
}

/// `glibc` (the default): the worker runs with glibc's 128 KiB trim and mmap thresholds,
/// fixed (any `GLIBC_TUNABLES` turns off the worker's own, see `main.rs`), so that RssAnon
/// follows live memory. Both the shipped 4 MiB trim threshold and glibc's dynamic one let MiBs
/// of freed heap stay resident, and their steps swamp a slope of a fraction of a KiB.
/// `shipped` (`BENCH_EVICT_MALLOC`): as packaged, for what the worker really holds.
fn malloc_mode() -> String {
    match std::env::var("BENCH_EVICT_MALLOC") {
        Ok(mode) => mode,
        Err(_) if std::env::var_os("GLIBC_TUNABLES").is_some() => "inherited".into(),
        Err(_) => "glibc".into(),
    }
}

/// Where the rows go: `target/bench/evictions.jsonl` (or under `$CARGO_TARGET_DIR`).
pub fn evictions_file() -> std::path::PathBuf {
    target_dir().join("bench/evictions.jsonl")
}

/// VmRSS / RssAnon of the worker, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    (
        proc_status_kib(pid, "VmRSS:"),
        proc_status_kib(pid, "RssAnon:"),
    )
}

/// Once the worker's last tasks are done and its allocator has settled.
async fn settled_memory(pid: u32) -> (u64, u64) {
    quiet(pid).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    memory(pid)
}

fn point(open: usize, evicted: usize, (rss, anon): (u64, u64)) -> Value {
    json!({"open": open, "evicted": evicted, "rss_mib": mib(rss), "anon_mib": mib(anon),
           "anon_kib": anon})
}

/// KiB of RssAnon per eviction from the first point to the last.
fn slope(points: &[Value]) -> f64 {
    let (first, last) = (&points[0], &points[points.len() - 1]);
    let kib = |p: &Value| p["anon_kib"].as_f64().unwrap();
    let evicted = |p: &Value| p["evicted"].as_f64().unwrap();
    (kib(last) - kib(first)) / (evicted(last) - evicted(first)).max(1.0)
}

async fn measure(kind: &str, workflow: &str, token: &str, counts: &[usize], cache: usize) -> Value {
    println!("evictions: {kind}, token {token}, cache {cache}, runs {counts:?}");
    let dir = common::tmpfs_dir();
    let server = start_server(dir.path()).await;
    let (gateway_port, turns) = fast_gateway().await;
    let config = write_config(
        dir.path(),
        &server,
        gateway_port,
        &format!("[worker]\nmax_cached_workflows = {cache}\n\n{DECLARED}"),
    );
    let log = dir.path().join("worker.log");
    let mut notify = NotifySocket::bind(dir.path().join("notify.sock"));
    let mut env = vec![(BENCH_TOKEN_ENV, token)];
    let malloc = malloc_mode();
    if malloc == "glibc" {
        env.push(("GLIBC_TUNABLES", FIXED_MALLOC));
    }
    let client = server.client().await;
    let (worker, _) = start_worker_with(&config, &mut notify, &log, &env);
    let pid = worker.id();
    let began = Instant::now();
    let mut points = vec![point(0, 0, settled_memory(pid).await)];
    let mut open = 0;
    for &count in counts {
        start_runs(&client, kind, workflow, open..count).await;
        open = count;
        if kind == "poetry-settle" {
            let deadline = Instant::now() + Duration::from_secs(600);
            while turns.load(Ordering::Relaxed) < open {
                assert!(
                    Instant::now() < deadline,
                    "{kind}: turns did not reach {open}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        waiting(&client, kind, open).await;
        let measured = settled_memory(pid).await;
        points.push(point(open, open.saturating_sub(cache), measured));
        println!("  {open} open: {}", points.last().unwrap());
    }
    let fill_s = began.elapsed().as_secs_f64();
    let mut signalled = Vec::new();
    if kind == "custom-delay" {
        let signals = env_or("BENCH_EVICT_SIGNALS", 1000).min(open.saturating_sub(cache));
        for _ in 0..env_or("BENCH_EVICT_SIGNAL_PASSES", 2) {
            signal_runs(&client, kind, signals).await;
            signalled.push(point(open, signals, settled_memory(pid).await));
            println!("  signalled {signals}: {}", signalled.last().unwrap());
        }
    }
    let peak = proc_status_kib(pid, "VmHWM:");
    drop(worker);
    let (control, _) = start_worker_with(&config, &mut notify, &log, &env);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let control_memory = settled_memory(control.id()).await;
    drop(control);
    let signal_slope = signal_slope(&points, &signalled);
    json!({
        "kind": kind, "token": token, "malloc": malloc, "cache": cache, "points": points,
        "kib_per_eviction": slope(&points[1..]),
        "signalled": signalled, "kib_per_signal_eviction": signal_slope,
        "peak_rss_mib": mib(peak), "fill_s": fill_s,
        "control": point(open, 0, control_memory),
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    })
}

/// KiB of RssAnon per signal-driven eviction: from the last fill point through both passes.
fn signal_slope(points: &[Value], signalled: &[Value]) -> Option<f64> {
    let last_fill = points.last()?;
    let kib = |p: &Value| p["anon_kib"].as_f64().unwrap();
    let per_pass = signalled.first()?["evicted"].as_f64()?;
    let after = signalled.last()?;
    Some((kib(after) - kib(last_fill)) / (per_pass * signalled.len() as f64).max(1.0))
}

async fn start_runs(
    client: &temporalio_client::Client,
    kind: &str,
    workflow: &str,
    ids: std::ops::Range<usize>,
) {
    futures::stream::iter(ids)
        .for_each_concurrent(32, |i| async move {
            start_workflow(client, workflow, input(kind), &run_id(kind, i)).await;
        })
        .await;
}

/// Waits until the last runs started are in their wait (a timer started: every kind's wait
/// has one), at most 10 minutes.
async fn waiting(client: &temporalio_client::Client, kind: &str, open: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    for i in open.saturating_sub(8)..open {
        let id = run_id(kind, i);
        loop {
            let events = events(client, &id).await;
            if events
                .iter()
                .any(|e| e.event_type() == EventType::TimerStarted)
            {
                break;
            }
            assert!(Instant::now() < deadline, "{id} did not reach its wait");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Signals runs `0..count` (evicted long ago): `approve` for a step that does not exist,
/// so each run takes the signal, stays in its wait, and is replayed into the cache.
async fn signal_runs(client: &temporalio_client::Client, kind: &str, count: usize) {
    futures::stream::iter(0..count)
        .for_each_concurrent(16, |i| async move {
            let payload = json_payload(&json!({"comment": "bench", "step": "no-such-step"}));
            client
                .get_workflow_handle::<UntypedWorkflow>(&run_id(kind, i))
                .signal(
                    UntypedSignal::new("approve"),
                    RawValue {
                        payloads: vec![payload],
                    },
                    WorkflowSignalOptions::default(),
                )
                .await
                .expect("signal a waiting run");
        })
        .await;
}

fn print_table(rows: &[Value], counts: &[usize]) {
    let cells: Vec<String> = counts.iter().map(|c| format!("{c} runs")).collect();
    println!(
        "\n| kind | token | malloc | idle | {} | control (fresh worker) | KiB per eviction | after each signal pass | KiB per signal eviction |",
        cells.join(" | ")
    );
    println!(
        "|---|---|---|{}---|---|---|---|",
        "---|".repeat(counts.len())
    );
    let cell = |p: &Value| {
        format!(
            "{:.1} / {:.1}",
            p["rss_mib"].as_f64().unwrap(),
            p["anon_mib"].as_f64().unwrap()
        )
    };
    for row in rows {
        let points: Vec<String> = row["points"].as_array().unwrap().iter().map(cell).collect();
        let signalled: Vec<String> = row["signalled"]
            .as_array()
            .unwrap()
            .iter()
            .map(cell)
            .collect();
        println!(
            "| {} | {} | {} | {} | {} | {:.2} | {} | {} |",
            row["kind"].as_str().unwrap(),
            row["token"].as_str().unwrap(),
            row["malloc"].as_str().unwrap(),
            points.join(" | "),
            cell(&row["control"]),
            row["kib_per_eviction"].as_f64().unwrap(),
            if signalled.is_empty() {
                "–".to_owned()
            } else {
                signalled.join(" → ")
            },
            row["kib_per_signal_eviction"]
                .as_f64()
                .map_or("–".to_owned(), |k| format!("{k:.2}")),
        );
    }
    println!("(VmRSS / RssAnon in MiB)");
}

// The canary.

/// How many evicted runs' contexts were freed, per workflow below.
static BARE_FREED: AtomicUsize = AtomicUsize::new(0);
static OWN_FREED: AtomicUsize = AtomicUsize::new(0);

/// Dropped, and counted, when the token that holds it (the run's own) is freed.
struct Marker(&'static AtomicUsize);

impl Wake for Marker {
    fn wake(self: Arc<Self>) {}
}

impl Drop for Marker {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Leaves a marker in the run's cancellation token, which its context owns: polling the
/// token's `cancelled()` once stores the waker until the token is cancelled or freed.
fn mark_context(token: &temporalio_sdk::WorkflowCancellationToken, freed: &'static AtomicUsize) {
    let waker = Waker::from(Arc::new(Marker(freed)));
    let mut cancelled = std::pin::pin!(token.cancelled());
    let _ = cancelled.as_mut().poll(&mut Context::from_waker(&waker));
}

/// The SDK's own example: a timer on the workflow's token.
#[workflow]
#[derive(Default)]
pub struct BareTimer;

#[workflow_methods]
impl BareTimer {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        mark_context(&ctx.cancellation_token(), &BARE_FREED);
        ctx.timer(Duration::from_secs(3600)).await;
        Ok("done".into())
    }
}

/// The same timer through the project's workaround.
#[workflow]
#[derive(Default)]
pub struct OwnTokenTimer;

#[workflow_methods]
impl OwnTokenTimer {
    #[run]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<String> {
        let token = ctx.cancellation_token();
        mark_context(&token, &OWN_FREED);
        let timer = TimerOptions::builder(Duration::from_secs(3600)).build();
        with_own_token(&token, timer, |o| ctx.timer(o)).await;
        Ok("done".into())
    }
}

const CANARY_RUNS: usize = 4;

/// Starts `CANARY_RUNS` runs of `workflow_type` one after another on a worker that caches one
/// run, so each start evicts the run before it mid-timer; returns once the last is waiting.
async fn evict_waiting_runs(workflow_type: &str) {
    let dir = common::tmpfs_dir();
    let server = TemporalServer::start(dir.path()).await;
    let client = server.client().await;
    let telemetry = TelemetryOptions::builder().build();
    let options = RuntimeOptions::builder()
        .telemetry_options(telemetry)
        .build()
        .unwrap();
    let runtime = Runtime::from_current_tokio(options).unwrap();
    let options = WorkerOptions::new(TASK_QUEUE)
        .register_workflow::<BareTimer>()
        .unwrap()
        .register_workflow::<OwnTokenTimer>()
        .unwrap()
        .max_cached_workflows(1_usize)
        .build();
    let mut worker = Worker::new(&runtime, client.clone(), options).unwrap();
    let stop = worker.shutdown_handle();
    let drive = async {
        for i in 0..CANARY_RUNS {
            let id = format!("canary-{i}");
            start_workflow(&client, workflow_type, None, &id).await;
            let deadline = Instant::now() + Duration::from_secs(60);
            while !events(&client, &id)
                .await
                .iter()
                .any(|e| e.event_type() == EventType::TimerStarted)
            {
                assert!(Instant::now() < deadline, "{id}: no timer within 60 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        stop();
    };
    let (run, ()) = tokio::join!(worker.run(), drive);
    run.expect("the canary worker");
}

const RE_MEASURE: &str = "re-measure with `cargo test --test bench -- --ignored --nocapture \
     evictions::` (both token modes) and read docs/scaling.md, \"Evicted runs and the SDK's \
     cancellation cycle\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_still_keeps_a_run_evicted_while_its_timer_waits_on_the_workflow_token() {
    evict_waiting_runs("BareTimer").await;
    // Grace for the last eviction's drop, which the worker may finish after its shutdown.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let freed = BARE_FREED.load(Ordering::SeqCst);
    assert_eq!(
        freed,
        0,
        "temporalio-workflow now frees a run evicted mid-timer ({freed} of {} freed): its \
         cancellation cycle is fixed and src/workflows/own_token.rs may be unneeded; {RE_MEASURE}",
        CANARY_RUNS - 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_evicted_while_its_timer_waits_on_an_own_token_is_freed() {
    evict_waiting_runs("OwnTokenTimer").await;
    let evicted = CANARY_RUNS - 1;
    let freed = || OWN_FREED.load(Ordering::SeqCst) >= evicted;
    let why = "the SDK to free the evicted runs; if this times out, the workaround in \
               src/workflows/own_token.rs no longer works with this SDK";
    wait_until(
        &format!("{why}; {RE_MEASURE}"),
        Duration::from_secs(10),
        freed,
    )
    .await;
}
