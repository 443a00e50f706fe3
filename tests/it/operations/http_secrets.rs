//! A secret in an `http` step's header, on a real worker and server: the service gets the
//! bearer token, and the token is nowhere else — not in the run's history (the activity input
//! names the secret), not in its result or a failure's message (a service that echoes the
//! header has the echo cut out), not in the worker's log, and not sent on to another origin a
//! redirect points at.

use crate::common;

use clawfactory_temporal::config::{Config, SecretSource, StepSecrets};
use common::fake_http::{FakeHttp, Reply};
use common::{Setup, start_workflow, workflow_result};
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use temporalio_client::{Client, WorkflowFetchHistoryOptions};
use temporalio_common::UntypedWorkflow;

const TOKEN: &str = "xoxb-e2e-7c1f9a-only-in-its-file";

const NOTIFY: &str = r#"
[[declared.notify.steps]]
id = "post"
type = "http"
method = "POST"
url = "{svc}/post"
body = "{{ input.topic }} is ready"
headers = { Authorization = "Bearer {{ secrets.slack }}", X-Topic = "{{ input.topic }}" }

[[declared.notify.steps]]
id = "denied"
type = "http"
url = "{svc}/deny"
continue_on_error = true
headers = { Authorization = "Bearer {{ secrets.slack }}" }

[[declared.notify.steps]]
id = "hop"
type = "http"
url = "{svc}/hop"
headers = { Authorization = "Bearer {{ secrets.slack }}", X-Kept = "yes" }
"#;

/// Every event of the run's history, as the SDK's `Debug` prints it.
async fn history_text(client: &Client, workflow_id: &str) -> String {
    use futures::StreamExt;
    let events: Vec<String> = client
        .get_workflow_handle::<UntypedWorkflow>(workflow_id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .map(|event| format!("{:?}", event.expect("a history event")))
        .collect()
        .await;
    events.join("\n")
}

/// Whether `text` holds `needle`, as text or (a payload's bytes printed as numbers) as the
/// list of its bytes.
fn holds(text: &str, needle: &str) -> bool {
    let bytes: Vec<String> = needle.bytes().map(|b| b.to_string()).collect();
    text.contains(needle) || text.contains(&bytes.join(", "))
}

#[tokio::test]
async fn a_header_secret_reaches_the_service_and_nothing_else() {
    let setup = Setup::new().await;
    let service = FakeHttp::start().await;
    let elsewhere = FakeHttp::start().await;
    service.require_bearer(TOKEN);
    service.script("/post", [Reply::echoing(200, "authorization")]);
    service.script("/deny", [Reply::echoing(403, "authorization")]);
    service.script(
        "/hop",
        [Reply::status(302, "").header("Location", &format!("{}/landing", elsewhere.url()))],
    );

    let token_file = setup.path("slack-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut config = setup.config();
    config.secrets = StepSecrets(
        [(
            "slack".to_owned(),
            SecretSource {
                file: Some(token_file),
                credential: None,
            },
        )]
        .into(),
    );
    config.declared = Config::parse(&NOTIFY.replace("{svc}", &service.url()))
        .expect("the declaration parses")
        .declared;
    let worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(
        &client,
        "notify",
        Some(json!({"topic": "sonnets"})),
        "notify-1",
    )
    .await;
    let result = workflow_result(&client, "notify-1").await.unwrap();

    // The service got the token, and the text parts the workflow rendered.
    let post = &service.requests_to("/post")[0];
    assert_eq!(
        post.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(post.header("x-topic"), Some("sonnets"));
    assert_eq!(post.body, "sonnets is ready");

    // Its echo, in the result and in a failure's message, has the token cut out.
    let summary: Value = serde_json::from_str(&result).unwrap();
    let step = |i: usize| summary["steps"][i].clone();
    assert_eq!(
        step(0)["result"],
        "you sent authorization: Bearer [redacted:slack]"
    );
    assert_eq!(step(1)["status"], "failed-continued", "{summary}");
    let denied = step(1)["error"].as_str().unwrap().to_owned();
    assert!(
        denied.contains("HTTP 403") && denied.contains("Bearer [redacted:slack]"),
        "{denied}"
    );

    // A redirect to another origin: the secret's header stays behind, the others go on.
    let landing = &elsewhere.requests_to("/landing")[0];
    assert_eq!(landing.header("authorization"), None);
    assert_eq!(landing.header("x-kept"), Some("yes"));

    // Nowhere else: the history names the secret (the search can find what is there), the
    // result and the worker's log never hold its value.
    let history = history_text(&client, "notify-1").await;
    assert!(holds(&history, "Bearer "), "the search finds the template");
    assert!(holds(&history, "slack"), "the history names the secret");
    assert!(!holds(&history, TOKEN), "the token is in the history");
    assert!(
        !result.contains(TOKEN),
        "the token is in the result: {result}"
    );
    assert!(
        !worker.output().contains(TOKEN),
        "the token is in the log: {}",
        worker.output()
    );
}
