//! A startup look at the gateway: is it ready, are the secrets this protocol needs there,
//! does the admin RPC answer when cron jobs are to be resolved. Only warnings: the worker
//! runs regardless (the gateway may come up later), but a person reading the log learns
//! what is misconfigured before the first agent turn fails.

use super::admin_rpc::AdminRpc;
use crate::config::{GatewayApi, Instance};
use crate::http;
use serde_json::json;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Human-readable problems; empty when everything looks right.
pub async fn check(instance: &Instance, http: &reqwest::Client) -> Vec<String> {
    let gateway = &instance.gateway;
    let api = instance.api;
    let mut problems = Vec::new();
    if api == GatewayApi::Echo {
        return problems;
    }
    if api == GatewayApi::HooksAgent && instance.tokens.hooks.is_none() {
        problems.push(format!(
            "the protocol is hooks-agent but no hooks token is set ({}): /hooks/agent will \
             answer 401",
            instance.hooks_token_sources()
        ));
    }
    let needs_gateway_token = matches!(api, GatewayApi::ChatCompletions | GatewayApi::CronFire)
        || (gateway.resolve_cron_jobs && api != GatewayApi::CronFire);
    if needs_gateway_token && instance.tokens.gateway.is_none() {
        problems.push(format!(
            "no gateway token is set ({}), but {} needs it",
            instance.gateway_token_sources(),
            if gateway.resolve_cron_jobs {
                "gateway.resolve_cron_jobs"
            } else {
                "this protocol"
            }
        ));
    }
    let readyz = format!("{}/readyz", gateway.url.trim_end_matches('/'));
    let request = http.get(&readyz).timeout(TIMEOUT);
    match http::response::send(request, http::response::BodyLimit::Prefix(64 * 1024)).await {
        Ok(response) if response.class() == http::response::ResponseClass::Success => {}
        Ok(response) => problems.push(format!(
            "OpenClaw gateway not ready: {}",
            response.describe(&format!("GET {readyz}"))
        )),
        Err(err) => problems.push(format!(
            "OpenClaw gateway not reachable: GET {readyz}: {}",
            err.describe()
        )),
    }
    if gateway.resolve_cron_jobs && api != GatewayApi::CronFire {
        let rpc = AdminRpc::new(
            http.clone(),
            &gateway.url,
            instance.tokens.gateway.clone(),
            TIMEOUT,
        );
        if let Err(err) = rpc.call("cron.list", json!({"limit": 1})).await {
            problems.push(format!(
                "gateway.resolve_cron_jobs is on, but {}",
                err.message()
            ));
        }
    }
    problems
}
