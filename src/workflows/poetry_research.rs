//! `PoetryResearchWorkflow`: execute turn → durable settle → synthesize turn.

use super::failures::{check_instance, fail};
use super::findable;
use super::own_token::with_own_token;
use super::{WorkflowSettings, options};
use crate::activities::{Activities, AgentTurnInput};
use crate::config::TurnConfig;
use crate::duration;
use crate::failure::FailureType;
use crate::payload::json_value;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use temporalio_common::data_converters::RawValue;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, TimerOptions, TimerResult, WorkflowContext, WorkflowContextView,
    WorkflowResult, WorkflowTermination,
};

pub const EXECUTE_TURN: &str = "poetry-research-execute";
pub const SYNTHESIZE_TURN: &str = "poetry-research-synthesize";
pub const RESULT: &str = "Poetry research workflow completed";

/// The two turns' prompts when neither `[turns.<id>]` nor an OpenClaw cron job defines them.
pub fn builtin_turns() -> Vec<(String, TurnConfig)> {
    [
        (
            EXECUTE_TURN,
            "Research today's poetry topic: find three recent poems or essays worth reading, \
             note for each the author, where it appeared and one line on why it matters, and \
             save your notes to the research log.",
        ),
        (
            SYNTHESIZE_TURN,
            "Read the poetry research notes gathered earlier today and synthesize them into a \
             short digest: the common thread, the strongest piece, and one question to explore \
             tomorrow.",
        ),
    ]
    .into_iter()
    .map(|(id, message)| (id.to_owned(), TurnConfig::with_message(message)))
    .collect()
}

/// Optional input: `{"settle": "90s"}` overrides the configured wait for one run;
/// `{"instance": "name"}` runs both turns on that OpenClaw instance.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoetryInput {
    pub settle: Option<String>,
    pub instance: Option<String>,
}

/// A run's input, checked.
#[derive(Debug, Default, PartialEq)]
pub struct PoetryRun {
    pub settle: Option<Duration>,
    pub instance: Option<String>,
}

impl PoetryInput {
    /// Decodes and checks the input; errors name the field.
    pub fn parse(raw: &RawValue) -> Result<PoetryRun, String> {
        let Some(value) = json_value(raw)? else {
            return Ok(PoetryRun::default());
        };
        let input: PoetryInput = serde_json::from_value(value).map_err(|err| {
            format!(
                "PoetryResearchWorkflow input: expected null or {{\"settle\": \"90s\", \"instance\": \"name\"}}: {err}"
            )
        })?;
        let settle = input
            .settle
            .map(|text| duration::parse(&text).map_err(|err| format!("settle: {err}")))
            .transpose()?;
        check_instance(input.instance.as_deref())?;
        Ok(PoetryRun {
            settle,
            instance: input.instance,
        })
    }

    /// The settle duration this input asks for, if any.
    pub fn settle(raw: &RawValue) -> Result<Option<Duration>, String> {
        Self::parse(raw).map(|run| run.settle)
    }
}

#[workflow]
pub struct PoetryResearchWorkflow {
    settings: Arc<WorkflowSettings>,
    phase: String,
}

impl PoetryResearchWorkflow {
    pub fn new(settings: Arc<WorkflowSettings>) -> Self {
        Self {
            settings,
            phase: "starting".into(),
        }
    }
}

#[workflow_methods(factory_only)]
impl PoetryResearchWorkflow {
    #[run(name = "PoetryResearchWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>, input: RawValue) -> WorkflowResult<String> {
        let settings = ctx.state(|s| s.settings.clone());
        let run = match PoetryInput::parse(&input) {
            Ok(run) => run,
            Err(message) => return Err(fail(FailureType::InvalidInput, message)),
        };
        let settle = run.settle.unwrap_or(settings.poetry_settle);
        let instance = run.instance.as_deref();
        let findable = findable::decide(ctx, &settings);
        if findable {
            findable::start(ctx, "PoetryResearchWorkflow");
        }
        agent_turn(
            ctx,
            findable,
            "executing",
            AgentTurnInput::new(EXECUTE_TURN, instance),
            &options::agent_turn(&settings, EXECUTE_TURN, None, None),
        )
        .await?;

        if !settle.is_zero() {
            set_phase(ctx, settling_phase(ctx, settle));
            let timer = TimerOptions::builder(settle).build();
            let token = ctx.cancellation_token();
            if let TimerResult::Cancelled = with_own_token(&token, timer, |o| ctx.timer(o)).await {
                return Err(WorkflowTermination::cancelled());
            }
        }

        let synthesize = options::agent_turn(&settings, SYNTHESIZE_TURN, None, None);
        let turn = AgentTurnInput::new(SYNTHESIZE_TURN, instance);
        agent_turn(ctx, findable, "synthesizing", turn, &synthesize).await?;

        set_phase(ctx, "done".into());
        Ok(RESULT.to_owned())
    }

    /// Where the run is: `executing`, `settling until <RFC 3339 time>`, `synthesizing`, `done`,
    /// or `failed while <phase>`.
    #[query]
    pub fn phase(&self, _ctx: &WorkflowContextView) -> String {
        self.phase.clone()
    }
}

/// Runs one agent turn under `phase` (listed in `ClawTurns` first if the run is `findable`);
/// a failure leaves `failed while <phase>` for the query.
async fn agent_turn(
    ctx: &mut WorkflowContext<PoetryResearchWorkflow>,
    findable: bool,
    phase: &str,
    turn: AgentTurnInput,
    options: &ActivityOptions,
) -> WorkflowResult<String> {
    set_phase(ctx, phase.to_owned());
    if findable {
        let settings = ctx.state(|s| s.settings.clone());
        let instance = turn.instance().unwrap_or(&settings.default_instance);
        findable::add_turn(ctx, turn.turn(), instance);
    }
    let token = ctx.cancellation_token();
    let result = with_own_token(&token, options.clone(), |options| {
        ctx.execute_activity(Activities::trigger_agent_turn, turn, options)
    })
    .await;
    if result.is_err() {
        set_phase(ctx, format!("failed while {phase}"));
    }
    Ok(result?)
}

fn set_phase(ctx: &mut WorkflowContext<PoetryResearchWorkflow>, phase: String) {
    ctx.state_mut(|s| s.phase = phase);
}

/// Uses workflow time (replay-safe), never the wall clock.
fn settling_phase(ctx: &WorkflowContext<PoetryResearchWorkflow>, settle: Duration) -> String {
    match ctx.workflow_time() {
        Some(now) => format!(
            "settling until {}",
            humantime::format_rfc3339_seconds(now + settle)
        ),
        None => format!("settling for {}", duration::format(settle)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::json_payload;

    fn raw(value: serde_json::Value) -> RawValue {
        RawValue {
            payloads: vec![json_payload(&value)],
        }
    }

    #[test]
    fn settle_override_and_defaults() {
        assert_eq!(
            PoetryInput::settle(&RawValue { payloads: vec![] }),
            Ok(None)
        );
        assert_eq!(PoetryInput::settle(&raw(serde_json::Value::Null)), Ok(None));
        assert_eq!(PoetryInput::settle(&raw(serde_json::json!({}))), Ok(None));
        assert_eq!(
            PoetryInput::settle(&raw(serde_json::json!({"settle": "90s"}))),
            Ok(Some(Duration::from_secs(90)))
        );
    }

    #[test]
    fn bad_input_names_the_problem() {
        let err = PoetryInput::settle(&raw(serde_json::json!({"settle": "soon"}))).unwrap_err();
        assert!(err.starts_with("settle: "), "{err}");
        let err = PoetryInput::settle(&raw(serde_json::json!({"setle": "1s"}))).unwrap_err();
        assert!(err.contains("setle"), "{err}");
        let err = PoetryInput::settle(&raw(serde_json::json!("1s"))).unwrap_err();
        assert!(err.contains("PoetryResearchWorkflow input"), "{err}");
    }
}
