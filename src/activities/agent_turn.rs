//! `trigger_agent_turn`: killswitch check, then one call through the configured gateway,
//! heartbeating while it runs.
//!
//! The heartbeat details carry the idempotency key's generation across attempts: a retry
//! after a transport failure keeps the key (and re-attaches to the same OpenClaw run), a
//! retry after a run that completed with error bumps it (so the turn really runs again).

use super::InstanceGateway;
use super::activity_error::{non_retryable, retryable};
use crate::failure::FailureType;
use crate::gateway::{GatewayError, TurnRequest};
use crate::service::metrics::{Metrics, TurnOutcome};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

/// Heartbeat this often unless the heartbeat timeout asks for more.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Default, Serialize, Deserialize)]
struct TurnProgress {
    /// 0 for the first run of this logical turn; +1 after each run that completed with error.
    key_generation: u32,
}

/// One logical agent turn: what runs, where, under which idempotency key.
pub struct Turn<'a> {
    pub instance: &'a str,
    pub agent_turn: String,
    pub base_key: String,
    /// Replaces the turn's prompt (a declared workflow's templated `message`).
    pub message: Option<String>,
}

pub async fn run(
    ctx: &ActivityContext,
    target: &InstanceGateway,
    turn: Turn<'_>,
    metrics: &Metrics,
) -> Result<String, ActivityError> {
    let Turn {
        instance,
        agent_turn,
        base_key,
        message,
    } = turn;
    // Checked before any network call: a switched-off instance must not be woken by a retry.
    if target.killswitch_file.exists() {
        metrics.agent_turn(instance, TurnOutcome::NonRetryable, None);
        return Err(non_retryable(
            FailureType::KillswitchActive,
            format!(
                "agent turn {agent_turn:?} not run: killswitch file {} exists",
                target.killswitch_file.display()
            ),
        ));
    }
    let progress: TurnProgress = ctx
        .heartbeat_details()
        .deserialize()
        .ok()
        .flatten()
        .unwrap_or_default();
    let generation = progress.key_generation;
    let turn = TurnRequest {
        idempotency_key: key_for(&base_key, generation),
        agent_turn,
        deadline: ctx.info().deadline,
        message,
    };
    let started = std::time::Instant::now();
    let result = with_heartbeats(ctx, generation, target.gateway.trigger(&turn)).await;
    metrics.agent_turn(instance, outcome(&result), Some(started.elapsed()));
    match &result {
        Ok(_) => tracing::info!(
            agent_turn = %turn.agent_turn,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "agent turn succeeded"
        ),
        Err(err) => tracing::warn!(
            agent_turn = %turn.agent_turn,
            error = %err.message(),
            "agent turn failed"
        ),
    }
    match result {
        Ok(text) => Ok(text),
        Err(GatewayError::RunFailed { message }) => {
            // Recorded details travel with the failure to the next attempt.
            let next = TurnProgress {
                key_generation: generation + 1,
            };
            if let Err(err) = ctx.record_heartbeat(next).await {
                tracing::warn!(error = %err, "cannot record the next idempotency key generation");
            }
            Err(retryable(FailureType::AgentRunFailed, message, None))
        }
        Err(other) => Err(other.into()),
    }
}

fn outcome(result: &Result<String, GatewayError>) -> TurnOutcome {
    match result {
        Ok(_) => TurnOutcome::Succeeded,
        Err(GatewayError::NonRetryable { .. }) => TurnOutcome::NonRetryable,
        Err(GatewayError::Retryable { .. } | GatewayError::RunFailed { .. }) => {
            TurnOutcome::Retryable
        }
    }
}

fn key_for(base: &str, generation: u32) -> String {
    if generation == 0 {
        base.to_owned()
    } else {
        format!("{base}/run-{}", generation + 1)
    }
}

/// Polls `work` while heartbeating, so Temporal notices a dead worker within the heartbeat
/// timeout instead of the (possibly long) start-to-close.
async fn with_heartbeats<T>(
    ctx: &ActivityContext,
    generation: u32,
    work: impl Future<Output = T>,
) -> T {
    let every = ctx
        .info()
        .heartbeat_timeout
        .map_or(HEARTBEAT_EVERY, |timeout| {
            (timeout / 3).min(HEARTBEAT_EVERY)
        });
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(100)));
    tokio::pin!(work);
    loop {
        tokio::select! {
            output = &mut work => return output,
            _ = ticker.tick() => {
                let progress = TurnProgress { key_generation: generation };
                if let Err(err) = ctx.record_heartbeat(progress).await {
                    tracing::warn!(error = %err, "cannot record heartbeat");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key_for;

    #[test]
    fn the_first_run_keeps_the_plain_key() {
        assert_eq!(key_for("wf/1", 0), "wf/1");
        assert_eq!(key_for("wf/1", 1), "wf/1/run-2");
    }
}
