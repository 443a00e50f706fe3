//! A declaration compiled into what runs: typed steps, compiled expressions, and every check
//! that needs nothing but the declaration — so `check-config` (the NixOS build) and a run's
//! first workflow task reject the same definitions with the same message.
//!
//! Messages name the workflow, the step and the key, as a path into the config:
//! `declared.digest.steps[2] "publish".message: reads steps.later, which runs after this step`.

mod compiler;
mod concurrency;
mod deadline;
mod ids;

pub use compiler::Compiling;
pub use concurrency::PlannedConcurrency;

use super::expr::Expr;
use super::steps::Kind;
use crate::config::{DeclaredWorkflow, Inputs};
use compiler::Compiler;
use ids::{Ids, collect_ids};
use std::collections::BTreeSet;
use std::time::Duration;

/// Temporal terminates a run whose history passes this many events.
pub const HISTORY_EVENT_LIMIT: u64 = 51_200;
/// Steps nest (parallel in sequence in parallel ...) at most this deep.
const MAX_DEPTH: usize = 16;

#[derive(Debug)]
pub struct Plan {
    pub name: String,
    pub instance: Option<String>,
    pub steps: Vec<PlannedStep>,
    pub on_failure: Vec<PlannedStep>,
    /// The declared `inputs`, which a run's input is checked against before its first step.
    pub inputs: Inputs,
    /// The declaration's `timeout`: how long the main steps may take in all.
    pub timeout: Option<Duration>,
    /// The declaration's `concurrency`: the lock a run holds while its steps run.
    pub concurrency: Option<PlannedConcurrency>,
}

/// A step as it runs: the keys every step has, and its kind's own (`steps/<kind>.rs`).
/// Not `workflows::definition::Step`, which is a step of the reference's form.
#[derive(Debug)]
pub struct PlannedStep {
    pub id: String,
    /// Where it is declared (`declared.digest.steps[2] "publish"`), for messages.
    pub path: String,
    pub when: Option<Expr>,
    pub continue_on_error: bool,
    pub kind: Kind,
}

impl Plan {
    /// Compiles and checks a declaration; the error names the workflow, the step and the key.
    pub fn compile(name: &str, workflow: &DeclaredWorkflow) -> Result<Plan, String> {
        let root = format!("declared.{name}");
        if workflow.steps.is_empty() {
            return Err(format!("{root}.steps: a workflow needs at least one step"));
        }
        if let Some(instance) = &workflow.instance
            && instance.trim().is_empty()
        {
            return Err(format!(
                "{root}.instance: must not be empty (leave it out for the default)"
            ));
        }
        workflow
            .inputs
            .validate()
            .map_err(|err| format!("{root}.inputs.{err}"))?;
        let timeout = deadline::compile_timeout(&root, workflow)?;
        let concurrency = concurrency::compile_concurrency(&root, workflow)?;
        let mut ids = Ids::default();
        collect_ids(&format!("{root}.steps"), &workflow.steps, &mut ids, 0, true)?;
        collect_ids(
            &format!("{root}.on_failure"),
            &workflow.on_failure,
            &mut ids,
            0,
            false,
        )?;
        let mut compiler = Compiler {
            ids: &ids,
            inputs: &workflow.inputs,
            in_on_failure: false,
            in_for_each: false,
        };
        let mut done = BTreeSet::new();
        let steps =
            compiler.sequence(&format!("{root}.steps"), &workflow.steps, &mut done, false)?;
        compiler.in_on_failure = true;
        // on_failure runs after any main step may have failed: it may read them all.
        let mut done: BTreeSet<String> = ids.main.iter().cloned().collect();
        let on_failure = compiler.sequence(
            &format!("{root}.on_failure"),
            &workflow.on_failure,
            &mut done,
            false,
        )?;
        let plan = Plan {
            name: name.to_owned(),
            instance: workflow.instance.clone(),
            steps,
            on_failure,
            inputs: workflow.inputs.clone(),
            timeout,
            concurrency,
        };
        let events = plan.history_events();
        if events > HISTORY_EVENT_LIMIT {
            return Err(format!(
                "{root}.steps: a run could need up to {events} history events, and Temporal \
                 terminates a run past {HISTORY_EVENT_LIMIT} events (its history limit); split \
                 the workflow or shorten it"
            ));
        }
        Ok(plan)
    }

    /// Every step id recorded in the run's result, in declaration order: main steps first,
    /// nested steps after their parent (a for_each's steps are in its own result instead).
    pub fn ids(&self) -> Vec<(&str, &'static str)> {
        let mut out = Vec::new();
        for step in self.steps.iter().chain(&self.on_failure) {
            step.visit_recorded(&mut |s| out.push((s.id.as_str(), s.kind.name())));
        }
        out
    }

    /// An upper bound of the events a run records: start, the definition's marker, the end,
    /// each step's (see [`Kind::history_events`]) and a deadline's. Activity retries add
    /// none: the server records only an activity's last attempt.
    pub fn history_events(&self) -> u64 {
        let steps: u64 = self
            .steps
            .iter()
            .chain(&self.on_failure)
            .map(|step| step.kind.history_events())
            .sum();
        RUN_EVENTS + steps + self.deadline_events() + self.lock_events()
    }
}

impl PlannedStep {
    /// Calls `f` on this step and every step nested in it, parents first.
    pub fn visit<'a>(&'a self, f: &mut impl FnMut(&'a PlannedStep)) {
        f(self);
        for step in self.kind.nested() {
            step.visit(f);
        }
    }

    /// Like [`visit`](Self::visit), but not into a for_each's steps: those run once per
    /// item in a scope of their own, and the run records them only in the for_each's result.
    pub fn visit_recorded<'a>(&'a self, f: &mut impl FnMut(&'a PlannedStep)) {
        f(self);
        if self.kind.runs_per_item() {
            return;
        }
        for step in self.kind.nested() {
            step.visit_recorded(f);
        }
    }
}

/// Started, the first workflow task (3), the definition's marker, the search attributes'
/// patch marker with the SDK's `TemporalChangeVersion` upsert, our first upsert
/// (`ClawWorkflow`), completed.
const RUN_EVENTS: u64 = 9;
/// The upsert that lists an agent turn in `ClawTurns` before it starts.
pub const TURN_UPSERT_EVENTS: u64 = 1;
/// An activity: scheduled, started, closed, and the workflow task it wakes (3).
pub const ACTIVITY_EVENTS: u64 = 6;
/// A timer: started, fired, and the workflow task it wakes (3).
pub const TIMER_EVENTS: u64 = 5;

#[cfg(test)]
mod tests {
    use super::deadline::DEADLINE_EVENTS;
    use super::*;
    use crate::config::Config;

    fn compile(steps_toml: &str) -> Result<Plan, String> {
        let config = Config::parse(steps_toml).map_err(|e| format!("{e:#}"))?;
        let (name, workflow) = config.declared.0.iter().next().unwrap();
        Plan::compile(name, workflow)
    }

    const PARALLEL: &str = r#"
[[declared.p.steps]]
id = "both"
type = "parallel"
  [[declared.p.steps.steps]]
  id = "a"
  type = "delay"
  duration = "1s"
  [[declared.p.steps.steps]]
  id = "b"
  type = "delay"
  duration = "1s"
  WHEN_B
[[declared.p.steps]]
id = "after"
type = "stop"
when = "steps.a.status == 'ok' && steps.b.status == 'ok' && has(steps.later)"
[[declared.p.steps]]
id = "later"
type = "stop"
"#;

    #[test]
    fn branches_cannot_read_each_other_but_the_steps_after_them_can() {
        let plan = compile(&PARALLEL.replace("WHEN_B", "")).unwrap();
        assert_eq!(
            plan.ids(),
            [
                ("both", "parallel"),
                ("a", "delay"),
                ("b", "delay"),
                ("after", "stop"),
                ("later", "stop")
            ]
        );
        let err =
            compile(&PARALLEL.replace("WHEN_B", "when = \"steps.a.status == 'ok'\"")).unwrap_err();
        assert!(
            err.starts_with("declared.p.steps[0] \"both\".steps[1] \"b\".when: ")
                && err.contains("reads steps.a, which has not finished"),
            "{err}"
        );
    }

    #[test]
    fn failure_is_read_only_in_on_failure_which_may_read_every_main_step() {
        let main = "[[declared.f.steps]]\nid = \"x\"\ntype = \"delay\"\nduration = \"1s\"\n";
        let ok = format!(
            "{main}[[declared.f.on_failure]]\nid = \"tell\"\ntype = \"stop\"\n\
             reason = \"{{{{ failure.type }}}} after {{{{ steps.x.status }}}}\"\n"
        );
        compile(&ok).unwrap();
        let err = compile(&format!("{main}when = \"failure.type == 'x'\"\n")).unwrap_err();
        assert!(
            err.contains("failure is only defined in on_failure steps"),
            "{err}"
        );
    }

    #[test]
    fn stop_is_refused_inside_a_parallel_step_even_within_a_sequence() {
        let text = r#"
[[declared.s.steps]]
id = "both"
type = "parallel"
  [[declared.s.steps.steps]]
  id = "seq"
  type = "sequence"
    [[declared.s.steps.steps.steps]]
    id = "halt"
    type = "stop"
"#;
        let err = compile(text).unwrap_err();
        assert!(
            err.contains("\"halt\".type: a stop step cannot be inside a parallel step"),
            "{err}"
        );
    }

    #[test]
    fn history_events_are_counted_per_step_kind() {
        let plan = compile(
            r#"
[[declared.h.steps]]
id = "t"
type = "agent_turn"
turn = "x"
[[declared.h.steps]]
id = "d"
type = "delay"
duration = "1s"
[[declared.h.steps]]
id = "z"
type = "delay"
duration = "0s"
[[declared.h.steps]]
id = "ok"
type = "approval"
timeout = "1h"
"#,
        )
        .unwrap();
        assert_eq!(
            plan.history_events(),
            RUN_EVENTS
                + ACTIVITY_EVENTS
                + TURN_UPSERT_EVENTS
                + TIMER_EVENTS
                + TIMER_EVENTS
                + 4
                + DEADLINE_EVENTS
                + 1
        );
    }

    #[test]
    fn with_inputs_declared_an_expression_may_read_only_those_inputs() {
        let text = r#"
[declared.i]
inputs = { topic = { type = "string", required = true } }
[[declared.i.steps]]
id = "a"
type = "stop"
when = "has(input.topic) && input.instance != ''"
reason = "READ"
"#;
        compile(&text.replace("READ", "{{ input.topic }}")).unwrap();
        let err = compile(&text.replace("READ", "{{ input.topc }}")).unwrap_err();
        assert_eq!(
            err,
            "declared.i.steps[0] \"a\".reason: \"input.topc\" reads input.topc, but no input is \
             declared by that name (declared: topic)"
        );
        let err = compile(&text.replace("input.topic)", "input.depth)")).unwrap_err();
        assert!(err.starts_with("declared.i.steps[0] \"a\".when: "), "{err}");
        // Without inputs, any field may be read (guarded with has(), as before).
        let free = text.replace(
            "inputs = { topic = { type = \"string\", required = true } }",
            "",
        );
        compile(&free.replace("READ", "{{ input.anything }}")).unwrap();
        let err = compile(&text.replace("required = true", "default = 3")).unwrap_err();
        assert!(
            err.starts_with("declared.i.inputs.topic.default: expected a string, found an int"),
            "{err}"
        );
    }
}
