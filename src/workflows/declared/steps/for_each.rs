//! `for_each`: runs its `steps` once per item of a list that is known only when the run
//! gets there (`items`, a CEL expression such as `steps.research.json.topics`), at most
//! `concurrency` items at a time, and records one entry per item, in item order.
//!
//! - The steps see the item as `item` and its position as `index`; each item has records of
//!   its own (`run/iteration`), so `steps.<id>` inside means this item's step. Outside, only
//!   the for_each's result is recorded: `steps.<for_each>.json` is the list of entries.
//! - `max_items` is required: the build's history bound counts every item's steps that
//!   many times, so a list longer than it fails the step (`TooManyItems`) before any item runs.
//! - Failures as for parallel branches: items already running end first, then the step
//!   fails with the failure of the lowest index; no new item starts after a failure. With
//!   `continue_on_error` each failed item is recorded in its entry and the others go on.
//! - Determinism: items start in item order. `concurrency` lanes each take the next item
//!   when their last one ends; which lane ends first comes from the history, so a replay
//!   starts the same items in the same order.

use crate::failure::FailureType;
use crate::workflows::declared::expr::{Expr, render};
use crate::workflows::declared::plan::{Compiling, HISTORY_EVENT_LIMIT, PlannedStep};
use crate::workflows::declared::run::{Flow, Run, StepError};
use crate::workflows::declared::steps::Kind;
use serde::Serialize;
use std::cell::{Cell, RefCell};

pub(super) const KEYS: &[&str] = &["items", "max_items", "concurrency", "steps"];

/// The most items a for_each may declare: even steps that record no history take a
/// workflow task's time per item.
pub const MAX_ITEMS: u32 = 10_000;
/// The most items at once: Temporal refuses a run more than 2000 pending activities, and a
/// body may hold several.
pub const MAX_CONCURRENCY: u32 = 100;

#[derive(Debug)]
pub struct ForEach {
    pub items: Expr,
    pub max_items: u32,
    pub concurrency: u32,
    pub body: Vec<PlannedStep>,
}

impl ForEach {
    /// Every item's steps, `max_items` times; the for_each itself records nothing.
    pub fn history_events(&self) -> u64 {
        u64::from(self.max_items) * self.per_item_events()
    }

    fn per_item_events(&self) -> u64 {
        self.body.iter().map(|s| s.kind.history_events()).sum()
    }
}

pub(super) fn compile(step: &Compiling) -> Result<ForEach, String> {
    if step.in_for_each() {
        return Err(format!(
            "{}: a for_each cannot be inside another for_each's steps (its item would hide \
             the outer one); give the inner list a for_each of its own after this one",
            step.field("type")
        ));
    }
    let source = step.required("items", &step.decl.items)?;
    let items = step.expr("items", &source)?;
    let max_items = max_items(step)?;
    let concurrency = concurrency(step, max_items)?;
    let body = step.body()?;
    refuse_stop(&body)?;
    let for_each = ForEach {
        items,
        max_items,
        concurrency,
        body,
    };
    let events = for_each.history_events();
    if events > HISTORY_EVENT_LIMIT {
        return Err(format!(
            "{}: {max_items} items, each of whose steps could need {} history events, could \
             need {events} events, and Temporal terminates a run past {HISTORY_EVENT_LIMIT}; \
             lower max_items or split the work",
            step.field("max_items"),
            for_each.per_item_events()
        ));
    }
    Ok(for_each)
}

fn max_items(step: &Compiling) -> Result<u32, String> {
    match step.decl.max_items {
        None => Err(format!(
            "{}: missing (the longest list a run may meet: the build counts the history a \
             run could need with it, and a longer list fails the step)",
            step.field("max_items")
        )),
        Some(n) if (1..=MAX_ITEMS).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "{}: {n} is not between 1 and {MAX_ITEMS}",
            step.field("max_items")
        )),
    }
}

fn concurrency(step: &Compiling, max_items: u32) -> Result<u32, String> {
    let most = max_items.min(MAX_CONCURRENCY);
    match step.decl.concurrency {
        None => Ok(1),
        Some(n) if (1..=most).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "{}: {n} is not between 1 and {most} (at most max_items and {MAX_CONCURRENCY} \
             items run at once)",
            step.field("concurrency")
        )),
    }
}

/// A stop would end the run from inside one item while others may still be running.
fn refuse_stop(body: &[PlannedStep]) -> Result<(), String> {
    let mut found = None;
    for step in body {
        step.visit(&mut |s| {
            if found.is_none() && matches!(s.kind, Kind::Stop(_)) {
                found = Some(s.path.clone());
            }
        });
    }
    match found {
        Some(path) => Err(format!(
            "{path}.type: a stop step cannot be inside a for_each (it would end the run \
             from one item); put it after the for_each and read steps.<for_each id>.json"
        )),
        None => Ok(()),
    }
}

/// One item's entry in the for_each's result.
#[derive(Serialize)]
struct Entry {
    index: usize,
    item: serde_json::Value,
    /// `ok` or `failed-continued`.
    status: &'static str,
    /// The last step's result (empty if it did not end `ok`), and the same parsed as JSON.
    result: String,
    json: serde_json::Value,
    error: String,
}

pub(super) async fn run(
    run: &Run<'_>,
    step: &PlannedStep,
    for_each: &ForEach,
) -> Result<(String, Flow), StepError> {
    let items = list(run, step, for_each)?;
    let entries: RefCell<Vec<Option<Entry>>> = RefCell::new(items.iter().map(|_| None).collect());
    let errors: RefCell<Vec<(usize, StepError)>> = RefCell::default();
    let next = Cell::new(0usize);
    let lane = || async {
        while errors.borrow().is_empty() && next.get() < items.len() {
            let index = next.get();
            next.set(index + 1);
            let item = items[index].clone();
            let item_run = run.for_item(step, &for_each.body, index, item.clone());
            let entry = |status, result: String, error| Entry {
                index,
                item: item.json().unwrap_or(serde_json::Value::Null),
                status,
                json: serde_json::from_str(&result).unwrap_or(serde_json::Value::Null),
                result,
                error,
            };
            let outcome = match item_run.body(&for_each.body).await {
                Ok(result) => entry("ok", result, String::new()),
                Err(StepError::Failed(failure)) if step.continue_on_error => {
                    let error = format!("[{}] {}", failure.failure_type, failure.message);
                    entry("failed-continued", String::new(), error)
                }
                Err(error) => {
                    errors.borrow_mut().push((index, error));
                    continue;
                }
            };
            entries.borrow_mut()[index] = Some(outcome);
        }
    };
    let lanes = items.len().min(for_each.concurrency as usize);
    temporalio_sdk::workflows::join_all((0..lanes).map(|_| lane())).await;
    if let Some(error) = first_error(step, errors.into_inner()) {
        return Err(error);
    }
    let entries: Vec<Entry> = entries.into_inner().into_iter().flatten().collect();
    let text = serde_json::to_string(&entries).expect("entries serialize");
    Ok((text, Flow::Continue))
}

/// The list `items` gives, checked: a list, and no longer than `max_items`.
fn list(
    run: &Run<'_>,
    step: &PlannedStep,
    for_each: &ForEach,
) -> Result<Vec<cel::Value>, StepError> {
    let source = for_each.items.source();
    let items = match run.eval(step, "items", &for_each.items)? {
        cel::Value::List(items) => items,
        other => {
            let message = format!(
                "{source:?}: expected a list, got {}: {}",
                kind(&other),
                excerpt(&render(&other))
            );
            return Err(run.step_failure(step, FailureType::ExpressionFailed, "items", message));
        }
    };
    if items.len() > for_each.max_items as usize {
        let message = format!(
            "{source:?} gave {} items, more than max_items = {} (the build counted the \
             history for that many); raise max_items or shorten the list",
            items.len(),
            for_each.max_items
        );
        return Err(run.step_failure(step, FailureType::TooManyItems, "items", message));
    }
    Ok(items.iter().cloned().collect())
}

/// A cancellation wins; else the failure of the lowest index, its message naming the item.
fn first_error(step: &PlannedStep, mut errors: Vec<(usize, StepError)>) -> Option<StepError> {
    if let Some(at) = errors
        .iter()
        .position(|(_, e)| matches!(e, StepError::Abort(_)))
    {
        return Some(errors.swap_remove(at).1);
    }
    errors.sort_by_key(|(index, _)| *index);
    let (index, error) = errors.into_iter().next()?;
    Some(match error {
        StepError::Failed(mut failure) => {
            failure.message = format!("{}[{index}]: {}", step.id, failure.message);
            StepError::Failed(failure)
        }
        abort => abort,
    })
}

fn kind(value: &cel::Value) -> &'static str {
    match value {
        cel::Value::Null => "null",
        cel::Value::Bool(_) => "a boolean",
        cel::Value::Int(_) | cel::Value::UInt(_) => "an integer",
        cel::Value::Float(_) => "a number",
        cel::Value::String(_) => "a string",
        cel::Value::Map(_) => "a map",
        _ => "a value of another type",
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 100;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use crate::config::DeclaredWorkflow;
    use crate::workflows::declared::plan::{ACTIVITY_EVENTS, Plan, TURN_UPSERT_EVENTS};
    use serde_json::{Value, json};

    fn compile(steps: Value) -> Result<Plan, String> {
        let workflow: DeclaredWorkflow = serde_json::from_value(json!({"steps": steps})).unwrap();
        Plan::compile("f", &workflow)
    }

    fn each(extra: Value, body: Value) -> Value {
        let mut step = json!({"id": "each", "type": "for_each", "items": "input.list",
                              "max_items": 3, "steps": body});
        for (key, value) in extra.as_object().unwrap() {
            step[key] = value.clone();
        }
        step
    }

    fn turn(id: &str, message: &str) -> Value {
        json!({"id": id, "type": "agent_turn", "turn": "x", "message": message})
    }

    fn error(steps: Value) -> String {
        compile(steps).unwrap_err()
    }

    #[test]
    fn the_history_bound_counts_every_item_and_a_large_max_items_is_refused_by_name() {
        let plan = compile(json!([each(json!({}), json!([turn("w", "{{ item }}")]))])).unwrap();
        let one = compile(json!([turn("w", "x")])).unwrap().history_events();
        // Two more items' turns; the deadline's share (one turn in flight) is the same.
        let per_turn = ACTIVITY_EVENTS + TURN_UPSERT_EVENTS;
        assert_eq!(plan.history_events(), one + 2 * per_turn);
        assert_eq!(plan.ids(), [("each", "for_each")]);
        let err = error(json!([each(
            json!({"max_items": 9000}),
            json!([turn("w", "")])
        )]));
        assert!(
            err.starts_with("declared.f.steps[0] \"each\".max_items: 9000 items")
                && err.contains("could need 63000 events"),
            "{err}"
        );
    }

    #[test]
    fn max_items_and_concurrency_are_required_or_bounded_and_named() {
        let body = json!([turn("w", "")]);
        for (extra, expected) in [
            (json!({"max_items": null}), "\"each\".max_items: missing"),
            (
                json!({"max_items": 0}),
                "\"each\".max_items: 0 is not between 1 and 10000",
            ),
            (
                json!({"concurrency": 4}),
                "\"each\".concurrency: 4 is not between 1 and 3",
            ),
            (json!({"concurrency": 0}), "\"each\".concurrency: 0 is not"),
            (json!({"items": null}), "\"each\".items: missing"),
            (json!({"items": "1 +"}), "\"each\".items: does not compile"),
        ] {
            let mut step = each(extra.clone(), body.clone());
            step.as_object_mut().unwrap().retain(|_, v| !v.is_null());
            let err = error(json!([step]));
            assert!(err.contains(expected), "{extra}: {err}");
        }
        let err = error(json!([{"id": "d", "type": "delay", "duration": "1s", "max_items": 2}]));
        assert!(err.ends_with("max_items: does not apply to a step of type delay"));
    }

    #[test]
    fn item_is_read_only_inside_and_the_steps_inside_only_through_the_for_each() {
        let err = error(json!([turn("w", "{{ item }}")]));
        assert!(
            err.contains("reads \"item\", which is not defined (item and index are only"),
            "{err}"
        );
        let err = error(json!([each(
            json!({"items": "[index]"}),
            json!([turn("w", "")])
        )]));
        assert!(err.contains("\"each\".items: \"[index]\" reads \"index\""));
        let inner = json!([turn("w", "")]);
        let err = error(json!([
            each(json!({}), inner),
            turn("after", "{{ steps.w.result }}")
        ]));
        assert!(
            err.contains("reads steps.w, which runs once per item inside for_each \"each\": read its results as steps.each.json"),
            "{err}"
        );
        let err = error(json!([each(
            json!({"items": "steps.w.json"}),
            json!([turn("w", "")])
        )]));
        assert!(err.contains("\"each\".items: "), "{err}");
        compile(json!([
            turn("first", ""),
            each(
                json!({"items": "steps.first.json.list"}),
                json!([
                    turn("w", "{{ item }} {{ steps.first.result }}"),
                    turn("v", "{{ steps.w.result }} {{ index }}")
                ])
            ),
            turn("after", "{{ steps.each.json }}")
        ]))
        .unwrap();
    }

    #[test]
    fn the_manuals_example_passes_every_check_and_counts_its_items_in_the_history_bound() {
        let doc = include_str!("../../../../docs/declared-workflows.md");
        let block = doc
            .split("```toml")
            .map(|rest| rest.split("```").next().unwrap())
            .find(|block| block.contains("[declared.poems]"))
            .expect("docs/declared-workflows.md has the for_each example");
        let config = crate::config::Config::parse(block).unwrap();
        let instances =
            crate::config::Instances::resolve(&config, crate::config::GatewayApi::HooksAgent);
        crate::workflows::declared::check(&config, &instances).unwrap();
        let plan = Plan::compile("poems", &config.declared.0["poems"]).unwrap();
        // The run, the research turn, 10 items' turns, the http step, and the deadline's 7
        // events with a cancel request for each of the 2 turns that can be in flight at once.
        assert_eq!(plan.history_events(), 9 + 7 + 10 * 7 + 6 + 7 + 2);
    }

    #[test]
    fn stop_and_another_for_each_are_refused_inside_a_for_each() {
        let stop = json!({"id": "halt", "type": "stop"});
        let err = error(json!([each(json!({}), json!([stop]))]));
        assert!(
            err.starts_with(
                "declared.f.steps[0] \"each\".steps[0] \"halt\".type: a stop step cannot be inside a for_each"
            ),
            "{err}"
        );
        let inner = each(json!({}), json!([turn("w", "")]));
        let mut inner = inner.clone();
        inner["id"] = json!("inner");
        let err = error(json!([each(json!({}), json!([inner]))]));
        assert!(
            err.contains("\"inner\".type: a for_each cannot be inside another for_each"),
            "{err}"
        );
    }
}
