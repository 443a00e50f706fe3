//! `resolve_declared_workflow`: the first command of every declared run, a local activity
//! that answers "which definition does this run follow?" from the worker's current config,
//! checked against it (turns exist, instances configured).
//!
//! Why an activity for a lookup with no I/O: its answer is recorded in the run's history (a
//! marker event). A replay — after a worker restart, or on another worker, possibly after
//! `nixos-rebuild switch` edited the declaration — reads the recorded definition instead of
//! the current one, so a run keeps the definition it started with, however long it waits.
//! It sits here rather than in `activities/` because it is part of how declared workflows
//! run, not a side effect, and it needs the workflow-side checks.

use super::config_checks::{Facts, secrets_named};
use super::plan::Plan;
use crate::config::{Declared, DeclaredWorkflow};
use crate::failure::{self, FailureType};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Which definition a run asks for: a declared one by name, or (a `CustomWorkflow` in the
/// declared form) one it brings, to be checked against the config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResolveRequest {
    pub workflow: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition: Option<DeclaredWorkflow>,
}

/// The definition the run follows from now on, as recorded in its history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Resolved {
    pub name: String,
    pub definition: DeclaredWorkflow,
}

pub struct DeclaredActivities {
    declared: Declared,
    facts: Facts,
}

impl DeclaredActivities {
    pub fn new(declared: Declared, facts: Facts) -> Self {
        Self { declared, facts }
    }

    /// The answer, as a plain function for tests and `check-config`.
    pub fn answer(&self, request: ResolveRequest) -> Result<Resolved, (FailureType, String)> {
        let brought = request.definition.is_some();
        let definition = match request.definition {
            Some(definition) => definition,
            None => self
                .declared
                .0
                .get(&request.workflow)
                .cloned()
                .ok_or_else(|| {
                    let known: Vec<&str> = self.declared.names().collect();
                    (
                        FailureType::WorkflowNotDeclared,
                        format!(
                            "no [declared.{}] in this worker's config (declared: {known:?})",
                            request.workflow
                        ),
                    )
                })?,
        };
        let plan = Plan::compile(&request.workflow, &definition)
            .map_err(|err| (FailureType::InvalidDefinition, err))?;
        // Whoever may start a workflow may send a definition; only the operator's config may
        // send the worker's secrets somewhere.
        if brought && let Some((path, header, secret)) = secrets_named(&plan).into_iter().next() {
            return Err((
                FailureType::InvalidDefinition,
                format!(
                    "{path}.headers.{header}: reads secrets.{secret}; only a workflow declared in \
                     the worker's config ([declared.<name>]) may use [secrets], not a definition \
                     sent with a run's input"
                ),
            ));
        }
        self.facts
            .check(&plan)
            .map_err(|err| (FailureType::InvalidDefinition, err))?;
        Ok(Resolved {
            name: request.workflow,
            definition,
        })
    }
}

#[activities]
impl DeclaredActivities {
    /// Input: `{"workflow": name}` or `{"workflow": name, "definition": {...}}`.
    #[activity(name = "resolve_declared_workflow")]
    pub async fn resolve_declared_workflow(
        self: Arc<Self>,
        _ctx: ActivityContext,
        request: ResolveRequest,
    ) -> Result<Resolved, ActivityError> {
        self.answer(request).map_err(|(failure_type, message)| {
            ActivityError::application(failure::application(failure_type, message, true, None))
        })
    }
}
