//! The worker benchmarks. Ignored tests: `cargo test` only compiles them (CI builds the tree
//! once); run one with the packaged binary (docs/benchmark.md has the figures):
//!
//! ```sh
//! cargo build --locked --profile dist
//! PATH="$PWD/target/venv/bin:$PATH" cargo test --test bench -- --ignored --nocapture burst::
//! ```
//!
//! - `burst::` — exec → READY, idle RSS, sequential latency, a burst of short runs, a 20-step
//!   declared workflow (worker CPU per run).
//! - `scale::` — 100, 1 000 and 5 000 runs open at once in their settle: worker memory and CPU
//!   while they wait, the database's size, a worker and a server restart, and how soon every
//!   run resumes when its timer fires.
//! - `growth::` — the database and its WAL under a retention of minutes: disk per retained
//!   run at steady state, whether deleted runs' pages are reused, the WAL under a burst and
//!   after a checkpoint (database on disk under `target/bench/growth`).
//! - `queue_floor::` — how long the dev server keeps a workflow task in its queue when a
//!   poll is already waiting, measured with raw gRPC calls and no SDK worker at all.
//! - `evictions::` — what each run evicted from the worker's cache mid-wait leaves behind:
//!   RssAnon per eviction for each kind of waiting run, with and without the own tokens of
//!   `src/workflows/own_token.rs`. Its two tests that are not ignored (about 10 s, a dev server
//!   each) fail the day the SDK changes what that module works around.
//! - `backup::` — backup time and size for 10 000 completed runs, and the latency of a run
//!   started while backups run back to back (the debug binary, like the tests).
//! - `plot::` — renders the scale curve (`target/bench/scale.jsonl`) to `docs/benchmark-scale.png`.
//!
//! Each starts its own Temporal dev server (database on tmpfs, so the disk's fsync latency does
//! not set the pace) and, except `queue_floor`, a fast fake gateway and the dist-profile worker
//! binary (`target/dist/clawfactory-temporal`, or `BENCH_WORKER=/path/to/binary`).

// This target uses a part of the shared harness, and rustc judges unused code one target
// at a time: `it` and `openclaw` use the rest, and have no such allowance.
#[allow(dead_code, unused_imports)]
#[path = "../common/mod.rs"]
mod common;

mod backup;
mod burst;
mod evictions;
mod growth;
mod harness;
mod history;
mod plot;
mod queue_floor;
mod scale;
