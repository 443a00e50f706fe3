//! The `[http]` policy on a real worker: an `http` step reaches a loopback port only when the
//! config lists it, a redirect to an unlisted one is refused before anything is sent there,
//! and a name that resolves to loopback is judged by its address. Every server here is a
//! loopback fake; the "public address is allowed" rule is covered by the unit tests of
//! `http::policy`, never by a connection.

use crate::common;

use common::fake_http::{FakeHttp, Reply};
use common::{Failed, RetryState, Setup, start_workflow, workflow_failure, workflow_result};
use serde_json::{Value, json};
use temporalio_client::Client;

fn http_step(url: &str) -> Value {
    json!({"steps": [{"type": "http", "url": url, "timeout": 5}]})
}

fn redirect_to(url: &str) -> Reply {
    Reply::status(302, "").header("Location", url)
}

/// The step's result (the response body's beginning).
async fn step_result(client: &Client, id: &str) -> String {
    let result = workflow_result(client, id).await.unwrap();
    let summary: Value = serde_json::from_str(&result).unwrap();
    summary["results"][0]["result"].as_str().unwrap().to_owned()
}

/// Failed at once with `HttpDestinationRefused`, the message carrying every one of `words`.
async fn assert_refused(client: &Client, id: &str, words: &[&str]) {
    let Failed {
        chain, retry_state, ..
    } = workflow_failure(client, id).await;
    assert!(chain.contains("[HttpDestinationRefused]"), "{id}: {chain}");
    for word in words {
        assert!(chain.contains(word), "{id}: missing {word:?}: {chain}");
    }
    assert_eq!(
        retry_state,
        Some(RetryState::NonRetryableFailure),
        "{id}: {chain}"
    );
}

#[tokio::test]
async fn http_steps_reach_only_the_loopback_destinations_the_config_lists() {
    let setup = Setup::new().await;
    let listed = &setup.gateway;
    let unlisted = FakeHttp::start().await;
    let (l, u) = (listed.url(), unlisted.url());
    listed.script("/data", [Reply::ok("listed data")]);
    listed.script("/hop-out", [redirect_to(&format!("{u}/data"))]);
    listed.script("/hop-in", [redirect_to("/moved")]);
    listed.script("/moved", [Reply::ok("moved data")]);
    unlisted.script("/open/data", [Reply::ok("open data")]);

    let mut config = setup.config();
    config.http.allow = [format!("127.0.0.1:{}", listed.port), format!("{u}/open/")]
        .iter()
        .map(|entry| entry.parse().unwrap())
        .collect();
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    let steps = [
        ("listed", format!("{l}/data")),
        ("unlisted", format!("{u}/data")),
        ("prefix", format!("{u}/open/data")),
        ("hop-out", format!("{l}/hop-out")),
        ("hop-in", format!("{l}/hop-in")),
        (
            "by-name",
            format!("http://localhost:{}/by-name", listed.port),
        ),
    ];
    for (id, url) in &steps {
        start_workflow(&client, "CustomWorkflow", Some(http_step(url)), id).await;
    }

    // A listed port, a listed URL prefix, and a redirect that stays on the listed port.
    assert_eq!(step_result(&client, "listed").await, "listed data");
    assert_eq!(step_result(&client, "prefix").await, "open data");
    assert_eq!(step_result(&client, "hop-in").await, "moved data");

    // The other port is loopback and unlisted: refused, naming the address and the range.
    let loopback = "127.0.0.1, which is loopback (127.0.0.0/8)";
    let url = format!("GET {u}/data");
    assert_refused(&client, "unlisted", &[&url, loopback, "http.allow"]).await;

    // A redirect from the listed port to the unlisted one: refused at the redirect.
    let words = [
        format!("GET {l}/hop-out"),
        format!("redirected to {u}/data"),
        loopback.to_owned(),
    ];
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    assert_refused(&client, "hop-out", &words).await;
    assert_eq!(listed.requests_to("/hop-out").len(), 1);

    // `127.0.0.1:<port>` lists URLs that say 127.0.0.1; `localhost` is a name, judged by the
    // address it resolves to.
    assert_refused(&client, "by-name", &["localhost resolves to", "loopback"]).await;
    assert!(listed.requests_to("/by-name").is_empty());

    // Nothing at all reached the unlisted destination except the listed prefix.
    let reached: Vec<String> = unlisted
        .requests()
        .iter()
        .map(|r| r.target.clone())
        .collect();
    assert_eq!(reached, ["/open/data"]);
}
