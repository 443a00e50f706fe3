//! Every command a workflow waits on (timer, activity, local activity) is started through
//! [`with_own_token`], so that a run evicted from the worker's cache while it waits is freed.
//!
//! Why: in temporalio-workflow 1.1.1 a command started on the workflow's own cancellation
//! token registers a callback on that token, and the callback holds the run's context, which
//! owns the token. Only a command that completes removes its callback; an evicted run's
//! future is dropped mid-wait, so the context keeps itself alive (docs/scaling.md, "Evicted
//! runs and the SDK's cancellation cycle", has what that costs). On a child token that
//! the command's future owns, the callback goes when the future goes. Workflow cancellation
//! still reaches the command: the workflow token cancels its children. Tokens are not
//! commands, so histories replay unchanged.

use futures::future::FusedFuture;
use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use temporalio_sdk::{
    ActivityOptions, CancellableFuture, LocalActivityOptions, TimerOptions,
    WorkflowCancellationToken,
};

/// Benchmark only: `shared` starts every command on the workflow's own token, as before, so
/// that `tests/bench/evictions.rs` can measure what the own tokens save. Read once per
/// process: a run's commands do not depend on it.
pub const BENCH_TOKEN_ENV: &str = "CLAWFACTORY_BENCH_WORKFLOW_TOKEN";

/// Options of a command that can be given its own cancellation token.
pub trait TakesToken {
    fn with_token(self, token: WorkflowCancellationToken) -> Self;
}

impl TakesToken for TimerOptions {
    fn with_token(mut self, token: WorkflowCancellationToken) -> Self {
        self.cancellation_token = Some(token);
        self
    }
}

impl TakesToken for ActivityOptions {
    fn with_token(mut self, token: WorkflowCancellationToken) -> Self {
        self.cancellation_token = Some(token);
        self
    }
}

impl TakesToken for LocalActivityOptions {
    fn with_token(mut self, token: WorkflowCancellationToken) -> Self {
        self.cancellation_token = Some(token);
        self
    }
}

/// Starts a command (`start(options)`, e.g. `|o| ctx.timer(o)`) on a child of `workflow`,
/// the workflow's cancellation token (or a child of it, e.g. a declared run's main steps');
/// the returned future owns the child until it is dropped.
pub fn with_own_token<O, F>(
    workflow: &WorkflowCancellationToken,
    options: O,
    start: impl FnOnce(O) -> F,
) -> OwnToken<F>
where
    O: TakesToken,
    F: CancellableFuture,
{
    if *SHARED_FOR_BENCHMARK {
        // On the parent itself, as the SDK does with no token given when the parent is the
        // workflow's: a declared run's deadline still reaches its steps' commands.
        return OwnToken {
            command: Box::pin(start(options.with_token(workflow.clone()))),
            _token: None,
        };
    }
    let token = workflow.child_token();
    OwnToken {
        command: Box::pin(start(options.with_token(token.clone()))),
        _token: Some(token),
    }
}

static SHARED_FOR_BENCHMARK: LazyLock<bool> =
    LazyLock::new(|| std::env::var(BENCH_TOKEN_ENV).is_ok_and(|value| value == "shared"));

/// A command's future and the token it was started on. Field order matters: the command is
/// dropped first, then the token and with it the callback that points back at the run.
pub struct OwnToken<F> {
    command: Pin<Box<F>>,
    _token: Option<WorkflowCancellationToken>,
}

impl<F: CancellableFuture> OwnToken<F> {
    /// Cancels this command only (e.g. an approval's timeout once a decision came).
    pub fn cancel(&self) {
        self.command.cancel();
    }
}

impl<F: CancellableFuture> Future for OwnToken<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.command.as_mut().poll(cx)
    }
}

impl<F: CancellableFuture> FusedFuture for OwnToken<F> {
    fn is_terminated(&self) -> bool {
        self.command.is_terminated()
    }
}
