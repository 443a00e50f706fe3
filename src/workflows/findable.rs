//! Setting the search attributes of `crate::search_attributes` from workflow code. Upserts
//! are commands, so whether a run sets them is decided once, at its start, by a patch marker.

use super::WorkflowSettings;
use crate::search_attributes::{self, INSTANCE, PATCH, TURNS};
use temporalio_sdk::WorkflowContext;

/// Whether this run sets the attributes, decided before its first command. A new run sets
/// them when the worker found them registered, and records the marker. A replayed run
/// follows its history whatever the worker found: with the marker it sets them again (its
/// history holds the upserts), without it it does not (recorded before the change, or on a
/// worker that found them missing).
pub fn decide<W>(ctx: &WorkflowContext<W>, settings: &WorkflowSettings) -> bool {
    (settings.search_attributes || ctx.is_replaying()) && ctx.patched(PATCH)
}

/// Names the run's workflow (`ClawWorkflow`); one upsert.
pub fn start<W>(ctx: &WorkflowContext<W>, workflow: &str) {
    ctx.upsert_search_attributes([search_attributes::at_start(workflow)]);
}

/// Lists `turn` and `instance` in `ClawTurns` and `ClawInstance` before the turn starts: one
/// upsert, none if both are listed already.
pub fn add_turn<W>(ctx: &WorkflowContext<W>, turn: &str, instance: &str) {
    let current = ctx.search_attributes();
    let turns = current.get(&TURNS).unwrap_or_default();
    let instances = current.get(&INSTANCE).unwrap_or_default();
    let listed = |list: &[String], value: &str| list.iter().any(|v| v == value);
    if listed(&turns, turn) && listed(&instances, instance) {
        return;
    }
    ctx.upsert_search_attributes([
        TURNS.value_set(search_attributes::with_value(turns, turn)),
        INSTANCE.value_set(search_attributes::with_value(instances, instance)),
    ]);
}
