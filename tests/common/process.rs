//! Processes and ports: the worker binary's path, free loopback ports, the CLI run to
//! completion, polling, and guards that stop a child or collect its systemd notifications.
//!
//! Why here: every test starts real processes on real ports, in parallel with other tests;
//! what keeps them from colliding (ports never handed out twice, reference env vars removed)
//! and from outliving a failed test (guards that kill on drop) lives in one place.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_clawfactory-temporal");

/// The reference worker's variables: tests control them explicitly.
pub(super) const REFERENCE_ENV: [&str; 6] = [
    "TEMPORAL_HOST",
    "GATEWAY_PORT",
    "GATEWAY_INTERNAL_TOKEN",
    "INSTANCE_NAME",
    "CREDENTIALS_DIRECTORY",
    "CLAWFACTORY_CONFIG",
];

/// Three more free ports.
pub(super) fn free_ports() -> [u16; 3] {
    [free_port(), free_port(), free_port()]
}

/// A free loopback port never handed out before to this or any other test process: tests run
/// in parallel, and the OS may offer a just-released port to the next caller. Under nextest
/// (the Nix check) every test is a process of its own, so a set in this process is not
/// enough: each port handed out is also claimed by a file in a directory all of them share.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<std::collections::BTreeSet<u16>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if HANDED_OUT.lock().unwrap().insert(port) && claim_across_processes(port) {
            return port;
        }
    }
}

/// Creates `<tmp>/clawfactory-test-ports/<port>`; false if another test process holds it. A
/// claim older than an hour is from an earlier run and is taken over.
fn claim_across_processes(port: u16) -> bool {
    const STALE: Duration = Duration::from_secs(3600);
    let dir = std::env::temp_dir().join("clawfactory-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    let claim = dir.join(port.to_string());
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&claim)
    {
        Ok(_) => true,
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            let age = std::fs::metadata(&claim)
                .and_then(|meta| meta.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok());
            let stale = age.is_some_and(|age| age > STALE);
            stale && std::fs::File::create(&claim).is_ok()
        }
        // No shared directory to claim in: the process-local set is all there is.
        Err(_) => true,
    }
}

/// A log file that several process starts append to (a restart keeps the earlier lines).
pub(super) fn append_to(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// Polls `condition` until it holds or `timeout` passes (then panics with `what`).
pub async fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the CLI to completion with the reference env vars removed. Async, so the test's
/// own fake servers keep answering while it runs.
pub async fn cli(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = tokio::process::Command::new(BIN);
    command.args(args);
    for name in REFERENCE_ENV {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command.output().await.expect("run the CLI")
}

/// A child process that is stopped (SIGTERM, then SIGKILL after 5 s) when dropped, so a
/// failing test leaves no worker, server or `dev` behind.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.0.wait().unwrap()
    }
}

/// Sends `signal` to process `pid` (a negative `pid`: to that process group). What a test
/// asks of a process it started: SIGTERM or SIGINT to stop it cleanly, which `Child` cannot
/// send (its `kill` is SIGKILL only).
pub fn send_signal(pid: i32, signal: libc::c_int) {
    #[allow(unsafe_code)] // kill(2) has no safe wrapper in std.
    // SAFETY: kill(2) takes no pointers; the callers' children are not reaped yet, so the pid
    // is still theirs.
    unsafe {
        libc::kill(pid, signal);
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(Some(_))) {
            return;
        }
        send_signal(self.0.id() as i32, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A NOTIFY_SOCKET the test owns: what a service would tell systemd arrives here.
pub struct NotifySocket {
    #[allow(dead_code, reason = "read by the benchmarks, not by every target")]
    pub path: PathBuf,
    socket: std::os::unix::net::UnixDatagram,
    /// Every message so far, in order.
    pub seen: Vec<String>,
}

impl NotifySocket {
    pub fn bind(path: PathBuf) -> NotifySocket {
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        NotifySocket {
            path,
            socket,
            seen: Vec::new(),
        }
    }

    /// Receives until a message satisfies `until` and returns it; panics after `timeout`.
    pub fn wait_for(&mut self, timeout: Duration, until: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        let mut buffer = [0u8; 4096];
        self.socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buffer) {
                let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
                self.seen.push(message.clone());
                if until(&message) {
                    return message;
                }
            }
        }
        panic!("timed out; notifications so far: {:?}", self.seen);
    }
}
