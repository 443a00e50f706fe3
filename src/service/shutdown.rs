//! The stop request: SIGINT (Ctrl-C) or SIGTERM (systemd, `kill`).

use tokio::signal::unix::{SignalKind, signal};

/// Resolves with the signal's name once the process is asked to stop.
pub async fn requested() -> &'static str {
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
