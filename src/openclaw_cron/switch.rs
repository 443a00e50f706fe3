//! `cutover` and `rollback`: which side runs a job, switched one job at a time, each checked
//! first and each safe to repeat.
//!
//! Cutover's record is the mark it writes into the job's description in OpenClaw, not a note
//! on the Temporal side: the server refuses memo updates on a schedule, and its notes are
//! rewritten by every pause, unpause and `schedules apply`; the job's description stays with
//! the thing that was changed, survives the Temporal database, and shows whoever looks at the
//! job in OpenClaw why it is disabled and what runs it now.

use super::gateway_error;
use super::job::{Job, NOTE_PREFIX, marked, unmarked};
use crate::config::{Config, GatewayApi, Instances, ScheduleConfig, TurnConfig};
use crate::gateway::AdminRpc;
use crate::schedules;
use anyhow::{Result, bail};
use serde_json::json;
use std::fmt;
use std::fmt::Debug;
use std::time::{Duration, SystemTime};
use temporalio_client::Client;

/// A fire time closer than this to the switch is waited for: disabling a job while
/// OpenClaw's timer fires it leaves unknown which side ran that time.
const GUARD: Duration = Duration::from_secs(10);
/// How far apart two fire times may be and still be one: an every-job's phase is rounded to
/// the second, and the server reports times in whole seconds.
const SLACK: Duration = Duration::from_secs(2);

/// What one job's switch came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done(String),
    Unchanged(String),
    Refused(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Done(text) => write!(f, "> {text}"),
            Outcome::Unchanged(text) => write!(f, "= {text}"),
            Outcome::Refused(text) => write!(f, "! refused: {text}"),
        }
    }
}

/// Everything a switch reads and changes.
pub struct Switch<'a> {
    pub config: &'a Config,
    pub instances: &'a Instances,
    /// The instance whose jobs move, and its protocol.
    pub instance: &'a str,
    pub api: GatewayApi,
    pub rpc: &'a AdminRpc,
    pub client: &'a Client,
    pub dry_run: bool,
}

impl Switch<'_> {
    /// `(schedule id, job id)` of every declared schedule imported from this instance.
    fn imported(&self) -> Vec<(String, String)> {
        let default = &self.config.gateway.instance;
        self.config
            .schedules
            .0
            .iter()
            .filter(|(_, s)| s.instance.as_ref().unwrap_or(default) == self.instance)
            .filter_map(|(id, s)| {
                let job = s.note.strip_prefix(NOTE_PREFIX)?;
                Some((id.clone(), job.to_owned()))
            })
            .collect()
    }

    /// Disables each chosen imported job whose schedule is live and fires at its times.
    pub async fn cutover(&self, wanted: &[String], out: &mut dyn FnMut(&Outcome)) -> Result<()> {
        let imported = self.imported();
        if imported.is_empty() {
            bail!(
                "the config declares no schedule imported from OpenClaw (a note \"{NOTE_PREFIX}<id>\"): \
                 run `openclaw-cron import`, add its output to the config, `schedules apply`, then cut over"
            );
        }
        let jobs = self.jobs().await?;
        let chosen = choose(&imported, &jobs, wanted, "imported")?;
        for (schedule_id, job_id) in chosen {
            let outcome = match jobs.iter().find(|job| job.id() == job_id) {
                Some(job) => self.cutover_one(&schedule_id, job.clone()).await?,
                None => Outcome::Refused(format!(
                    "{schedule_id}: OpenClaw has no job {job_id} any more (see `openclaw-cron list`)"
                )),
            };
            out(&outcome);
        }
        Ok(())
    }

    async fn cutover_one(&self, schedule_id: &str, mut job: Job) -> Result<Outcome> {
        let who = format!("OpenClaw job {:?} ({})", job.name(), job.id());
        match job.migrated() {
            Some(to) if to == schedule_id => {
                return Ok(Outcome::Unchanged(format!(
                    "{schedule_id}: already cut over; {who} is disabled"
                )));
            }
            Some(to) => {
                return Ok(Outcome::Refused(format!(
                    "{schedule_id}: {who} was cut over to schedule {to}"
                )));
            }
            None => {}
        }
        let mut waited = String::new();
        let next = loop {
            if let Err(why) = self.unchanged_since_import(schedule_id, &job) {
                return Ok(Outcome::Refused(format!("{schedule_id}: {who} {why}")));
            }
            let next = match self.fires_alike(schedule_id, &job).await? {
                Ok(next) => next,
                Err(why) => return Ok(Outcome::Refused(format!("{schedule_id}: {why}"))),
            };
            match wait_past(next, self.jitter(schedule_id)).await {
                Some(passed) if waited.is_empty() => {
                    waited = format!(
                        " (waited for fire time {} to pass first: it fell inside the switch)",
                        rfc3339(passed)
                    );
                    job = Job(self.rpc.cron_job(job.id()).await.map_err(gateway_error)?);
                }
                _ => break next,
            }
        };
        if self.dry_run {
            return Ok(Outcome::Done(format!(
                "{schedule_id}: would disable {who}; schedule {schedule_id} fires next at {}{waited}",
                rfc3339(next)
            )));
        }
        let patch = json!({
            "enabled": false,
            "description": marked(job.description(), schedule_id, SystemTime::now()),
        });
        if let Err(err) = self.rpc.cron_update(job.id(), patch, job.revision()).await {
            return Ok(Outcome::Refused(format!(
                "{schedule_id}: {who} was not disabled: {}",
                err.message()
            )));
        }
        Ok(Outcome::Done(format!(
            "{schedule_id}: disabled {who}; Temporal schedule {schedule_id} runs it, next at {}{waited}",
            rfc3339(next)
        )))
    }

    /// Whether the job still is what the config's turn and schedule were imported from;
    /// otherwise which fields differ.
    fn unchanged_since_import(&self, schedule_id: &str, job: &Job) -> Result<(), String> {
        let declared_turn = self.config.turns.0.get(schedule_id).ok_or_else(|| {
            format!("has no [turns.{schedule_id}] in the config: add the whole import")
        })?;
        let declared = &self.config.schedules.0[schedule_id];
        let turn = job
            .turn(self.api)
            .map_err(|why| format!("cannot move any more: {why}"))?;
        let schedule = job
            .schedule(schedule_id, declared.instance.as_deref())
            .map_err(|why| format!("cannot move any more: {why}"))?;
        let changed = turn_differences(&turn, declared_turn)
            .into_iter()
            .chain(schedule_differences(&schedule, declared))
            .collect::<Vec<_>>();
        if changed.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "changed since import ({}): import it again, apply, then cut over",
                changed.join("; ")
            ))
        }
    }

    /// The next fire time, when the server holds the declared schedule, live, and its next fire
    /// time is OpenClaw's; otherwise what is wrong.
    async fn fires_alike(
        &self,
        schedule_id: &str,
        job: &Job,
    ) -> Result<Result<SystemTime, String>> {
        let Some(described) = schedules::describe(self.client, schedule_id).await? else {
            return Ok(Err(format!(
                "schedule {schedule_id} is not on the server: run `clawfactory-temporal schedules apply` first"
            )));
        };
        let actual = described.schedule.clone().unwrap_or_default();
        if actual.state.as_ref().is_some_and(|state| state.paused) {
            return Ok(Err(format!(
                "schedule {schedule_id} is paused: nothing would run the job; set paused = false for it in the config, `schedules apply`, then cut over"
            )));
        }
        let declared = schedules::declared(self.config, self.instances);
        let wanted = schedules::to_proto(
            &declared.0[schedule_id],
            schedule_id,
            &self.config.temporal.task_queue,
        );
        let fields = schedules::differences(&wanted, &actual);
        if !fields.is_empty() {
            return Ok(Err(format!(
                "schedule {schedule_id} on the server differs from the config ({}): run `clawfactory-temporal schedules apply` first",
                fields.join(", ")
            )));
        }
        let temporal: Vec<SystemTime> = described
            .info
            .unwrap_or_default()
            .future_action_times
            .iter()
            .filter_map(|t| SystemTime::try_from(*t).ok())
            .collect();
        let (Some(openclaw), Some(first)) = (job.next_run(), temporal.first()) else {
            return Ok(Err(format!(
                "no next fire time to compare (OpenClaw: {}, Temporal: {})",
                job.next_run().map_or("none".into(), rfc3339),
                temporal.first().copied().map_or("none".into(), rfc3339)
            )));
        };
        if apart(openclaw, *first) > self.jitter(schedule_id) + SLACK {
            let next: Vec<String> = temporal.iter().take(3).copied().map(rfc3339).collect();
            return Ok(Err(format!(
                "the next fire times differ: OpenClaw {}, Temporal {}",
                rfc3339(openclaw),
                next.join(", ")
            )));
        }
        Ok(Ok(openclaw.min(*first)))
    }

    fn jitter(&self, schedule_id: &str) -> Duration {
        self.config
            .schedules
            .0
            .get(schedule_id)
            .map_or(Duration::ZERO, |s| s.jitter)
    }

    async fn jobs(&self) -> Result<Vec<Job>> {
        let jobs = self.rpc.cron_jobs_all().await.map_err(gateway_error)?;
        Ok(jobs.into_iter().map(Job).collect())
    }

    /// Pauses the schedule and re-enables the job of each chosen job cutover disabled. A
    /// job named that cutover did not disable is left as it is, and said so.
    pub async fn rollback(&self, wanted: &[String], out: &mut dyn FnMut(&Outcome)) -> Result<()> {
        let jobs = self.jobs().await?;
        let marked: Vec<(String, String)> = jobs
            .iter()
            .filter_map(|job| Some((job.cut_over_to()?.to_owned(), job.id().to_owned())))
            .collect();
        let (of_marked, others): (Vec<String>, Vec<String>) = wanted
            .iter()
            .cloned()
            .partition(|name| choose(&marked, &jobs, std::slice::from_ref(name), "").is_ok());
        for name in &others {
            if !jobs
                .iter()
                .any(|job| job.id() == name || job.name() == name)
            {
                bail!(
                    "no OpenClaw cron job has the id or name {name:?}: see `clawfactory-temporal openclaw-cron list`"
                );
            }
            out(&Outcome::Unchanged(format!(
                "{name}: not cut over; nothing to roll back"
            )));
        }
        let chosen = if wanted.is_empty() || !of_marked.is_empty() {
            choose(&marked, &jobs, &of_marked, "cut over")?
        } else {
            Vec::new()
        };
        if wanted.is_empty() && chosen.is_empty() {
            out(&Outcome::Unchanged(
                "nothing to roll back: no OpenClaw job carries cutover's mark".into(),
            ));
        }
        for (schedule_id, job_id) in chosen {
            let job = jobs.iter().find(|job| job.id() == job_id).expect("listed");
            let outcome = self.rollback_one(&schedule_id, job).await?;
            out(&outcome);
        }
        Ok(())
    }

    async fn rollback_one(&self, schedule_id: &str, job: &Job) -> Result<Outcome> {
        let who = format!("OpenClaw job {:?} ({})", job.name(), job.id());
        let mut done = Vec::new();
        if let Some(described) = schedules::describe(self.client, schedule_id).await? {
            let schedule = described.schedule.unwrap_or_default();
            if !schedule.state.is_some_and(|state| state.paused) {
                // Let a fire time about to come run in Temporal rather than fall between the two.
                let next = described
                    .info
                    .unwrap_or_default()
                    .future_action_times
                    .first()
                    .and_then(|t| SystemTime::try_from(*t).ok());
                if let Some(next) = next {
                    wait_past(next, self.jitter(schedule_id)).await;
                }
                if !self.dry_run {
                    schedules::act(self.client, schedule_id, schedules::Action::Pause).await?;
                }
                done.push(format!("paused schedule {schedule_id}"));
            }
        }
        if !self.dry_run {
            let patch = json!({"enabled": true, "description": unmarked(job.description())});
            self.rpc
                .cron_update(job.id(), patch, None)
                .await
                .map_err(gateway_error)?;
        }
        done.push(format!("re-enabled {who}"));
        let would = if self.dry_run { "would have " } else { "" };
        Ok(Outcome::Done(format!(
            "{schedule_id}: {would}{}",
            done.join(", ")
        )))
    }
}

/// The `(schedule id, job id)` pairs `wanted` names (by schedule id, job id or job name), or
/// all of them when nothing is named; a name that picks none of them is an error.
fn choose(
    pairs: &[(String, String)],
    jobs: &[Job],
    wanted: &[String],
    what: &str,
) -> Result<Vec<(String, String)>> {
    let name_of = |job_id: &str| {
        jobs.iter()
            .find(|job| job.id() == job_id)
            .map(|job| job.name().to_owned())
    };
    let picks = |name: &String, (schedule_id, job_id): &(String, String)| {
        name == schedule_id || name == job_id || name_of(job_id).as_ref() == Some(name)
    };
    for name in wanted {
        if !pairs.iter().any(|pair| picks(name, pair)) {
            bail!(
                "no {what} job has the id or name {name:?} (schedule id, OpenClaw job id or name; \
                 see `clawfactory-temporal openclaw-cron list`)"
            );
        }
    }
    Ok(pairs
        .iter()
        .filter(|pair| wanted.is_empty() || wanted.iter().any(|name| picks(name, pair)))
        .cloned()
        .collect())
}

/// Waits until `next` has passed when it is within the guard; returns it if it waited.
async fn wait_past(next: SystemTime, jitter: Duration) -> Option<SystemTime> {
    let now = SystemTime::now();
    let until = next + jitter + SLACK;
    if next > now + GUARD || until <= now {
        return None;
    }
    tokio::time::sleep(until.duration_since(now).unwrap_or_default()).await;
    Some(next)
}

fn apart(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap_or_default()
}

fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// `key: OpenClaw <now>, config <imported>` for each field that differs.
fn differ<T: PartialEq + Debug>(key: &str, now: &T, imported: &T, found: &mut Vec<String>) {
    if now != imported {
        found.push(format!("{key}: OpenClaw {now:?}, config {imported:?}"));
    }
}

fn turn_differences(now: &TurnConfig, imported: &TurnConfig) -> Vec<String> {
    let mut found = Vec::new();
    differ("message", &now.message, &imported.message, &mut found);
    differ("agent", &now.agent, &imported.agent, &mut found);
    differ("model", &now.model, &imported.model, &mut found);
    differ("thinking", &now.thinking, &imported.thinking, &mut found);
    differ("timeout", &now.timeout, &imported.timeout, &mut found);
    found
}

fn schedule_differences(now: &ScheduleConfig, imported: &ScheduleConfig) -> Vec<String> {
    let mut found = Vec::new();
    differ("cron", &now.cron, &imported.cron, &mut found);
    differ("every", &now.every, &imported.every, &mut found);
    differ("phase", &now.phase, &imported.phase, &mut found);
    // A job without a zone runs in the gateway host's, which only the declaration can name;
    // the fire-time comparison checks it.
    if !now.timezone.is_empty() {
        differ("timezone", &now.timezone, &imported.timezone, &mut found);
    }
    differ("jitter", &now.jitter, &imported.jitter, &mut found);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_job_names_each_field_that_differs() {
        let imported = TurnConfig::with_message("Old.");
        let now = TurnConfig {
            agent: "writer".into(),
            ..TurnConfig::with_message("New.")
        };
        assert_eq!(
            turn_differences(&now, &imported),
            [
                "message: OpenClaw \"New.\", config \"Old.\"",
                "agent: OpenClaw \"writer\", config \"main\""
            ]
        );
    }

    #[test]
    fn a_zone_set_in_the_declaration_for_a_job_without_one_is_no_change() {
        let imported: ScheduleConfig = serde_json::from_value(json!({
            "workflow": "CustomWorkflow", "cron": ["0 4 * * *"], "timezone": "Europe/Berlin"}))
        .unwrap();
        let without_zone = ScheduleConfig {
            timezone: String::new(),
            ..imported.clone()
        };
        assert!(schedule_differences(&without_zone, &imported).is_empty());
        let elsewhere = ScheduleConfig {
            timezone: "UTC".into(),
            ..imported.clone()
        };
        assert_eq!(
            schedule_differences(&elsewhere, &imported),
            ["timezone: OpenClaw \"UTC\", config \"Europe/Berlin\""]
        );
    }

    #[test]
    fn choosing_by_schedule_id_job_id_or_name_and_refusing_an_unknown_name() {
        let jobs = vec![Job(json!({"id": "j1", "name": "Nightly"}))];
        let pairs = vec![("nightly".to_owned(), "j1".to_owned())];
        for name in ["nightly", "j1", "Nightly"] {
            assert_eq!(choose(&pairs, &jobs, &[name.into()], "x").unwrap(), pairs);
        }
        assert_eq!(choose(&pairs, &jobs, &[], "x").unwrap(), pairs);
        let err = choose(&pairs, &jobs, &["nope".into()], "imported").unwrap_err();
        assert!(err.to_string().contains("no imported job"), "{err}");
    }

    #[tokio::test]
    async fn only_a_fire_time_within_the_guard_is_waited_for() {
        let now = SystemTime::now();
        assert_eq!(
            wait_past(now + Duration::from_secs(3600), Duration::ZERO).await,
            None
        );
        assert_eq!(
            wait_past(now - Duration::from_secs(60), Duration::ZERO).await,
            None
        );
        let soon = now - SLACK + Duration::from_millis(200);
        assert_eq!(wait_past(soon, Duration::ZERO).await, Some(soon));
        assert!(SystemTime::now() >= soon + SLACK);
    }
}
