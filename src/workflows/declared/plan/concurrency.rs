//! `concurrency`: the key expression compiled (it may read only `input`: the lock is taken
//! before any step runs) and `limit` checked. What a run does with it is `run/concurrency`.

use crate::config::{DeclaredWorkflow, WhenBusy};
use crate::workflows::declared::expr::Expr;

/// The most runs one key may let through at once.
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug)]
pub struct PlannedConcurrency {
    pub key: Expr,
    pub limit: u32,
    pub when_busy: WhenBusy,
}

/// The declaration's `concurrency`, checked; errors name the key.
pub(super) fn compile_concurrency(
    root: &str,
    workflow: &DeclaredWorkflow,
) -> Result<Option<PlannedConcurrency>, String> {
    let Some(concurrency) = &workflow.concurrency else {
        return Ok(None);
    };
    let field = format!("{root}.concurrency");
    let key = Expr::compile(&concurrency.key).map_err(|err| format!("{field}.key: {err}"))?;
    let reads = key.reads();
    if let Some(variable) = reads.variables.iter().find(|v| *v != "input") {
        return Err(format!(
            "{field}.key: {:?} reads {variable:?}; the key is evaluated before the first step, \
             so it may read only input",
            key.source()
        ));
    }
    let inputs = &workflow.inputs;
    if !inputs.is_empty()
        && let Some(name) = reads.inputs.iter().find(|f| !inputs.accepts_field(f))
    {
        return Err(format!(
            "{field}.key: {:?} reads input.{name}, but no input is declared by that name \
             (declared: {})",
            key.source(),
            inputs.names()
        ));
    }
    let limit = concurrency.limit.unwrap_or(1);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(format!(
            "{field}.limit: {limit} is not between 1 and {MAX_LIMIT} (how many runs may hold \
             the key's lock at once)"
        ));
    }
    Ok(Some(PlannedConcurrency {
        key,
        limit,
        when_busy: concurrency.when_busy.unwrap_or_default(),
    }))
}

/// The acquire activity, the answer's signal with the workflow task it wakes, the release.
pub const LOCK_EVENTS: u64 = 2 * super::ACTIVITY_EVENTS + 4;

impl super::Plan {
    /// The events the lock adds to a run's history: none without `concurrency`.
    pub(super) fn lock_events(&self) -> u64 {
        if self.concurrency.is_some() {
            LOCK_EVENTS
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::workflows::declared::plan::Plan;

    fn compile(concurrency: &str) -> Result<Plan, String> {
        let text = format!(
            "[declared.c]\ninputs = {{ topic = {{ type = \"string\" }} }}\nconcurrency = \
             {concurrency}\n[[declared.c.steps]]\nid = \"a\"\ntype = \"stop\"\n"
        );
        let config = Config::parse(&text).map_err(|e| format!("{e:#}"))?;
        Plan::compile("c", &config.declared.0["c"])
    }

    #[test]
    fn the_key_may_read_only_declared_inputs_and_the_limit_is_bounded() {
        let plan = compile("{ key = \"input.topic\", limit = 3, when_busy = \"skip\" }").unwrap();
        let concurrency = plan.concurrency.unwrap();
        assert_eq!(concurrency.limit, 3);
        for (bad, expected) in [
            (
                "{ key = \"steps.a.result\" }",
                "declared.c.concurrency.key: \"steps.a.result\" reads \"steps\"; the key is \
                 evaluated before the first step, so it may read only input",
            ),
            (
                "{ key = \"input.topc\" }",
                "declared.c.concurrency.key: \"input.topc\" reads input.topc, but no input is \
                 declared by that name (declared: topic)",
            ),
            (
                "{ key = \"'x'\", limit = 0 }",
                "declared.c.concurrency.limit: 0 is not between 1 and 100",
            ),
            (
                "{ key = \"(\" }",
                "declared.c.concurrency.key: does not compile",
            ),
        ] {
            let err = compile(bad).unwrap_err();
            assert!(err.starts_with(expected), "{bad}: {err}");
        }
        let err = compile("{ key = \"'x'\", when_busy = \"later\" }").unwrap_err();
        assert!(err.contains("unknown variant `later`"), "{err}");
    }
}
