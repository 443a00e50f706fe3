//! `agent_turn`: runs a `[turns.<id>]` turn on OpenClaw, its prompt optionally replaced by a
//! templated `message`. The step's own `timeout` and `retry` override the turn's and the
//! config's (`workflows::options` owns the defaults).

use crate::activities::AgentTurnInput;
use crate::config::StepRetry;
use crate::workflows::declared::expr::Template;
use crate::workflows::declared::plan::{Compiling, PlannedStep};
use crate::workflows::declared::run::{Flow, Run, StepError, activity_failure};
use crate::workflows::options;
use std::time::Duration;

pub(super) const KEYS: &[&str] = &["timeout", "retry", "turn", "instance", "message"];

#[derive(Debug)]
pub struct AgentTurn {
    pub turn: String,
    /// The step's own; else the run input's `instance`, else the workflow's.
    pub instance: Option<String>,
    pub message: Option<Template>,
    pub timeout: Option<Duration>,
    pub retry: Option<StepRetry>,
}

pub(super) fn compile(step: &Compiling) -> Result<AgentTurn, String> {
    let decl = step.decl;
    if decl
        .instance
        .as_deref()
        .is_some_and(|i| i.trim().is_empty())
    {
        return Err(format!(
            "{}: must not be empty (leave it out for the workflow's)",
            step.field("instance")
        ));
    }
    Ok(AgentTurn {
        turn: step.required("turn", &decl.turn)?,
        instance: decl.instance.clone(),
        message: step.template("message", &decl.message)?,
        timeout: step.timeout,
        retry: decl.retry.clone(),
    })
}

pub(super) async fn run(
    run: &Run<'_>,
    step: &PlannedStep,
    turn: &AgentTurn,
) -> Result<(String, Flow), StepError> {
    let id = &step.id;
    let message = run.render(step, "message", turn.message.as_ref())?;
    let instance = turn.instance.as_deref().or(run.instance());
    let summary = match instance {
        Some(instance) => format!("{id}: agent turn {} on {instance}", turn.turn),
        None => format!("{id}: agent turn {}", turn.turn),
    };
    run.activate(id, summary.clone());
    let mut options = options::agent_turn(
        run.settings(),
        &turn.turn,
        turn.timeout,
        turn.retry.as_ref(),
    );
    options.summary = Some(summary);
    let input = AgentTurnInput::with_message(&turn.turn, instance, message);
    let result = run.engine().agent_turn(input, options).await;
    Ok((
        result.map_err(|err| activity_failure(id, err))?,
        Flow::Continue,
    ))
}
