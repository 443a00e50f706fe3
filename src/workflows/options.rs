//! Activity options per step kind, as the reference sets them. Built-in workflows and
//! declared steps both take theirs from here; a declared step's own `timeout` and `retry`
//! are overrides passed in, so the defaults are written once.

use super::WorkflowSettings;
use crate::config::StepRetry;
use std::time::Duration;
use temporalio_common::RetryPolicy;
use temporalio_sdk::ActivityOptions;

/// Agent turns: start-to-close from the step's `timeout`, else the turn's own, else config
/// (reference: 10 min); retry from config (reference: 30 s → 5 min, 3 attempts), each key
/// replaced by the step's `retry` where it sets one; a worker that dies mid-turn is noticed
/// within the heartbeat timeout, not only at start-to-close.
pub fn agent_turn(
    settings: &WorkflowSettings,
    turn_id: &str,
    timeout: Option<Duration>,
    retry: Option<&StepRetry>,
) -> ActivityOptions {
    let defaults = &settings.agent_turn_retry;
    let retry = retry.cloned().unwrap_or_default();
    let start_to_close = timeout
        .or_else(|| settings.turn_timeouts.get(turn_id).copied())
        .unwrap_or(settings.agent_turn_timeout);
    ActivityOptions::with_start_to_close_timeout(start_to_close)
        .heartbeat_timeout(settings.agent_turn_heartbeat_timeout)
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(retry.initial_interval.unwrap_or(defaults.initial_interval))
                .maximum_interval(retry.maximum_interval.unwrap_or(defaults.maximum_interval))
                .maximum_attempts(retry.maximum_attempts.unwrap_or(defaults.maximum_attempts))
                .build(),
        )
        .build()
}

/// Weather: 30 s start-to-close; retry from 5 s, 3 attempts.
pub fn weather() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(quick_retry(None))
        .build()
}

/// HTTP steps: the request's own timeout plus 10 s; retry from 5 s, 3 attempts, each
/// replaced by the step's `retry` where it sets one.
pub fn http(request_timeout: Duration, retry: Option<&StepRetry>) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(request_timeout + Duration::from_secs(10))
        .retry_policy(quick_retry(retry))
        .build()
}

/// From 5 s, 3 attempts, no maximum interval (the server's default), unless overridden.
fn quick_retry(retry: Option<&StepRetry>) -> RetryPolicy {
    let retry = retry.cloned().unwrap_or_default();
    RetryPolicy::builder()
        .initial_interval(retry.initial_interval.unwrap_or(Duration::from_secs(5)))
        .maybe_maximum_interval(retry.maximum_interval)
        .maximum_attempts(retry.maximum_attempts.unwrap_or(3))
        .build()
}

/// The lock's requests (`concurrency`): Temporal calls, quick; retried from 1 s up to 10 s
/// apart for about three minutes, since a run cannot go on without its answer.
pub fn lock(summary: String) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(1))
                .maximum_interval(Duration::from_secs(10))
                .maximum_attempts(20)
                .build(),
        )
        .summary(summary)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use temporalio_common::ActivityCloseTimeouts;

    fn start_to_close(options: &ActivityOptions) -> Duration {
        match options.close_timeouts {
            ActivityCloseTimeouts::StartToClose(duration) => duration,
            other => panic!("expected start-to-close, got {other:?}"),
        }
    }

    fn policy(initial: u64, maximum: Option<u64>, attempts: u32) -> Option<RetryPolicy> {
        Some(
            RetryPolicy::builder()
                .initial_interval(Duration::from_secs(initial))
                .maybe_maximum_interval(maximum.map(Duration::from_secs))
                .maximum_attempts(attempts)
                .build(),
        )
    }

    #[test]
    fn an_agent_turn_without_overrides_takes_the_configured_timeout_and_retry() {
        let settings = WorkflowSettings::from_config(&Config::default());
        let options = agent_turn(&settings, "no-such-turn", None, None);
        assert_eq!(start_to_close(&options), Duration::from_secs(600));
        assert_eq!(options.heartbeat_timeout, Some(Duration::from_secs(15)));
        assert_eq!(options.retry_policy, policy(30, Some(300), 3));
        assert_eq!(options.summary, None);
    }

    #[test]
    fn a_step_overrides_only_the_retry_keys_it_sets_and_its_timeout_wins() {
        let settings = WorkflowSettings::from_config(&Config::default());
        let retry = StepRetry {
            maximum_attempts: Some(7),
            ..StepRetry::default()
        };
        let options = agent_turn(&settings, "x", Some(Duration::from_secs(42)), Some(&retry));
        assert_eq!(start_to_close(&options), Duration::from_secs(42));
        assert_eq!(options.retry_policy, policy(30, Some(300), 7));

        let retry = StepRetry {
            initial_interval: Some(Duration::from_secs(1)),
            maximum_interval: Some(Duration::from_secs(2)),
            maximum_attempts: None,
        };
        let options = http(Duration::from_secs(30), Some(&retry));
        assert_eq!(start_to_close(&options), Duration::from_secs(40));
        assert_eq!(options.retry_policy, policy(1, Some(2), 3));
    }

    #[test]
    fn an_http_call_without_overrides_gets_ten_seconds_more_and_three_attempts_from_five_seconds() {
        let options = http(Duration::from_millis(1500), None);
        assert_eq!(start_to_close(&options), Duration::from_millis(11_500));
        assert_eq!(options.retry_policy, policy(5, None, 3));
        assert_eq!(options.heartbeat_timeout, None);
    }
}
