//! Resuming a failed run from the step that failed it: find, in the failed run's history,
//! where to reset it (`point`), then ask the server to reset it there (`remote`).
//!
//! Why Temporal's reset and not a new run seeded with the old results: a reset keeps every
//! event before the point — the recorded definition, each finished step's result, the
//! approval's signal — and the new run replays them instead of running them, with no change
//! to any workflow's code, so it works for every workflow type alike (declared, `CustomWorkflow`,
//! the built-in ones) and for runs started by any older version of this binary. A seeded run
//! would need every workflow to accept and trust "results from before", a second code path
//! through each step kind, and a `patched` branch for open runs.
//!
//! The point is the workflow task that scheduled the failed step's activity: the new run's
//! history ends just before that task's commands, so the worker runs the task again and
//! schedules the step anew, with today's worker (its retry policy, its gateway, its secrets)
//! but the run's recorded definition.

mod point;
pub mod remote;

pub use point::{ResumePoint, resume_point};
