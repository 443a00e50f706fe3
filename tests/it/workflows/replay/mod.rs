//! Runs that wait survive an upgrade: real histories recorded from a real server are replayed
//! against today's workflow code, and any change that would make them replay into different
//! commands (a nondeterminism error on a waiting run after `nixos-rebuild switch`) fails here.
//!
//! The histories in `tests/histories/` were recorded by the ignored test `record_histories`
//! (real dev server, real worker binary, the loopback fake gateway). A deliberate workflow
//! change keeps them replaying by branching on `ctx.patched("<change-id>")`; new histories are
//! added by re-running the recorder — see docs/versioning.md.

mod concurrency;
mod for_each;

use crate::common;

use clawfactory_temporal::config::Config;
use clawfactory_temporal::payload::json_payload;
use clawfactory_temporal::workflows::declared;
use clawfactory_temporal::workflows::{
    ClawfactoryLock, CustomWorkflow, PoetryResearchWorkflow, WeatherCheckWorkflow, WorkflowSettings,
};
use common::fake_http::Reply;
use common::{Setup, start_workflow, wait_until, workflow_failure, workflow_result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use temporalio_client::{
    UntypedSignal, WorkflowFetchHistoryOptions, WorkflowHistory, WorkflowQueryOptions,
    WorkflowSignalOptions,
};
use temporalio_common::UntypedWorkflow;
use temporalio_common::data_converters::RawValue;
use temporalio_common::protos::temporal::api::history::v1::History;
use temporalio_common::protos::temporal::api::history::v1::history_event::Attributes;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};

/// The declared workflow whose recorded history is replayed: the worked example of
/// docs/declared-workflows.md, with every step type but `sequence` and `delay`.
const DECLARED: &str = "research-digest";

const DECLARED_TOML: &str = r#"
[declared.research-digest]
description = "research; if there is news, synthesize and notify at once; approve; publish"

[[declared.research-digest.steps]]
id = "research"
type = "agent_turn"
turn = "poetry-research-execute"

[[declared.research-digest.steps]]
id = "nothing_new"
type = "stop"
when = "steps.research.result.lowerAscii().contains('nothing new')"
reason = "nothing new today"

[[declared.research-digest.steps]]
id = "share"
type = "parallel"

  [[declared.research-digest.steps.steps]]
  id = "synthesize"
  type = "agent_turn"
  turn = "poetry-research-synthesize"

  [[declared.research-digest.steps.steps]]
  id = "notify"
  type = "http"
  method = "POST"
  url = "{gw}/notify"
  body = "research done: {{ steps.research.result }}"
  continue_on_error = true

[[declared.research-digest.steps]]
id = "approve_publish"
type = "approval"
prompt = "Publish today's digest?"
timeout = "1h"

[[declared.research-digest.steps]]
id = "publish"
type = "agent_turn"
turn = "poetry-publish"

[[declared.research-digest.on_failure]]
id = "alert"
type = "http"
method = "POST"
url = "{gw}/alert"
body = "{{ failure.type }}: {{ failure.message }}"
"#;

pub(super) fn histories_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/histories")
}

/// Every recorded history, by file name.
pub(super) fn recorded() -> Vec<(String, History)> {
    let mut files: Vec<_> = std::fs::read_dir(histories_dir())
        .expect("tests/histories")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let history: History = serde_json::from_slice(&bytes)
                .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                history,
            )
        })
        .collect()
}

/// A replayer with the worker's workflows, built as the worker builds them; `search_attributes`
/// is what the worker found registered at start.
fn replayer(search_attributes: bool) -> WorkflowReplayer {
    let mut settings = WorkflowSettings::from_config(&Config::default());
    settings.search_attributes = search_attributes;
    let settings = Arc::new(settings);
    let poetry = settings.clone();
    let declared_settings = settings.clone();
    let options = WorkflowReplayerOptions::new()
        .register_workflow_with_factory::<PoetryResearchWorkflow, _>(move || {
            PoetryResearchWorkflow::new(poetry.clone())
        })
        .unwrap()
        .register_workflow_with_factory::<CustomWorkflow, _>(move || {
            CustomWorkflow::new(settings.clone())
        })
        .unwrap()
        .register_workflow::<WeatherCheckWorkflow>()
        .unwrap()
        .register_workflow::<ClawfactoryLock>()
        .unwrap();
    // Declared types are registered by name; what each run did comes from its own history
    // (the recorded definition), not from any config here.
    let names = [
        DECLARED.to_owned(),
        for_each::FOR_EACH.to_owned(),
        concurrency::LOCKED.to_owned(),
    ];
    let options = declared::register(options, &names, &declared_settings)
        .unwrap()
        .build();
    WorkflowReplayer::new(options).unwrap()
}

/// Replays each history; the error lists every one that does not replay cleanly.
async fn replay(histories: Vec<(String, History)>) -> Result<(), String> {
    replay_on(true, histories).await
}

/// [`replay`] on a worker that found the search attributes registered or not.
async fn replay_on(
    search_attributes: bool,
    histories: Vec<(String, History)>,
) -> Result<(), String> {
    let names: Vec<String> = histories.iter().map(|(name, _)| name.clone()).collect();
    let results = replayer(search_attributes)
        .replay_workflows(histories.into_iter().map(|(_, h)| WorkflowHistory::from(h)))
        .await
        .map_err(|err| format!("the replayer failed: {err}"))?;
    let failures: Vec<String> = names
        .iter()
        .zip(results)
        .filter_map(|(name, result)| Some(format!("{name}: {}", result.replay_failure?)))
        .collect();
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

fn workflow_type(history: &History) -> String {
    match history.events.first().and_then(|e| e.attributes.as_ref()) {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) => started
            .workflow_type
            .as_ref()
            .map(|t| t.name.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn recorded_histories_of_every_workflow_type_replay_without_nondeterminism() {
    let histories = recorded();
    let mut types: Vec<String> = histories.iter().map(|(_, h)| workflow_type(h)).collect();
    types.sort();
    types.dedup();
    assert_eq!(
        types,
        [
            "ClawfactoryLock",
            "CustomWorkflow",
            "PoetryResearchWorkflow",
            "WeatherCheckWorkflow",
            concurrency::LOCKED,
            DECLARED,
            for_each::FOR_EACH,
        ],
        "a recorded history for every workflow type the worker registers"
    );
    if let Err(failures) = replay(histories).await {
        panic!("recorded histories no longer replay:\n{failures}");
    }
}

#[tokio::test]
async fn a_history_the_code_would_not_produce_fails_replay() {
    // The check above is only worth something if replay really compares commands: the same
    // history with its durable wait's timer replaced by a different command must be refused.
    let (name, mut history) = recorded()
        .into_iter()
        .find(|(name, _)| name.starts_with("poetry-research-completed"))
        .expect("the completed PoetryResearch history");
    let timer = history
        .events
        .iter_mut()
        .find_map(|event| match event.attributes.as_mut() {
            Some(Attributes::TimerStartedEventAttributes(timer)) => Some(timer),
            _ => None,
        })
        .expect("the settle timer");
    timer.start_to_fire_timeout.as_mut().unwrap().seconds = 7;
    assert!(
        replay(vec![(name.clone(), history.clone())]).await.is_ok(),
        "a different wait length replays (durations are not part of the command)"
    );
    let activity = history
        .events
        .iter_mut()
        .find_map(|event| match event.attributes.as_mut() {
            Some(Attributes::ActivityTaskScheduledEventAttributes(activity)) => Some(activity),
            _ => None,
        })
        .expect("the first agent turn");
    activity.activity_type.as_mut().unwrap().name = "some_other_activity".into();
    let refused = replay(vec![(name, history)]).await;
    assert!(
        refused
            .as_ref()
            .is_err_and(|message| message.contains("nondeterministic")),
        "{refused:?}"
    );
}

/// Records the histories replayed above from a real server and the real worker. Run it when
/// a workflow gains a new shape worth guarding:
/// `cargo test --test it -- --ignored workflows::replay::record_histories`.
#[tokio::test]
#[ignore = "records tests/histories from a real run; not a check"]
async fn record_histories() {
    let setup = Setup::new().await;
    let fire = "/api/cron/fire";
    setup.gateway.script(fire, [Reply::ok("fired")]);
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let mut recorded = Vec::new();

    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "1s"})),
        "poetry-research-completed",
    )
    .await;
    workflow_result(&client, "poetry-research-completed")
        .await
        .unwrap();
    recorded.push("poetry-research-completed");

    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "2h"})),
        "poetry-research-mid-settle",
    )
    .await;
    let handle = client.get_workflow_handle::<PoetryResearchWorkflow>("poetry-research-mid-settle");
    let mut phase = String::new();
    for _ in 0..100 {
        phase = handle
            .query(
                PoetryResearchWorkflow::phase,
                (),
                WorkflowQueryOptions::default(),
            )
            .await
            .unwrap();
        if phase.starts_with("settling until") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(phase.starts_with("settling until"), "{phase}");
    recorded.push("poetry-research-mid-settle");

    setup
        .gateway
        .script(fire, (0..3).map(|_| Reply::status(500, "model overloaded")));
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        None,
        "poetry-research-failed",
    )
    .await;
    let failed = workflow_failure(&client, "poetry-research-failed").await;
    assert!(
        failed.chain.contains("model overloaded"),
        "{}",
        failed.chain
    );
    recorded.push("poetry-research-failed");

    setup.gateway.script(fire, [Reply::ok("fired: digest")]);
    setup.gateway.script("/data", [Reply::ok("{\"ok\": true}")]);
    let definition = json!({"name": "digest", "steps": [
        {"type": "agent_turn", "agent_id": "digest-agent"},
        {"type": "delay", "duration": "1s"},
        {"type": "http", "url": format!("{}/data", setup.gateway.url()), "method": "post", "timeout": 5},
    ]});
    start_workflow(
        &client,
        "CustomWorkflow",
        Some(json!(definition.to_string())),
        "custom-every-step-kind",
    )
    .await;
    workflow_result(&client, "custom-every-step-kind")
        .await
        .unwrap();
    recorded.push("custom-every-step-kind");

    start_workflow(
        &client,
        "CustomWorkflow",
        Some(json!({"name": "bad", "steps": [{"type": "sleep"}]})),
        "custom-invalid-definition",
    )
    .await;
    workflow_failure(&client, "custom-invalid-definition").await;
    recorded.push("custom-invalid-definition");

    setup.gateway.script(
        "/Paris",
        [Reply::json(
            200,
            json!({"current_condition": [{"temp_F": "61", "weatherDesc": [{"value": "Partly cloudy"}],
                   "humidity": "72", "windspeedMiles": "9", "winddir16Point": "WSW"}]}),
        )],
    );
    start_workflow(
        &client,
        "WeatherCheckWorkflow",
        Some(json!("Paris")),
        "weather-check-paris",
    )
    .await;
    workflow_result(&client, "weather-check-paris")
        .await
        .unwrap();
    recorded.push("weather-check-paris");

    // The mid-settle run's timer is still open: its history ends at the wait.
    wait_until("histories settle", Duration::from_secs(5), || true).await;
    std::fs::create_dir_all(histories_dir()).unwrap();
    for id in recorded {
        write_history(&client, id).await;
    }
}

/// Records the declared workflow's history (the others stay as recorded from older code):
/// `cargo test --test it -- --ignored workflows::replay::record_declared_history`.
#[tokio::test]
#[ignore = "records tests/histories from a real run; not a check"]
async fn record_declared_history() {
    let setup = Setup::new().await;
    record_declared(&setup, "declared-research-digest").await;
}

/// Records runs that set the search attributes (`ClawWorkflow`, `ClawTurns`, `ClawInstance`;
/// patch `clawfactory-search-attributes`), beside the older histories that do not:
/// `cargo test --test it -- --ignored workflows::replay::record_findable_histories`.
#[tokio::test]
#[ignore = "records tests/histories from a real run; not a check"]
async fn record_findable_histories() {
    let setup = Setup::new().await;
    setup.gateway.script("/api/cron/fire", [Reply::ok("fired")]);
    let worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let id = "poetry-research-findable";
    let input = json!({"settle": "1s", "instance": "default"});
    start_workflow(&client, "PoetryResearchWorkflow", Some(input), id).await;
    workflow_result(&client, id).await.unwrap();
    write_history(&client, id).await;
    drop(worker);
    record_declared(&setup, "declared-research-digest-findable").await;
}

/// A run of [`DECLARED`] whose input carries a `$timeout`, recorded by the code before the
/// `declared-deadline` patch, which ignored that key: the unpatched path of a run that a
/// deadline would apply to. Recorded at commit 50b484a; re-recording it on newer code would
/// record the patched path instead:
/// `cargo test --test it -- --ignored workflows::replay::record_unpatched_deadline_history`.
#[tokio::test]
#[ignore = "records tests/histories from a real run; not a check"]
async fn record_unpatched_deadline_history() {
    let setup = Setup::new().await;
    let input = json!({"$timeout": "1h"});
    record_declared_with(&setup, "declared-deadline-unpatched", Some(input)).await;
}

/// A run of [`DECLARED`] through its approval, recorded as `tests/histories/<id>.json`.
async fn record_declared(setup: &Setup, id: &str) {
    record_declared_with(setup, id, None).await;
}

async fn record_declared_with(setup: &Setup, id: &str, input: Option<serde_json::Value>) {
    setup
        .gateway
        .script("/api/cron/fire", [Reply::ok("three new poems")]);
    let mut config = setup.config();
    let text = DECLARED_TOML.replace("{gw}", &setup.gateway.url());
    config.declared = Config::parse(&text).unwrap().declared;
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    start_workflow(&client, DECLARED, input, id).await;
    let gateway = setup.gateway.clone();
    wait_until("the notification", Duration::from_secs(30), || {
        !gateway.requests_to("/notify").is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    client
        .get_workflow_handle::<UntypedWorkflow>(id)
        .signal(
            UntypedSignal::new("approve"),
            RawValue {
                payloads: vec![json_payload(&json!({"comment": "ship it"}))],
            },
            WorkflowSignalOptions::default(),
        )
        .await
        .unwrap();
    let result: serde_json::Value =
        serde_json::from_str(&workflow_result(&client, id).await.unwrap()).unwrap();
    assert_eq!(result["status"], "completed", "{result}");
    write_history(&client, id).await;
}

/// A run of [`DECLARED`] whose deadline (`$timeout`, 3 s) passes while it waits for the
/// approval: the timer, its cancellations and `on_failure` (patch
/// `clawfactory-declared-deadline`):
/// `cargo test --test it -- --ignored workflows::replay::record_deadline_history`.
#[tokio::test]
#[ignore = "records tests/histories from a real run; not a check"]
async fn record_deadline_history() {
    let setup = Setup::new().await;
    setup
        .gateway
        .script("/api/cron/fire", [Reply::ok("three new poems")]);
    let mut config = setup.config();
    let text = DECLARED_TOML.replace("{gw}", &setup.gateway.url());
    config.declared = Config::parse(&text).unwrap().declared;
    let _worker = setup.worker(&config).await;
    let client = setup.server.client().await;
    let id = "declared-deadline-fired";
    start_workflow(&client, DECLARED, Some(json!({"$timeout": "3s"})), id).await;
    let failed = workflow_failure(&client, id).await;
    assert!(
        failed.chain.starts_with("[DeadlineExceeded] "),
        "{}",
        failed.chain
    );
    assert_eq!(setup.gateway.requests_to("/alert").len(), 1);
    write_history(&client, id).await;
}

pub(super) async fn write_history(client: &temporalio_client::Client, id: &str) {
    write_history_to(client, id, id).await;
}

/// The history of `id` as `tests/histories/<file>.json`.
pub(super) async fn write_history_to(client: &temporalio_client::Client, id: &str, file: &str) {
    let history = client
        .get_workflow_handle::<UntypedWorkflow>(id)
        .fetch_history(WorkflowFetchHistoryOptions::default())
        .to_json()
        .await
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&history).unwrap();
    let path = histories_dir().join(format!("{file}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&value).unwrap() + "\n").unwrap();
    println!("recorded {}", path.display());
}

#[tokio::test]
async fn every_history_replays_on_a_worker_that_found_the_search_attributes_missing() {
    // A run follows its own history's marker, not what the replaying worker found.
    if let Err(failures) = replay_on(false, recorded()).await {
        panic!("recorded histories no longer replay:\n{failures}");
    }
}

#[tokio::test]
async fn recorded_runs_with_search_attributes_set_them_before_each_agent_turn() {
    // Replay above covers the new code path only if these histories really hold it.
    for name in [
        "poetry-research-findable.json",
        "declared-research-digest-findable.json",
    ] {
        let (_, history) = recorded()
            .into_iter()
            .find(|(file, _)| file == name)
            .unwrap_or_else(|| panic!("{name} is recorded"));
        let kinds: Vec<&str> = history
            .events
            .iter()
            .filter_map(|event| match event.attributes.as_ref()? {
                Attributes::MarkerRecordedEventAttributes(marker)
                    if marker.marker_name == "core_patch" =>
                {
                    Some("patch")
                }
                Attributes::UpsertWorkflowSearchAttributesEventAttributes(upsert) => {
                    let fields = &upsert.search_attributes.as_ref()?.indexed_fields;
                    // The SDK's own, for the marker: `TemporalChangeVersion`.
                    let ours = fields.keys().all(|name| name.starts_with("Claw"));
                    Some(if ours { "upsert" } else { "version" })
                }
                Attributes::ActivityTaskScheduledEventAttributes(activity)
                    if activity.activity_type.as_ref().unwrap().name == "trigger_agent_turn" =>
                {
                    Some("turn")
                }
                _ => None,
            })
            .collect();
        let expected: &[&str] = if name.starts_with("poetry") {
            &[
                "patch", "version", "upsert", "upsert", "turn", "upsert", "turn",
            ]
        } else {
            &[
                "patch", "version", "upsert", "upsert", "turn", "upsert", "turn", "upsert", "turn",
            ]
        };
        assert_eq!(kinds, expected, "{name}");
    }
}

#[tokio::test]
async fn every_activity_and_timer_of_a_declared_run_names_its_step_in_the_ui() {
    let (_, history) = recorded()
        .into_iter()
        .find(|(name, _)| name.starts_with("declared-research-digest"))
        .expect("the declared workflow's history");
    let mut summaries = Vec::new();
    for event in &history.events {
        let scheduled = matches!(
            event.attributes,
            Some(Attributes::ActivityTaskScheduledEventAttributes(_))
                | Some(Attributes::TimerStartedEventAttributes(_))
        );
        if !scheduled {
            continue;
        }
        let summary = event
            .user_metadata
            .as_ref()
            .and_then(|m| m.summary.as_ref())
            .map(|p| serde_json::from_slice::<String>(&p.data).unwrap())
            .unwrap_or_else(|| panic!("event {} has no summary", event.event_id));
        summaries.push(summary);
    }
    assert_eq!(
        summaries,
        [
            "research: agent turn poetry-research-execute",
            "synthesize: agent turn poetry-research-synthesize",
            &summaries[2],
            "approve_publish: approval times out after 1h",
            "publish: agent turn poetry-publish",
        ]
    );
    assert!(
        summaries[2].starts_with("notify: POST http://127.0.0.1:"),
        "{}",
        summaries[2]
    );
}

#[tokio::test]
async fn the_deadline_histories_hold_the_patched_and_the_unpatched_path() {
    // Replay above proves the guard only if one history has the marker and its timer and
    // the other, though its input asks for a deadline, has neither.
    let history = |name: &str| {
        recorded()
            .into_iter()
            .find(|(file, _)| file == name)
            .unwrap_or_else(|| panic!("{name} is recorded"))
            .1
    };
    let deadline_marked = |history: &History| {
        history.events.iter().any(|event| {
            let Some(Attributes::MarkerRecordedEventAttributes(marker)) = &event.attributes else {
                return false;
            };
            let id = marker.details.get("patch-data").and_then(|payloads| {
                let data = &payloads.payloads.first()?.data;
                Some(String::from_utf8_lossy(data).contains(declared::DEADLINE_PATCH))
            });
            id == Some(true)
        })
    };
    let input = |history: &History| match history.events[0].attributes.as_ref() {
        Some(Attributes::WorkflowExecutionStartedEventAttributes(started)) => {
            let payload = &started.input.as_ref().unwrap().payloads[0];
            serde_json::from_slice::<serde_json::Value>(&payload.data).unwrap()
        }
        _ => panic!("the first event is the start"),
    };
    let fired = history("declared-deadline-fired.json");
    assert!(deadline_marked(&fired));
    assert_eq!(input(&fired)["$timeout"], "3s");
    let unpatched = history("declared-deadline-unpatched.json");
    assert!(!deadline_marked(&unpatched));
    assert_eq!(input(&unpatched)["$timeout"], "1h");
}
