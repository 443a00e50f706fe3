//! `check-config`'s warning for a schedule that skips: with `overlap = "skip"` (the default),
//! a fire that finds the last run still open starts nothing. A declared workflow whose run
//! can outlast the time between two fires — an approval nobody answers, a day's wait — then
//! silently halves the schedule's cadence. A warning, not an error: the long case may be
//! rare and accepted; the operator decides.

use super::Plan;
use super::run::input_timeout;
use crate::config::{Config, Overlap, ScheduleConfig, cron};
use crate::workflows::WorkflowSettings;
use std::time::Duration;

/// One line per schedule at risk, naming it, the workflow, both durations and the fixes.
pub fn overlap_warnings(config: &Config) -> Vec<String> {
    let settings = WorkflowSettings::from_config(config);
    let mut warnings = Vec::new();
    for (id, schedule) in &config.schedules.0 {
        if schedule.overlap != Overlap::Skip {
            continue;
        }
        let workflow = &schedule.workflow;
        let Some(declaration) = config.declared.0.get(workflow) else {
            continue;
        };
        let (Ok(plan), Some(interval)) = (Plan::compile(workflow, declaration), interval(schedule))
        else {
            continue;
        };
        // The deadline its runs get: the schedule's, else its input's, else the declaration's.
        let input_timeout = schedule
            .input
            .as_ref()
            .and_then(|input| input_timeout(input).ok().flatten());
        let timeout = schedule.timeout.or(input_timeout).or(plan.timeout);
        let longest = plan.longest_run(&settings, timeout);
        // Equal is too long: the run starts a moment after its fire, so it is still open
        // at the next.
        if longest >= interval {
            warnings.push(format!(
                "schedules.{id}: a run of declared workflow {workflow:?} can take up to {} (its \
                 steps' timeouts, retries and waits{}), not less than the {} between this \
                 schedule's fires; with overlap = \"skip\" a fire that finds the last run still \
                 open starts nothing. Set a timeout shorter than {} on [declared.{workflow}] or \
                 on this schedule, or overlap = \"buffer_one\" or \"allow_all\"",
                humantime::format_duration(longest),
                if timeout.is_some() {
                    ", within its timeout, then on_failure"
                } else {
                    ""
                },
                humantime::format_duration(interval),
                humantime::format_duration(interval),
            ));
        }
    }
    warnings
}

/// The shortest time between two fires of one of its cron expressions or `every` intervals.
fn interval(schedule: &ScheduleConfig) -> Option<Duration> {
    let crons = schedule.cron.iter().filter_map(|c| cron::shortest_gap(c));
    schedule.every.iter().copied().chain(crons).min()
}

#[cfg(test)]
mod tests {
    use super::overlap_warnings;
    use crate::config::Config;

    const DIGEST: &str = r#"
[declared.digest]
TIMEOUT
[[declared.digest.steps]]
id = "approve"
type = "approval"
timeout = "24h"

[schedules.daily]
workflow = "digest"
cron = ["0 5 * * *"]
OVERLAP
"#;

    fn warnings(timeout: &str, overlap: &str) -> Vec<String> {
        let text = DIGEST
            .replace("TIMEOUT", timeout)
            .replace("OVERLAP", overlap);
        overlap_warnings(&Config::parse(&text).unwrap())
    }

    #[test]
    fn a_skipping_schedule_of_a_run_that_can_outlast_its_interval_is_named_with_the_fix() {
        let [warning] = warnings("", "").try_into().unwrap();
        assert!(
            warning.starts_with(
                "schedules.daily: a run of declared workflow \"digest\" can take up to 1day"
            ) && warning.contains("not less than the 1day between")
                && warning.contains("Set a timeout shorter than 1day on [declared.digest]")
                && warning.contains("overlap = \"buffer_one\""),
            "{warning}"
        );
    }

    #[test]
    fn a_timeout_below_the_interval_or_another_overlap_policy_silences_it() {
        assert!(warnings("timeout = \"23h\"", "").is_empty());
        assert!(warnings("", "overlap = \"buffer_one\"").is_empty());
        assert!(warnings("", "timeout = \"23h\"").is_empty());
        assert!(warnings("", "input = { \"$timeout\" = \"20h\" }").is_empty());
        // A deadline as long as the interval or longer does not help.
        assert_eq!(warnings("timeout = \"25h\"", "").len(), 1);
    }

    #[test]
    fn the_worked_example_of_the_manual_keeps_its_daily_cadence() {
        let manual = include_str!("../../../docs/declared-workflows.md");
        let start = manual.find("```toml\n[turns.poetry-publish]").unwrap() + "```toml\n".len();
        let example = &manual[start..start + manual[start..].find("```").unwrap()];
        let config = Config::parse(example).unwrap();
        assert!(config.schedules.0.contains_key("research-digest-daily"));
        assert_eq!(overlap_warnings(&config), Vec::<String>::new());
        // Its first version, without a timeout and with a day's approval, did not.
        let unbounded = example
            .replace("timeout = \"23h\"", "")
            .replace("timeout = \"20h\"", "timeout = \"24h\"");
        assert_eq!(
            overlap_warnings(&Config::parse(&unbounded).unwrap()).len(),
            1
        );
    }
}
