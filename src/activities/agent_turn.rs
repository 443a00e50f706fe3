//! `trigger_agent_turn`: killswitch check, then one call through the configured gateway.

use super::failure::{KILLSWITCH_ACTIVE, non_retryable};
use crate::gateway::{Gateway, TurnRequest};
use std::path::Path;
use temporalio_sdk::activities::ActivityError;

pub async fn run(
    gateway: &dyn Gateway,
    killswitch_file: &Path,
    agent_turn: String,
    idempotency_key: String,
) -> Result<String, ActivityError> {
    // Checked before any network call: a switched-off instance must not be woken by a retry.
    if killswitch_file.exists() {
        return Err(non_retryable(
            KILLSWITCH_ACTIVE,
            format!(
                "agent turn {agent_turn:?} not run: killswitch file {} exists",
                killswitch_file.display()
            ),
        ));
    }
    let turn = TurnRequest {
        agent_turn,
        idempotency_key,
    };
    let started = std::time::Instant::now();
    let result = gateway.trigger(&turn).await;
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
    Ok(result?)
}
