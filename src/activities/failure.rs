//! Turning our errors into Temporal activity failures with a type name a person can read
//! in the UI and a retry decision the server honours.

use crate::gateway::GatewayError;
use std::time::Duration;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::ActivityError;

/// The killswitch file exists: agent turns are switched off for this instance.
pub const KILLSWITCH_ACTIVE: &str = "KillswitchActive";

#[derive(Debug)]
struct Message(String);

impl std::fmt::Display for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Message {}

pub fn non_retryable(failure_type: &str, message: impl Into<String>) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(Message(message.into()))
            .type_name(failure_type.to_owned())
            .non_retryable(true)
            .build(),
    )
}

pub fn retryable(
    failure_type: &str,
    message: impl Into<String>,
    next_retry_delay: Option<Duration>,
) -> ActivityError {
    ActivityError::application(
        ApplicationFailure::builder(Message(message.into()))
            .type_name(failure_type.to_owned())
            .maybe_next_retry_delay(next_retry_delay)
            .build(),
    )
}

impl From<GatewayError> for ActivityError {
    fn from(err: GatewayError) -> Self {
        match err {
            GatewayError::Retryable {
                failure_type,
                message,
                retry_after,
            } => retryable(failure_type, message, retry_after),
            GatewayError::NonRetryable {
                failure_type,
                message,
            } => non_retryable(failure_type, message),
        }
    }
}
