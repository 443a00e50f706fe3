//! `approve <workflow-id> [--reject] [--comment ...] [--step ...]`: decide the approval step a
//! declared workflow run waits at, by sending it the `approve` or `reject` signal — what the
//! UI's "Send signal" does — then print what the run does next.

use crate::config::Config;
use crate::payload::json_payload;
use crate::temporal_client;
use crate::workflows::declared::{APPROVE_SIGNAL, PHASE_QUERY, REJECT_SIGNAL};
use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use std::process::ExitCode;
use std::time::Duration;
use temporalio_client::{UntypedQuery, UntypedSignal, WorkflowQueryOptions, WorkflowSignalOptions};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;

/// Approve (or reject) a declared workflow run waiting at an approval step.
///
/// Example: approve research-digest-1733 --comment "looks good"
#[derive(ClapArgs)]
pub struct Args {
    /// The run's workflow id (the UI shows it; `run` prints it).
    pub workflow_id: String,
    /// Reject instead of approve.
    #[arg(long)]
    pub reject: bool,
    /// Why; kept in the step's result (`steps.<id>.json.comment`).
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// The approval step's id, when a run has several waiting at once (parallel branches).
    #[arg(long, value_name = "ID")]
    pub step: Option<String>,
}

pub async fn run(config: &Config, args: Args) -> Result<ExitCode> {
    let client = temporal_client::connect(&config.temporal).await?;
    let handle = client.get_workflow_handle::<UntypedWorkflow>(args.workflow_id.clone());
    let signal = if args.reject {
        REJECT_SIGNAL
    } else {
        APPROVE_SIGNAL
    };
    let mut decision = serde_json::Map::new();
    if let Some(comment) = &args.comment {
        decision.insert("comment".into(), comment.clone().into());
    }
    if let Some(step) = &args.step {
        decision.insert("step".into(), step.clone().into());
    }
    let input = RawValue {
        payloads: vec![json_payload(&serde_json::Value::Object(decision))],
    };
    handle
        .signal(
            UntypedSignal::new(signal),
            input,
            WorkflowSignalOptions::default(),
        )
        .await
        .with_context(|| format!("cannot send {signal} to {}", args.workflow_id))?;
    println!("sent {signal} to {}", args.workflow_id);
    // The run takes the decision in its next workflow task; give it a moment to say so.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let phase = handle
        .query(
            UntypedQuery::new(PHASE_QUERY),
            RawValue { payloads: vec![] },
            WorkflowQueryOptions::default(),
        )
        .await;
    if let Ok(raw) = phase
        && let Some(payload) = raw.payloads.first()
        && let Ok(phase) = serde_json::from_slice::<String>(&payload.data)
    {
        println!("phase: {phase}");
    }
    Ok(ExitCode::SUCCESS)
}
