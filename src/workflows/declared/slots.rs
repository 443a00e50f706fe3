//! Registering a workflow type under a name chosen at run time.
//!
//! The Rust SDK keys a registration by `W::definition().workflow_type`, an associated
//! function of the workflow's Rust type — there is no "register this name" call, and the
//! SDK's `#[run(name = "...")]` takes a literal. What works: [`DeclaredWorkflow<SLOT>`] is a
//! distinct type for each `SLOT` (a const generic), implementing `WorkflowImplementation` by
//! hand, and its `definition()` reads the slot's name from a process-wide table that the
//! worker fills from `[declared.<name>]` before it builds its registrations. So each declared
//! name is a real workflow type: the UI's "Start Workflow", `temporal workflow start --type
//! <name>` and schedules start it like any other, and the SDK routes it to its slot.
//!
//! The table only grows (a name keeps its slot for the life of the process), so a slot's
//! name never changes under a registration, and several workers or replayers in one process
//! agree. What each slot runs is the same code: the run reads its workflow type from the
//! context and asks the worker for that declaration (`resolve`). `MAX_DECLARED` slots are
//! compiled in; the per-slot code is only this glue — the interpreter (`run`) is shared.

use super::resolve::{DeclaredActivities, ResolveRequest, Resolved};
use super::run::{Decision, Engine, LockAnswer};
use super::run::{StepError, activity_failure};
use super::{DeclaredState, HasDeclaredState};
use crate::activities::lock::{
    GRANTED_SIGNAL, Holder, LockActivities, LockRequest, REFUSED_SIGNAL,
};
use crate::config::WhenBusy;
use crate::workflow_types::MAX_DECLARED;
use crate::workflows::WorkflowSettings;
use crate::workflows::findable;
use crate::workflows::options;
use crate::workflows::own_token::with_own_token;
use futures::FutureExt;
use futures::future::LocalBoxFuture;
use std::any::Any;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use temporalio_common::data_converters::{PayloadConverter, RawValue};
use temporalio_common::error::ActivityExecutionError;
use temporalio_common::protos::temporal::api::common::v1::Payloads;
use temporalio_common::{QueryDefinition, SignalDefinition, WorkflowDefinition};
use temporalio_sdk::workflow_replayer::{
    WorkflowReplayerOptionsBuilder, workflow_replayer_options_builder,
};
use temporalio_sdk::{
    ActivityOptions, LocalActivityOptions, SyncWorkflowContext, TimerOptions, TimerResult,
    WorkerOptionsBuilder, WorkflowCancellationToken, WorkflowContext, WorkflowContextView,
    WorkflowTermination, worker_options_builder,
};
use temporalio_workflow::workflow_interceptors::WorkflowOutputValue;
use temporalio_workflow::workflows::{
    ExecutableQuery, ExecutableSyncSignal, WorkflowDefinitionDescriptor, WorkflowError,
    WorkflowImplementation,
};

pub const APPROVE_SIGNAL: &str = "approve";
pub const REJECT_SIGNAL: &str = "reject";
pub const PHASE_QUERY: &str = "phase";

/// Names by slot; append-only. Leaked: at most `MAX_DECLARED` short strings per process.
static SLOTS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// The slot holding `name`, giving it the next free one if it has none.
fn slot_for(name: &str) -> Result<usize, String> {
    let mut slots = SLOTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(slot) = slots.iter().position(|n| *n == name) {
        return Ok(slot);
    }
    if slots.len() >= MAX_DECLARED {
        return Err(format!(
            "cannot register {name:?}: this process already registered {MAX_DECLARED} declared \
             workflow names"
        ));
    }
    slots.push(Box::leak(name.to_owned().into_boxed_str()));
    Ok(slots.len() - 1)
}

fn slot_name(slot: usize) -> &'static str {
    let slots = SLOTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    slots.get(slot).copied().unwrap_or("DeclaredWorkflow")
}

/// A builder workflows can be registered with: the worker's and the replayer's.
pub trait Registrar: Sized {
    fn register_factory<W, F>(self, factory: F) -> Result<Self, String>
    where
        W: WorkflowImplementation,
        <W::Run as WorkflowDefinition>::Input: Send,
        F: Fn() -> W + Send + Sync + 'static;
}

impl<S: worker_options_builder::State> Registrar for WorkerOptionsBuilder<S> {
    fn register_factory<W, F>(self, factory: F) -> Result<Self, String>
    where
        W: WorkflowImplementation,
        <W::Run as WorkflowDefinition>::Input: Send,
        F: Fn() -> W + Send + Sync + 'static,
    {
        self.register_workflow_with_factory::<W, F>(factory)
            .map_err(|err| err.to_string())
    }
}

impl<S: workflow_replayer_options_builder::State> Registrar for WorkflowReplayerOptionsBuilder<S> {
    fn register_factory<W, F>(self, factory: F) -> Result<Self, String>
    where
        W: WorkflowImplementation,
        <W::Run as WorkflowDefinition>::Input: Send,
        F: Fn() -> W + Send + Sync + 'static,
    {
        self.register_workflow_with_factory::<W, F>(factory)
            .map_err(|err| err.to_string())
    }
}

/// Registers one workflow type per name.
pub fn register<R: Registrar>(
    mut registrar: R,
    names: &[String],
    settings: &Arc<WorkflowSettings>,
) -> Result<R, String> {
    let registrars = registrars::<R>();
    for name in names {
        let slot = slot_for(name)?;
        registrar = registrars[slot](registrar, settings.clone())?;
    }
    Ok(registrar)
}

type RegisterSlot<R> = fn(R, Arc<WorkflowSettings>) -> Result<R, String>;

fn register_slot<R: Registrar, const SLOT: usize>(
    registrar: R,
    settings: Arc<WorkflowSettings>,
) -> Result<R, String> {
    registrar.register_factory::<DeclaredWorkflow<SLOT>, _>(move || DeclaredWorkflow {
        settings: settings.clone(),
        state: DeclaredState::default(),
    })
}

macro_rules! slot_table {
    ($($slot:literal)*) => {
        fn registrars<R: Registrar>() -> [RegisterSlot<R>; MAX_DECLARED] {
            [$(register_slot::<R, $slot>,)*]
        }
    };
}

slot_table!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);

/// One declared workflow name's type. What it runs is looked up by name when a run starts.
pub struct DeclaredWorkflow<const SLOT: usize> {
    settings: Arc<WorkflowSettings>,
    state: DeclaredState,
}

impl<const SLOT: usize> HasDeclaredState for DeclaredWorkflow<SLOT> {
    fn declared(&self) -> &DeclaredState {
        &self.state
    }

    fn declared_mut(&mut self) -> &mut DeclaredState {
        &mut self.state
    }
}

/// The run method's marker, as `#[workflow_methods]` would make it.
pub struct RunMarker<const SLOT: usize>;

impl<const SLOT: usize> WorkflowDefinition for RunMarker<SLOT> {
    type Input = RawValue;
    /// A JSON object (`run::RunResult`), which the UI shows as one; runs completed before
    /// returned it as JSON text.
    type Output = serde_json::Value;

    fn name(&self) -> &str {
        slot_name(SLOT)
    }
}

pub struct Approve<const SLOT: usize>;
pub struct Reject<const SLOT: usize>;
pub struct Phase<const SLOT: usize>;

impl<const SLOT: usize> SignalDefinition for Approve<SLOT> {
    type Workflow = RunMarker<SLOT>;
    type Input = RawValue;

    fn name(&self) -> &str {
        APPROVE_SIGNAL
    }
}

impl<const SLOT: usize> SignalDefinition for Reject<SLOT> {
    type Workflow = RunMarker<SLOT>;
    type Input = RawValue;

    fn name(&self) -> &str {
        REJECT_SIGNAL
    }
}

impl<const SLOT: usize> QueryDefinition for Phase<SLOT> {
    type Workflow = RunMarker<SLOT>;
    type Input = ();
    type Output = String;

    fn name(&self) -> &str {
        PHASE_QUERY
    }
}

impl<const SLOT: usize> ExecutableSyncSignal<Approve<SLOT>> for DeclaredWorkflow<SLOT> {
    fn handle(&mut self, _ctx: &mut SyncWorkflowContext<Self>, input: RawValue) {
        self.state.receive(true, &input);
    }
}

impl<const SLOT: usize> ExecutableSyncSignal<Reject<SLOT>> for DeclaredWorkflow<SLOT> {
    fn handle(&mut self, _ctx: &mut SyncWorkflowContext<Self>, input: RawValue) {
        self.state.receive(false, &input);
    }
}

impl<const SLOT: usize> ExecutableQuery<Phase<SLOT>> for DeclaredWorkflow<SLOT> {
    fn handle(
        &self,
        _ctx: &WorkflowContextView,
        _input: (),
    ) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self.state.phase.clone())
    }
}

impl<const SLOT: usize> WorkflowImplementation for DeclaredWorkflow<SLOT> {
    type Run = RunMarker<SLOT>;
    const HAS_INIT: bool = false;
    const INIT_TAKES_INPUT: bool = false;

    fn name() -> &'static str {
        slot_name(SLOT)
    }

    fn definition() -> WorkflowDefinitionDescriptor {
        WorkflowDefinitionDescriptor {
            workflow_type: slot_name(SLOT).to_owned(),
            has_init: false,
            init_takes_input: false,
            signals: vec![
                APPROVE_SIGNAL.to_owned(),
                REJECT_SIGNAL.to_owned(),
                GRANTED_SIGNAL.to_owned(),
                REFUSED_SIGNAL.to_owned(),
            ],
            queries: vec![PHASE_QUERY.to_owned()],
            updates: vec![],
        }
    }

    fn init(_ctx: WorkflowContextView, _input: Option<RawValue>) -> Self {
        panic!("declared workflows are registered with a factory")
    }

    fn run(
        ctx: WorkflowContext<Self>,
        input: Option<RawValue>,
    ) -> LocalBoxFuture<'static, Result<Box<dyn WorkflowOutputValue>, WorkflowTermination>> {
        async move {
            let settings = ctx.state(|w| w.settings.clone());
            let workflow_type = ctx.info().workflow_type().to_owned();
            let engine = ContextEngine::new(ctx.clone());
            let input = input.unwrap_or(RawValue { payloads: vec![] });
            let result = super::run_by_name(&engine, &settings, &workflow_type, &input).await?;
            Ok(Box::new(result) as Box<dyn WorkflowOutputValue>)
        }
        .boxed_local()
    }

    fn decode_signal_input(
        name: &str,
        payloads: Payloads,
        _converter: &PayloadConverter,
    ) -> Result<Option<Box<dyn Any>>, WorkflowError> {
        let known = matches!(
            name,
            APPROVE_SIGNAL | REJECT_SIGNAL | GRANTED_SIGNAL | REFUSED_SIGNAL
        );
        Ok(known.then(|| {
            Box::new(RawValue {
                payloads: payloads.payloads,
            }) as Box<dyn Any>
        }))
    }

    fn dispatch_signal(
        ctx: WorkflowContext<Self>,
        name: &str,
        input: Box<dyn Any>,
    ) -> LocalBoxFuture<'static, Result<(), WorkflowError>> {
        match name {
            APPROVE_SIGNAL => <Self as ExecutableSyncSignal<Approve<SLOT>>>::dispatch(ctx, input),
            REJECT_SIGNAL => <Self as ExecutableSyncSignal<Reject<SLOT>>>::dispatch(ctx, input),
            GRANTED_SIGNAL | REFUSED_SIGNAL => {
                let answer = if name == GRANTED_SIGNAL {
                    LockAnswer::Granted
                } else {
                    LockAnswer::Refused
                };
                ctx.state_mut(|w| w.state.receive_lock(answer));
                async { Ok(()) }.boxed_local()
            }
            _ => unreachable!("decode_signal_input accepts only the signals above"),
        }
    }

    fn decode_query_input(
        name: &str,
        _payloads: &Payloads,
        _converter: &PayloadConverter,
    ) -> Result<Option<Box<dyn Any>>, WorkflowError> {
        Ok((name == PHASE_QUERY).then(|| Box::new(()) as Box<dyn Any>))
    }

    fn dispatch_query(
        &self,
        ctx: WorkflowContextView,
        name: &str,
        input: Box<dyn Any>,
    ) -> Result<Box<dyn WorkflowOutputValue>, WorkflowError> {
        match name {
            PHASE_QUERY => <Self as ExecutableQuery<Phase<SLOT>>>::dispatch(self, &ctx, input),
            _ => unreachable!("decode_query_input accepts only phase"),
        }
    }

    fn dispatch_update(
        _ctx: WorkflowContext<Self>,
        name: &str,
        _input: Box<dyn Any>,
    ) -> LocalBoxFuture<'static, Result<Box<dyn WorkflowOutputValue>, WorkflowError>> {
        unreachable!("declared workflows have no update handler; got {name:?}")
    }

    fn validate_update(
        &self,
        _ctx: WorkflowContextView,
        name: &str,
        _input: Box<dyn Any>,
    ) -> Result<(), WorkflowError> {
        unreachable!("declared workflows have no update handler; got {name:?}")
    }
}

/// The [`Engine`] over a workflow context whose state holds a [`DeclaredState`].
pub struct ContextEngine<W> {
    ctx: WorkflowContext<W>,
    /// Once a deadline is armed, the main steps' commands start on this child of the
    /// workflow's token, which the deadline cancels; before and after, on the workflow's own.
    steps: RefCell<Option<WorkflowCancellationToken>>,
}

impl<W> ContextEngine<W> {
    pub fn new(ctx: WorkflowContext<W>) -> Self {
        Self {
            ctx,
            steps: RefCell::new(None),
        }
    }

    /// The token a command starts on now (a child of it, see `own_token`).
    fn token(&self) -> WorkflowCancellationToken {
        self.steps
            .borrow()
            .clone()
            .unwrap_or_else(|| self.ctx.cancellation_token())
    }
}

impl<W: HasDeclaredState + WorkflowImplementation + 'static> Engine for ContextEngine<W> {
    fn agent_turn(
        &self,
        input: crate::activities::AgentTurnInput,
        options: ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>> {
        // Now, not in the future: the upsert is ordered before the activity it announces.
        if let Some(default) = self.ctx.state(|w| w.declared().findable.clone()) {
            findable::add_turn(
                &self.ctx,
                input.turn(),
                input.instance().unwrap_or(&default),
            );
        }
        let ctx = self.ctx.clone();
        let token = self.token();
        async move {
            let turn = crate::activities::Activities::trigger_agent_turn;
            with_own_token(&token, options, |o| ctx.execute_activity(turn, input, o)).await
        }
        .boxed_local()
    }

    fn http(
        &self,
        params: String,
        options: ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>> {
        let ctx = self.ctx.clone();
        let token = self.token();
        async move {
            let http = crate::activities::Activities::http_request;
            with_own_token(&token, options, |o| ctx.execute_activity(http, params, o)).await
        }
        .boxed_local()
    }

    fn resolve(
        &self,
        request: ResolveRequest,
        options: LocalActivityOptions,
    ) -> LocalBoxFuture<'static, Result<Resolved, ActivityExecutionError>> {
        let ctx = self.ctx.clone();
        let token = self.token();
        async move {
            let resolve = DeclaredActivities::resolve_declared_workflow;
            with_own_token(&token, options, |o| {
                ctx.execute_local_activity(resolve, request, o)
            })
            .await
        }
        .boxed_local()
    }

    fn timer(&self, duration: Duration, summary: String) -> LocalBoxFuture<'static, TimerResult> {
        let ctx = self.ctx.clone();
        let token = self.token();
        async move {
            let timer = TimerOptions::builder(duration).summary(summary).build();
            with_own_token(&token, timer, |o| ctx.timer(o)).await
        }
        .boxed_local()
    }

    fn decision(
        &self,
        step: String,
        timeout: Duration,
        summary: String,
    ) -> LocalBoxFuture<'static, Result<Option<Decision>, WorkflowTermination>> {
        let ctx = self.ctx.clone();
        let token = self.token();
        async move {
            let timeout = TimerOptions::builder(timeout).summary(summary).build();
            let mut timer = with_own_token(&token, timeout, |o| ctx.timer(o));
            let waiting =
                std::pin::pin!(ctx.wait_condition(|w: &W| w.declared().has_decision_for(&step)));
            let mut waiting = waiting;
            temporalio_sdk::workflows::select! {
                decided = waiting => {
                    decided.map_err(|_| WorkflowTermination::cancelled())?;
                    timer.cancel();
                    Ok(ctx.state_mut(|w| w.declared_mut().take_decision_for(&step)))
                }
                fired = timer => match fired {
                    TimerResult::Fired => Ok(None),
                    TimerResult::Cancelled => Err(WorkflowTermination::cancelled()),
                }
            }
        }
        .boxed_local()
    }

    fn set_phase(&self, phase: String) {
        self.ctx.state_mut(|w| w.declared_mut().phase = phase);
    }

    fn make_findable(&self, settings: &WorkflowSettings, workflow: &str) {
        if findable::decide(&self.ctx, settings) {
            findable::start(&self.ctx, workflow);
            let default = settings.default_instance.clone();
            self.ctx
                .state_mut(|w| w.declared_mut().findable = Some(default));
        }
    }

    fn workflow_time(&self) -> Option<SystemTime> {
        self.ctx.workflow_time()
    }

    fn patched(&self, patch_id: &str) -> bool {
        self.ctx.patched(patch_id)
    }

    fn deadline(
        &self,
        duration: Duration,
        summary: String,
    ) -> LocalBoxFuture<'static, TimerResult> {
        let workflow = self.ctx.cancellation_token();
        *self.steps.borrow_mut() = Some(workflow.child_token());
        let ctx = self.ctx.clone();
        async move {
            let timer = TimerOptions::builder(duration).summary(summary).build();
            with_own_token(&workflow, timer, |o| ctx.timer(o)).await
        }
        .boxed_local()
    }

    fn cancel_steps(&self) {
        if let Some(steps) = self.steps.borrow_mut().take() {
            steps.cancel();
        }
    }

    fn acquire_lock(
        &self,
        key: String,
        limit: u32,
        when_busy: WhenBusy,
    ) -> LocalBoxFuture<'static, Result<LockAnswer, WorkflowTermination>> {
        let request = LockRequest {
            holder: self.holder(),
            key,
            limit,
            when_busy,
        };
        let ctx = self.ctx.clone();
        let token = self.token();
        async move {
            let summary = format!("concurrency: ask for the lock {:?}", request.key);
            let acquire = LockActivities::acquire_lock;
            with_own_token(&token, options::lock(summary), |o| {
                ctx.execute_activity(acquire, request, o)
            })
            .await
            .map_err(|err| match activity_failure("concurrency", err) {
                StepError::Failed(failure) => failure.termination,
                StepError::Abort(termination) => termination,
            })?;
            ctx.wait_condition(|w: &W| w.declared().lock.is_some())
                .await
                .map_err(|_| WorkflowTermination::cancelled())?;
            Ok(ctx.state(|w| w.declared().lock.expect("waited for")))
        }
        .boxed_local()
    }

    fn release_lock(&self, key: String) -> LocalBoxFuture<'static, ()> {
        let request = LockRequest {
            holder: self.holder(),
            key,
            limit: 1,
            when_busy: WhenBusy::Queue,
        };
        let ctx = self.ctx.clone();
        // Not the run's token: a cancelled run must still give the lock back.
        let detached = WorkflowCancellationToken::new();
        async move {
            let summary = format!("concurrency: give the lock {:?} back", request.key);
            let release = LockActivities::release_lock;
            let released = with_own_token(&detached, options::lock(summary), |o| {
                ctx.execute_activity(release, request, o)
            });
            // Failed for good: the lock's check of its holders frees it once this run closes.
            let _ = released.await;
        }
        .boxed_local()
    }
}

impl<W> ContextEngine<W> {
    /// This run, as the lock knows it.
    fn holder(&self) -> Holder {
        let info = self.ctx.info();
        Holder {
            workflow_id: info.workflow_id().to_owned(),
            run_id: info.run_id().to_owned(),
        }
    }
}
