//! How a step ends badly: a failure that `continue_on_error` and `on_failure` handle, or an
//! abort (cancellation) after which nothing may run; and the failure's type and message as
//! `failure.*` and the result show them.

use crate::failure::FailureType;
use crate::workflows::failures::fail;
use temporalio_common::error::ActivityExecutionError;
use temporalio_common::protos::temporal::api::failure::v1::{Failure, failure::FailureInfo};
use temporalio_sdk::WorkflowTermination;

/// How a step ended badly.
pub enum StepError {
    /// A failure that `continue_on_error` and `on_failure` handle.
    Failed(StepFailure),
    /// Cancellation or eviction: nothing more may run.
    Abort(WorkflowTermination),
}

pub struct StepFailure {
    pub failure_type: String,
    pub message: String,
    pub step: String,
    /// What the workflow reports if nothing handles it: the original failure, type and cause.
    pub termination: WorkflowTermination,
}

/// A failure the workflow itself raises (not an activity's), typed and non-retryable.
pub fn workflow_failure(step: &str, failure_type: FailureType, message: String) -> StepFailure {
    StepFailure {
        failure_type: failure_type.name().to_owned(),
        termination: fail(failure_type, message.clone()),
        message,
        step: step.to_owned(),
    }
}

/// An activity's failure, keeping the whole failure to report and its innermost type and
/// message for `failure.*` and the result.
pub fn activity_failure(step: &str, err: ActivityExecutionError) -> StepError {
    if let ActivityExecutionError::Cancelled(_) = err {
        return StepError::Abort(err.into());
    }
    let (failure_type, message) = match err.failure() {
        Some(failure) => innermost(failure),
        None => ("PayloadConversion".to_owned(), err.to_string()),
    };
    StepError::Failed(StepFailure {
        failure_type,
        message,
        step: step.to_owned(),
        termination: err.into(),
    })
}

/// The root cause's type (an application failure's type name, or the kind of failure) and
/// message.
fn innermost(failure: &Failure) -> (String, String) {
    let mut current = failure;
    while let Some(cause) = current.cause.as_deref() {
        current = cause;
    }
    let kind = match &current.failure_info {
        Some(FailureInfo::ApplicationFailureInfo(info)) if !info.r#type.is_empty() => {
            info.r#type.clone()
        }
        Some(FailureInfo::TimeoutFailureInfo(_)) => "Timeout".to_owned(),
        Some(FailureInfo::CanceledFailureInfo(_)) => "Cancelled".to_owned(),
        _ => "Error".to_owned(),
    };
    (kind, current.message.clone())
}
