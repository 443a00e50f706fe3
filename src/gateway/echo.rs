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
        let line = format!(
            "echo gateway: agent turn {:?} would have run on instance {:?} (idempotency key {})",
            turn.agent_turn, self.instance, turn.idempotency_key
        );
        Box::pin(async move { Ok(line) })
    }
}
