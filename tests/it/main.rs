//! The integration tests: the real worker binary against a real Temporal dev server per
//! test, grouped by subject. The OpenClaw suites are in `tests/openclaw/`, the long load runs
//! in `tests/heavy/`, the benchmarks in `tests/bench/`.
//!
//! ```sh
//! PATH="$PWD/target/venv/bin:$PATH" cargo test --locked --test it -- workflows::declared
//! ```

#[path = "../common/mod.rs"]
mod common;

/// What the workflows do: the built-in ones, declared ones, replay of recorded histories,
/// resuming a failed run, and properties over generated inputs and declarations.
mod workflows {
    mod builtin;
    mod declared;
    mod properties;
    mod replay;
    mod resume;
}

/// What goes wrong and what the worker makes of it: failure types and retries, the fault
/// matrix of a misbehaving server, and crashes and restarts mid-run.
mod failures {
    mod classification;
    mod durability;
    mod faults;
}

/// Running it: the command line, schedules, backups, instances, the `[http]` policy, TLS,
/// systemd (units, notify, the dev-server supervisor), and the worker's runtime shapes.
mod operations {
    mod backup;
    mod cli;
    mod current_thread;
    mod http_policy;
    mod http_secrets;
    mod instances;
    mod scale_out;
    mod schedules;
    mod server_supervisor;
    mod systemd_notify;
    mod tls;
    mod units;
}
