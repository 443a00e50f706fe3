//! Compiling steps: the keys every step has (`type`, `when`, `timeout`, `retry`, keys that
//! do not apply), what an expression may read, and [`Compiling`], through which each kind's
//! `compile` (`steps/<kind>.rs`) reads its own keys.

use super::PlannedStep;
use super::ids::Ids;
use crate::config::{Inputs, StepDecl, StepRetry};
use crate::duration;
use crate::workflows::declared::expr::{Expr, Template, VARIABLES};
use crate::workflows::declared::steps::{Kind, STEP_TYPES};
use std::collections::BTreeSet;
use std::time::Duration;

pub(super) struct Compiler<'a> {
    pub(super) ids: &'a Ids,
    /// The declared `inputs`; when there are any, `input.<field>` must name one of them.
    pub(super) inputs: &'a Inputs,
    /// Expressions may read `failure`.
    pub(super) in_on_failure: bool,
    /// Compiling a for_each's steps: expressions may read `item` and `index`.
    pub(super) in_for_each: bool,
}

impl Compiler<'_> {
    /// Compiles steps that run one after another; `done` grows with each.
    pub(super) fn sequence(
        &self,
        path: &str,
        steps: &[StepDecl],
        done: &mut BTreeSet<String>,
        in_parallel: bool,
    ) -> Result<Vec<PlannedStep>, String> {
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
    ) -> Result<PlannedStep, String> {
        let here = format!("{path}[{index}] {:?}", decl.id.as_deref().unwrap_or(""));
        let step = self.step(&here, decl, done, in_parallel)?;
        // A for_each's steps are not counted: they finish once per item, inside it.
        step.visit_recorded(&mut |s| {
            done.insert(s.id.clone());
        });
        Ok(step)
    }

    /// The keys every step has; then its kind's `compile` (`steps/<kind>.rs`) the rest.
    fn step(
        &self,
        here: &str,
        decl: &StepDecl,
        done: &BTreeSet<String>,
        in_parallel: bool,
    ) -> Result<PlannedStep, String> {
        let field = |key: &str| format!("{here}.{key}");
        let Some(keys) = Kind::keys(&decl.kind) else {
            return Err(format!(
                "{}: unknown step type {:?} (expected one of {})",
                field("type"),
                decl.kind,
                STEP_TYPES.join(", ")
            ));
        };
        reject_keys_that_do_not_apply(decl, keys).map_err(|key| {
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
        let compiling = Compiling {
            compiler: self,
            decl,
            here,
            done,
            in_parallel,
            timeout,
        };
        Ok(PlannedStep {
            id: decl.id.clone().unwrap_or_default(),
            path: here.to_owned(),
            when,
            continue_on_error: decl.continue_on_error,
            kind: Kind::compile(&compiling)?,
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
            if variable == "secrets" {
                return Err(format!(
                    "{:?} reads secrets, which only an http step's headers may use, each alone \
                     as {{{{ secrets.<name> }}}} (anywhere else the value would be written into \
                     the run's history, and in an agent turn's message sent to the model)",
                    expr.source()
                ));
            }
            let known = VARIABLES.contains(&variable.as_str())
                && (variable != "failure" || self.in_on_failure)
                && (!matches!(variable.as_str(), "item" | "index") || self.in_for_each);
            if !known {
                let hint = if variable == "failure" {
                    "failure is only defined in on_failure steps".to_owned()
                } else if matches!(variable.as_str(), "item" | "index") {
                    "item and index are only defined in a for_each's steps".to_owned()
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
            if !done.contains(id)
                && let Some(for_each) = self.ids.in_for_each.get(id)
            {
                return Err(format!(
                    "{:?} reads steps.{id}, which runs once per item inside for_each \
                     {for_each:?}: read its results as steps.{for_each}.json (one entry per item)",
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
        if !self.inputs.is_empty()
            && let Some(field) = reads.inputs.iter().find(|f| !self.inputs.accepts_field(f))
        {
            return Err(format!(
                "{:?} reads input.{field}, but no input is declared by that name (declared: {})",
                expr.source(),
                self.inputs.names()
            ));
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

/// One step's declaration as its kind's `compile` sees it: the type known, the keys every
/// step has checked, and helpers whose errors name the key.
pub struct Compiling<'a> {
    compiler: &'a Compiler<'a>,
    pub decl: &'a StepDecl,
    /// The step's path, for messages.
    pub here: &'a str,
    /// The steps finished before this one starts: what its expressions may read.
    done: &'a BTreeSet<String>,
    pub in_parallel: bool,
    /// `timeout`, parsed; set only on kinds whose `KEYS` have it.
    pub timeout: Option<Duration>,
}

impl Compiling<'_> {
    /// `<path>.<key>`, the start of a message about that key.
    pub fn field(&self, key: &str) -> String {
        format!("{}.{key}", self.here)
    }

    /// A key that must be set and not blank.
    pub fn required(&self, key: &str, value: &Option<String>) -> Result<String, String> {
        match value.as_deref() {
            Some(text) if !text.trim().is_empty() => Ok(text.to_owned()),
            Some(_) => Err(format!("{}: must not be empty", self.field(key))),
            None => Err(format!(
                "{}: missing (a {} step needs it)",
                self.field(key),
                self.decl.kind
            )),
        }
    }

    /// An expression key, checked against what has finished.
    pub fn expr(&self, key: &str, source: &str) -> Result<Expr, String> {
        self.compiler
            .expr(source, self.done)
            .map_err(|err| format!("{}: {err}", self.field(key)))
    }

    /// A templated key, its expressions checked against what has finished.
    pub fn template(&self, key: &str, text: &Option<String>) -> Result<Option<Template>, String> {
        text.as_deref()
            .map(|text| {
                self.compiler
                    .template(text, self.done)
                    .map_err(|err| format!("{}: {err}", self.field(key)))
            })
            .transpose()
    }

    /// A header value: a template whose `{{ secrets.<name> }}` parts the worker fills in
    /// (they are not checked here: which secrets exist is the config's, `config_checks`);
    /// every other part is checked as any template's.
    pub fn header(&self, name: &str, text: &str) -> Result<Template, String> {
        let field = || format!("{}.{name}", self.field("headers"));
        let template = Template::parse(text).map_err(|err| format!("{}: {err}", field()))?;
        for expr in template.exprs().filter(|e| e.secret().is_none()) {
            self.compiler
                .check_reads(expr, self.done)
                .map_err(|err| format!("{}: {err}", field()))?;
        }
        Ok(template)
    }

    /// The nested `steps`, run one after another: each may read the ones before it.
    pub fn sequence(&self) -> Result<Vec<PlannedStep>, String> {
        self.require_nested()?;
        let mut seen = self.done.clone();
        let path = self.field("steps");
        self.compiler
            .sequence(&path, &self.decl.steps, &mut seen, self.in_parallel)
    }

    /// A for_each's `steps`, run in order once per item: each may read the ones before it,
    /// and all of them `item` and `index`.
    pub fn body(&self) -> Result<Vec<PlannedStep>, String> {
        self.require_nested()?;
        let compiler = Compiler {
            in_for_each: true,
            ..*self.compiler
        };
        let mut seen = self.done.clone();
        compiler.sequence(
            &self.field("steps"),
            &self.decl.steps,
            &mut seen,
            self.in_parallel,
        )
    }

    /// Whether this step is inside a for_each's steps.
    pub fn in_for_each(&self) -> bool {
        self.compiler.in_for_each
    }

    /// The nested `steps` as branches that start together: none may read another's outcome.
    pub fn branches(&self) -> Result<Vec<PlannedStep>, String> {
        self.require_nested()?;
        let path = self.field("steps");
        self.decl
            .steps
            .iter()
            .enumerate()
            .map(|(index, branch)| {
                self.compiler
                    .step_at(&path, index, branch, &mut self.done.clone(), true)
            })
            .collect()
    }

    fn require_nested(&self) -> Result<(), String> {
        if self.decl.steps.is_empty() {
            return Err(format!(
                "{}: a {} step needs at least one step",
                self.field("steps"),
                self.decl.kind
            ));
        }
        Ok(())
    }
}

/// The key (as written) that is set but means nothing for the step's type: not one of the
/// type's `keys`.
fn reject_keys_that_do_not_apply(decl: &StepDecl, keys: &[&str]) -> Result<(), &'static str> {
    // `reason` first, as it always was: a stray `reason` is named ahead of any other key.
    let set: [(&'static str, bool); 18] = [
        ("reason", decl.reason.is_some()),
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
        ("headers", !decl.headers.is_empty()),
        ("items", decl.items.is_some()),
        ("max_items", decl.max_items.is_some()),
        ("concurrency", decl.concurrency.is_some()),
    ];
    match set
        .iter()
        .find(|(key, is_set)| *is_set && !keys.contains(key))
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
