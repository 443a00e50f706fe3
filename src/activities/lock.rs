//! The activities behind `concurrency` (one run at a time per key): a declared run asks the
//! key's lock workflow for the lock and gives it back, and the lock workflow asks which of its
//! holders have closed. They talk to Temporal, not to OpenClaw: the worker gives them its
//! client.
//!
//! Why activities and not workflow commands for `acquire`: the lock workflow may not be
//! running (it completes when idle), and only a client can signal-with-start — one atomic
//! call that starts it if need be and delivers the request, so two runs starting at once
//! cannot start two locks for one key.

use crate::config::WhenBusy;
use crate::payload::json_payload;
use crate::workflow_types::LOCK_WORKFLOW_TYPE;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use temporalio_client::errors::WorkflowInteractionError;
use temporalio_client::{
    Client, NamespacedClient, UntypedSignal, UntypedWorkflow, WorkflowDescribeOptions,
    WorkflowExecutionInfo, WorkflowExecutionStatus, WorkflowSignalOptions, WorkflowStartOptions,
};
use temporalio_common::data_converters::RawValue;
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// The signals the lock workflow takes.
pub const ACQUIRE_SIGNAL: &str = "acquire";
/// The acquiring activity's type name, as `#[activity(name = ...)]` below registers it (the
/// attribute takes a literal): `resume` looks for it in a history.
pub const ACQUIRE_LOCK_ACTIVITY: &str = "acquire_lock";
pub const RELEASE_SIGNAL: &str = "release";
/// The signals a declared run takes from the lock workflow.
pub const GRANTED_SIGNAL: &str = "lock-granted";
pub const REFUSED_SIGNAL: &str = "lock-refused";

/// One run of a workflow: who holds or waits for a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub workflow_id: String,
    pub run_id: String,
}

/// A run's request for the lock of `key`, as the `acquire` signal carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockRequest {
    pub key: String,
    #[serde(flatten)]
    pub holder: Holder,
    /// The requester's `limit`: how many runs may hold the lock at once when it is its turn.
    pub limit: u32,
    pub when_busy: WhenBusy,
}

/// The lock workflow's id for a key: `clawfactory-lock:<key>`. A key longer than
/// [`MAX_KEY_BYTES`] or with control characters is cut and given a hash of the whole key, so
/// the id stays short and printable and two different keys still get different locks.
pub fn lock_workflow_id(key: &str) -> String {
    const PREFIX: &str = "clawfactory-lock:";
    let plain = key.len() <= MAX_KEY_BYTES && !key.chars().any(char::is_control);
    if plain {
        return format!("{PREFIX}{key}");
    }
    let mut cut: String = key.chars().filter(|c| !c.is_control()).collect();
    while cut.len() > MAX_KEY_BYTES - 17 {
        cut.pop();
    }
    format!("{PREFIX}{cut}~{:016x}", fnv1a(key))
}

/// The longest key kept as it is in the lock's workflow id.
pub const MAX_KEY_BYTES: usize = 200;

/// FNV-1a, 64 bits: stable across processes and versions (unlike `std`'s hasher).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

pub struct LockActivities {
    client: Client,
}

impl LockActivities {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

fn raw(value: &impl Serialize) -> anyhow::Result<RawValue> {
    let value = serde_json::to_value(value)?;
    Ok(RawValue {
        payloads: vec![json_payload(&value)],
    })
}

#[activities]
impl LockActivities {
    /// Asks the key's lock workflow for the lock, starting it if it is not running; the
    /// answer comes later, as a signal to the run.
    #[activity(name = "acquire_lock")]
    pub async fn acquire_lock(
        self: Arc<Self>,
        ctx: ActivityContext,
        request: LockRequest,
    ) -> Result<(), ActivityError> {
        let id = lock_workflow_id(&request.key);
        let task_queue = ctx.info().task_queue.clone();
        self.client
            .signal_with_start_workflow(
                UntypedWorkflow::new(LOCK_WORKFLOW_TYPE),
                raw(&serde_json::json!({}))?,
                UntypedSignal::new(ACQUIRE_SIGNAL),
                raw(&request)?,
                WorkflowStartOptions::new(task_queue, id.clone()).build(),
            )
            .await
            .with_context(|| format!("cannot ask {id} for the lock"))?;
        Ok(())
    }

    /// Gives the lock back (or leaves its queue). A lock that is not running holds nothing.
    #[activity(name = "release_lock")]
    pub async fn release_lock(
        self: Arc<Self>,
        _ctx: ActivityContext,
        request: LockRequest,
    ) -> Result<(), ActivityError> {
        let id = lock_workflow_id(&request.key);
        let handle = self
            .client
            .get_workflow_handle::<UntypedWorkflow>(id.clone());
        let sent = handle
            .signal(
                UntypedSignal::new(RELEASE_SIGNAL),
                raw(&request.holder)?,
                WorkflowSignalOptions::default(),
            )
            .await;
        match sent {
            Ok(()) | Err(WorkflowInteractionError::NotFound(_)) => Ok(()),
            Err(err) => Err(anyhow::Error::new(err)
                .context(format!("cannot give the lock {id} back"))
                .into()),
        }
    }

    /// Which of these runs have closed (completed, failed, cancelled, terminated, timed out,
    /// or are gone): the lock workflow frees what they hold.
    #[activity(name = "lock_holders_closed")]
    pub async fn lock_holders_closed(
        self: Arc<Self>,
        _ctx: ActivityContext,
        holders: Vec<Holder>,
    ) -> Result<Vec<Holder>, ActivityError> {
        let mut closed = Vec::new();
        for holder in holders {
            let handle = WorkflowExecutionInfo::builder()
                .namespace(self.client.namespace())
                .workflow_id(holder.workflow_id.clone())
                .run_id(holder.run_id.clone())
                .build()
                .bind_untyped(self.client.clone());
            match handle.describe(WorkflowDescribeOptions::default()).await {
                Ok(description) if description.status() == WorkflowExecutionStatus::Running => {}
                Ok(_) | Err(WorkflowInteractionError::NotFound(_)) => closed.push(holder),
                Err(err) => {
                    return Err(anyhow::Error::new(err)
                        .context(format!("cannot describe {}", holder.workflow_id))
                        .into());
                }
            }
        }
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_key_is_its_lock_id_and_a_long_or_odd_one_is_cut_and_hashed() {
        assert_eq!(lock_workflow_id("digest"), "clawfactory-lock:digest");
        let long = "a".repeat(500);
        let id = lock_workflow_id(&long);
        assert!(
            id.len() <= "clawfactory-lock:".len() + MAX_KEY_BYTES,
            "{id}"
        );
        let other = format!("{}b", "a".repeat(499));
        assert_ne!(id, lock_workflow_id(&other));
        let odd = lock_workflow_id("a\nb");
        assert!(
            !odd.contains('\n') && odd.starts_with("clawfactory-lock:ab~"),
            "{odd}"
        );
        assert_ne!(odd, lock_workflow_id("ab"));
    }
}
