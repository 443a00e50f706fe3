//! One file per subcommand: its arguments (clap), what it prints, and its exit code. The
//! machinery they share lives beside `commands/`: `worker`, `dev_server` (the supervisor and
//! the backups), `schedules`.

pub mod approve;
pub mod backup;
pub mod check_config;
pub mod dev;
pub mod openclaw_cron;
pub mod restore;
pub mod resume;
pub mod run;
pub mod schedules;
pub mod server;
pub mod worker;
