//! clawfactory-temporal: ClawFactory's OpenClaw agent jobs as durable Temporal workflows.
//!
//! It replaces ClawFactory's Python Temporal worker and schedule script — "the reference" in
//! these docs — keeping its task queue, workflow and activity names, inputs, results and
//! environment variables, so existing starters keep working.
//!
//! # Layout
//!
//! The layers, bottom up; each uses only the ones above it in this list.
//!
//! - `config/`: the TOML file, environment overrides and secrets; reads and validates,
//!   nothing else. One file per section (`temporal`, `gateway`, `turns`, `schedules`,
//!   `declared` (workflows declared by name), `http`, `backup`, `sections` for the small
//!   ones), `secrets`, `validate`, `cron` (the syntax schedules accept), and `instances`: every OpenClaw instance resolved once (gateway, protocol,
//!   tokens, task queue, killswitch) for everything above to read.
//! - Leaves used anywhere: `duration` (the `90s`/`2h` syntax), `secret` (a value that never
//!   prints), `workflow_types` (the registered type names), `payload` (JSON payloads),
//!   `failure` (the catalogue of every failure type and whether it is retried),
//!   `http_response` (bounded response reading), `http_policy` (where `http` steps may go,
//!   and the client that enforces it), `search_attributes` (the custom search attributes
//!   that make runs findable: registered by `server`, checked by `worker`, set by workflows).
//! - `gateway/`: how an agent turn reaches OpenClaw — one small `Gateway` trait, one file per
//!   protocol (`hooks_agent`, `chat_completions`, `cron_fire`, `echo`), the admin RPC, the
//!   turn table (`turns`) and the start-up `preflight`.
//! - `activities/`: the side effects Temporal schedules (`agent_turn`, `weather`,
//!   `http_request`), each a thin adapter that turns errors into typed failures
//!   (`activity_error`).
//! - `workflows/`: deterministic workflow code, one file per workflow; no I/O, no clock.
//!   `workflows/declared/` runs the declared workflows: `plan` compiles and checks a
//!   declaration, `expr` its CEL expressions, `run` interprets it step by step, `slots` gives
//!   each declared name a workflow type of its own.
//! - `schedules/`: declarative schedules — render (`proto`), plan and apply (`reconcile`),
//!   and every call to the server (`remote`).
//! - `openclaw_cron/`: moving OpenClaw cron jobs to schedules — a job and how it moves
//!   (`job`), the declaration that replaces it (`import`), `cutover` and `rollback` (`switch`).
//! - Process machinery: `worker` (polls the queues), `server` (supervises `temporal server
//!   start-dev`), `namespace` (the retention the appliance sets), `temporal_client`
//!   (connecting, TLS), `metrics`, `systemd` (readiness,
//!   watchdog, status), `shutdown` (signals), `logging` (journald or text), `backup`
//!   (online copies of the server's SQLite database, and restoring one).
//! - `commands/`: one file per subcommand — its arguments, output and exit code; `main.rs`
//!   parses the command line, loads the config and dispatches.
//!
//! Outside `src/`: `nix/` holds everything that deploys the binary — the flake's package,
//! module, VM and checks, and, beside them, the systemd units, nginx site and Debian packaging
//! that the Debian package and the NixOS module both install from one copy (the module
//! rewrites paths in them instead of writing units of its own). `tests/` runs the real binary
//! against a real Temporal dev server; `docs/` is the manual.

pub mod activities;
pub mod commands;
pub mod config;
pub mod dev_server;
pub mod duration;
pub mod failure;
pub mod gateway;
pub mod http;
pub mod namespace;
pub mod openclaw_cron;
pub mod payload;
pub mod schedules;
pub mod search_attributes;
pub mod secret;
pub mod service;
pub mod temporal_client;
pub mod worker;
pub mod workflow_types;
pub mod workflows;
