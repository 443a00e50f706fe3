//! `gateway.api = "echo"`: no network at all. Lets people try workflows without OpenClaw.

use super::{Gateway, GatewayError, TurnRequest};
use futures::future::BoxFuture;

pub struct EchoGateway {
    instance: String,
}

impl EchoGateway {
    pub fn new(instance: String) -> Self {
        Self { instance }
    }
}

impl Gateway for EchoGateway {
    fn trigger<'a>(&'a self, turn: &'a TurnRequest) -> BoxFuture<'a, Result<String, GatewayError>> {
        let mut line = format!(
            "echo gateway: agent turn {:?} would have run on instance {:?} (idempotency key {})",
            turn.agent_turn, self.instance, turn.idempotency_key
        );
        if let Some(message) = &turn.message {
            line.push_str(&format!(" with message {message:?}"));
        }
        Box::pin(async move { Ok(line) })
    }
}
