//! `run <WorkflowType>`: start a workflow by its type name — a built-in one or a
//! `[declared.<name>]` — as the UI's "Start Workflow" and `temporal workflow start --type ...
//! --task-queue clawfactory` do.

use crate::config::{Config, Instances};
use crate::payload::json_payload;
use crate::temporal_client;
use crate::workflow_types::{WORKFLOW_TYPES, with_instance};
use anyhow::{Context, Result, bail};
use clap::Args as ClapArgs;
use std::process::ExitCode;
use temporalio_client::errors::WorkflowGetResultError;
use temporalio_client::{
    Client, UntypedWorkflowHandle, WorkflowGetResultOptions, WorkflowStartOptions,
};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;
use temporalio_common::error::IncomingError;

/// Start a workflow by type name, optionally wait for its result.
///
/// Example: run PoetryResearchWorkflow --input '{"settle": "10s"}' --wait
#[derive(ClapArgs)]
pub struct Args {
    /// Workflow type: PoetryResearchWorkflow, WeatherCheckWorkflow, CustomWorkflow, or the
    /// name of a [declared.<name>] workflow.
    pub workflow_type: String,
    /// The input as JSON (e.g. '"Paris"' for WeatherCheckWorkflow). Omit for none.
    #[arg(long, value_name = "JSON")]
    pub input: Option<String>,
    /// Workflow id (default: <type>-<unix millis>).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Run the agent turns on this OpenClaw instance ([instances.<name>]).
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Wait for the result and print it; exit 1 if the workflow fails.
    #[arg(long)]
    pub wait: bool,
}

/// Prints the workflow id (or, with `--wait`, the result); exit 1 if the workflow failed.
pub async fn run(config: &Config, instances: &Instances, args: Args) -> Result<ExitCode> {
    let request = StartRequest {
        workflow_type: args.workflow_type,
        input: args.input,
        workflow_id: args.id,
        instance: args.instance,
        wait: args.wait,
    };
    Ok(report(start(config, instances, request).await?))
}

/// Prints an outcome as `run` and `resume` do: the workflow id, the result, or (exit 1) how
/// it failed.
pub fn report(outcome: Outcome) -> ExitCode {
    match outcome {
        Outcome::Started { workflow_id, .. } => println!("{workflow_id}"),
        Outcome::Completed { output } => println!("{output}"),
        Outcome::Failed { message } => {
            eprintln!("workflow failed: {message}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

pub struct StartRequest {
    pub workflow_type: String,
    /// JSON text; `None` starts the workflow with no input payload at all.
    pub input: Option<String>,
    pub workflow_id: Option<String>,
    /// Run the agent turns on this OpenClaw instance (and queue it on its task queue).
    pub instance: Option<String>,
    pub wait: bool,
}

/// A declared workflow's `inputs` checked here too, so a typo fails before anything starts
/// (the run checks again: the UI and the `temporal` CLI start it without this command).
fn check_declared_inputs(
    config: &Config,
    workflow_type: &str,
    input: Option<&serde_json::Value>,
) -> Result<()> {
    let Some(declaration) = config.declared.0.get(workflow_type) else {
        return Ok(());
    };
    declaration
        .inputs
        .apply(input.unwrap_or(&serde_json::Value::Null))
        .map(drop)
        .map_err(|err| anyhow::anyhow!("--input does not fit {workflow_type}'s inputs: {err}"))
}

/// What happened, for the caller to print and map to an exit code.
pub enum Outcome {
    Started { workflow_id: String, run_id: String },
    Completed { output: String },
    Failed { message: String },
}

pub async fn start(
    config: &Config,
    instances: &Instances,
    request: StartRequest,
) -> Result<Outcome> {
    let workflow_type = request.workflow_type.as_str();
    if !WORKFLOW_TYPES.contains(&workflow_type) && !config.declared.contains(workflow_type) {
        let known: Vec<&str> = WORKFLOW_TYPES
            .into_iter()
            .chain(config.declared.names())
            .collect();
        bail!(
            "unknown workflow type {:?}; this worker runs {}",
            request.workflow_type,
            known.join(", ")
        );
    }
    let input = match &request.input {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text).context("--input is not valid JSON")?,
        ),
    };
    let input = match &request.instance {
        None => input,
        Some(instance) => {
            instances
                .check(instance)
                .map_err(|err| anyhow::anyhow!("--instance {err}"))?;
            Some(
                with_instance(&request.workflow_type, input, instance)
                    .map_err(|err| anyhow::anyhow!("--instance: {err}"))?,
            )
        }
    };
    check_declared_inputs(config, workflow_type, input.as_ref())?;
    let payloads: Vec<_> = input.iter().map(json_payload).collect();
    let task_queue = instances.task_queue_for(request.instance.as_deref());
    let workflow_id = request
        .workflow_id
        .clone()
        .unwrap_or_else(|| default_id(&request.workflow_type));
    let client = temporal_client::connect(&config.temporal).await?;
    let handle = client
        .start_workflow(
            UntypedWorkflow::new(request.workflow_type.clone()),
            RawValue { payloads },
            WorkflowStartOptions::new(task_queue, workflow_id.clone()).build(),
        )
        .await
        .with_context(|| format!("cannot start {} as {workflow_id:?}", request.workflow_type))?;
    let run_id = handle.run_id().map(str::to_owned).unwrap_or_default();
    eprintln!(
        "started {} workflow_id={workflow_id} run_id={run_id}",
        request.workflow_type
    );
    if !request.wait {
        return Ok(Outcome::Started {
            workflow_id,
            run_id,
        });
    }
    Ok(wait(&handle).await)
}

/// Waits for the run's result (following a continue-as-new or reset to the newest run).
pub async fn wait(handle: &UntypedWorkflowHandle<Client>) -> Outcome {
    match handle.get_result(WorkflowGetResultOptions::default()).await {
        Ok(raw) => Outcome::Completed {
            output: render_output(&raw),
        },
        Err(WorkflowGetResultError::Failed(err)) => Outcome::Failed {
            message: failure_chain(&err),
        },
        Err(other) => Outcome::Failed {
            message: other.to_string(),
        },
    }
}

fn default_id(workflow_type: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{workflow_type}-{millis}")
}

/// A string result prints as text; anything else as JSON.
fn render_output(raw: &RawValue) -> String {
    let Some(payload) = raw.payloads.first() else {
        return String::new();
    };
    match serde_json::from_slice::<serde_json::Value>(&payload.data) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(value) => value.to_string(),
        Err(_) => String::from_utf8_lossy(&payload.data).into_owned(),
    }
}

/// `outer message: [Type] inner message: ...`, down to the root cause.
pub fn failure_chain(err: &IncomingError) -> String {
    let mut parts = Vec::new();
    let mut current = Some(err);
    while let Some(err) = current {
        let message = &err.failure().message;
        parts.push(match err {
            IncomingError::Application(app) => match app.type_name() {
                Some(kind) if !kind.is_empty() => format!("[{kind}] {message}"),
                _ => message.clone(),
            },
            _ => message.clone(),
        });
        current = err.cause();
    }
    parts.join(": ")
}
