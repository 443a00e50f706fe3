//! A declaration compiled into what runs: typed steps, compiled expressions, and every check
//! that needs nothing but the declaration — so `check-config` (the NixOS build) and a run's
//! first workflow task reject the same definitions with the same message.
//!
//! Messages name the workflow, the step and the key, as a path into the config:
//! `declared.digest.steps[2] "publish".message: reads steps.later, which runs after this step`.

use super::expr::{Expr, Template, VARIABLES};
use crate::activities::HttpRequestParams;
use crate::config::{DeclaredWorkflow, StepDecl, StepRetry};
use crate::duration;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Temporal terminates a run whose history passes this many events.
pub const HISTORY_EVENT_LIMIT: u64 = 51_200;
/// Steps nest (parallel in sequence in parallel ...) at most this deep.
const MAX_DEPTH: usize = 16;
/// An http step's timeout when it names none (the reference's).
const HTTP_DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Every step type, as written in `type`.
pub const STEP_TYPES: [&str; 7] = [
    "agent_turn",
    "http",
    "delay",
    "parallel",
    "sequence",
    "approval",
    "stop",
];

#[derive(Debug)]
pub struct Plan {
    pub name: String,
    pub instance: Option<String>,
    pub steps: Vec<Step>,
    pub on_failure: Vec<Step>,
}

#[derive(Debug)]
pub struct Step {
    pub id: String,
    /// Where it is declared (`declared.digest.steps[2] "publish"`), for messages.
    pub path: String,
    pub when: Option<Expr>,
    pub continue_on_error: bool,
    pub kind: Kind,
}

#[derive(Debug)]
pub enum Kind {
    AgentTurn {
        turn: String,
        instance: Option<String>,
        message: Option<Template>,
        timeout: Option<Duration>,
        retry: Option<StepRetry>,
    },
    Http {
        method: String,
        url: String,
        body: Option<Template>,
        timeout: Duration,
        retry: Option<StepRetry>,
    },
    Delay {
        text: String,
        duration: Duration,
    },
    Parallel(Vec<Step>),
    Sequence(Vec<Step>),
    Approval {
        prompt: Option<Template>,
        timeout: Duration,
        on_timeout: OnTimeout,
        on_reject: OnReject,
    },
    Stop {
        reason: Option<Template>,
    },
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::AgentTurn { .. } => "agent_turn",
            Kind::Http { .. } => "http",
            Kind::Delay { .. } => "delay",
            Kind::Parallel(_) => "parallel",
            Kind::Sequence(_) => "sequence",
            Kind::Approval { .. } => "approval",
            Kind::Stop { .. } => "stop",
        }
    }
}

/// What an approval does when nobody decides in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTimeout {
    Approve,
    Reject,
    Fail,
}

/// What an approval does when rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnReject {
    Stop,
    Fail,
    Continue,
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
            in_on_failure: false,
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

    /// Every step id in declaration order, main steps first, nested steps after their parent.
    pub fn ids(&self) -> Vec<(&str, &'static str)> {
        let mut out = Vec::new();
        for step in self.steps.iter().chain(&self.on_failure) {
            step.visit(&mut |s| out.push((s.id.as_str(), s.kind.name())));
        }
        out
    }

    /// An upper bound of the events a run records: start, the definition's marker, the end,
    /// and each step's (see [`step_events`]). Activity retries add none: the server records
    /// only an activity's last attempt.
    pub fn history_events(&self) -> u64 {
        let steps: u64 = self
            .steps
            .iter()
            .chain(&self.on_failure)
            .map(step_events)
            .sum();
        RUN_EVENTS + steps
    }
}

impl Step {
    /// Calls `f` on this step and every step nested in it, parents first.
    pub fn visit<'a>(&'a self, f: &mut impl FnMut(&'a Step)) {
        f(self);
        if let Kind::Parallel(steps) | Kind::Sequence(steps) = &self.kind {
            for step in steps {
                step.visit(f);
            }
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

/// An upper bound of the history events one step records. An approval counts one decision
/// signal; every further signal sent to the run adds 4 more.
fn step_events(step: &Step) -> u64 {
    match &step.kind {
        Kind::AgentTurn { .. } => ACTIVITY_EVENTS + TURN_UPSERT_EVENTS,
        Kind::Http { .. } => ACTIVITY_EVENTS,
        Kind::Delay { duration, .. } if duration.is_zero() => 0,
        Kind::Delay { .. } => TIMER_EVENTS,
        Kind::Approval { .. } => TIMER_EVENTS + 4,
        Kind::Stop { .. } => 0,
        Kind::Parallel(steps) | Kind::Sequence(steps) => steps.iter().map(step_events).sum(),
    }
}

/// Every id of the workflow, and where it was first written.
#[derive(Default)]
struct Ids {
    at: BTreeMap<String, String>,
    main: Vec<String>,
}

fn collect_ids(
    path: &str,
    steps: &[StepDecl],
    ids: &mut Ids,
    depth: usize,
    main: bool,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{path}: steps nest deeper than {MAX_DEPTH} levels"));
    }
    for (index, step) in steps.iter().enumerate() {
        let here = format!("{path}[{index}]");
        let id = match &step.id {
            None => {
                return Err(format!(
                    "{here}.id: missing (every step needs an id; expressions read it as steps.<id>)"
                ));
            }
            Some(id) => id,
        };
        check_id(id).map_err(|err| format!("{here}.id: {err}"))?;
        if let Some(first) = ids.at.get(id) {
            return Err(format!(
                "{here}.id: {id:?} is used twice (first at {first})"
            ));
        }
        ids.at.insert(id.clone(), here.clone());
        if main {
            ids.main.push(id.clone());
        }
        collect_ids(&format!("{here}.steps"), &step.steps, ids, depth + 1, main)?;
    }
    Ok(())
}

/// An id is a CEL identifier, so `steps.<id>` reads it; `-` would read as a minus.
fn check_id(id: &str) -> Result<(), String> {
    let mut chars = id.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && id.len() <= 100;
    if !plain {
        return Err(format!(
            "{id:?} is not a plain name: use letters, digits and '_', starting with a letter \
             (expressions read it as steps.{id}, where '-' would be a minus)"
        ));
    }
    Ok(())
}

struct Compiler<'a> {
    ids: &'a Ids,
    in_on_failure: bool,
}

impl Compiler<'_> {
    /// Compiles steps that run one after another; `done` grows with each.
    fn sequence(
        &self,
        path: &str,
        steps: &[StepDecl],
        done: &mut BTreeSet<String>,
        in_parallel: bool,
    ) -> Result<Vec<Step>, String> {
        steps
            .iter()
            .enumerate()
            .map(|(index, decl)| self.step_at(path, index, decl, done, in_parallel))
            .collect()
    }

    /// Compiles `path[index]`, then counts it (and what it holds) as done.
    fn step_at(
        &self,
        path: &str,
        index: usize,
        decl: &StepDecl,
        done: &mut BTreeSet<String>,
        in_parallel: bool,
    ) -> Result<Step, String> {
        let here = format!("{path}[{index}] {:?}", decl.id.as_deref().unwrap_or(""));
        let step = self.step(&here, decl, done, in_parallel)?;
        step.visit(&mut |s| {
            done.insert(s.id.clone());
        });
        Ok(step)
    }

    fn step(
        &self,
        here: &str,
        decl: &StepDecl,
        done: &BTreeSet<String>,
        in_parallel: bool,
    ) -> Result<Step, String> {
        let id = decl.id.clone().unwrap_or_default();
        let field = |key: &str| format!("{here}.{key}");
        if !STEP_TYPES.contains(&decl.kind.as_str()) {
            return Err(format!(
                "{}: unknown step type {:?} (expected one of {})",
                field("type"),
                decl.kind,
                STEP_TYPES.join(", ")
            ));
        }
        reject_keys_that_do_not_apply(decl).map_err(|key| {
            format!(
                "{}: does not apply to a step of type {}",
                field(key),
                decl.kind
            )
        })?;
        let when = decl
            .when
            .as_deref()
            .map(|source| {
                self.expr(source, done)
                    .map_err(|err| format!("{}: {err}", field("when")))
            })
            .transpose()?;
        let template = |key: &str, text: &Option<String>| {
            text.as_deref()
                .map(|text| {
                    self.template(text, done)
                        .map_err(|err| format!("{}: {err}", field(key)))
                })
                .transpose()
        };
        let timeout = decl
            .timeout
            .as_ref()
            .map(|t| {
                t.duration()
                    .map_err(|err| format!("{}: {err}", field("timeout")))
            })
            .transpose()?;
        if let Some(retry) = &decl.retry {
            check_retry(retry).map_err(|err| format!("{}.{err}", field("retry")))?;
        }
        let required = |key: &str, value: &Option<String>| -> Result<String, String> {
            match value.as_deref() {
                Some(text) if !text.trim().is_empty() => Ok(text.to_owned()),
                Some(_) => Err(format!("{}: must not be empty", field(key))),
                None => Err(format!(
                    "{}: missing (a {} step needs it)",
                    field(key),
                    decl.kind
                )),
            }
        };
        let kind = match decl.kind.as_str() {
            "agent_turn" => {
                if decl
                    .instance
                    .as_deref()
                    .is_some_and(|i| i.trim().is_empty())
                {
                    return Err(format!(
                        "{}: must not be empty (leave it out for the workflow's)",
                        field("instance")
                    ));
                }
                Kind::AgentTurn {
                    turn: required("turn", &decl.turn)?,
                    instance: decl.instance.clone(),
                    message: template("message", &decl.message)?,
                    timeout,
                    retry: decl.retry.clone(),
                }
            }
            "http" => {
                let params = HttpRequestParams {
                    method: decl.method.clone().unwrap_or_else(|| "GET".into()),
                    url: required("url", &decl.url)?,
                    timeout: timeout.unwrap_or(HTTP_DEFAULT_TIMEOUT).as_secs_f64(),
                    body: None,
                };
                params.validate().map_err(|err| format!("{here}.{err}"))?;
                Kind::Http {
                    method: params.method,
                    url: params.url,
                    body: template("body", &decl.body)?,
                    timeout: timeout.unwrap_or(HTTP_DEFAULT_TIMEOUT),
                    retry: decl.retry.clone(),
                }
            }
            "delay" => {
                let text = required("duration", &decl.duration)?;
                let duration = duration::parse(&text)
                    .map_err(|err| format!("{}: {err}", field("duration")))?;
                Kind::Delay { text, duration }
            }
            "parallel" | "sequence" => {
                if decl.steps.is_empty() {
                    return Err(format!(
                        "{}: a {} step needs at least one step",
                        field("steps"),
                        decl.kind
                    ));
                }
                let nested = format!("{here}.steps");
                if decl.kind == "parallel" {
                    // Branches start together: none may read another's outcome.
                    let branches = decl
                        .steps
                        .iter()
                        .enumerate()
                        .map(|(index, branch)| {
                            self.step_at(&nested, index, branch, &mut done.clone(), true)
                        })
                        .collect::<Result<_, _>>()?;
                    Kind::Parallel(branches)
                } else {
                    let mut seen = done.clone();
                    Kind::Sequence(self.sequence(&nested, &decl.steps, &mut seen, in_parallel)?)
                }
            }
            "approval" => Kind::Approval {
                prompt: template("prompt", &decl.prompt)?,
                timeout: timeout.ok_or_else(|| {
                    format!(
                        "{}: missing (how long to wait for a person; on_timeout says what \
                         happens then)",
                        field("timeout")
                    )
                })?,
                on_timeout: match decl.on_timeout.as_deref() {
                    None | Some("reject") => OnTimeout::Reject,
                    Some("approve") => OnTimeout::Approve,
                    Some("fail") => OnTimeout::Fail,
                    Some(other) => {
                        return Err(format!(
                            "{}: {other:?} is not one of \"reject\", \"approve\", \"fail\"",
                            field("on_timeout")
                        ));
                    }
                },
                on_reject: match decl.on_reject.as_deref() {
                    None | Some("stop") => OnReject::Stop,
                    Some("fail") => OnReject::Fail,
                    Some("continue") => OnReject::Continue,
                    Some(other) => {
                        return Err(format!(
                            "{}: {other:?} is not one of \"stop\", \"fail\", \"continue\"",
                            field("on_reject")
                        ));
                    }
                },
            },
            "stop" => {
                if in_parallel {
                    return Err(format!(
                        "{}: a stop step cannot be inside a parallel step (the other branches \
                         would be left half-run); put it after the parallel step",
                        field("type")
                    ));
                }
                Kind::Stop {
                    reason: template("reason", &decl.reason)?,
                }
            }
            _ => unreachable!("checked against STEP_TYPES above"),
        };
        Ok(Step {
            id,
            path: here.to_owned(),
            when,
            continue_on_error: decl.continue_on_error,
            kind,
        })
    }

    fn expr(&self, source: &str, done: &BTreeSet<String>) -> Result<Expr, String> {
        let expr = Expr::compile(source)?;
        self.check_reads(&expr, done)?;
        Ok(expr)
    }

    fn template(&self, text: &str, done: &BTreeSet<String>) -> Result<Template, String> {
        let template = Template::parse(text)?;
        for expr in template.exprs() {
            self.check_reads(expr, done)?;
        }
        Ok(template)
    }

    /// An expression may read the run's input and the steps that have finished by the time
    /// it is evaluated; `failure` only in on_failure steps.
    fn check_reads(&self, expr: &Expr, done: &BTreeSet<String>) -> Result<(), String> {
        let reads = expr.reads();
        for variable in &reads.variables {
            let known = VARIABLES.contains(&variable.as_str())
                && (variable != "failure" || self.in_on_failure);
            if !known {
                let hint = if variable == "failure" {
                    "failure is only defined in on_failure steps".to_owned()
                } else {
                    "expressions see steps, input and, in on_failure, failure".to_owned()
                };
                return Err(format!(
                    "{:?} reads {variable:?}, which is not defined ({hint})",
                    expr.source()
                ));
            }
        }
        for id in &reads.steps {
            if !self.ids.at.contains_key(id) {
                return Err(format!(
                    "{:?} reads steps.{id}, but no step has the id {id:?}",
                    expr.source()
                ));
            }
            if !done.contains(id) {
                return Err(format!(
                    "{:?} reads steps.{id}, which has not finished when this runs (it runs \
                     later, alongside, or is this step)",
                    expr.source()
                ));
            }
        }
        for id in &reads.tested {
            if !self.ids.at.contains_key(id) {
                return Err(format!(
                    "{:?} tests has(steps.{id}), but no step has the id {id:?}",
                    expr.source()
                ));
            }
        }
        Ok(())
    }
}

/// The key (as written) that is set but means nothing for the step's type.
fn reject_keys_that_do_not_apply(decl: &StepDecl) -> Result<(), &'static str> {
    let set: [(&'static str, bool); 13] = [
        ("timeout", decl.timeout.is_some()),
        ("retry", decl.retry.is_some()),
        ("turn", decl.turn.is_some()),
        ("instance", decl.instance.is_some()),
        ("message", decl.message.is_some()),
        ("duration", decl.duration.is_some()),
        ("url", decl.url.is_some()),
        ("method", decl.method.is_some()),
        ("body", decl.body.is_some()),
        ("steps", !decl.steps.is_empty()),
        ("prompt", decl.prompt.is_some()),
        ("on_timeout", decl.on_timeout.is_some()),
        ("on_reject", decl.on_reject.is_some()),
    ];
    let applies: &[&str] = match decl.kind.as_str() {
        "agent_turn" => &["timeout", "retry", "turn", "instance", "message"],
        "http" => &["timeout", "retry", "url", "method", "body"],
        "delay" => &["duration"],
        "parallel" | "sequence" => &["steps"],
        "approval" => &["timeout", "prompt", "on_timeout", "on_reject"],
        _ => &[],
    };
    if decl.reason.is_some() && decl.kind != "stop" {
        return Err("reason");
    }
    match set
        .iter()
        .find(|(key, is_set)| *is_set && !applies.contains(key))
    {
        Some((key, _)) => Err(key),
        None => Ok(()),
    }
}

fn check_retry(retry: &StepRetry) -> Result<(), String> {
    if retry.maximum_attempts == Some(0) {
        return Err("maximum_attempts: expected at least 1 (0 would retry forever)".into());
    }
    if retry.initial_interval.is_some_and(|d| d.is_zero()) {
        return Err("initial_interval: must be longer than 0s".into());
    }
    if let (Some(initial), Some(maximum)) = (retry.initial_interval, retry.maximum_interval)
        && maximum < initial
    {
        return Err(format!(
            "maximum_interval: must be at least initial_interval ({})",
            duration::format(initial)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
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
            RUN_EVENTS + ACTIVITY_EVENTS + TURN_UPSERT_EVENTS + TIMER_EVENTS + TIMER_EVENTS + 4
        );
    }
}
