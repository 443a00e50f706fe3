//! The real worker binary as a child process: started on a config file with the reference
//! env vars removed, its stderr appended to a log that survives restarts, ready once it logs
//! `worker ready`, and killed (SIGKILL) or stopped (SIGTERM) on demand.
//!
//! Why the binary and not the library: crash recovery, signals and startup are what the
//! tests are about, and only a real process can be SIGKILLed mid-turn.

use super::process::{BIN, REFERENCE_ENV, append_to, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The real worker binary, with a config file and its stderr captured to a file.
pub struct WorkerProcess {
    pub config: PathBuf,
    pub log: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl WorkerProcess {
    pub async fn start(config: &Path) -> WorkerProcess {
        WorkerProcess::start_with_env(config, &[]).await
    }

    pub async fn start_with_env(config: &Path, env: &[(&str, &str)]) -> WorkerProcess {
        let mut worker = WorkerProcess {
            config: config.to_owned(),
            log: config.with_extension("worker.log"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
        };
        worker.restart().await;
        worker
    }

    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "worker already running");
        let before = self.ready_count();
        let log = append_to(&self.log);
        let mut command = Command::new(BIN);
        command.arg("worker").arg("--config").arg(&self.config);
        for name in REFERENCE_ENV {
            command.env_remove(name);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        let child = command
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start worker");
        self.child = Some(child);
        let log = self.log.clone();
        wait_until("worker ready", Duration::from_secs(60), || {
            count_ready(&log) > before
        })
        .await;
    }

    fn ready_count(&self) -> usize {
        count_ready(&self.log)
    }

    #[allow(dead_code, reason = "read by the heavy runs, not by every target")]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("worker running").id()
    }

    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("worker running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM; returns the exit status and how long the worker took to exit.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut child = self.child.take().expect("worker running");
        let started = Instant::now();
        super::send_signal(child.id() as i32, libc::SIGTERM);
        let status = child.wait().unwrap();
        (status, started.elapsed())
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn count_ready(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .matches("worker ready")
        .count()
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
