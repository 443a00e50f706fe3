//! `[schedules.<id>]`: what the config declares a schedule to be, checked field by field.
//! `crate::schedules` turns it into the Temporal `Schedule` the server should hold.

use super::cron;
use super::declared::Declared;
use super::schema::DurationText;
use crate::duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// What happens when a run is still going at the next fire time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    #[default]
    Skip,
    BufferOne,
    BufferAll,
    CancelOther,
    TerminateOther,
    AllowAll,
}

/// `[schedules.<id>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Workflow type to start, e.g. `PoetryResearchWorkflow`.
    pub workflow: String,
    /// The workflow's input (any JSON/TOML value); absent means no input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
    /// Workflow id (the server appends the fire time); default: the schedule id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// Default: `temporal.task_queue` (or the instance's queue with
    /// `worker.instance_task_queues`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_queue: Option<String>,
    /// The OpenClaw instance the workflow's agent turns run on (added to the input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Cron expressions (5 fields, month and weekday names, `@daily` & co.); a schedule
    /// needs at least one of them or an `every` interval.
    #[serde(default)]
    pub cron: Vec<String>,
    /// Intervals (`"1h"`), instead of or besides `cron`.
    #[serde(default, with = "durations")]
    #[schemars(with = "Vec<DurationText>")]
    pub every: Vec<Duration>,
    /// Where in each `every` interval the schedule fires, counted from the Unix epoch: `every
    /// = ["1h"]` with `phase = "15m"` fires at :15. An imported OpenClaw job's anchor.
    #[serde(
        default,
        with = "duration::serde_text",
        skip_serializing_if = "Duration::is_zero"
    )]
    #[schemars(with = "DurationText")]
    pub phase: Duration,
    /// IANA name, e.g. `Europe/Berlin`; empty means UTC.
    #[serde(default)]
    pub timezone: String,
    /// What happens when a run is still going at the next fire time.
    #[serde(default)]
    pub overlap: Overlap,
    /// How late a missed fire time (the server was down) may still start a run; at least 10s.
    #[serde(default = "default_catchup_window", with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub catchup_window: Duration,
    /// Each fire time is delayed by a random amount up to this.
    #[serde(default, with = "duration::serde_text")]
    #[schemars(with = "DurationText")]
    pub jitter: Duration,
    /// Pause the schedule when a run it started fails.
    #[serde(default)]
    pub pause_on_failure: bool,
    /// Create or keep the schedule paused.
    #[serde(default)]
    pub paused: bool,
    /// A note for people, shown with the schedule.
    #[serde(default)]
    pub note: String,

    // The deadline (issue 23, item 3).
    /// A declared workflow's deadline for the runs this schedule starts (added to the input
    /// as `$timeout`), replacing the declaration's `timeout`.
    #[serde(
        default,
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<Duration>,
}

/// The server's own default (one year), written out so "unset" compares equal to it.
fn default_catchup_window() -> Duration {
    Duration::from_secs(365 * 24 * 3600)
}

/// `[schedules]`: absent means the reference's one schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Schedules(pub BTreeMap<String, ScheduleConfig>);

impl Default for Schedules {
    fn default() -> Self {
        let daily = ScheduleConfig {
            workflow: "PoetryResearchWorkflow".into(),
            input: None,
            workflow_id: Some("poetry-research".into()),
            task_queue: None,
            instance: None,
            cron: vec!["0 4 * * *".into()],
            every: vec![],
            phase: Duration::ZERO,
            timezone: String::new(),
            overlap: Overlap::Skip,
            catchup_window: default_catchup_window(),
            jitter: Duration::ZERO,
            pause_on_failure: false,
            paused: false,
            note: String::new(),
            timeout: None,
        };
        Schedules(BTreeMap::from([(
            "poetry-research-daily".to_owned(),
            daily,
        )]))
    }
}

impl Schedules {
    /// Every schedule, every field; the first problem names the schedule and the key. A
    /// schedule may start a built-in workflow type or one of `declared`.
    pub fn validate(&self, declared: &Declared) -> Result<(), String> {
        for (id, schedule) in &self.0 {
            schedule
                .validate(declared)
                .map_err(|err| format!("schedules.{id}.{err}"))?;
        }
        Ok(())
    }
}

impl ScheduleConfig {
    fn validate(&self, declared: &Declared) -> Result<(), String> {
        let workflow = self.workflow.as_str();
        if !crate::workflow_types::WORKFLOW_TYPES.contains(&workflow)
            && !declared.contains(workflow)
        {
            let known: Vec<&str> = crate::workflow_types::WORKFLOW_TYPES
                .into_iter()
                .chain(declared.names())
                .collect();
            return Err(format!(
                "workflow: unknown workflow type {:?}: neither built in nor in [declared] \
                 (expected one of {})",
                self.workflow,
                known.join(", ")
            ));
        }
        self.check_input(declared)?;
        if self.cron.is_empty() && self.every.is_empty() {
            return Err(
                "cron: a schedule needs at least one cron expression or `every` interval".into(),
            );
        }
        for expression in &self.cron {
            cron::validate(expression).map_err(|err| format!("cron: {err}"))?;
        }
        if self.every.iter().any(Duration::is_zero) {
            return Err("every: intervals must be longer than 0s".into());
        }
        if !self.phase.is_zero() && !self.every.iter().all(|every| self.phase < *every) {
            return Err(
                "phase: needs `every` intervals, each longer than the phase (it is an offset \
                 within each interval)"
                    .into(),
            );
        }
        validate_timezone(&self.timezone).map_err(|err| format!("timezone: {err}"))?;
        if self.catchup_window < Duration::from_secs(10) {
            return Err("catchup_window: the server's minimum is 10s".into());
        }
        self.validate_timeout(declared)?;
        for (key, value) in [
            ("workflow_id", &self.workflow_id),
            ("task_queue", &self.task_queue),
        ] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(format!("{key}: must not be empty"));
            }
        }
        Ok(())
    }

    /// A declared workflow's `inputs` checked against the input its runs will get (with the
    /// schedule's `instance` in it, as `crate::schedules` sends it): a typo in a schedule's
    /// input fails the build instead of every fire. The error starts with `input.<field>`.
    fn check_input(&self, declared: &Declared) -> Result<(), String> {
        let Some(workflow) = declared
            .0
            .get(&self.workflow)
            .filter(|w| !w.inputs.is_empty())
        else {
            return Ok(());
        };
        let input = self.run_input()?.unwrap_or(serde_json::Value::Null);
        workflow
            .inputs
            .apply(&input)
            .map(drop)
            .map_err(|err| format!("{err} (workflow {:?})", self.workflow))
    }

    /// The input this schedule's runs get: its `input`, with its `instance` in it (as `run
    /// --instance` puts it) and its `timeout` as `$timeout`. `crate::schedules` sends this;
    /// the checks above hold it to the workflow.
    pub fn run_input(&self) -> Result<Option<serde_json::Value>, String> {
        let mut input = self.input.clone();
        if let Some(instance) = &self.instance {
            input = Some(crate::workflow_types::with_instance(
                &self.workflow,
                input,
                instance,
            )?);
        }
        if let Some(timeout) = self.timeout {
            let timeout = duration::format(timeout);
            input = Some(crate::workflow_types::with_timeout(input, &timeout)?);
        }
        Ok(input)
    }

    /// Only a declared workflow has a deadline; the input must take `$timeout`.
    fn validate_timeout(&self, declared: &Declared) -> Result<(), String> {
        let Some(timeout) = self.timeout else {
            return Ok(());
        };
        if !declared.contains(&self.workflow) {
            return Err(format!(
                "timeout: only a declared workflow takes a timeout; {:?} is built in",
                self.workflow
            ));
        }
        // Whole seconds: it goes into the input as text (`duration::format`).
        if timeout < Duration::from_secs(1) {
            return Err("timeout: must be at least 1s".into());
        }
        crate::workflow_types::with_timeout(self.input.clone(), &duration::format(timeout))
            .map(drop)
            .map_err(|err| format!("timeout: {err}"))
    }

    pub fn workflow_id<'a>(&'a self, schedule_id: &'a str) -> &'a str {
        self.workflow_id.as_deref().unwrap_or(schedule_id)
    }

    pub fn task_queue<'a>(&'a self, default: &'a str) -> &'a str {
        self.task_queue.as_deref().unwrap_or(default)
    }
}

/// Checks the name against the tz database where this machine has one; the server checks
/// again either way.
fn validate_timezone(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "UTC" {
        return Ok(());
    }
    let safe =
        !name.starts_with('/') && name.split('/').all(|part| !part.is_empty() && part != "..");
    if !safe {
        return Err(format!("{name:?} is not an IANA time zone name"));
    }
    let dirs: Vec<std::path::PathBuf> = std::env::var_os("TZDIR")
        .map(std::path::PathBuf::from)
        .into_iter()
        .chain(["/usr/share/zoneinfo", "/etc/zoneinfo"].map(Into::into))
        .filter(|dir: &std::path::PathBuf| dir.is_dir())
        .collect();
    if dirs.is_empty() || dirs.iter().any(|dir| Path::new(dir).join(name).is_file()) {
        Ok(())
    } else {
        Err(format!(
            "unknown time zone {name:?} (expected an IANA name like \"Europe/Berlin\")"
        ))
    }
}

mod durations {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(values: &[Duration], serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(values.len()))?;
        for value in values {
            seq.serialize_element(&crate::duration::format(*value))?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Duration>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|text| crate::duration::parse(text).map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedules(text: &str) -> Result<Schedules, String> {
        #[derive(Deserialize)]
        struct Wrapper {
            schedules: Schedules,
        }
        let wrapper: Wrapper = toml::from_str(text).map_err(|e| e.to_string())?;
        wrapper.schedules.validate(&Declared::default())?;
        Ok(wrapper.schedules)
    }

    #[test]
    fn the_default_is_the_reference_schedule() {
        let defaults = Schedules::default();
        let daily = &defaults.0["poetry-research-daily"];
        assert_eq!(daily.cron, ["0 4 * * *"]);
        assert_eq!(
            daily.workflow_id("poetry-research-daily"),
            "poetry-research"
        );
        assert_eq!(daily.task_queue("clawfactory"), "clawfactory");
        assert_eq!(daily.overlap, Overlap::Skip);
        assert_eq!(defaults.validate(&Declared::default()), Ok(()));
    }

    #[test]
    fn errors_name_the_schedule_and_key() {
        for (text, expected) in [
            (
                "[schedules.a]\nworkflow = \"Nope\"\ncron = [\"0 4 * * *\"]\n",
                "schedules.a.workflow: unknown workflow type",
            ),
            (
                "[schedules.b]\nworkflow = \"CustomWorkflow\"\n",
                "schedules.b.cron: a schedule needs",
            ),
            (
                "[schedules.c]\nworkflow = \"CustomWorkflow\"\ncron = [\"0 25 * * *\"]\n",
                "schedules.c.cron: \"0 25 * * *\": hour",
            ),
            (
                "[schedules.d]\nworkflow = \"CustomWorkflow\"\nevery = [\"1h\"]\ntimezone = \"Mars/Olympus\"\n",
                "schedules.d.timezone: unknown time zone",
            ),
            (
                "[schedules.e]\nworkflow = \"CustomWorkflow\"\nevery = [\"0s\"]\n",
                "schedules.e.every: intervals must be longer",
            ),
            (
                "[schedules.g]\nworkflow = \"CustomWorkflow\"\nevery = [\"1h\"]\nphase = \"2h\"\n",
                "schedules.g.phase: needs `every` intervals, each longer",
            ),
            (
                "[schedules.f]\nworkflow = \"CustomWorkflow\"\nevery = [\"1h\"]\noverlap = \"sometimes\"\n",
                "unknown variant `sometimes`",
            ),
        ] {
            let err = schedules(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn a_schedules_input_is_checked_against_its_declared_workflows_inputs() {
        let config = |input: &str| {
            let text = format!(
                "[declared.digest]\nsteps = [{{ id = \"s\", type = \"stop\" }}]\n\
                 inputs = {{ topic = {{ type = \"string\", required = true }}, \
                 depth = {{ type = \"int\", default = 2 }} }}\n\
                 [schedules.daily]\nworkflow = \"digest\"\ncron = [\"0 5 * * *\"]\n\
                 instance = \"default\"\n{input}"
            );
            #[derive(Deserialize)]
            struct Both {
                declared: Declared,
                schedules: Schedules,
            }
            let both: Both = toml::from_str(&text).map_err(|e| e.to_string())?;
            both.schedules.validate(&both.declared)
        };
        config("input = { topic = \"sonnets\" }\n").unwrap();
        for (input, expected) in [
            (
                "",
                "schedules.daily.input.topic: missing (a string is required",
            ),
            (
                "input = { topic = \"x\", depht = 3 }\n",
                "schedules.daily.input.depht: not a declared input (declared: depth, topic;",
            ),
            (
                "input = { topic = \"x\", depth = \"3\" }\n",
                "schedules.daily.input.depth: expected an int, found a string (\"3\")",
            ),
        ] {
            let err = config(input).unwrap_err();
            assert!(err.starts_with(expected), "{input}: {err}");
            assert!(err.ends_with("(workflow \"digest\")"), "{err}");
        }
    }
}
