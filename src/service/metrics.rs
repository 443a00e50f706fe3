//! Prometheus metrics on one endpoint: the SDK's own (pollers, task slots, schedule-to-start
//! and execution latencies, ...) plus ours — agent turns by instance and outcome, and how
//! long gateway calls take.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use temporalio_common::telemetry::metrics::{
    CoreMeter, Counter, HistogramDuration, MetricKeyValue, MetricParameters, NewAttributes,
};
use temporalio_common::telemetry::{
    HistogramBucketOverrides, PrometheusExporterOptions, start_prometheus_metric_exporter,
};

pub const AGENT_TURNS: &str = "clawfactory_agent_turns";
pub const GATEWAY_LATENCY: &str = "clawfactory_gateway_request_latency";

/// Gateway calls range from milliseconds (a refused token) to many minutes (a long turn).
const LATENCY_BUCKETS_MS: [f64; 14] = [
    10.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0, 30_000.0, 60_000.0,
    120_000.0, 300_000.0, 600_000.0,
];

/// A running exporter; the endpoint stops when this is dropped.
pub struct Exporter {
    pub meter: Arc<dyn CoreMeter>,
    pub address: SocketAddr,
    abort: tokio::task::AbortHandle,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.abort.abort();
    }
}

/// Serves `/metrics` on `address` (needs a Tokio runtime).
pub fn serve(address: SocketAddr) -> Result<Exporter> {
    let buckets = HistogramBucketOverrides {
        overrides: HashMap::from([(GATEWAY_LATENCY.to_owned(), LATENCY_BUCKETS_MS.to_vec())]),
    };
    let options = PrometheusExporterOptions::builder()
        .socket_addr(address)
        .histogram_bucket_overrides(buckets)
        .build();
    let started = start_prometheus_metric_exporter(options)
        .with_context(|| format!("cannot serve metrics on {address} (worker.metrics_address)"))?;
    Ok(Exporter {
        meter: started.meter,
        address: started.bound_addr,
        abort: started.abort_handle,
    })
}

/// How one agent-turn attempt ended, as a metric label.
#[derive(Debug, Clone, Copy)]
pub enum TurnOutcome {
    Succeeded,
    /// Failed, and Temporal may retry it.
    Retryable,
    /// Failed for good (wrong token, unknown agent, killswitch, ...).
    NonRetryable,
}

impl TurnOutcome {
    fn label(self) -> &'static str {
        match self {
            TurnOutcome::Succeeded => "succeeded",
            TurnOutcome::Retryable => "failed_retryable",
            TurnOutcome::NonRetryable => "failed_non_retryable",
        }
    }
}

/// Our instruments; without an exporter every record is a no-op.
#[derive(Clone, Default)]
pub struct Metrics {
    instruments: Option<Arc<Instruments>>,
}

struct Instruments {
    meter: Arc<dyn CoreMeter>,
    turns: Counter,
    latency: HistogramDuration,
}

impl Metrics {
    pub fn new(meter: Arc<dyn CoreMeter>) -> Self {
        let turns = meter.counter(
            MetricParameters::builder()
                .name(AGENT_TURNS)
                .description("Agent-turn attempts by OpenClaw instance and outcome")
                .build(),
        );
        let latency = meter.histogram_duration(
            MetricParameters::builder()
                .name(GATEWAY_LATENCY)
                .description("Time from sending an agent turn to the gateway to its answer")
                .unit("ms")
                .build(),
        );
        Metrics {
            instruments: Some(Arc::new(Instruments {
                meter,
                turns,
                latency,
            })),
        }
    }

    /// One finished attempt: counted by outcome, timed when it reached the gateway.
    pub fn agent_turn(&self, instance: &str, outcome: TurnOutcome, gateway_time: Option<Duration>) {
        let Some(m) = &self.instruments else {
            return;
        };
        let attributes = m.meter.new_attributes(NewAttributes::from([
            MetricKeyValue::new("instance", instance.to_owned()),
            MetricKeyValue::new("outcome", outcome.label()),
        ]));
        m.turns.add(1, &attributes);
        if let Some(elapsed) = gateway_time {
            m.latency.record(elapsed, &attributes);
        }
    }
}
