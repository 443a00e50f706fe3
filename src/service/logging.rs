//! Log output. Under systemd (`JOURNAL_STREAM` set) records go to journald natively, with
//! priorities and structured fields (`WORKFLOW_ID`, `RUN_ID`, `WORKFLOW_TYPE`,
//! `ACTIVITY_TYPE`, `ATTEMPT`, `AGENT_ID`, ...), so
//! `journalctl -u clawfactory-temporal-worker WORKFLOW_ID=<id>` tells one run's story.
//! Elsewhere: readable lines on stderr, or JSON lines. `RUST_LOG` overrides the level.

use clap::ValueEnum;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// journald under systemd, text otherwise.
    Auto,
    Text,
    Json,
    Journald,
}

pub fn init(format: LogFormat) {
    // The SDK core is chatty at info about routine poller churn; keep its warnings.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,temporalio_sdk_core=warn,temporalio_client=warn"));
    let wants_journald = match format {
        LogFormat::Auto => std::env::var_os("JOURNAL_STREAM").is_some(),
        LogFormat::Journald => true,
        LogFormat::Text | LogFormat::Json => false,
    };
    let output: Box<dyn Layer<_> + Send + Sync> = if wants_journald {
        match tracing_journald::layer() {
            // Field names as they are (upper-cased by the layer), no `F_` prefix.
            Ok(journald) => journald.with_field_prefix(None).boxed(),
            Err(err) => {
                eprintln!("warning: journald not available ({err}); logging to stderr");
                text().boxed()
            }
        }
    } else if format == LogFormat::Json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .boxed()
    } else {
        text().boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .init();
}

fn text<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_subscriber::fmt::layer().with_writer(std::io::stderr)
}
