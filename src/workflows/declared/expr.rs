//! Expressions in declared workflows: CEL, through the `cel` crate.
//!
//! Why CEL: it is what Kubernetes (admission policies) and Envoy use for exactly this — small
//! conditions over structured data written by operators — so people may know it already; it
//! is not Turing complete (every expression ends), and it has no clock, no randomness and no
//! I/O, which workflow code needs: an expression must give the same answer when the run is
//! replayed next week. The crate is built without its `chrono` feature, so not even
//! timestamp arithmetic is there to misuse.
//!
//! What an expression sees: `steps.<id>` (`status`, `result`, `json`, `error`) for every
//! step of the workflow, `input` (the run's input, `null` if none), in `on_failure`
//! steps, `failure` (`type`, `message`, `step`), and in a for_each's steps `item` and `index`. Which `steps.<id>` a step may read is checked
//! before the run starts ([`Expr::step_reads`]); `has(steps.x)` style tests are allowed for
//! any declared step.
//!
//! The standard library is there, with cel-go's `strings`, `lists` and `math` extensions
//! (`lowerAscii()`, `split()`, `sortBy()`, `math.greatest()`, ...): all deterministic. A
//! function name that does not exist is only found when the expression runs (the crate has no
//! type checker): the step then fails with `ExpressionFailed`.
//!
//! Templates (`message`, `body`, `prompt`, `reason`, an http step's `headers`) are text with
//! `{{ expression }}` parts. In a header only, a part may be `{{ secrets.<name> }}`: it is not
//! evaluated here but passed on by name for the worker to fill in ([`Template::render_parts`]).

use crate::activities::HeaderPart;
use cel::common::ast::{EntryExpr, Expr as Node, IdedExpr, LiteralValue};
use cel::{Context, Env, Program, Value};
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock};

/// The standard library and the deterministic extensions, built once.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    for extension in [
        cel::extensions::strings,
        cel::extensions::lists,
        cel::extensions::math,
    ] {
        env.add_extension(extension)
            .expect("the crate's own extensions declare without conflicts");
    }
    Arc::new(env)
});

/// Longer expressions are surely a mistake, and the parser recurses on nesting.
const MAX_SOURCE_CHARS: usize = 2_000;
const MAX_NESTING: usize = 32;

/// The names an expression may start from (`item` and `index` only in a for_each's steps).
pub const VARIABLES: [&str; 5] = ["steps", "input", "failure", "item", "index"];

/// A compiled CEL expression with the source it came from.
pub struct Expr {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Expr({:?})", self.source)
    }
}

/// What an expression reads, found in its syntax tree.
#[derive(Debug, Default, PartialEq)]
pub struct Reads {
    /// `steps.<id>` or `steps["<id>"]`: the step's outcome is used.
    pub steps: BTreeSet<String>,
    /// `has(steps.<id>)`: only tested for.
    pub tested: BTreeSet<String>,
    /// Top-level names other than comprehension variables.
    pub variables: BTreeSet<String>,
    /// `steps[<not a literal>]`: which step cannot be known before the run.
    pub dynamic_step: bool,
    /// `input.<field>`, `input["<field>"]` or `has(input.<field>)`: checked against the
    /// declared `inputs`, if any.
    pub inputs: BTreeSet<String>,
}

impl Expr {
    /// Compiles `source`; the error is one line saying what is wrong.
    pub fn compile(source: &str) -> Result<Expr, String> {
        if source.trim().is_empty() {
            return Err("empty expression".into());
        }
        if source.chars().count() > MAX_SOURCE_CHARS {
            return Err(format!(
                "expression longer than {MAX_SOURCE_CHARS} characters"
            ));
        }
        if nesting(source) > MAX_NESTING {
            return Err(format!(
                "expression nested deeper than {MAX_NESTING} levels"
            ));
        }
        let program = catch_unwind(|| ENV.compile(source))
            .map_err(|_| "the CEL parser gave up on this expression".to_owned())?
            .map_err(|err| format!("does not compile: {}", one_line(&err.to_string())))?;
        Ok(Expr {
            source: source.to_owned(),
            program,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Everything the expression reads, for the checks before a run.
    pub fn reads(&self) -> Reads {
        let mut reads = Reads::default();
        walk(self.program.expression(), &mut Vec::new(), &mut reads);
        reads
    }

    /// Evaluates against `scope`. A panic inside the library becomes an error, so a strange
    /// expression fails the step instead of wedging the workflow task.
    pub fn eval(&self, scope: &Scope) -> Result<Value, String> {
        let mut context = Context::with_env(ENV.clone());
        context.add_variable_from_value("steps", scope.steps.clone());
        context.add_variable_from_value("input", scope.input.clone());
        if let Some(failure) = &scope.failure {
            context.add_variable_from_value("failure", failure.clone());
        }
        if let Some((item, index)) = &scope.item {
            context.add_variable_from_value("item", item.clone());
            context.add_variable_from_value("index", index.clone());
        }
        catch_unwind(AssertUnwindSafe(|| self.program.execute(&context)))
            .map_err(|_| format!("{:?}: the CEL interpreter gave up", self.source))?
            .map_err(|err| format!("{:?}: {}", self.source, one_line(&err.to_string())))
    }

    /// The secret this expression is, when it is `secrets.<name>` (or `secrets["<name>"]`) and
    /// nothing else.
    pub fn secret(&self) -> Option<String> {
        match &self.program.expression().expr {
            Node::Select(select) if !select.test => match &select.operand.expr {
                Node::Ident(root) if root == "secrets" => Some(select.field.clone()),
                _ => None,
            },
            Node::Call(call) if call.func_name == "_[_]" => match call.args.as_slice() {
                [target, key] if matches!(&target.expr, Node::Ident(root) if root == "secrets") => {
                    match &key.expr {
                        Node::Literal(LiteralValue::String(name)) => Some(name.inner().to_owned()),
                        _ => None,
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Evaluates to a boolean, as `when` needs.
    pub fn eval_bool(&self, scope: &Scope) -> Result<bool, String> {
        match self.eval(scope)? {
            Value::Bool(value) => Ok(value),
            other => Err(format!(
                "{:?}: expected true or false, got {}",
                self.source,
                render(&other)
            )),
        }
    }
}

/// The values an expression sees, as CEL values.
#[derive(Clone)]
pub struct Scope {
    pub steps: Value,
    pub input: Value,
    pub failure: Option<Value>,
    /// In a for_each's steps: the item and its position (`item`, `index`).
    pub item: Option<(Value, Value)>,
}

/// A JSON value as CEL sees it: integers stay integers, objects become maps.
pub fn from_json(value: &serde_json::Value) -> Value {
    cel::to_value(value).unwrap_or(Value::Null)
}

/// A value as text in a template: strings as they are, `null` as nothing, the rest as JSON.
pub fn render(value: &Value) -> String {
    match value {
        Value::String(text) => text.to_string(),
        Value::Null => String::new(),
        Value::Int(n) => n.to_string(),
        Value::UInt(n) => n.to_string(),
        Value::Float(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other
            .json()
            .map(|json| json.to_string())
            .unwrap_or_else(|_| format!("{other:?}")),
    }
}

/// Text with `{{ expression }}` parts.
#[derive(Debug)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug)]
enum Part {
    Text(String),
    Expr(Expr),
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| "a \"{{\" without its \"}}\"".to_owned())?;
            let expr = Expr::compile(after[..end].trim())
                .map_err(|err| format!("{{{{ {} }}}}: {err}", after[..end].trim()))?;
            parts.push(Part::Expr(expr));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|part| match part {
            Part::Expr(expr) => Some(expr),
            Part::Text(_) => None,
        })
    }

    /// Rendered as a header value: each `{{ secrets.<name> }}` stays the secret's name, for
    /// the worker to fill in; everything else becomes text, as [`Self::render`] does.
    pub fn render_parts(&self, scope: &Scope) -> Result<Vec<HeaderPart>, String> {
        let mut out: Vec<HeaderPart> = Vec::new();
        for part in &self.parts {
            let text = match part {
                Part::Expr(expr) => match expr.secret() {
                    Some(secret) => {
                        out.push(HeaderPart::Secret { secret });
                        continue;
                    }
                    None => render(&expr.eval(scope)?),
                },
                Part::Text(text) => text.clone(),
            };
            match out.last_mut() {
                Some(HeaderPart::Text(last)) => last.push_str(&text),
                _ => out.push(HeaderPart::Text(text)),
            }
        }
        Ok(out)
    }

    pub fn render(&self, scope: &Scope) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr(expr) => out.push_str(&render(&expr.eval(scope)?)),
            }
        }
        Ok(out)
    }
}

/// Deepest bracket nesting, ignoring brackets inside string literals.
fn nesting(source: &str) -> usize {
    let (mut depth, mut deepest, mut quote) = (0usize, 0usize, None::<char>);
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (None, ')' | ']' | '}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Collects what `node` reads; `bound` holds the comprehension variables in scope.
fn walk(node: &IdedExpr, bound: &mut Vec<String>, reads: &mut Reads) {
    match &node.expr {
        Node::Ident(name) => {
            if !bound.iter().any(|b| b == name) {
                reads.variables.insert(name.clone());
            }
        }
        Node::Select(select) => {
            if let Node::Ident(root) = &select.operand.expr
                && root == "steps"
                && !bound.iter().any(|b| b == "steps")
            {
                reads.variables.insert(root.clone());
                if select.test {
                    reads.tested.insert(select.field.clone());
                } else {
                    reads.steps.insert(select.field.clone());
                }
                return;
            }
            if let Node::Ident(root) = &select.operand.expr
                && root == "input"
                && !bound.iter().any(|b| b == "input")
            {
                reads.inputs.insert(select.field.clone());
            }
            walk(&select.operand, bound, reads);
        }
        Node::Call(call) => {
            if call.func_name == "_[_]"
                && let [target, key] = call.args.as_slice()
                && matches!(&target.expr, Node::Ident(root) if root == "steps")
                && !bound.iter().any(|b| b == "steps")
            {
                reads.variables.insert("steps".into());
                match &key.expr {
                    Node::Literal(LiteralValue::String(id)) => {
                        reads.steps.insert(id.inner().to_owned());
                    }
                    _ => {
                        reads.dynamic_step = true;
                        walk(key, bound, reads);
                    }
                }
                return;
            }
            if call.func_name == "_[_]"
                && let [target, key] = call.args.as_slice()
                && matches!(&target.expr, Node::Ident(root) if root == "input")
                && !bound.iter().any(|b| b == "input")
                && let Node::Literal(LiteralValue::String(field)) = &key.expr
            {
                reads.inputs.insert(field.inner().to_owned());
            }
            if let Some(target) = &call.target {
                walk(target, bound, reads);
            }
            for arg in &call.args {
                walk(arg, bound, reads);
            }
        }
        Node::Comprehension(comp) => {
            walk(&comp.iter_range, bound, reads);
            walk(&comp.accu_init, bound, reads);
            let before = bound.len();
            bound.push(comp.iter_var.clone());
            bound.extend(comp.iter_var2.clone());
            bound.push(comp.accu_var.clone());
            walk(&comp.loop_cond, bound, reads);
            walk(&comp.loop_step, bound, reads);
            walk(&comp.result, bound, reads);
            bound.truncate(before);
        }
        Node::List(list) => list.elements.iter().for_each(|e| walk(e, bound, reads)),
        Node::Map(map) => {
            for entry in &map.entries {
                match &entry.expr {
                    EntryExpr::MapEntry(e) => {
                        walk(&e.key, bound, reads);
                        walk(&e.value, bound, reads);
                    }
                    EntryExpr::StructField(f) => walk(&f.value, bound, reads),
                }
            }
        }
        Node::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    walk(&f.value, bound, reads);
                }
            }
        }
        Node::Literal(_) | Node::Unspecified => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Scope {
        Scope {
            steps: from_json(&json!({
                "research": {"status": "ok", "result": "3 new poems", "json": null, "error": ""},
                "score": {"status": "ok", "result": "{\"count\": 3}", "json": {"count": 3}, "error": ""},
            })),
            input: from_json(&json!({"topic": "sonnets"})),
            failure: None,
            item: None,
        }
    }

    #[test]
    fn conditions_read_results_json_and_input() {
        let s = scope();
        let t = |src: &str| Expr::compile(src).unwrap().eval_bool(&s).unwrap();
        assert!(t("steps.research.result.contains('new')"));
        assert!(t("steps.score.json.count > 2"));
        assert!(t("steps['score'].status == 'ok'"));
        assert!(t("input.topic == 'sonnets'"));
        assert!(t("steps.research.result.upperAscii().contains('NEW')"));
        assert!(t("math.greatest(1, steps.score.json.count) == 3"));
        assert!(!t("!has(input.topic)"));
    }

    #[test]
    fn reads_are_found_in_the_tree() {
        let e = Expr::compile(
            "steps.a.result == 'x' && has(steps.b) && steps['c'].status == 'ok' \
             && [1].all(x, x > 0) && input.k == 1",
        )
        .unwrap();
        let reads = e.reads();
        assert_eq!(reads.steps, BTreeSet::from(["a".into(), "c".into()]));
        assert_eq!(reads.tested, BTreeSet::from(["b".into()]));
        assert_eq!(
            reads.variables,
            BTreeSet::from(["input".into(), "steps".into()])
        );
        assert!(!reads.dynamic_step);
        assert_eq!(reads.inputs, BTreeSet::from(["k".into()]));
        let fields =
            Expr::compile("has(input.a) && input['b'] == input.c.d && [1].all(input, input.x)")
                .unwrap()
                .reads();
        assert_eq!(
            fields.inputs,
            BTreeSet::from(["a".into(), "b".into(), "c".into()])
        );
        let unknown = Expr::compile("nope == 1").unwrap().reads();
        assert!(unknown.variables.contains("nope"));
    }

    #[test]
    fn bad_expressions_are_errors_not_panics() {
        for src in [
            "",
            "1 +",
            "((((",
            &"(".repeat(40),
            &"a".repeat(3000),
            "steps.[",
        ] {
            assert!(Expr::compile(src).is_err(), "{src:?}");
        }
        let e = Expr::compile("steps.research.result").unwrap();
        assert!(
            e.eval_bool(&scope())
                .unwrap_err()
                .contains("expected true or false")
        );
        let missing = Expr::compile("steps.nope.result == ''").unwrap();
        assert!(missing.eval_bool(&scope()).is_err());
    }

    #[test]
    fn templates_fill_in_values() {
        let t = Template::parse("Digest of {{ steps.research.result }} ({{ steps.score.json }}).")
            .unwrap();
        assert_eq!(
            t.render(&scope()).unwrap(),
            "Digest of 3 new poems ({\"count\":3})."
        );
        assert!(
            Template::parse("{{ steps.x")
                .unwrap_err()
                .contains("without")
        );
        assert!(
            Template::parse("{{ 1 + }}")
                .unwrap_err()
                .contains("does not compile")
        );
        assert_eq!(
            Template::parse("plain").unwrap().render(&scope()).unwrap(),
            "plain"
        );
    }
}
