//! clawfactory-temporal: ClawFactory's OpenClaw agent jobs as durable Temporal workflows.
//!
//! It replaces ClawFactory's Python Temporal worker and schedule script — "the reference" in
//! these docs — keeping its task queue, workflow and activity names, inputs, results and
//! environment variables, so existing starters keep working.
//!
//! # Layout
//!
//! The layers, bottom up: each module uses only modules listed before it, and after each
//! name, in parentheses, are the ones it does use (outside its tests). The unit test in
//! `layers.rs` holds the code to this list. Only what the binary (`main.rs`) and the tests
//! use is `pub` here; `failure`, `gateway`, `http`, `secret`, `worker` and `workflow_types`
//! are private to the crate, so rustc reports any of their items nobody uses.
//!
//! - Leaves, using no other module of the crate: `duration` (the `90s`/`2h` syntax), `secret`
//!   (a value that never prints), `workflow_types` (the registered type names), `payload`
//!   (JSON payloads), `failure` (the catalogue of every failure type and whether it is
//!   retried), `search_attributes` (the custom search attributes that make runs findable:
//!   registered by the dev server's supervisor, checked by `worker`, set by workflows),
//!   `http/` (`response`: bounded reading and classifying of answers; `policy`: where `http`
//!   steps may go, and the client that enforces it), `service/` (what a long-lived process
//!   needs: `systemd` readiness, watchdog and status, `shutdown` signals, `logging` to journald
//!   or text, Prometheus `metrics`).
//! - `config/` (`duration`, `secret`, `workflow_types`, `http`): the TOML file, environment
//!   overrides and secrets; reads and validates, nothing else. One file per section
//!   (`temporal`, `gateway`, `turns`, `schedules`, `declared` (workflows declared by name),
//!   `http`, `backup`, `sections` for the small ones), `inputs` (a declared workflow's typed
//!   inputs and the check of a run's input against them), `secrets`, `step_secrets`
//!   (`[secrets]`, what `http` steps' headers may send), `validate`, `cron` (the syntax
//!   schedules accept), `schema` (the JSON Schema of the file, for editors), and `instances`:
//!   every OpenClaw instance resolved once (gateway, protocol, tokens, task queue,
//!   killswitch) for everything above to read.
//! - `temporal_client` (`config`, `secret`): connecting to Temporal, TLS. `namespace`
//!   (`duration`): the retention the appliance sets.
//! - `gateway/` (`config`, `duration`, `failure`, `http`, `secret`): how an agent turn reaches
//!   OpenClaw — one small `Gateway` trait, one file per protocol (`hooks_agent`,
//!   `chat_completions`, `cron_fire`, `echo`), the admin RPC, what the gateway's error answers
//!   mean (`error_answers`), which run a turn id stands for (`turn_resolver`) and the start-up
//!   `preflight`.
//! - `activities/` (`config`, `gateway`, `failure`, `http`, `service`'s metrics): the side
//!   effects Temporal schedules (`agent_turn`, `weather`, `http_request` with its
//!   `http_headers` and their secrets, `lock`: asking and releasing a `concurrency` key's lock
//!   through Temporal's client), each a thin adapter that turns errors into typed failures
//!   (`activity_error`).
//! - `workflows/` (`activities`' input types and stubs, `config`, `duration`, `failure`,
//!   `payload`, `search_attributes`, `workflow_types`): deterministic workflow code, one file
//!   per workflow; no I/O, no clock. `failures` is how a workflow refuses its input, `options`
//!   every activity's timeouts and retries (built-in and declared). `workflows/declared/`
//!   runs the declared workflows: `plan/` compiles and checks a declaration (with `deadline`:
//!   the `timeout` and the longest a run can take), `expr` its CEL expressions, `steps/`
//!   holds one file per step kind (its keys, compile and run: `agent_turn`, `http`, `delay`,
//!   `parallel`, `sequence`, `approval`, `stop`, `for_each`), `config_checks` checks it against
//!   the rest of the config, `resolve` records the definition a run follows, `run/` interprets
//!   it step by step (`deadline` races the steps against the run's timeout, `iteration` runs a
//!   for_each's items; `tests/` drives it with a scripted engine, no server), `slots` gives
//!   each declared name a workflow type of its own. `workflows/lock/` is the lock of a
//!   declared `concurrency` key, a workflow per key around a pure `state`.
//! - `schedules/` (`config`, `duration`, `payload`, `temporal_client`):
//!   declarative schedules — render (`proto`), plan and apply (`reconcile`), and every call to
//!   the server (`remote`).
//! - `resume/` (`temporal_client`): resuming a failed run from the step that failed it —
//!   where it resumes, read from its history (`point`), and the reset (`remote`).
//! - `openclaw_cron/` (`config`, `duration`, `gateway`, `schedules`): moving OpenClaw cron jobs
//!   to schedules — a job and how it moves (`job`), the declaration that replaces it
//!   (`import`), `cutover` and `rollback` (`switch`).
//! - The two processes: `worker` (`activities`, `config`, `gateway`, `http`,
//!   `search_attributes`, `service`, `temporal_client`, `workflows`) polls the queues;
//!   `dev_server/` (`config`, `duration`, `namespace`, `search_attributes`, `service`,
//!   `temporal_client`) runs the local Temporal dev server: `supervisor` starts `temporal
//!   server start-dev`, waits for it and stops it, `backup` takes online copies of its SQLite
//!   database and restores one.
//! - `commands/` (any of the above): one file per subcommand — its arguments, output and exit
//!   code; `main.rs` parses the command line, loads the config and dispatches.
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
mod failure;
mod gateway;
mod http;
#[cfg(test)]
mod layers;
pub mod namespace;
pub mod openclaw_cron;
pub mod payload;
pub mod resume;
pub mod schedules;
pub mod search_attributes;
mod secret;
pub mod service;
pub mod temporal_client;
mod worker;
mod workflow_types;
pub mod workflows;
