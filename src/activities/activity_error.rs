//! Turning our errors into Temporal activity failures with a type name a person can read
//! in the UI and a retry decision the server honours.

use crate::failure;
use crate::failure::FailureType;
use crate::gateway::GatewayError;
use std::time::Duration;
use temporalio_sdk::activities::ActivityError;

pub fn non_retryable(failure_type: FailureType, message: impl Into<String>) -> ActivityError {
    ActivityError::application(failure::application(failure_type, message, true, None))
}

pub fn retryable(
    failure_type: FailureType,
    message: impl Into<String>,
    next_retry_delay: Option<Duration>,
) -> ActivityError {
    ActivityError::application(failure::application(
        failure_type,
        message,
        false,
        next_retry_delay,
    ))
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
            GatewayError::RunFailed { message } => {
                retryable(FailureType::AgentRunFailed, message, None)
            }
        }
    }
}
