//! `ClawfactoryLock`: the lock of one `concurrency` key, as a workflow — Temporal has no
//! semaphore of its own. One run per key, workflow id `clawfactory-lock:<key>`
//! (`activities::lock::lock_workflow_id`); declared runs ask it with the `acquire` signal
//! (signal-with-start, so it starts when first needed) and give it back with `release`. It
//! answers by signalling the run (`lock-granted`, `lock-refused`) or cancelling it
//! (`cancel_other`). What it decides is `state` (pure, unit-tested); this file only carries
//! the effects out.
//!
//! Nothing can hold it forever: a run it cannot signal (closed) is released at once, and
//! while anyone holds it, it asks every minute which holders have closed (terminated, timed
//! out: runs that could not release) and frees what they held. When nobody holds or waits,
//! it completes; after many signals it continues as new, carrying its state.

pub mod state;

use super::own_token::with_own_token;
use crate::activities::lock::{
    ACQUIRE_SIGNAL, GRANTED_SIGNAL, Holder, LockActivities, LockRequest, REFUSED_SIGNAL,
    RELEASE_SIGNAL,
};
use crate::payload::json_payload;
use crate::workflow_types::LOCK_WORKFLOW_TYPE;
use futures::FutureExt;
use state::{Effect, LockState};
use std::collections::VecDeque;
use std::time::Duration;
use temporalio_client::{UntypedSignal, UntypedWorkflow};
use temporalio_common::data_converters::RawValue;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityOptions, ContinueAsNewOptions, SignalWorkflowOptions, SyncWorkflowContext,
    TimerOptions, TimerResult, WorkflowContext, WorkflowResult,
};

/// How often the holders are checked while anyone holds the lock.
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// Signals handled before the lock continues as new (each adds a few events).
const SIGNALS_PER_RUN: u32 = 500;

enum Event {
    Acquire(LockRequest),
    Release(Holder),
}

#[workflow]
#[derive(Default)]
pub struct ClawfactoryLock {
    inbox: VecDeque<Event>,
}

#[workflow_methods]
impl ClawfactoryLock {
    #[run(name = LOCK_WORKFLOW_TYPE)]
    pub async fn run(ctx: &mut WorkflowContext<Self>, state: LockState) -> WorkflowResult<()> {
        let mut state = state;
        let mut handled = 0u32;
        loop {
            while let Some(event) = ctx.state_mut(|w| w.inbox.pop_front()) {
                handled += 1;
                let effects = match event {
                    Event::Acquire(request) => state.acquire(&request),
                    Event::Release(holder) => state.release(&holder),
                };
                carry_out(ctx, &mut state, effects).await;
            }
            // Decided with an empty inbox and no await since: no signal is left unanswered.
            if state.is_idle() {
                return Ok(());
            }
            if handled >= SIGNALS_PER_RUN || ctx.continue_as_new_suggested() {
                ctx.continue_as_new(state.clone(), ContinueAsNewOptions::default())?;
            }
            if !signal_or_check_due(ctx).await {
                let closed = holders_closed(ctx, &state).await;
                for holder in closed {
                    let effects = state.release(&holder);
                    carry_out(ctx, &mut state, effects).await;
                }
            }
        }
    }

    #[signal(name = ACQUIRE_SIGNAL)]
    pub fn acquire(&mut self, _ctx: &mut SyncWorkflowContext<Self>, request: LockRequest) {
        self.inbox.push_back(Event::Acquire(request));
    }

    #[signal(name = RELEASE_SIGNAL)]
    pub fn release(&mut self, _ctx: &mut SyncWorkflowContext<Self>, holder: Holder) {
        self.inbox.push_back(Event::Release(holder));
    }
}

/// True when a signal came in; false when the check of the holders is due.
async fn signal_or_check_due(ctx: &WorkflowContext<ClawfactoryLock>) -> bool {
    let token = ctx.cancellation_token();
    let summary = "check which holders have closed".to_owned();
    let timer = TimerOptions::builder(CHECK_EVERY).summary(summary).build();
    let mut timer = with_own_token(&token, timer, |o| ctx.timer(o));
    let mut signal = std::pin::pin!(ctx.wait_condition(|w| !w.inbox.is_empty()));
    temporalio_sdk::workflows::select! {
        _ = signal => {
            timer.cancel();
            true
        }
        fired = timer => !matches!(fired, TimerResult::Fired),
    }
}

/// The holders that have closed; none if the check fails (it runs again a minute later).
async fn holders_closed(ctx: &WorkflowContext<ClawfactoryLock>, state: &LockState) -> Vec<Holder> {
    let token = ctx.cancellation_token();
    let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(30))
        .summary("which holders have closed".to_owned())
        .build();
    let holders = state.holders.clone();
    with_own_token(&token, options, |o| {
        ctx.execute_activity(LockActivities::lock_holders_closed, holders, o)
    })
    .await
    .unwrap_or_default()
}

/// Signals or cancels the runs concerned. A run that cannot be signalled has closed: it is
/// released, which may grant the lock to the next, and so on.
async fn carry_out(
    ctx: &WorkflowContext<ClawfactoryLock>,
    state: &mut LockState,
    effects: Vec<Effect>,
) {
    let mut effects: VecDeque<Effect> = effects.into();
    while let Some(effect) = effects.pop_front() {
        let (holder, delivered) = match effect {
            Effect::Grant(holder) => {
                let sent = signal(ctx, &holder, GRANTED_SIGNAL).await;
                (holder, sent)
            }
            Effect::Refuse(holder) => {
                // A refused run holds nothing: whether it heard does not matter here.
                signal(ctx, &holder, REFUSED_SIGNAL).await;
                continue;
            }
            Effect::Cancel(holder) => {
                let handle =
                    ctx.external_workflow(&holder.workflow_id, Some(holder.run_id.clone()));
                let reason = "another run of its concurrency key asked to go first".to_owned();
                let cancelled = handle.cancel(Some(reason)).map(|r| r.is_ok()).await;
                (holder, cancelled)
            }
        };
        if !delivered {
            effects.extend(state.release(&holder));
        }
    }
}

async fn signal(ctx: &WorkflowContext<ClawfactoryLock>, holder: &Holder, name: &str) -> bool {
    let handle = ctx.external_workflow(&holder.workflow_id, Some(holder.run_id.clone()));
    let input = RawValue {
        payloads: vec![json_payload(&serde_json::json!({
            "lock": ctx.info().workflow_id().to_owned(),
        }))],
    };
    handle
        .signal(
            UntypedSignal::<UntypedWorkflow>::new(name),
            input,
            SignalWorkflowOptions::default(),
        )
        .await
        .is_ok()
}
