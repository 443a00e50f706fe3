//! The gateway fault matrix: what a misbehaving server does to an agent turn or an HTTP step,
//! per protocol where the right answer differs. Each fault ends in a typed failure (or a
//! recovery) with the number of requests the fake saw, and with the Temporal retry state that
//! says whether it was retried to exhaustion or stopped at once.
//!
//! Faults: slower than the client timeout; a 2xx to cron-fire whose body breaks off; a reset mid-body; a 200 with malformed JSON; a
//! 200 whose body is shorter than its Content-Length (then close); a 50 MB body; a server that
//! accepts the connection and never answers.

use crate::common;

use clawfactory_temporal::config::{GatewayApi, TurnConfig};
use common::fake_http::{FakeHttp, Reply, Wire, single_idempotency_key};
use common::{
    ConfigFile, Failed, RetryState, Setup, WorkerProcess, start_workflow, workflow_failure,
    workflow_result,
};
use serde_json::{Value, json};
use std::time::Duration;
use temporalio_client::Client;

const HOOKS: &str = "/hooks/agent";
const CHAT: &str = "/v1/chat/completions";
const FIFTY_MB: u64 = 50 * 1024 * 1024;
const SLOW: Duration = Duration::from_secs(3);

/// `[turns.<name>]` whose message carries the fake's `fault:<name>` marker; `timeout` is the
/// turn's start-to-close (unset: the configured 10 min).
fn add_fault_turns(config: &mut ConfigFile, names: &[&str], timeout: Option<Duration>) {
    for name in names {
        let turn = TurnConfig {
            timeout,
            ..common::turn(&format!("fault:{name}"))
        };
        config.turns.0.insert(name.to_string(), turn);
    }
}

fn turn_definition(agent_turn: &str) -> Value {
    json!({"steps": [{"type": "agent_turn", "agent_id": agent_turn}]})
}

fn hooks_answer() -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "runId": "run-1",
               "completion": {"status": "ok", "replyDisposition": "none"}}),
    )
}

fn chat_answer() -> Reply {
    Reply::json(
        200,
        json!({"id": "chatcmpl-1", "object": "chat.completion",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "the reply"},
                            "finish_reason": "stop"}]}),
    )
}

/// 50 MB of filler, with or without a Content-Length.
fn flood(declared: bool) -> Reply {
    Reply::ok("").wire(Wire::Flood {
        bytes: FIFTY_MB,
        declared,
    })
}

/// Scripts each fault under its `fault:<name>` marker, starts a worker speaking `api` with a
/// 1 s read timeout and a turn per fault (`silent` with start-to-close `silent_timeout`, the
/// others 10 min), and starts one `CustomWorkflow` per fault, its id the fault's name.
async fn run_turn_faults(
    setup: &Setup,
    api: GatewayApi,
    faults: Vec<(&str, Vec<Reply>)>,
    silent_timeout: Duration,
) -> WorkerProcess {
    let names: Vec<&str> = faults.iter().map(|(name, _)| *name).collect();
    for (name, replies) in faults {
        setup.gateway.script(&format!("fault:{name}"), replies);
    }
    let others: Vec<&str> = names.iter().copied().filter(|n| *n != "silent").collect();
    let mut config = setup.config();
    config.gateway.api = Some(api);
    config.gateway.timeout = Duration::from_secs(1);
    add_fault_turns(&mut config, &others, None);
    add_fault_turns(&mut config, &["silent"], Some(silent_timeout));
    let worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    for name in names {
        start_workflow(&client, "CustomWorkflow", Some(turn_definition(name)), name).await;
    }
    worker
}

/// `n` copies of a reply.
fn times(n: usize, reply: Reply) -> Vec<Reply> {
    vec![reply; n]
}

/// Asserts the failure's type, that its message has every one of `words`, and how retries ended.
fn assert_failed(failed: &Failed, failure_type: &str, words: &[&str], retry: RetryState) {
    assert!(
        failed.chain.contains(&format!("[{failure_type}]")),
        "expected {failure_type}: {}",
        failed.chain
    );
    for word in words {
        assert!(
            failed.chain.contains(word),
            "missing {word:?}: {}",
            failed.chain
        );
    }
    assert_eq!(failed.retry_state, Some(retry), "{}", failed.chain);
}

/// Workflow `id` met a 50 MB answer (scripted under `fault:<id>` or `/<id>`): it failed at
/// once, typed, naming the limit and `words`, and the worker hung up before the fake could
/// send it all.
async fn assert_flood_refused(
    client: &Client,
    gateway: &FakeHttp,
    id: &str,
    failure_type: &str,
    words: &[&str],
) {
    let failed = workflow_failure(client, id).await;
    let mut words = words.to_vec();
    words.push("larger than the 2 MiB the worker reads");
    assert_failed(
        &failed,
        failure_type,
        &words,
        RetryState::NonRetryableFailure,
    );
    let key = [format!("fault:{id}"), format!("/{id}")]
        .into_iter()
        .find(|key| !gateway.requests_for(key).is_empty())
        .expect("the fake saw the request");
    assert_eq!(gateway.requests_for(&key).len(), 1, "{id}");
    let sent = gateway.sent(&key);
    assert!(
        !sent[0].complete && sent[0].body_bytes < FIFTY_MB,
        "{id}: {sent:?}"
    );
}

#[tokio::test]
async fn hooks_agent_faults_retry_with_one_key_except_an_oversized_answer() {
    let setup = Setup::new().await;
    let gateway = &setup.gateway;
    let url = format!("{}{HOOKS}", gateway.url());
    let slow = [hooks_answer().delayed(SLOW), hooks_answer().delayed(SLOW)];
    let faults = vec![
        ("slow", [slow.to_vec(), vec![hooks_answer()]].concat()),
        ("reset", times(3, hooks_answer().wire(Wire::ResetAfter(10)))),
        (
            "truncated",
            times(3, hooks_answer().wire(Wire::CloseAfter(10))),
        ),
        (
            "malformed",
            times(3, Reply::ok("{\"ok\": true, \"runId\": ")),
        ),
        // No Content-Length: read chunk by chunk until the limit.
        ("huge", vec![flood(false)]),
        ("silent", times(100, Reply::silent())),
    ];
    let _worker = run_turn_faults(
        &setup,
        GatewayApi::HooksAgent,
        faults,
        Duration::from_secs(10),
    )
    .await;
    let client = setup.server.client().await;

    // Slower than the read timeout: re-POSTed with the same key until the answer comes.
    let result = workflow_result(&client, "slow").await.unwrap();
    assert!(result.contains("run-1"), "{result}");
    let slow = gateway.requests_for("fault:slow");
    assert_eq!(slow.len(), 3, "two timed-out POSTs, then the answer");
    single_idempotency_key(&slow);

    // A body cut off by a reset or an early close: retried (same key), then exhausted.
    for name in ["reset", "truncated"] {
        let failed = workflow_failure(&client, name).await;
        let words = [
            url.as_str(),
            "HTTP 200 OK, then the response body broke off",
        ];
        assert_failed(
            &failed,
            "GatewayUnavailable",
            &words,
            RetryState::MaximumAttemptsReached,
        );
        let seen = gateway.requests_for(&format!("fault:{name}"));
        assert_eq!(seen.len(), 3, "{name}: one POST per attempt");
        single_idempotency_key(&seen);
    }

    // Malformed JSON under a 200: retryable, because the same key re-attaches to the same run.
    let failed = workflow_failure(&client, "malformed").await;
    let words = [
        url.as_str(),
        "not an OpenClaw /hooks/agent answer",
        "gateway.url",
        "runId",
    ];
    assert_failed(
        &failed,
        "GatewayUnreadableAnswer",
        &words,
        RetryState::MaximumAttemptsReached,
    );
    assert_eq!(gateway.requests_for("fault:malformed").len(), 3);

    // 50 MB without a Content-Length: read in chunks up to the limit, then given up at once.
    assert_flood_refused(&client, gateway, "huge", "GatewayResponseTooLarge", &[&url]).await;

    // Never answers: each attempt ends itself, typed, before its start-to-close runs out.
    let failed = workflow_failure(&client, "silent").await;
    let words = [
        url.as_str(),
        "timed out",
        "start-to-close",
        "gateway.timeout = 1s",
    ];
    assert_failed(
        &failed,
        "GatewayUnavailable",
        &words,
        RetryState::MaximumAttemptsReached,
    );
    let silent = gateway.requests_for("fault:silent");
    assert!(
        silent.len() >= 3,
        "at least one POST per attempt: {}",
        silent.len()
    );
    single_idempotency_key(&silent);
}

#[tokio::test]
async fn chat_completions_never_retries_a_completed_run_whose_reply_is_unreadable() {
    let setup = Setup::new().await;
    let gateway = &setup.gateway;
    let url = format!("{}{CHAT}", gateway.url());
    let faults = vec![
        ("slow", vec![chat_answer().delayed(SLOW), chat_answer()]),
        ("reset", vec![chat_answer().wire(Wire::ResetAfter(10))]),
        ("truncated", vec![chat_answer().wire(Wire::CloseAfter(10))]),
        ("malformed", vec![Reply::json(200, json!({"choices": []}))]),
        // A declared Content-Length over the limit: refused before reading.
        ("huge", vec![flood(true)]),
        ("silent", times(3, Reply::silent())),
    ];
    // A request waits the longer of the turn's timeout and gateway.timeout (1 s), but never
    // past the attempt's start-to-close: `silent` may take 5 s and gets a bit less.
    let _worker = run_turn_faults(
        &setup,
        GatewayApi::ChatCompletions,
        faults,
        Duration::from_secs(5),
    )
    .await;
    let client = setup.server.client().await;

    // No answer before the timeout: the run was cancelled with the connection, so retry.
    let result = workflow_result(&client, "slow").await.unwrap();
    assert!(result.contains("the reply"), "{result}");
    assert_eq!(gateway.requests_for("fault:slow").len(), 2);

    // A 200 arrived, so the run is over: a lost or garbled reply must not run it again.
    for (name, detail) in [
        ("reset", "HTTP 200 OK, then the response body broke off"),
        ("truncated", "HTTP 200 OK, then the response body broke off"),
        (
            "malformed",
            "HTTP 200 OK without choices[0].message.content",
        ),
    ] {
        let failed = workflow_failure(&client, name).await;
        let words = [url.as_str(), detail, "a retry would run the agent again"];
        assert_failed(
            &failed,
            "GatewayUnreadableAnswer",
            &words,
            RetryState::NonRetryableFailure,
        );
        assert_eq!(
            gateway.requests_for(&format!("fault:{name}")).len(),
            1,
            "{name}"
        );
    }

    // A declared 50 MB body is refused before reading it.
    assert_flood_refused(&client, gateway, "huge", "GatewayResponseTooLarge", &[&url]).await;

    let failed = workflow_failure(&client, "silent").await;
    let words = [
        url.as_str(),
        "timed out",
        "start-to-close",
        "of the 5s the turn may take",
    ];
    assert_failed(
        &failed,
        "GatewayUnavailable",
        &words,
        RetryState::MaximumAttemptsReached,
    );
    assert_eq!(gateway.requests_for("fault:silent").len(), 3);
}

#[tokio::test]
async fn cron_fire_takes_an_accepted_status_as_the_outcome_even_when_the_body_breaks_off() {
    let setup = Setup::new().await;
    let gateway = &setup.gateway;
    let accepted = Reply::ok("{\"accepted\": true, \"job\": \"digest\"}");
    let faults = [
        ("reset", vec![accepted.clone().wire(Wire::ResetAfter(5))]),
        ("truncated", vec![accepted.wire(Wire::CloseAfter(5))]),
        ("silent", times(3, Reply::silent())),
    ];
    for (name, replies) in faults.clone() {
        gateway.script(&format!("fault:{name}"), replies);
    }
    let mut config = setup.config();
    config.gateway.timeout = Duration::from_secs(1);
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    for (name, _) in &faults {
        // cron-fire sends the turn id as `job_id`, so the id carries the fake's marker.
        let definition = turn_definition(&format!("fault:{name}"));
        start_workflow(&client, "CustomWorkflow", Some(definition), name).await;
    }

    // The 2xx arrived: the gateway accepted the job. Firing again could run it twice (nothing
    // says a patched gateway honours Idempotency-Key), so the turn succeeds, saying so.
    for name in ["reset", "truncated"] {
        let result = workflow_result(&client, name).await.unwrap();
        for words in [
            "HTTP 200 OK, then the response body broke off",
            "the job was accepted, so the worker did not fire it again",
        ] {
            assert!(result.contains(words), "{name}: {result}");
        }
        let fired = gateway.requests_for(&format!("fault:{name}"));
        assert_eq!(fired.len(), 1, "{name}: fired once");
    }

    // No status at all: nothing says the job was accepted, so retry, with the same key.
    let failed = workflow_failure(&client, "silent").await;
    let url = format!("POST {}/api/cron/fire", gateway.url());
    assert_failed(
        &failed,
        "GatewayUnavailable",
        &[&url, "timed out"],
        RetryState::MaximumAttemptsReached,
    );
    let silent = gateway.requests_for("fault:silent");
    assert_eq!(silent.len(), 3, "one POST per attempt");
    single_idempotency_key(&silent);
}

#[tokio::test]
async fn http_steps_and_weather_read_bounded_bodies_and_retry_transport_faults() {
    let setup = Setup::new().await;
    let gateway = &setup.gateway;
    let body = "x".repeat(100);
    gateway.script("/slow", [Reply::ok("late").delayed(SLOW)]);
    gateway.script(
        "/reset",
        times(3, Reply::ok(&body).wire(Wire::ResetAfter(10))),
    );
    gateway.script(
        "/truncated",
        times(3, Reply::ok(&body).wire(Wire::CloseAfter(10))),
    );
    gateway.script("/huge", [flood(true)]);
    gateway.script("/silent", times(3, Reply::silent()));
    // The weather report is parsed: a flood is refused, garbage is retried.
    gateway.script("/Atlantis", [flood(false)]);
    gateway.script("/Garbled", times(3, Reply::ok("<html>not a report</html>")));
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let step = |path: &str| json!({"steps": [{"type": "http", "url": format!("{}{path}", gateway.url()), "timeout": 1}]});
    for name in ["slow", "reset", "truncated", "huge", "silent"] {
        start_workflow(
            &client,
            "CustomWorkflow",
            Some(step(&format!("/{name}"))),
            name,
        )
        .await;
    }
    for city in ["Atlantis", "Garbled"] {
        start_workflow(&client, "WeatherCheckWorkflow", Some(json!(city)), city).await;
    }

    let result = workflow_result(&client, "slow").await.unwrap();
    assert!(result.contains(r#""result": "ok""#), "{result}");
    assert_eq!(gateway.requests_to("/slow").len(), 2);

    for name in ["reset", "truncated"] {
        let failed = workflow_failure(&client, name).await;
        let url = format!("GET {}/{name}", gateway.url());
        let words = [
            url.as_str(),
            "HTTP 200 OK, then the response body broke off",
        ];
        assert_failed(
            &failed,
            "HttpUnavailable",
            &words,
            RetryState::MaximumAttemptsReached,
        );
        assert_eq!(gateway.requests_to(&format!("/{name}")).len(), 3, "{name}");
    }

    // The step's result is the body's beginning (the reference's text[:4000], 500 kept by
    // CustomWorkflow): a 50 MB body succeeds, and the worker hangs up after the prefix.
    let result = workflow_result(&client, "huge").await.unwrap();
    let summary: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(summary["results"][0]["result"], "x".repeat(500));
    assert_eq!(gateway.requests_to("/huge").len(), 1);
    assert!(
        !gateway.sent("/huge")[0].complete,
        "{:?}",
        gateway.sent("/huge")
    );

    let failed = workflow_failure(&client, "silent").await;
    let url = format!("GET {}/silent", gateway.url());
    let words = [url.as_str(), "timed out"];
    assert_failed(
        &failed,
        "HttpUnavailable",
        &words,
        RetryState::MaximumAttemptsReached,
    );
    assert_eq!(gateway.requests_to("/silent").len(), 3);

    let words = ["/Atlantis?format=j1", "weather.base_url"];
    assert_flood_refused(&client, gateway, "Atlantis", "WeatherRejected", &words).await;

    let failed = workflow_failure(&client, "Garbled").await;
    let words = ["/Garbled?format=j1", "unexpected weather report"];
    assert_failed(
        &failed,
        "WeatherUnavailable",
        &words,
        RetryState::MaximumAttemptsReached,
    );
    assert_eq!(gateway.requests_to("/Garbled").len(), 3);
}
