//! `CustomWorkflow(definition_json)`: a user-defined sequence of agent turns, delays and
//! HTTP calls. The definition is validated whole before the first step runs.
//!
//! Two forms: the reference's (`{"name", "steps": [{"type", "agent_id"}, ...]}`), run here
//! exactly as before and answered with the same JSON text; and the declared form (steps with
//! ids, conditions, parallel steps, approvals — see `declared`), run by the declared
//! interpreter with the same checks as `[declared.<name>]`. The approve/reject signals and
//! the phase query are for the declared form.

use super::declared::{self, ContextEngine, DeclaredState, HasDeclaredState, LockAnswer};
use super::definition::{Definition, Step};
use super::failures::fail;
use super::findable;
use super::own_token::with_own_token;
use super::{WorkflowSettings, options, python_json};
use crate::activities::lock::{GRANTED_SIGNAL, REFUSED_SIGNAL};
use crate::activities::{Activities, AgentTurnInput};
use crate::config::DeclaredWorkflow;
use crate::failure::FailureType;
use crate::payload::json_value;
use serde::Serialize;
use std::sync::Arc;
use temporalio_common::data_converters::RawValue;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    SyncWorkflowContext, TimerOptions, TimerResult, WorkflowContext, WorkflowContextView,
    WorkflowResult, WorkflowTermination,
};

/// The reference keeps the first 500 characters of an HTTP step's result.
const HTTP_RESULT_CHARS: usize = 500;

#[derive(Serialize)]
struct Summary {
    name: String,
    steps_completed: usize,
    results: Vec<StepResult>,
}

/// Field order matters: the reference's JSON text is `{"step", "type", "result"|"duration"}`.
#[derive(Serialize)]
struct StepResult {
    step: usize,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<String>,
}

#[workflow]
pub struct CustomWorkflow {
    settings: Arc<WorkflowSettings>,
    declared: DeclaredState,
}

impl CustomWorkflow {
    pub fn new(settings: Arc<WorkflowSettings>) -> Self {
        Self {
            settings,
            declared: DeclaredState::default(),
        }
    }
}

impl HasDeclaredState for CustomWorkflow {
    fn declared(&self) -> &DeclaredState {
        &self.declared
    }

    fn declared_mut(&mut self) -> &mut DeclaredState {
        &mut self.declared
    }
}

#[workflow_methods(factory_only)]
impl CustomWorkflow {
    #[run(name = "CustomWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: RawValue) -> WorkflowResult<String> {
        let invalid = |message: String| {
            fail(
                FailureType::InvalidDefinition,
                format!("CustomWorkflow: {message}"),
            )
        };
        let value = json_value(&input)
            .and_then(Definition::value)
            .map_err(invalid)?;
        let settings = ctx.state(|s| s.settings.clone());
        if Definition::is_declared_form(&value) {
            let (name, definition, input) = declared_form(value).map_err(invalid)?;
            let engine = ContextEngine::new(ctx.clone());
            return declared::run_definition(&engine, &settings, name, definition, input).await;
        }
        let definition = Definition::from_value(&value).map_err(invalid)?;
        let findable = findable::decide(ctx, &settings);
        if findable {
            findable::start(ctx, &definition.name);
        }
        let mut results = Vec::with_capacity(definition.steps.len());
        for (index, step) in definition.steps.iter().enumerate() {
            results.push(run_step(ctx, &settings, findable, index, step).await?);
        }
        Ok(python_json::dumps(&Summary {
            name: definition.name,
            steps_completed: results.len(),
            results,
        }))
    }

    /// Approves the waiting approval step of a declared-form run (input: nothing, a comment,
    /// or `{"comment", "step"}`).
    #[signal]
    pub fn approve(&mut self, _ctx: &mut SyncWorkflowContext<Self>, input: RawValue) {
        self.declared.receive(true, &input);
    }

    /// Rejects it, the same way.
    #[signal]
    pub fn reject(&mut self, _ctx: &mut SyncWorkflowContext<Self>, input: RawValue) {
        self.declared.receive(false, &input);
    }

    /// The lock of a declared-form run's `concurrency` key is its.
    #[signal(name = GRANTED_SIGNAL)]
    pub fn lock_granted(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _input: RawValue) {
        self.declared.receive_lock(LockAnswer::Granted);
    }

    /// The lock was busy and the run's `when_busy` is `skip`.
    #[signal(name = REFUSED_SIGNAL)]
    pub fn lock_refused(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _input: RawValue) {
        self.declared.receive_lock(LockAnswer::Refused);
    }

    /// What a declared-form run is doing or waiting for.
    #[query]
    pub fn phase(&self, _ctx: &WorkflowContextView) -> String {
        self.declared.phase.clone()
    }
}

/// Splits a declared-form definition into its name (default `unnamed`), the declaration,
/// and the `input` expressions read (default `null`).
fn declared_form(
    value: serde_json::Value,
) -> Result<(String, DeclaredWorkflow, serde_json::Value), String> {
    let serde_json::Value::Object(mut object) = value else {
        return Err("definition: expected a JSON object".into());
    };
    let name = match object.remove("name") {
        None | Some(serde_json::Value::Null) => "unnamed".to_owned(),
        Some(serde_json::Value::String(name)) => name,
        Some(_) => return Err("name: expected a string".into()),
    };
    let input = object.remove("input").unwrap_or(serde_json::Value::Null);
    let definition =
        serde_path_to_error::deserialize(serde_json::Value::Object(object)).map_err(|err| {
            let path = err.path().to_string();
            format!("definition.{path}: {}", err.into_inner())
        })?;
    Ok((name, definition, input))
}

/// Runs step `step`; an agent turn is listed in `ClawTurns` first if the run is `findable`.
async fn run_step(
    ctx: &mut WorkflowContext<CustomWorkflow>,
    settings: &WorkflowSettings,
    findable: bool,
    step: usize,
    definition: &Step,
) -> WorkflowResult<StepResult> {
    let entry = |kind, result, duration| StepResult {
        step,
        kind,
        result,
        duration,
    };
    let token = ctx.cancellation_token();
    match definition {
        Step::AgentTurn { agent_id, instance } => {
            if findable {
                let on = instance.as_deref().unwrap_or(&settings.default_instance);
                findable::add_turn(ctx, agent_id, on);
            }
            let turn = AgentTurnInput::new(agent_id, instance.as_deref());
            let options = options::agent_turn(settings, agent_id, None, None);
            let result = with_own_token(&token, options, |options| {
                ctx.execute_activity(Activities::trigger_agent_turn, turn, options)
            })
            .await?;
            Ok(entry("agent_turn", Some(result), None))
        }
        Step::Delay { text, duration } => {
            let timer = TimerOptions::builder(*duration).build();
            if !duration.is_zero()
                && let TimerResult::Cancelled =
                    with_own_token(&token, timer, |o| ctx.timer(o)).await
            {
                return Err(WorkflowTermination::cancelled());
            }
            Ok(entry("delay", None, Some(text.clone())))
        }
        Step::Http { params } => {
            let params_json = serde_json::to_string(params).expect("params serialize");
            let options = options::http(params.timeout(), None);
            let body = with_own_token(&token, options, |options| {
                ctx.execute_activity(Activities::http_request, params_json, options)
            })
            .await?;
            let excerpt = body.chars().take(HTTP_RESULT_CHARS).collect();
            Ok(entry("http", Some(excerpt), None))
        }
    }
}
