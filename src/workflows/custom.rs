//! `CustomWorkflow(definition_json)`: a user-defined sequence of agent turns, delays and
//! HTTP calls. The definition is validated whole before the first step runs.

use super::definition::{Definition, Step};
use super::input::fail;
use super::{WorkflowSettings, options, python_json};
use crate::activities::{Activities, AgentTurnInput};
use crate::failure::FailureType;
use serde::Serialize;
use std::sync::Arc;
use temporalio_common::data_converters::RawValue;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{TimerResult, WorkflowContext, WorkflowResult, WorkflowTermination};

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
}

impl CustomWorkflow {
    pub fn new(settings: Arc<WorkflowSettings>) -> Self {
        Self { settings }
    }
}

#[workflow_methods(factory_only)]
impl CustomWorkflow {
    #[run(name = "CustomWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: RawValue) -> WorkflowResult<String> {
        let definition = Definition::from_raw(&input).map_err(|message| {
            fail(
                FailureType::InvalidDefinition,
                format!("CustomWorkflow: {message}"),
            )
        })?;
        let settings = ctx.state(|s| s.settings.clone());
        let mut results = Vec::with_capacity(definition.steps.len());
        for (index, step) in definition.steps.iter().enumerate() {
            results.push(run_step(ctx, &settings, index, step).await?);
        }
        Ok(python_json::dumps(&Summary {
            name: definition.name,
            steps_completed: results.len(),
            results,
        }))
    }
}

async fn run_step(
    ctx: &mut WorkflowContext<CustomWorkflow>,
    settings: &WorkflowSettings,
    step: usize,
    definition: &Step,
) -> WorkflowResult<StepResult> {
    let entry = |kind, result, duration| StepResult {
        step,
        kind,
        result,
        duration,
    };
    match definition {
        Step::AgentTurn { agent_id, instance } => {
            let result = ctx
                .execute_activity(
                    Activities::trigger_agent_turn,
                    AgentTurnInput::new(agent_id, instance.as_deref()),
                    options::agent_turn(settings, agent_id),
                )
                .await?;
            Ok(entry("agent_turn", Some(result), None))
        }
        Step::Delay { text, duration } => {
            if !duration.is_zero()
                && let TimerResult::Cancelled = ctx.timer(*duration).await
            {
                return Err(WorkflowTermination::cancelled());
            }
            Ok(entry("delay", None, Some(text.clone())))
        }
        Step::Http { params } => {
            let params_json = serde_json::to_string(params).expect("params serialize");
            let body = ctx
                .execute_activity(
                    Activities::http_request,
                    params_json,
                    options::http(params.timeout()),
                )
                .await?;
            let excerpt = body.chars().take(HTTP_RESULT_CHARS).collect();
            Ok(entry("http", Some(excerpt), None))
        }
    }
}
