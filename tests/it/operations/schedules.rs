//! `schedules apply` against a real server: idempotent, updates only what changed, prunes
//! only its own, validates everything before touching anything.

use crate::common;

use clawfactory_temporal::schedules::is_managed;
use common::{Setup, cli, search_attributes, wait_until, wait_until_visible, workflow_result};
use serde_json::json;
use std::time::Duration;
use temporalio_common::protos::temporal::api::schedule::v1::Schedule;
use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeScheduleResponse;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `schedules <args>` with `config` against the setup's server.
async fn schedules(setup: &Setup, config: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let path = setup.path("schedules.toml");
    std::fs::write(
        &path,
        format!(
            "[temporal]\naddress = \"{}\"\n{config}",
            setup.server.address()
        ),
    )
    .unwrap();
    let mut full = vec!["schedules", "--config", path.to_str().unwrap()];
    full.extend_from_slice(args);
    let out = cli(&full, &[]).await;
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

async fn describe(setup: &Setup, id: &str) -> Option<DescribeScheduleResponse> {
    let client = setup.server.client().await;
    clawfactory_temporal::schedules::describe(&client, id)
        .await
        .expect("describe the schedule")
}

fn schedule(d: &DescribeScheduleResponse) -> Schedule {
    d.schedule.clone().unwrap()
}

const TWO: &str = r#"
[schedules.poetry-research-daily]
workflow = "PoetryResearchWorkflow"
workflow_id = "poetry-research"
cron = ["0 4 * * *"]

[schedules.weather-hourly]
workflow = "WeatherCheckWorkflow"
input = "Paris"
every = ["1h"]
phase = "15m"
timezone = "Europe/Berlin"
"#;

#[tokio::test]
async fn apply_is_idempotent_and_updates_only_what_changed() {
    let setup = Setup::new().await;
    let (code, out, err) = schedules(&setup, TWO, &["apply"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "+ create poetry-research-daily\n+ create weather-hourly\n"
    );

    let (_, out, _) = schedules(&setup, TWO, &["apply"]).await;
    assert_eq!(
        out,
        "= unchanged poetry-research-daily\n= unchanged weather-hourly\n"
    );

    let daily = schedule(&describe(&setup, "poetry-research-daily").await.unwrap());
    let spec = daily.spec.unwrap();
    assert_eq!(spec.structured_calendar.len(), 1);
    assert_eq!(spec.structured_calendar[0].hour[0].start, 4);

    let changed = TWO
        .replace("\"0 4 * * *\"", "\"30 5 * * MON-FRI\"")
        .replace(
            "timezone = \"Europe/Berlin\"",
            "timezone = \"America/New_York\"\noverlap = \"buffer_one\"",
        );
    let (_, out, err) = schedules(&setup, &changed, &["apply"]).await;
    assert_eq!(
        out, "~ update poetry-research-daily (spec)\n~ update weather-hourly (spec, overlap)\n",
        "{err}"
    );
    let daily = schedule(&describe(&setup, "poetry-research-daily").await.unwrap());
    let calendar = &daily.spec.unwrap().structured_calendar[0];
    assert_eq!((calendar.hour[0].start, calendar.minute[0].start), (5, 30));
    let described = describe(&setup, "weather-hourly").await.unwrap();
    assert!(
        is_managed(described.memo.as_ref()),
        "the update must keep our mark"
    );
    assert_eq!(
        schedule(&described).spec.unwrap().timezone_name,
        "America/New_York"
    );
    let (_, out, _) = schedules(&setup, &changed, &["apply"]).await;
    assert_eq!(
        out,
        "= unchanged poetry-research-daily\n= unchanged weather-hourly\n"
    );
}

#[tokio::test]
async fn a_schedule_paused_by_hand_is_brought_back_to_the_declaration() {
    let setup = Setup::new().await;
    schedules(&setup, TWO, &["apply"]).await;
    let (code, _, _) = schedules(&setup, TWO, &["pause", "weather-hourly"]).await;
    assert_eq!(code, Some(0));
    assert!(
        schedule(&describe(&setup, "weather-hourly").await.unwrap())
            .state
            .unwrap()
            .paused
    );
    let (_, out, _) = schedules(&setup, TWO, &["apply"]).await;
    assert!(
        out.contains("~ update weather-hourly (paused, note)"),
        "{out}"
    );
    assert!(
        !schedule(&describe(&setup, "weather-hourly").await.unwrap())
            .state
            .unwrap()
            .paused
    );
}

#[tokio::test]
async fn prune_deletes_only_our_undeclared_schedules() {
    let setup = Setup::new().await;
    schedules(&setup, TWO, &["apply"]).await;
    // Made by hand with the Temporal CLI: no memo mark.
    let hand = std::process::Command::new(common::temporal_bin())
        .args([
            "schedule",
            "create",
            "--address",
            &setup.server.address(),
            "--schedule-id",
            "by-hand",
        ])
        .args([
            "--cron",
            "0 1 * * *",
            "--workflow-id",
            "x",
            "--task-queue",
            "clawfactory",
            "--type",
            "CustomWorkflow",
        ])
        .output()
        .unwrap();
    assert!(hand.status.success(), "{}", text(&hand.stderr));
    let only_daily = TWO.split("[schedules.weather-hourly]").next().unwrap();

    // Without --prune nothing is deleted.
    let (_, out, _) = schedules(&setup, only_daily, &["apply"]).await;
    assert_eq!(out, "= unchanged poetry-research-daily\n");
    assert!(describe(&setup, "weather-hourly").await.is_some());

    // Listing is eventually consistent: wait until the server lists all three.
    let mut out = String::new();
    for _ in 0..100 {
        out = schedules(&setup, only_daily, &["list"]).await.1;
        if out.lines().count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(out.contains("by-hand (not ours)"), "{out}");
    // An interval shows where in it the fires fall.
    assert!(out.contains("every 1h phase 15m"), "{out}");

    let (_, out, _) = schedules(&setup, only_daily, &["apply", "--prune", "--dry-run"]).await;
    assert_eq!(
        out,
        "dry run: nothing will be changed\n= unchanged poetry-research-daily\n- delete weather-hourly\n"
    );
    assert!(
        describe(&setup, "weather-hourly").await.is_some(),
        "dry run must not delete"
    );

    let (_, out, _) = schedules(&setup, only_daily, &["apply", "--prune"]).await;
    assert_eq!(
        out,
        "= unchanged poetry-research-daily\n- delete weather-hourly\n"
    );
    assert!(describe(&setup, "weather-hourly").await.is_none());
    assert!(
        describe(&setup, "by-hand").await.is_some(),
        "hand-made schedule must survive"
    );
}

#[tokio::test]
async fn an_invalid_config_changes_nothing_and_dry_run_changes_nothing() {
    let setup = Setup::new().await;
    let invalid = format!(
        "{TWO}\n[schedules.broken]\nworkflow = \"CustomWorkflow\"\ncron = [\"0 25 * * *\"]\n"
    );
    let (code, out, err) = schedules(&setup, &invalid, &["apply"]).await;
    assert_eq!(code, Some(2));
    assert!(out.is_empty());
    assert!(
        err.contains("schedules.broken.cron: \"0 25 * * *\": hour: 25 is outside 0-23"),
        "{err}"
    );
    assert!(describe(&setup, "poetry-research-daily").await.is_none());

    let (code, out, _) = schedules(&setup, TWO, &["apply", "--dry-run"]).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("+ create poetry-research-daily"), "{out}");
    assert!(describe(&setup, "poetry-research-daily").await.is_none());
    assert!(describe(&setup, "weather-hourly").await.is_none());
}

#[tokio::test]
async fn a_triggered_schedule_really_runs_the_workflow_on_the_worker() {
    let setup = Setup::new().await;
    let config = r#"
[schedules.custom-nightly]
workflow = "CustomWorkflow"
input = { name = "nightly", steps = [{ type = "agent_turn", agent_id = "nightly-digest" }] }
cron = ["0 3 * * *"]
"#;
    let mut worker_config = setup.config();
    // The same declaration, as text, that `schedules apply` and `trigger` read below.
    worker_config.append_raw_toml(config);
    let _worker = setup.worker(&worker_config).await;
    schedules(&setup, config, &["apply"]).await;
    let (code, _, err) = schedules(&setup, config, &["trigger", "custom-nightly"]).await;
    assert_eq!(code, Some(0), "{err}");

    let gateway = setup.gateway.clone();
    wait_until("the scheduled agent turn", Duration::from_secs(30), || {
        !gateway.requests_to("/api/cron/fire").is_empty()
    })
    .await;
    let fired = &setup.gateway.requests_to("/api/cron/fire")[0];
    assert_eq!(fired.json()["job_id"], "nightly-digest");
    let workflow_id = fired
        .header("idempotency-key")
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert!(workflow_id.starts_with("custom-nightly"), "{workflow_id}");
    let client = setup.server.client().await;
    let result = workflow_result(&client, &workflow_id).await.unwrap();
    assert!(
        result.starts_with(r#"{"name": "nightly", "steps_completed": 1"#),
        "{result}"
    );
    // Findable: Temporal names the schedule, the run names its definition and turn.
    let attributes = search_attributes(&client, &workflow_id).await;
    assert_eq!(
        attributes.get("TemporalScheduledById"),
        Some(&json!("custom-nightly")),
        "{attributes:?}"
    );
    assert_eq!(attributes.get("ClawWorkflow"), Some(&json!("nightly")));
    assert_eq!(
        attributes.get("ClawTurns"),
        Some(&json!(["nightly-digest"]))
    );
    let query = r#"TemporalScheduledById = "custom-nightly" AND ClawTurns = "nightly-digest""#;
    wait_until_visible(&client, query, &[&workflow_id]).await;
}
