//! One file per step kind, each holding all of that kind: its compiled form, how it is
//! compiled from a `StepDecl` (the keys it reads and their checks), and how it runs. This
//! file lists the kinds and sends each call to the kind's file.
//!
//! Why by kind rather than a `plan` file and a `run` file: a kind's compile and run change
//! together (a new key is read in one and used in the other), and a newcomer adding a kind
//! should find one file to copy. The shared machinery stays where it was: `plan` (ids, what
//! an expression may read, the keys every step has) and `run` (records, `when`,
//! `continue_on_error`, `on_failure`, the result).
//!
//! Adding a kind: a file here with its `KEYS`, `compile` and `run`; a variant of [`Kind`]
//! and its name in `config::STEP_TYPES` (`every_step_type_has_its_keys...` below holds the
//! two together); an arm in each `match` below (the compiler points at the
//! exhaustive ones); new keys in `config/declared.rs`'s `StepDecl`; its row in
//! `docs/declared-workflows.md`.

mod agent_turn;
mod approval;
mod delay;
mod for_each;
mod http;
mod parallel;
mod sequence;
mod stop;

pub use agent_turn::AgentTurn;
pub use approval::Approval;
pub use delay::Delay;
pub use for_each::ForEach;
pub use http::Http;
pub use stop::Stop;

pub use crate::config::STEP_TYPES;

use super::plan::{ACTIVITY_EVENTS, Compiling, PlannedStep, TIMER_EVENTS, TURN_UPSERT_EVENTS};
use super::run::{Flow, Run, StepError};

/// What a step does, compiled.
#[derive(Debug)]
pub enum Kind {
    AgentTurn(AgentTurn),
    Http(Http),
    Delay(Delay),
    Parallel(Vec<PlannedStep>),
    Sequence(Vec<PlannedStep>),
    Approval(Approval),
    Stop(Stop),
    ForEach(ForEach),
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::AgentTurn(_) => "agent_turn",
            Kind::Http(_) => "http",
            Kind::Delay(_) => "delay",
            Kind::Parallel(_) => "parallel",
            Kind::Sequence(_) => "sequence",
            Kind::Approval(_) => "approval",
            Kind::Stop(_) => "stop",
            Kind::ForEach(_) => "for_each",
        }
    }

    /// The keys a step of type `kind` reads besides `id`, `type`, `when` and
    /// `continue_on_error`; `None` for a type that does not exist.
    pub fn keys(kind: &str) -> Option<&'static [&'static str]> {
        Some(match kind {
            "agent_turn" => agent_turn::KEYS,
            "http" => http::KEYS,
            "delay" => delay::KEYS,
            "parallel" => parallel::KEYS,
            "sequence" => sequence::KEYS,
            "approval" => approval::KEYS,
            "stop" => stop::KEYS,
            "for_each" => for_each::KEYS,
            _ => return None,
        })
    }

    /// The kind-specific part of a step: the type is known and the shared keys are checked.
    pub fn compile(step: &Compiling) -> Result<Kind, String> {
        Ok(match step.decl.kind.as_str() {
            "agent_turn" => Kind::AgentTurn(agent_turn::compile(step)?),
            "http" => Kind::Http(http::compile(step)?),
            "delay" => Kind::Delay(delay::compile(step)?),
            "parallel" => Kind::Parallel(parallel::compile(step)?),
            "sequence" => Kind::Sequence(sequence::compile(step)?),
            "approval" => Kind::Approval(approval::compile(step)?),
            "stop" => Kind::Stop(stop::compile(step)?),
            "for_each" => Kind::ForEach(for_each::compile(step)?),
            other => unreachable!("{other:?} was checked against Kind::keys first"),
        })
    }

    /// The steps it holds (a parallel step's branches, a sequence's or a for_each's steps).
    pub fn nested(&self) -> &[PlannedStep] {
        match self {
            Kind::Parallel(steps) | Kind::Sequence(steps) => steps,
            Kind::ForEach(for_each) => &for_each.body,
            _ => &[],
        }
    }

    /// Whether its nested steps run once per item, each time in a scope of their own.
    pub fn runs_per_item(&self) -> bool {
        matches!(self, Kind::ForEach(_))
    }

    /// An upper bound of the history events a step of this kind records (see
    /// `Plan::history_events`). An approval counts one decision signal; every further signal
    /// sent to the run adds 4 more.
    pub fn history_events(&self) -> u64 {
        match self {
            Kind::AgentTurn(_) => ACTIVITY_EVENTS + TURN_UPSERT_EVENTS,
            Kind::Http(_) => ACTIVITY_EVENTS,
            Kind::Delay(delay) if delay.duration.is_zero() => 0,
            Kind::Delay(_) => TIMER_EVENTS,
            Kind::Approval(_) => TIMER_EVENTS + 4,
            Kind::Stop(_) => 0,
            Kind::Parallel(steps) | Kind::Sequence(steps) => {
                steps.iter().map(|s| s.kind.history_events()).sum()
            }
            Kind::ForEach(for_each) => for_each.history_events(),
        }
    }

    /// The step's own work: its result text and whether the workflow goes on. `when`, the
    /// record and `continue_on_error` are the caller's (`Run::step`).
    pub async fn run(
        &self,
        run: &Run<'_>,
        step: &PlannedStep,
    ) -> Result<(String, Flow), StepError> {
        match self {
            Kind::AgentTurn(turn) => agent_turn::run(run, step, turn).await,
            Kind::Http(http) => http::run(run, step, http).await,
            Kind::Delay(delay) => delay::run(run, step, delay).await,
            Kind::Parallel(branches) => parallel::run(run, branches).await,
            Kind::Sequence(steps) => sequence::run(run, steps).await,
            Kind::Approval(approval) => approval::run(run, step, approval).await,
            Kind::Stop(stop) => stop::run(run, step, stop),
            Kind::ForEach(for_each) => for_each::run(run, step, for_each).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_type_has_its_keys_and_no_other_type_does() {
        for kind in STEP_TYPES {
            assert!(Kind::keys(kind).is_some(), "{kind}");
        }
        assert!(Kind::keys("sleep").is_none());
    }
}
