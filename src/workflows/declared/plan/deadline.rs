//! What a run's deadline needs from the plan: the declaration's `timeout`, the history
//! events a deadline may add, and the longest a run can take — which `check-config` holds
//! against the interval of a schedule that skips a fire while the last run is open.

use super::{Plan, PlannedStep, TIMER_EVENTS};
use crate::config::DeclaredWorkflow;
use crate::workflows::WorkflowSettings;
use crate::workflows::declared::steps::Kind;
use crate::workflows::options;
use std::time::Duration;
use temporalio_common::ActivityCloseTimeouts;
use temporalio_sdk::ActivityOptions;

/// The patch marker (`clawfactory-declared-deadline`) and the SDK's `TemporalChangeVersion`
/// upsert, then the timer. Each activity in flight when it fires adds a cancel request.
pub const DEADLINE_EVENTS: u64 = 2 + TIMER_EVENTS;

/// The declaration's `timeout`, checked.
pub(super) fn compile_timeout(
    root: &str,
    workflow: &DeclaredWorkflow,
) -> Result<Option<Duration>, String> {
    workflow
        .timeout
        .as_ref()
        .map(|timeout| {
            timeout
                .duration()
                .map_err(|err| format!("{root}.timeout: {err}"))
        })
        .transpose()
}

impl Plan {
    /// The events a deadline can add to a run's history: counted for every plan, since a
    /// run's input (`$timeout`) can give any run one.
    pub(super) fn deadline_events(&self) -> u64 {
        DEADLINE_EVENTS + self.steps.iter().map(in_flight).max().unwrap_or(0)
    }

    /// The longest a run can take: its main steps, cut at `timeout` (the deadline that
    /// applies: the plan's own, or one that replaces it), then `on_failure`. Each activity
    /// counts every attempt at its start-to-close and the backoffs between them; a delay
    /// and an approval their whole wait; a parallel step its longest branch. Not counted:
    /// time an activity waits for a free worker, which no config bounds.
    pub fn longest_run(&self, settings: &WorkflowSettings, timeout: Option<Duration>) -> Duration {
        let main = sequence(&self.steps, settings);
        let main = timeout.map_or(main, |timeout| main.min(timeout));
        main.saturating_add(sequence(&self.on_failure, settings))
    }
}

/// Activities that can be in flight at once: all of a parallel step's branches together.
fn in_flight(step: &PlannedStep) -> u64 {
    match &step.kind {
        Kind::AgentTurn(_) | Kind::Http(_) => 1,
        Kind::Parallel(branches) => branches.iter().map(in_flight).sum(),
        Kind::Sequence(steps) => steps.iter().map(in_flight).max().unwrap_or(0),
        Kind::Delay(_) | Kind::Approval(_) | Kind::Stop(_) => 0,
        Kind::ForEach(for_each) => {
            let per_item = for_each.body.iter().map(in_flight).max().unwrap_or(0);
            u64::from(for_each.concurrency) * per_item
        }
    }
}

fn sequence(steps: &[PlannedStep], settings: &WorkflowSettings) -> Duration {
    steps
        .iter()
        .map(|step| longest(step, settings))
        .fold(Duration::ZERO, Duration::saturating_add)
}

fn longest(step: &PlannedStep, settings: &WorkflowSettings) -> Duration {
    match &step.kind {
        Kind::AgentTurn(turn) => activity(&options::agent_turn(
            settings,
            &turn.turn,
            turn.timeout,
            turn.retry.as_ref(),
        )),
        Kind::Http(http) => activity(&options::http(http.timeout, http.retry.as_ref())),
        Kind::Delay(delay) => delay.duration,
        Kind::Approval(approval) => approval.timeout,
        Kind::Stop(_) => Duration::ZERO,
        Kind::Sequence(steps) => sequence(steps, settings),
        Kind::Parallel(branches) => branches
            .iter()
            .map(|branch| longest(branch, settings))
            .max()
            .unwrap_or_default(),
        // At worst every lane runs its share of the longest list, one item after another.
        Kind::ForEach(for_each) => {
            let rounds = for_each.max_items.div_ceil(for_each.concurrency.max(1));
            sequence(&for_each.body, settings).saturating_mul(rounds)
        }
    }
}

/// Every attempt at its start-to-close, and the backoffs between them: the first retry
/// after `initial_interval`, each next one `backoff_coefficient` (2.0) times longer, at most
/// `maximum_interval` (the server's default: 100 × the initial interval).
fn activity(options: &ActivityOptions) -> Duration {
    // `options` sets start-to-close only; the others bound the whole activity themselves.
    let attempt = match options.close_timeouts {
        ActivityCloseTimeouts::StartToClose(duration) => duration,
        ActivityCloseTimeouts::ScheduleToClose(duration) => return duration,
        ActivityCloseTimeouts::ScheduleAndStartToClose {
            schedule_to_close, ..
        } => return schedule_to_close,
        _ => unreachable!("workflows::options sets start-to-close"),
    };
    let Some(policy) = &options.retry_policy else {
        return attempt;
    };
    let attempts = policy.maximum_attempts().max(1);
    let initial = policy.initial_interval();
    let maximum = policy
        .maximum_interval()
        .unwrap_or(initial.saturating_mul(100));
    let mut total = attempt;
    let mut wait = initial;
    for _ in 1..attempts {
        total = total
            .saturating_add(wait.min(maximum))
            .saturating_add(attempt);
        wait = wait.mul_f64(policy.backoff_coefficient()).min(maximum);
    }
    total
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::workflows::WorkflowSettings;
    use crate::workflows::declared::plan::Plan;
    use std::time::Duration;

    fn compile(toml: &str) -> Plan {
        let config = Config::parse(toml).unwrap();
        let (name, workflow) = config.declared.0.iter().next().unwrap();
        Plan::compile(name, workflow).unwrap()
    }

    fn settings() -> WorkflowSettings {
        WorkflowSettings::from_config(&Config::default())
    }

    const H: u64 = 3600;

    #[test]
    fn steps_in_sequence_add_up_and_a_parallel_step_takes_its_longest_branch() {
        let plan = compile(
            r#"
[[declared.l.steps]]
id = "wait"
type = "delay"
duration = "2h"
[[declared.l.steps]]
id = "both"
type = "parallel"
  [[declared.l.steps.steps]]
  id = "short"
  type = "delay"
  duration = "1h"
  [[declared.l.steps.steps]]
  id = "ok"
  type = "approval"
  timeout = "5h"
[[declared.l.steps]]
id = "done"
type = "stop"
"#,
        );
        assert_eq!(
            plan.longest_run(&settings(), None),
            Duration::from_secs(7 * H)
        );
    }

    #[test]
    fn an_activity_counts_every_attempt_and_the_doubling_backoffs_between_them() {
        // The default: 3 attempts of the request's timeout + 10 s, 5 s and 10 s between them.
        let plan = compile(
            r#"
[[declared.a.steps]]
id = "call"
type = "http"
url = "https://example.org/"
timeout = 1
"#,
        );
        assert_eq!(
            plan.longest_run(&settings(), None),
            Duration::from_secs(3 * 11 + 5 + 10)
        );
        // 4 attempts of 10 s, and 10 s + 20 s + 30 s (40 s, capped) of backoff.
        let plan = compile(
            r#"
[[declared.a.steps]]
id = "turn"
type = "agent_turn"
turn = "x"
timeout = "10s"
retry = { initial_interval = "10s", maximum_interval = "30s", maximum_attempts = 4 }
"#,
        );
        assert_eq!(
            plan.longest_run(&settings(), None),
            Duration::from_secs(4 * 10 + 10 + 20 + 30)
        );
    }

    #[test]
    fn the_timeout_cuts_the_main_steps_but_not_on_failure() {
        let plan = compile(
            r#"
[declared.t]
timeout = "1h"
[[declared.t.steps]]
id = "ok"
type = "approval"
timeout = "24h"
[[declared.t.on_failure]]
id = "pause"
type = "delay"
duration = "10m"
"#,
        );
        assert_eq!(plan.timeout, Some(Duration::from_secs(H)));
        let settings = settings();
        assert_eq!(
            plan.longest_run(&settings, plan.timeout),
            Duration::from_secs(H + 600)
        );
        assert_eq!(
            plan.longest_run(&settings, None),
            Duration::from_secs(24 * H + 600)
        );
        // A longer deadline than the steps can take changes nothing.
        assert_eq!(
            plan.longest_run(&settings, Some(Duration::from_secs(48 * H))),
            Duration::from_secs(24 * H + 600)
        );
    }

    #[test]
    fn a_bad_timeout_names_the_workflow_and_key() {
        let config = Config::parse(
            "[declared.t]\ntimeout = \"soon\"\n[[declared.t.steps]]\nid = \"a\"\ntype = \"stop\"\n",
        )
        .unwrap();
        let err = Plan::compile("t", &config.declared.0["t"]).unwrap_err();
        assert!(err.starts_with("declared.t.timeout: "), "{err}");
    }
}
