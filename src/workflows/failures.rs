//! How a workflow refuses what it was given: a typed, non-retryable failure, so a bad input
//! or definition ends the run at once instead of wedging its first task.

use crate::failure::FailureType;
use temporalio_sdk::WorkflowTermination;

/// A non-retryable workflow failure with a type a caller can match on.
pub fn fail(failure_type: FailureType, message: impl Into<String>) -> WorkflowTermination {
    crate::failure::application(failure_type, message, true, None).into()
}

/// An instance named in a workflow input: absent means the default; present must be a name.
pub fn check_instance(instance: Option<&str>) -> Result<(), String> {
    if instance.is_some_and(|name| name.trim().is_empty()) {
        return Err("instance: must not be empty (leave it out for the default)".into());
    }
    Ok(())
}
