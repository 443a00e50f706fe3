//! Step ids: present, plain (a CEL identifier, so `steps.<id>` reads it), unique in the
//! workflow, and where each was first written, for the message about a second use.

use super::MAX_DEPTH;
use crate::config::StepDecl;
use std::collections::BTreeMap;

/// Every id of the workflow, and where it was first written.
#[derive(Default)]
pub(super) struct Ids {
    pub(super) at: BTreeMap<String, String>,
    /// The ids of the main steps (not `on_failure`'s), nested ones included, but not those
    /// inside a for_each (they run once per item and are not recorded under their id).
    pub(super) main: Vec<String>,
    /// Each step inside a for_each, with the for_each's id.
    pub(super) in_for_each: BTreeMap<String, String>,
}

pub(super) fn collect_ids(
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
        let before = ids.at.len();
        let for_each = step.kind == "for_each";
        let nested_main = main && !for_each;
        collect_ids(
            &format!("{here}.steps"),
            &step.steps,
            ids,
            depth + 1,
            nested_main,
        )?;
        if for_each {
            // Every id added since `before` is inside this for_each (at any depth).
            let inside: Vec<String> = ids
                .at
                .iter()
                .filter(|(_, at)| at.starts_with(&format!("{here}.steps[")))
                .map(|(id, _)| id.clone())
                .collect();
            debug_assert_eq!(inside.len(), ids.at.len() - before);
            for nested in inside {
                ids.in_for_each.entry(nested).or_insert_with(|| id.clone());
            }
        }
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
