//! `[declared.<name>]`: workflows written in the config instead of in Rust — steps with ids,
//! conditions, error handling, parallel branches and approvals.
//!
//! This file holds only what the TOML says and the checks that need nothing but the text
//! (names, ids present, durations). Everything that needs workflow code — expressions compile,
//! steps read only earlier steps, turns exist, the run fits in Temporal's history — lives in
//! `crate::workflows::declared`, which `check-config` and the worker run on top of this
//! (config/ must not depend on workflow code). The same types read a `CustomWorkflow`
//! definition in the declared form, so both paths share one model and one set of checks.
//!
//! Steps are one flat table with a `type`, not one Rust type per kind: TOML and JSON writers
//! see every key in one place, and the workflow-side compiler reports a key that does not
//! apply to a step's type by name instead of serde's "data did not match any variant".

use super::inputs::Inputs;
use super::schema::DurationText;
use crate::duration;
use crate::workflow_types::{LOCK_WORKFLOW_TYPE, MAX_DECLARED, WORKFLOW_TYPES};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every step type, as written in `type`: the JSON Schema offers them, and the workflow-side
/// compiler knows each (its `every_step_type_has_its_keys_and_no_other_type_does` test).
pub const STEP_TYPES: [&str; 8] = [
    "agent_turn",
    "http",
    "delay",
    "parallel",
    "sequence",
    "approval",
    "stop",
    "for_each",
];

/// `[declared.<name>]`: one workflow, started by its name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclaredWorkflow {
    /// One line for people: what this workflow is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The OpenClaw instance its agent turns run on, unless a step or the run's input names
    /// another. Unset: the default instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// What runs, in order.
    pub steps: Vec<StepDecl>,
    /// What runs when the workflow fails (to notify, or to clean up), before the failure is
    /// reported with its original type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_failure: Vec<StepDecl>,
    // Typed inputs (tracker issue 23, item 6).
    /// The run input it takes, by field: type, required, default, enum. Unset: any input,
    /// unchecked. See docs/declared-workflows.md, "Inputs".
    #[serde(default, skip_serializing_if = "Inputs::is_empty")]
    pub inputs: Inputs,

    // The deadline (issue 23, item 3).
    /// How long the steps may take in all; then the run is cancelled step by step, its
    /// `on_failure` runs and it fails with `DeadlineExceeded`. A run's input key `$timeout`
    /// (or its schedule's `timeout`) replaces it. Unset: no deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,

    // One run at a time per key (issue 23, item 4).
    /// How many runs may hold the lock of a key at once, and what a run does when they are
    /// busy. Runs of any declared workflow whose key evaluates to the same text share the
    /// lock. Unset: runs never wait for each other. See docs/declared-workflows.md, "One run
    /// at a time".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Concurrency>,
}

/// `concurrency = { key = "'digest'", limit = 1, when_busy = "queue" }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Concurrency {
    /// A CEL expression over `input` giving the lock's name, e.g. `"'digest'"` or
    /// `"input.topic"`.
    pub key: String,
    /// How many runs may hold it at once (default 1, at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub limit: Option<u32>,
    /// What a run does when `limit` runs hold the lock: `queue` (default: wait its turn, in
    /// order), `skip` (end at once as `skipped`) or `cancel_other` (cancel the holders and
    /// go first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_busy: Option<WhenBusy>,
}

/// What a run does when the lock of its key is taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WhenBusy {
    #[default]
    Queue,
    Skip,
    CancelOther,
}

/// One step as written. Which keys apply depends on `type`; the workflow-side compiler
/// rejects a key that does not apply, naming it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDecl {
    /// Unique within the workflow; expressions read the step as `steps.<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `agent_turn`, `http`, `delay`, `parallel`, `sequence`, `approval`, `stop` or
    /// `for_each`.
    #[serde(rename = "type")]
    #[schemars(with = "super::schema::StepType")]
    pub kind: String,
    /// A CEL expression; false means the step is skipped (and recorded as skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// A failure of this step is recorded and the workflow goes on.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub continue_on_error: bool,
    /// How long the step may take: an agent turn's or HTTP call's start-to-close, an
    /// approval's wait. A duration (`"90s"`) or, as the reference's http steps, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timeout>,
    /// Overrides the retry policy of an agent turn or HTTP call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<StepRetry>,
    /// agent_turn: the `[turns.<id>]` to run (`agent_id` in the reference's definitions).
    #[serde(default, alias = "agent_id", skip_serializing_if = "Option::is_none")]
    pub turn: Option<String>,
    /// agent_turn: the OpenClaw instance (default: the workflow's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// agent_turn: replaces the turn's prompt; `{{ expression }}` parts are filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// delay: how long to wait (`"2h"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DurationText>")]
    pub duration: Option<String>,
    /// http: the URL to call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// http: the method (default GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// http: the request body; `{{ expression }}` parts are filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// parallel: the branches, all started at once; sequence: the steps, in order;
    /// for_each: the steps run, in order, for each item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepDecl>,
    /// approval: what the person is asked; `{{ expression }}` parts are filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// approval: `reject` (default), `approve` or `fail` when nobody decides in time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_timeout: Option<String>,
    /// approval: `stop` (default), `fail` or `continue` when rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_reject: Option<String>,
    /// stop: the reason, kept in the result; `{{ expression }}` parts are filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,

    // Headers and secrets in http steps.
    /// http: request headers by name. `{{ expression }}` parts are filled in;
    /// `{{ secrets.<name> }}` (alone in its braces) is filled in by the worker from
    /// `[secrets.<name>]` as the request is sent, so the value never enters the run's history.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    // --- for_each (tracker issue 23): `steps` run once per item of a list ---
    /// for_each: a CEL expression giving the list, e.g. `"steps.research.json.topics"`;
    /// its steps read the item as `item` and its position as `index`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
    /// for_each: the longest list a run may meet (required, 1 to 10000): the build counts
    /// the history a run could need with it, and a longer list fails the step
    /// (`TooManyItems`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_items: Option<u32>,
    /// for_each: how many items run at once (default 1, at most max_items and 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub concurrency: Option<u32>,
}

/// A step's timeout: a duration as text, or a number of seconds (the reference's http steps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Timeout {
    /// A number of seconds, e.g. `30` or `0.5`.
    Seconds(f64),
    #[schemars(with = "DurationText")]
    Text(String),
}

impl Timeout {
    /// The duration it stands for; the error says what was expected.
    pub fn duration(&self) -> Result<Duration, String> {
        let duration = match self {
            Timeout::Seconds(seconds) if seconds.is_finite() && *seconds > 0.0 => {
                Duration::try_from_secs_f64(*seconds).map_err(|err| err.to_string())?
            }
            Timeout::Seconds(seconds) => {
                return Err(format!(
                    "expected a positive number of seconds, got {seconds}"
                ));
            }
            Timeout::Text(text) => duration::parse(text)?,
        };
        if duration.is_zero() {
            return Err("must be longer than 0s".into());
        }
        Ok(duration)
    }
}

/// A step's retry policy; a key left out keeps the default for the step's kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRetry {
    /// The wait before the first retry.
    #[serde(
        default,
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationText>")]
    pub initial_interval: Option<Duration>,
    /// The longest wait between two attempts.
    #[serde(
        default,
        with = "duration::serde_text_opt",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<DurationText>")]
    pub maximum_interval: Option<Duration>,
    /// Attempts in all, the first included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_attempts: Option<u32>,
}

/// `[declared]`: every declared workflow by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
#[schemars(extend("propertyNames" = { "pattern": "^[A-Za-z0-9._-]{1,200}$" }))]
pub struct Declared(pub BTreeMap<String, DeclaredWorkflow>);

impl Declared {
    /// The checks that need only the text; the first problem names the workflow and key.
    pub fn validate(&self) -> Result<(), String> {
        if self.0.len() > MAX_DECLARED {
            return Err(format!(
                "declared: {} workflows declared; this worker registers at most {MAX_DECLARED}",
                self.0.len()
            ));
        }
        for (name, workflow) in &self.0 {
            check_name(name).map_err(|err| format!("declared.{name:?}: {err}"))?;
            if workflow.steps.is_empty() {
                return Err(format!(
                    "declared.{name}.steps: a workflow needs at least one step"
                ));
            }
            workflow
                .inputs
                .validate()
                .map_err(|err| format!("declared.{name}.inputs.{err}"))?;
        }
        Ok(())
    }

    /// Whether a workflow of this name is declared.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// A declared workflow's name is its Temporal workflow type: the UI, the `temporal` CLI and
/// schedules start it by this name, so it must be plain and must not shadow a built-in type.
pub fn check_name(name: &str) -> Result<(), String> {
    let plain = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plain {
        return Err(
            "a workflow name may use only letters, digits, '-', '_' and '.' (it is the workflow \
             type people start)"
                .into(),
        );
    }
    if WORKFLOW_TYPES.contains(&name) || name == LOCK_WORKFLOW_TYPE {
        return Err(format!(
            "{name:?} is a built-in workflow type; choose another name"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(text: &str) -> Result<Declared, String> {
        #[derive(Deserialize)]
        struct Wrapper {
            declared: Declared,
        }
        let wrapper: Wrapper = toml::from_str(text).map_err(|e| e.to_string())?;
        wrapper.declared.validate()?;
        Ok(wrapper.declared)
    }

    #[test]
    fn steps_nest_as_arrays_of_tables() {
        let d = declared(
            r#"
[declared.digest]
description = "research, then two things at once"

[[declared.digest.steps]]
id = "research"
type = "agent_turn"
turn = "poetry-research-execute"

[[declared.digest.steps]]
id = "both"
type = "parallel"

  [[declared.digest.steps.steps]]
  id = "synthesize"
  type = "agent_turn"
  agent_id = "poetry-research-synthesize"

  [[declared.digest.steps.steps]]
  id = "notify"
  type = "http"
  url = "http://127.0.0.1:9/notify"
  timeout = 5
"#,
        )
        .unwrap();
        let digest = &d.0["digest"];
        assert_eq!(digest.steps.len(), 2);
        let branches = &digest.steps[1].steps;
        assert_eq!(
            branches[0].turn.as_deref(),
            Some("poetry-research-synthesize")
        );
        assert_eq!(
            branches[1].timeout.as_ref().unwrap().duration(),
            Ok(Duration::from_secs(5))
        );
    }

    #[test]
    fn errors_name_the_workflow_and_key() {
        for (text, expected) in [
            (
                "[declared.\"a b\"]\nsteps = [{type = \"stop\"}]\n",
                "declared.\"a b\": a workflow name may use only",
            ),
            (
                "[declared.CustomWorkflow]\nsteps = [{type = \"stop\"}]\n",
                "is a built-in workflow type",
            ),
            (
                "[declared.x]\nsteps = []\n",
                "declared.x.steps: a workflow needs",
            ),
            (
                "[declared.x]\nsteps = [{type = \"stop\", colour = 1}]\n",
                "unknown field `colour`",
            ),
        ] {
            let err = declared(text).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn timeouts_take_text_or_seconds() {
        assert_eq!(
            Timeout::Text("2m".into()).duration(),
            Ok(Duration::from_secs(120))
        );
        assert_eq!(
            Timeout::Seconds(0.5).duration(),
            Ok(Duration::from_millis(500))
        );
        assert!(Timeout::Seconds(-1.0).duration().is_err());
        assert!(Timeout::Text("0s".into()).duration().is_err());
        assert!(Timeout::Seconds(f64::MAX).duration().is_err());
    }
}
