//! `WeatherCheckWorkflow(location)`: one `check_weather` activity, its summary as the result.

use super::failures::fail;
use super::options;
use super::own_token::with_own_token;
use crate::activities::Activities;
use crate::failure::FailureType;
use crate::payload::json_value;
use temporalio_common::data_converters::RawValue;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

/// The location the input names; the error says what was expected.
pub fn location(input: &RawValue) -> Result<String, String> {
    match json_value(input)? {
        Some(serde_json::Value::String(location)) if !location.trim().is_empty() => Ok(location),
        _ => {
            Err("WeatherCheckWorkflow input: expected a location string, e.g. \"Paris\"".to_owned())
        }
    }
}

#[workflow]
#[derive(Default)]
pub struct WeatherCheckWorkflow;

#[workflow_methods]
impl WeatherCheckWorkflow {
    #[run(name = "WeatherCheckWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: RawValue) -> WorkflowResult<String> {
        let location =
            location(&input).map_err(|message| fail(FailureType::InvalidInput, message))?;
        let token = ctx.cancellation_token();
        let summary = with_own_token(&token, options::weather(), |options| {
            ctx.execute_activity(Activities::check_weather, location, options)
        })
        .await?;
        Ok(summary)
    }
}
