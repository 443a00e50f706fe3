//! Typed Temporal application failures, built one way for workflows and activities alike.

use std::time::Duration;
use temporalio_sdk::ApplicationFailure;

/// A plain message as an error source (the SDK wants a `std::error::Error`).
#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

/// A failure with a type name (shown in the UI, matchable in retry policies).
pub fn application(
    failure_type: &str,
    message: impl Into<String>,
    non_retryable: bool,
    next_retry_delay: Option<Duration>,
) -> ApplicationFailure {
    ApplicationFailure::builder(Message(message.into()))
        .type_name(failure_type.to_owned())
        .non_retryable(non_retryable)
        .maybe_next_retry_delay(next_retry_delay)
        .build()
}
