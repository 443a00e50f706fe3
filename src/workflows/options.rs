//! Activity options per step kind, as the reference sets them.

use super::WorkflowSettings;
use std::time::Duration;
use temporalio_common::RetryPolicy;
use temporalio_sdk::ActivityOptions;

/// Agent turns: start-to-close from the turn's own timeout, else config (reference: 10 min);
/// retry from config (reference: 30 s → 5 min, 3 attempts); a worker that dies mid-turn is
/// noticed within the heartbeat timeout, not only at start-to-close.
pub fn agent_turn(settings: &WorkflowSettings, turn_id: &str) -> ActivityOptions {
    let retry = &settings.agent_turn_retry;
    let start_to_close = settings
        .turn_timeouts
        .get(turn_id)
        .copied()
        .unwrap_or(settings.agent_turn_timeout);
    ActivityOptions::with_start_to_close_timeout(start_to_close)
        .heartbeat_timeout(settings.agent_turn_heartbeat_timeout)
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(retry.initial_interval)
                .maximum_interval(retry.maximum_interval)
                .maximum_attempts(retry.maximum_attempts)
                .build(),
        )
        .build()
}

/// Weather: 30 s start-to-close; retry from 5 s, 3 attempts.
pub fn weather() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .retry_policy(quick_retry())
        .build()
}

/// HTTP steps: the request's own timeout plus 10 s; retry from 5 s, 3 attempts.
pub fn http(request_timeout: Duration) -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(request_timeout + Duration::from_secs(10))
        .retry_policy(quick_retry())
        .build()
}

fn quick_retry() -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_secs(5))
        .maximum_attempts(3)
        .build()
}
