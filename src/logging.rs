//! Log output: readable lines on stderr; `RUST_LOG` overrides the level.

use tracing_subscriber::EnvFilter;

pub fn init() {
    // The SDK core is chatty at info about routine poller churn; keep its warnings.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,temporalio_sdk_core=warn,temporalio_client=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
