//! `resume <workflow-id> [--wait] [--dry-run]`: run a failed run again from the step that
//! failed it, keeping what the steps before it did — their results and any approval — so no
//! agent turn that succeeded runs again. How the point is found and why a reset: `resume`.

use super::run::{report, wait};
use crate::config::Config;
use crate::resume::{ResumePoint, remote, resume_point};
use crate::temporal_client;
use anyhow::{Result, bail};
use clap::Args as ClapArgs;
use std::process::ExitCode;

/// Resume a failed run from the step that failed it.
///
/// Example: resume research-digest-1733 --wait
#[derive(ClapArgs)]
pub struct Args {
    /// The failed run's workflow id (the UI shows it; `run` prints it).
    pub workflow_id: String,
    /// A run of that id other than the latest.
    #[arg(long, value_name = "RUN_ID")]
    pub run_id: Option<String>,
    /// Show where the run would resume, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait for the resumed run's result and print it; exit 1 if it fails.
    #[arg(long)]
    pub wait: bool,
    /// Resume even though steps that had succeeded would run again (a parallel sibling of
    /// the failed step ends after the point the run resumes from).
    #[arg(long)]
    pub rerun_succeeded: bool,
}

/// Prints the new run id (or, with `--wait`, its result); the resume point goes to stderr.
pub async fn run(config: &Config, args: Args) -> Result<ExitCode> {
    let client = temporal_client::connect(&config.temporal).await?;
    let id = &args.workflow_id;
    let history = remote::run_history(&client, id, args.run_id.as_deref()).await?;
    let point = resume_point(&history.events)
        .map_err(|why| anyhow::anyhow!("cannot resume {id:?} (run {}): {why}", history.run_id))?;
    eprintln!("{}", describe(id, &point));
    if !point.rerun.is_empty() && !args.rerun_succeeded {
        bail!(
            "cannot resume {id:?} without running again what had succeeded: {} (they ended \
             after {} was scheduled, so the reset drops their results); pass \
             --rerun-succeeded to accept that",
            point.rerun.join(", "),
            point.step
        );
    }
    if args.dry_run {
        println!("{}", point.step);
        return Ok(ExitCode::SUCCESS);
    }
    let new_run = remote::reset(&client, id, &history.run_id, &point).await?;
    eprintln!("resumed {id} at {}: run_id={new_run}", point.step);
    if !args.wait {
        println!("{new_run}");
        return Ok(ExitCode::SUCCESS);
    }
    Ok(report(
        wait(&remote::execution(&client, id, Some(&new_run))).await,
    ))
}

/// What a resume does, for a person: the step, why it failed, what is kept.
fn describe(workflow_id: &str, point: &ResumePoint) -> String {
    let mut kept = if point.kept.is_empty() {
        "no step".to_owned()
    } else {
        point.kept.join(", ")
    };
    match point.kept_signals {
        0 => {}
        1 => kept.push_str(" and the signal it received (an approval's decision)"),
        n => kept.push_str(&format!(
            " and the {n} signals it received (approvals' decisions)"
        )),
    }
    let mut text = format!(
        "{workflow_id} ({}) failed at {}: {}\nresumes at {} (reset to event {}), keeping the \
         results of: {kept}",
        point.workflow_type, point.step, point.failure, point.step, point.reset_event_id
    );
    if !point.rerun.is_empty() {
        text.push_str(&format!("\nwould run again: {}", point.rerun.join(", ")));
    }
    text
}
