//! The worker's side of the systemd notify protocol, against a NOTIFY_SOCKET the test owns:
//! no READY before Temporal answers (with STATUS saying why), READY with a status line,
//! watchdog pings at half of WATCHDOG_USEC, STOPPING on SIGTERM, exit 0.

mod common;

use common::{BIN, Setup};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Collects datagrams until `until` matches one or `timeout` passes.
fn collect(
    socket: &UnixDatagram,
    messages: &mut Vec<String>,
    timeout: Duration,
    until: impl Fn(&str) -> bool,
) {
    let deadline = Instant::now() + timeout;
    let mut buffer = [0u8; 4096];
    while Instant::now() < deadline {
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        if let Ok(n) = socket.recv(&mut buffer) {
            let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let done = until(&message);
            messages.push(message);
            if done {
                return;
            }
        }
    }
    panic!("timed out; notifications so far: {messages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_status_watchdog_and_stopping_reach_systemd() {
    let mut setup = Setup::new().await;
    setup.server.stop();
    let config = setup.config().write(&setup.path("worker.toml"));
    let socket_path = setup.path("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();

    // WATCHDOG_PID must be the worker's own pid: `exec` keeps the shell's.
    let mut worker = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "WATCHDOG_PID=$$ exec {BIN} worker --config {}",
            config.display()
        ))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "600000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut messages = Vec::new();
    collect(&socket, &mut messages, Duration::from_secs(30), |m| {
        m.contains("waiting for Temporal")
    });
    // Pings flow while the worker waits for its server, and READY does not.
    collect(&socket, &mut messages, Duration::from_secs(5), |m| {
        m.trim() == "WATCHDOG=1"
    });
    collect(&socket, &mut messages, Duration::from_secs(5), |m| {
        m.trim() == "WATCHDOG=1"
    });
    assert!(
        !messages.iter().any(|m| m.contains("READY=1")),
        "{messages:?}"
    );

    setup.server.restart().await;
    collect(&socket, &mut messages, Duration::from_secs(30), |m| {
        m.contains("READY=1")
    });
    let ready = messages.last().unwrap();
    assert!(
        ready.contains("STATUS=polling clawfactory on http://127.0.0.1:"),
        "{ready}"
    );

    let pings_before = messages.iter().filter(|m| m.trim() == "WATCHDOG=1").count();
    collect(&socket, &mut messages, Duration::from_secs(5), |m| {
        m.trim() == "WATCHDOG=1"
    });
    collect(&socket, &mut messages, Duration::from_secs(5), |m| {
        m.trim() == "WATCHDOG=1"
    });
    assert!(messages.iter().filter(|m| m.trim() == "WATCHDOG=1").count() >= pings_before + 2);
    collect(&socket, &mut messages, Duration::from_secs(10), |m| {
        m.contains("activities in flight")
    });

    unsafe { libc::kill(worker.id() as i32, libc::SIGTERM) };
    collect(&socket, &mut messages, Duration::from_secs(10), |m| {
        m.contains("STOPPING=1")
    });
    assert!(worker.wait().unwrap().success());
}
