//! Test harness: a REAL `temporal server start-dev` per test, the real worker binary, and a
//! loopback fake HTTP server (gateway / weather / generic endpoints) that records every
//! request and answers from a script.

pub mod fake_http;
pub mod http1;

// One file per concern; the names tests use are re-exported here (`common::Setup`, ...).
mod config_file;
mod process;
mod temporal_server;
mod worker_process;
mod workflow;

pub use config_file::{ConfigFile, schedule, turn};
pub use process::{BIN, ChildGuard, NotifySocket, cli, free_port, send_signal, wait_until};
pub use temporal_server::{TASK_QUEUE, TemporalServer, temporal_bin};
pub use worker_process::WorkerProcess;
pub use workflow::{
    Failed, RetryState, cancel_and_close, event_types, in_order, search_attributes, start_workflow,
    start_workflow_raw, start_zero_settle_runs, wait_for_event, wait_until_visible,
    workflow_failure, workflow_result, workflow_result_value,
};

use std::path::PathBuf;

/// A temp dir on tmpfs (`/dev/shm`) if the machine has one, else the usual temp dir. Load
/// tests put the dev server's SQLite file there: on a disk every workflow task waits for the
/// server's fsyncs, and that, not the worker, would set the pace.
pub fn tmpfs_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

/// One test's world: a temp dir, a Temporal server and a fake gateway.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub server: TemporalServer,
    pub gateway: fake_http::FakeHttp,
}

impl Setup {
    pub async fn new() -> Setup {
        Setup::in_dir(tempfile::tempdir().unwrap()).await
    }

    /// Like `new`, with the server's database on tmpfs where there is one (see `tmpfs_dir`).
    pub async fn on_tmpfs() -> Setup {
        Setup::in_dir(tmpfs_dir()).await
    }

    /// Like `new`, on a server without the custom search attributes (an external cluster's).
    pub async fn without_search_attributes() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let server = TemporalServer::start_without_search_attributes(dir.path()).await;
        Setup::with_server(dir, server).await
    }

    async fn in_dir(dir: tempfile::TempDir) -> Setup {
        let server = TemporalServer::start(dir.path()).await;
        Setup::with_server(dir, server).await
    }

    async fn with_server(dir: tempfile::TempDir, server: TemporalServer) -> Setup {
        let gateway = fake_http::FakeHttp::start().await;
        Setup {
            dir,
            server,
            gateway,
        }
    }

    pub fn config(&self) -> ConfigFile {
        ConfigFile::new(self.dir.path(), &self.server, &self.gateway.url())
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `config` and starts a worker on it.
    pub async fn worker(&self, config: &ConfigFile) -> WorkerProcess {
        WorkerProcess::start(&config.write(&self.path("worker.toml"))).await
    }
}
