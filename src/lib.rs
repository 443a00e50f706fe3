//! clawfactory-temporal: ClawFactory's OpenClaw agent jobs as durable Temporal workflows.
//!
//! Where things live:
//! - `workflows`: deterministic workflow code (no I/O); `activities`: the side effects;
//! - `gateway`: one module per OpenClaw gateway protocol behind one small interface;
//! - `config`: the TOML file, env overrides and secrets;
//! - `worker`, `server`, `dev`, `start`: the subcommands' machinery;
//! - `systemd`, `shutdown`, `logging`: process glue.

pub mod activities;
pub mod config;
pub mod dev;
pub mod duration;
pub mod failure;
pub mod gateway;
pub mod http_response;
pub mod logging;
pub mod metrics;
pub mod schedules;
pub mod secret;
pub mod server;
pub mod shutdown;
pub mod start;
pub mod systemd;
pub mod temporal_client;
pub mod worker;
pub mod workflows;
