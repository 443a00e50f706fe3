//! Moving OpenClaw cron jobs to Temporal schedules: `list` says how each job would move,
//! `import` writes the `[turns]` and `[schedules]` that replace them, `cutover` disables the
//! jobs whose schedules are live and fire at their times, `rollback` undoes that.
//!
//! OpenClaw is read and changed through its admin RPC (`cron.list`, `cron.get`,
//! `cron.update`), Temporal through `schedules`. The config's imported turns and schedules are
//! the record of what a job was at import; the job's description, of what cutover did.

mod import;
mod job;
mod switch;

pub use import::{Format, Imported, ids, import, render, require_selection};
pub use job::{HOUSEKEEPING, Job, NOTE_PREFIX, Verdict, marked, unmarked};
pub use switch::{Outcome, Switch};

use crate::config::GatewayApi;
use crate::gateway::AdminRpc;
use anyhow::Result;

/// Every cron job of the gateway, enabled or not, sorted by name then id.
pub async fn jobs(rpc: &AdminRpc) -> Result<Vec<Job>> {
    let mut jobs: Vec<Job> = rpc
        .cron_jobs_all()
        .await
        .map_err(gateway_error)?
        .into_iter()
        .map(Job)
        .collect();
    jobs.sort_by(|a, b| (a.name(), a.id()).cmp(&(b.name(), b.id())));
    Ok(jobs)
}

/// One line per job: name, id, schedule, agent, enabled, and how it would move.
pub fn list_lines(jobs: &[Job], api: GatewayApi) -> Vec<String> {
    let ids = ids(jobs);
    jobs.iter()
        .map(|job| {
            let housekeeping = if job.is_housekeeping() {
                "  (OpenClaw's own: import --all leaves it out)"
            } else {
                ""
            };
            format!(
                "{:?}  {}  [{}]  agent={}  enabled={}  as {}  {}{housekeeping}",
                job.name(),
                job.id(),
                job.schedule_text(),
                job.agent(),
                job.enabled(),
                ids[job.id()],
                job.verdict(api),
            )
        })
        .collect()
}

/// The gateway's error as the command reports it; when trying again could work (no
/// connection, 5xx), with what to check.
pub fn gateway_error(err: crate::gateway::GatewayError) -> anyhow::Error {
    match err {
        crate::gateway::GatewayError::Retryable { message, .. } => anyhow::anyhow!(
            "{message}: is OpenClaw running there, and is that the instance's url (gateway.url)?"
        ),
        other => anyhow::anyhow!("{}", other.message()),
    }
}
