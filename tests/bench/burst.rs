//! The burst benchmark: exec → READY (sd_notify `READY=1` on a NOTIFY_SOCKET it binds; the
//! server already up), idle RSS after `BENCH_IDLE_SECS` (30), sequential end-to-end latency of
//! a 2-turn zero-settle `PoetryResearchWorkflow` (`BENCH_LATENCY_RUNS`, 100), and a burst of
//! `BENCH_N` (500) runs with a 1 s settle: wall time, workflows/s, worker CPU per 1000 runs
//! (utime + stime), peak RSS (VmHWM); then `BENCH_DECLARED_N` (100) runs of a 20-step declared
//! workflow (agent turns with conditions and templated messages, a parallel step): worker CPU
//! per run, without and with a deadline armed (`$timeout`). Prints a table and one
//! `BENCH_JSON {...}` line.

use crate::common::{self, NotifySocket, start_workflow};
use crate::harness::{
    DONE, cpu_seconds, env_or, fast_gateway, mib, ms, percentile, proc_status_kib, result,
    start_server, start_worker, worker_bin, write_config,
};
use crate::history::{median_phases, phases};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: cargo build --profile dist && cargo test --test bench -- --ignored --nocapture burst::"]
async fn benchmark() {
    let burst_size: usize = env_or("BENCH_N", 500);
    let idle_secs: u64 = env_or("BENCH_IDLE_SECS", 30);
    let latency_runs: usize = env_or("BENCH_LATENCY_RUNS", 100);
    let ready_runs: usize = env_or("BENCH_READY_RUNS", 5);
    // The server's SQLite file on tmpfs: on this VM's disk its fsyncs, not the worker, set the
    // pace (a 200-burst ran at ~4 workflows/s with the worker 95 % idle).
    let dir = common::tmpfs_dir();
    println!("bench: server database in {}", dir.path().display());
    let server = start_server(dir.path()).await;
    let (gateway_port, agent_turns) = fast_gateway().await;
    let config = write_config(dir.path(), &server, gateway_port, "");
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
    let server_pid = server.pid().expect("the server runs");
    let cpu_before = cpu_seconds(pid);
    let server_cpu_before = cpu_seconds(server_pid);
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
    let burst_server_cpu = cpu_seconds(server_pid) - server_cpu_before;
    let mut burst_phases = Vec::new();
    for id in ids.iter().step_by(10) {
        burst_phases.push(phases(&client, id).await);
    }
    let burst_phases = median_phases(&burst_phases);
    let peak_rss = proc_status_kib(pid, "VmHWM:");
    let after_rss = proc_status_kib(pid, "VmRSS:");

    // The 20-step declared workflow: CPU per run, 16 concurrent at a time; then the same
    // with a deadline armed (`$timeout`: a timer and a marker more per run).
    let declared_n: usize = env_or("BENCH_DECLARED_N", 100);
    let (declared_wall, declared_cpu) =
        declared_runs(&client, pid, declared_n, "plain", None).await;
    let deadline = Some(json!({"$timeout": "1h"}));
    let (deadline_wall, deadline_cpu) =
        declared_runs(&client, pid, declared_n, "deadline", deadline).await;
    let threads = proc_status_kib(pid, "Threads:");
    drop(worker);

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
                  "worker_cpu_ms_per_workflow": burst_cpu * 1000.0 / burst_size as f64,
                  "server_cpu_ms_per_workflow": burst_server_cpu * 1000.0 / burst_size as f64},
        "declared_20_steps": {"runs": declared_n, "wall_s": declared_wall.as_secs_f64(),
                              "worker_cpu_ms_per_run": declared_cpu * 1000.0 / declared_n as f64},
        "declared_20_steps_with_deadline": {"runs": declared_n,
                              "wall_s": deadline_wall.as_secs_f64(),
                              "worker_cpu_ms_per_run": deadline_cpu * 1000.0 / declared_n as f64},
        "peak_rss_mib": mib(peak_rss),
        "rss_after_burst_mib": mib(after_rss),
        "threads": threads,
        "latency_phases_median_ms": {"workflow_tasks": latency_phases.wfts,
            "started_to_completed": latency_phases.total,
            "wft_queue_wait": latency_phases.wft_wait,
            "first_wft_queue_wait": latency_phases.first_wft_wait, "wft_work": latency_phases.wft_work,
            "activities": latency_phases.activity},
        "burst_phases_median_ms": {"workflow_tasks": burst_phases.wfts,
            "wft_queue_wait": burst_phases.wft_wait,
            "first_wft_queue_wait": burst_phases.first_wft_wait, "wft_work": burst_phases.wft_work,
            "activities": burst_phases.activity},
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "agent_turns": agent_turns.load(Ordering::Relaxed),
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
        "burst: server CPU per workflow",
        format!(
            "{:.1} ms",
            b["server_cpu_ms_per_workflow"].as_f64().unwrap()
        ),
    );
    row(
        &format!("20-step declared: {declared_n} runs, wall"),
        format!("{:.2} s", declared_wall.as_secs_f64()),
    );
    row(
        "20-step declared: worker CPU per run",
        format!("{:.1} ms", declared_cpu * 1000.0 / declared_n as f64),
    );
    row(
        "20-step declared, deadline armed: CPU per run",
        format!("{:.1} ms", deadline_cpu * 1000.0 / declared_n as f64),
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
            &format!("{name}: of which the first WFT's"),
            format!("{:.1} ms", p.first_wft_wait),
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

/// Runs `bench20` `n` times, 16 at a time, with `input`: wall time and the worker's CPU seconds.
async fn declared_runs(
    client: &temporalio_client::Client,
    pid: u32,
    n: usize,
    tag: &str,
    input: Option<serde_json::Value>,
) -> (Duration, f64) {
    use futures::StreamExt;
    let cpu_before = cpu_seconds(pid);
    let began = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..n)
        .map(|i| {
            let input = input.clone();
            async move {
                let id = format!("declared-{tag}-{i}");
                start_workflow(client, "bench20", input, &id).await;
                result(client, &id).await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for r in &results {
        assert!(
            r.as_ref()
                .is_ok_and(|text| text.contains("\"status\":\"completed\"")),
            "{r:?}"
        );
    }
    (began.elapsed(), cpu_seconds(pid) - cpu_before)
}
