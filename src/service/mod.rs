//! Running as a long-lived service, for the worker and the dev server's supervisor alike:
//! [`systemd`] (readiness, watchdog, status), [`shutdown`] (the stop signals), [`logging`]
//! (journald or text) and [`metrics`] (the Prometheus endpoint). Each works, or does nothing,
//! outside systemd too.

pub mod logging;
pub mod metrics;
pub mod shutdown;
pub mod systemd;
