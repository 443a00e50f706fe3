//! HTTP the worker makes itself, shared by the gateway protocols and the activities:
//! [`response`] reads and classifies an answer (bounded, and what is worth retrying), and
//! [`policy`] decides where an `http` step may go and holds the client that enforces it.

pub mod policy;
pub mod response;
