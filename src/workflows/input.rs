//! How a workflow refuses what it was given: a typed, non-retryable failure, so a bad input
//! or definition ends the run at once instead of wedging its first task.

use crate::failure::FailureType;
use temporalio_sdk::WorkflowTermination;

/// A non-retryable workflow failure with a type a caller can match on.
pub fn fail(failure_type: FailureType, message: impl Into<String>) -> WorkflowTermination {
    crate::failure::application(failure_type, message, true, None).into()
}
