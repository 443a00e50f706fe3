//! The regression test of the current-thread hang (docs/benchmark.md): a worker on a
//! current-thread runtime (the default: docs/benchmark.md#cpu-per-workflow) runs a burst while systemd
//! reads nothing from its notify socket, whose queue the test fills before the worker starts.
//!
//! The worker used to send its notifications from runtime threads with a blocking send, which
//! waits for room in that queue: its first status line stopped the only thread, and the worker
//! never became ready (in the 500-burst of the benchmark, the eleventh status line stopped it
//! mid-burst). Now a thread of its own sends them, so the burst completes, and once the socket
//! is read again the notifications arrive, the newest status among them.
//!
//! Bounded: `BURST` runs, each waited for at most 120 s, the worker's start at most 60 s.

use crate::common;

use common::{NotifySocket, Setup, WorkerProcess, start_workflow, workflow_result};
use futures::StreamExt;
use serde_json::json;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

const BURST: usize = 100;
const DONE: &str = "Poetry research workflow completed";

/// Sends filler to the socket at `path` until its queue is full, as a systemd that stopped
/// reading would leave it; returns how many datagrams that took.
fn fill_queue(path: &Path) -> usize {
    let sender = UnixDatagram::unbound().unwrap();
    sender.set_nonblocking(true).unwrap();
    let mut sent = 0;
    loop {
        match sender.send_to(b"filler", path) {
            Ok(_) => sent += 1,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return sent,
            Err(err) => panic!("filling {}: {err}", path.display()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_completes_on_the_current_thread_runtime_while_systemd_does_not_read() {
    let setup = Setup::on_tmpfs().await;
    let socket_path = setup.path("notify.sock");
    let mut notify = NotifySocket::bind(socket_path.clone());
    let queued = fill_queue(&socket_path);
    assert!(queued > 0);

    let config = setup.config().write(&setup.path("worker.toml"));
    let socket = socket_path.to_str().unwrap();
    let env = [
        ("CLAWFACTORY_RUNTIME", "current-thread"),
        ("NOTIFY_SOCKET", socket),
        // Watchdog pings every 500 ms, all into the full queue.
        ("WATCHDOG_USEC", "1000000"),
    ];
    let _worker = WorkerProcess::start_with_env(&config, &env).await;

    let client = setup.server.client().await;
    let ids: Vec<String> = (0..BURST).map(|i| format!("burst-{i}")).collect();
    futures::stream::iter(&ids)
        .for_each_concurrent(16, |id| {
            let input = json!({"settle": "1s"});
            let client = &client;
            async move { start_workflow(client, "PoetryResearchWorkflow", Some(input), id).await }
        })
        .await;
    for id in &ids {
        assert_eq!(
            workflow_result(&client, id).await.as_deref(),
            Ok(DONE),
            "{id}"
        );
    }

    // systemd reads again: what the worker said meanwhile arrives, in order.
    notify.wait_for(Duration::from_secs(10), |m| m.contains("READY=1"));
    notify.wait_for(Duration::from_secs(10), |m| {
        m.contains("activities in flight")
    });
    let filler = notify.seen.iter().filter(|m| *m == "filler").count();
    assert_eq!(filler, queued, "{:?}", notify.seen);
}
