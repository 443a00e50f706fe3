//! Agent turns that really run on OpenClaw: the `hooks-agent` and `chat-completions`
//! protocols and cron-job resolution, against the faithful loopback fake of the gateway.

use crate::OpenClawSetup;
use crate::common;

use crate::fake_openclaw::{FakeOpenClaw, Outcome};
use clawfactory_temporal::config::{GatewayApi, OnSkipped, TurnConfig};
use common::fake_http::{Reply, single_idempotency_key};
use common::{ConfigFile, Setup, WorkerProcess, start_workflow, workflow_result};
use serde_json::{Value, json};
use std::time::Duration;

const HOOKS: &str = "/hooks/agent";

struct World {
    setup: Setup,
    openclaw: FakeOpenClaw,
}

impl World {
    async fn new() -> World {
        World {
            setup: Setup::new().await,
            openclaw: FakeOpenClaw::start().await,
        }
    }

    /// A worker config speaking `api` to the fake, with both tokens in their files.
    fn config(&self, api: GatewayApi) -> ConfigFile {
        let openclaw = &self.openclaw;
        self.setup.openclaw_config(
            api,
            openclaw.url(),
            &openclaw.hooks_token,
            &openclaw.gateway_token,
        )
    }

    async fn worker(&self, config: &ConfigFile) -> WorkerProcess {
        self.setup.worker(config).await
    }

    /// Runs one agent turn through CustomWorkflow; its result or failure chain.
    async fn turn(&self, id: &str, agent_turn: &str) -> Result<String, String> {
        let client = self.setup.server.client().await;
        let definition = json!({"steps": [{"type": "agent_turn", "agent_id": agent_turn}]});
        start_workflow(&client, "CustomWorkflow", Some(definition), id).await;
        let summary = workflow_result(&client, id).await?;
        let summary: Value = serde_json::from_str(&summary).unwrap();
        Ok(summary["results"][0]["result"].as_str().unwrap().to_owned())
    }
}

/// `[turns.digest]` with every key OpenClaw receives, and `[turns.ghost]` for an agent
/// OpenClaw does not know.
fn add_turns(config: &mut ConfigFile) {
    let digest = TurnConfig {
        agent: "writer".into(),
        timeout: Some(Duration::from_secs(120)),
        model: Some("mock/mock-model".into()),
        ..common::turn("Write the daily digest.")
    };
    let ghost = TurnConfig {
        agent: "nobody".into(),
        ..common::turn("Talk to nobody.")
    };
    config.turns.0.insert("digest".into(), digest);
    config.turns.0.insert("ghost".into(), ghost);
}

#[tokio::test]
async fn poetry_research_makes_two_real_runs_through_hooks_agent() {
    let world = World::new().await;
    let _worker = world.worker(&world.config(GatewayApi::HooksAgent)).await;
    let client = world.setup.server.client().await;
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "1s"})),
        "poetry-hooks",
    )
    .await;
    assert_eq!(
        workflow_result(&client, "poetry-hooks").await,
        Ok("Poetry research workflow completed".into())
    );
    let runs = world.openclaw.runs();
    assert_eq!(runs.len(), 2);
    for (run, turn) in runs
        .iter()
        .zip(["poetry-research-execute", "poetry-research-synthesize"])
    {
        assert_eq!(run.body["name"], turn);
        assert_eq!(run.body["agentId"], "main");
        assert_eq!(run.body["deliver"], false);
        assert_eq!(run.body["waitForCompletion"], true);
        assert!(
            run.body["message"].as_str().unwrap().contains("poetry"),
            "{}",
            run.body
        );
        assert!(
            run.idempotency_key
                .as_deref()
                .unwrap()
                .starts_with("poetry-hooks/")
        );
    }
    for request in world.openclaw.requests_to(HOOKS) {
        let auth = request.header("authorization").unwrap();
        assert_eq!(
            auth,
            format!("Bearer {}", world.openclaw.hooks_token),
            "the HOOKS token"
        );
    }
}

#[tokio::test]
async fn a_turn_carries_its_definition_and_reports_the_run() {
    let world = World::new().await;
    let mut config = world.config(GatewayApi::HooksAgent);
    add_turns(&mut config);
    let _worker = world.worker(&config).await;
    let result: Value =
        serde_json::from_str(&world.turn("digest-1", "digest").await.unwrap()).unwrap();
    assert_eq!(
        result,
        json!({"runId": "run-0001", "status": "ok", "replyDisposition": "visible"})
    );
    let run = &world.openclaw.runs()[0];
    assert_eq!(
        run.body,
        json!({"message": "Write the daily digest.", "name": "digest", "agentId": "writer", "deliver": false,
               "waitForCompletion": true, "timeoutSeconds": 120, "model": "mock/mock-model"})
    );
}

#[tokio::test]
async fn a_run_that_completed_with_error_is_retried_as_a_new_run_under_a_new_key() {
    let world = World::new().await;
    world.openclaw.outcomes([Outcome::error(), Outcome::ok()]);
    let _worker = world.worker(&world.config(GatewayApi::HooksAgent)).await;
    assert!(
        world
            .turn("retry-run", "poetry-research-execute")
            .await
            .is_ok()
    );
    let runs = world.openclaw.runs();
    assert_eq!(runs.len(), 2, "one failed run, one good run");
    let keys: Vec<_> = runs
        .iter()
        .map(|r| r.idempotency_key.clone().unwrap())
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert!(
        keys[1].starts_with(&keys[0]) && keys[1].ends_with("/run-2"),
        "{keys:?}"
    );
    assert_eq!(world.openclaw.requests_to(HOOKS).len(), 2);
}

#[tokio::test]
async fn runs_that_keep_failing_end_in_agent_run_failed() {
    let world = World::new().await;
    world
        .openclaw
        .outcomes([Outcome::error(), Outcome::error(), Outcome::error()]);
    let _worker = world.worker(&world.config(GatewayApi::HooksAgent)).await;
    let err = world
        .turn("always-fails", "poetry-research-execute")
        .await
        .unwrap_err();
    assert!(
        err.contains("[AgentRunFailed]") && err.contains("completed with status \"error\""),
        "{err}"
    );
    assert_eq!(
        world.openclaw.runs().len(),
        3,
        "3 attempts, 3 distinct runs"
    );
}

#[tokio::test]
async fn a_connection_cut_mid_wait_reattaches_to_the_same_run() {
    let world = World::new().await;
    world
        .openclaw
        .outcomes([Outcome::ok_after(Duration::from_secs(3))]);
    world.openclaw.cut_connections([Duration::from_millis(500)]);
    let _worker = world.worker(&world.config(GatewayApi::HooksAgent)).await;
    assert!(world.turn("cut", "poetry-research-execute").await.is_ok());
    assert_eq!(
        world.openclaw.runs().len(),
        1,
        "re-attached, no duplicate run"
    );
    let requests = world.openclaw.requests_to(HOOKS);
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
}

#[tokio::test]
async fn a_turn_longer_than_the_read_timeout_is_waited_for_without_a_second_run() {
    let world = World::new().await;
    world
        .openclaw
        .outcomes([Outcome::ok_after(Duration::from_millis(3500))]);
    let mut config = world.config(GatewayApi::HooksAgent);
    config.gateway.timeout = Duration::from_secs(1);
    let _worker = world.worker(&config).await;
    assert!(world.turn("long", "poetry-research-execute").await.is_ok());
    assert_eq!(world.openclaw.runs().len(), 1);
    let requests = world.openclaw.requests_to(HOOKS);
    assert!(
        requests.len() >= 3,
        "re-POSTed while waiting: {}",
        requests.len()
    );
    single_idempotency_key(&requests);
}

#[tokio::test]
async fn a_failed_admission_is_retried_with_the_same_key_after_retry_after() {
    let world = World::new().await;
    world.openclaw.fail_admissions([Reply::json(
        503,
        json!({"error": {"message": "Gateway is temporarily unavailable while suspending or restarting",
               "type": "service_unavailable", "code": "gateway_unavailable"}}),
    )
    .header("Retry-After", "2")]);
    let _worker = world.worker(&world.config(GatewayApi::HooksAgent)).await;
    assert!(
        world
            .turn("admission", "poetry-research-execute")
            .await
            .is_ok()
    );
    let requests = world.openclaw.requests_to(HOOKS);
    assert_eq!(requests.len(), 2);
    assert_eq!(
        requests[0].header("idempotency-key"),
        requests[1].header("idempotency-key")
    );
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(1900));
    assert_eq!(world.openclaw.runs().len(), 1);
}

#[tokio::test]
async fn wrong_token_unknown_agent_and_undefined_turns_fail_at_once() {
    let world = World::new().await;
    let mut config = world.config(GatewayApi::HooksAgent);
    add_turns(&mut config);
    // The GATEWAY token where the hooks token belongs: OpenClaw answers 401.
    config.gateway.hooks_token_file = Some(world.setup.path("gateway-token"));
    let _worker = world.worker(&config).await;
    let err = world.turn("wrong-token", "digest").await.unwrap_err();
    assert!(
        err.contains("[GatewayUnauthorized]") && err.contains("HOOKS token"),
        "{err}"
    );
    assert_eq!(world.openclaw.requests_to(HOOKS).len(), 1);

    let world = World::new().await;
    let mut config = world.config(GatewayApi::HooksAgent);
    add_turns(&mut config);
    let _worker = world.worker(&config).await;
    let err = world.turn("ghost", "ghost").await.unwrap_err();
    assert!(
        err.contains("[UnknownAgent]") && err.contains("unknown agentId \"nobody\""),
        "{err}"
    );
    assert_eq!(world.openclaw.requests_to(HOOKS).len(), 1);
    let err = world.turn("undefined", "no-such-turn").await.unwrap_err();
    assert!(
        err.contains("[UnknownAgentTurn]") && err.contains("[turns.no-such-turn]"),
        "{err}"
    );
    assert_eq!(
        world.openclaw.requests_to(HOOKS).len(),
        1,
        "no call for an undefined turn"
    );
}

#[tokio::test]
async fn skipped_runs_succeed_by_default_and_fail_when_configured() {
    let world = World::new().await;
    world
        .openclaw
        .outcomes([Outcome::skipped(), Outcome::skipped()]);
    let worker = world.worker(&world.config(GatewayApi::HooksAgent)).await;
    let result = world
        .turn("skipped-ok", "poetry-research-execute")
        .await
        .unwrap();
    assert!(result.contains(r#""status":"skipped""#), "{result}");
    assert!(worker.output().contains("OpenClaw skipped the agent run"));
    drop(worker);

    let mut config = world.config(GatewayApi::HooksAgent);
    config.gateway.on_skipped = OnSkipped::Fail;
    let _worker = world.worker(&config).await;
    let err = world
        .turn("skipped-fail", "poetry-research-execute")
        .await
        .unwrap_err();
    assert!(err.contains("[AgentRunSkipped]"), "{err}");
    assert_eq!(world.openclaw.runs().len(), 2);
}

#[tokio::test]
async fn cron_jobs_resolve_by_exact_name_through_the_admin_rpc() {
    let world = World::new().await;
    let job = |id: &str, name: &str, message: &str| {
        json!({"id": id, "name": name, "agentId": "writer", "enabled": true,
               "schedule": {"kind": "cron", "expr": "0 4 * * *", "tz": "UTC"},
               "payload": {"kind": "agentTurn", "message": message, "timeoutSeconds": 300}})
    };
    world
        .openclaw
        .add_cron_job(job("j1", "nightly", "Nightly from the cron job."));
    world
        .openclaw
        .add_cron_job(job("j2", "nightly-extra", "A substring match, not ours."));
    world.openclaw.add_cron_job(job("j3", "twice", "one"));
    world.openclaw.add_cron_job(job("j4", "twice", "two"));
    let mut config = world.config(GatewayApi::HooksAgent);
    config.gateway.resolve_cron_jobs = true;
    let _worker = world.worker(&config).await;

    assert!(world.turn("exact", "nightly").await.is_ok());
    let run = &world.openclaw.runs()[0];
    assert_eq!(run.body["message"], "Nightly from the cron job.");
    assert_eq!(run.body["agentId"], "writer");
    assert_eq!(run.body["timeoutSeconds"], 300);

    let err = world.turn("several", "twice").await.unwrap_err();
    assert!(
        err.contains("[AmbiguousAgentTurn]") && err.contains("j3, j4"),
        "{err}"
    );
    let err = world.turn("none", "missing").await.unwrap_err();
    assert!(
        err.contains("[UnknownAgentTurn]") && err.contains("\"missing\""),
        "{err}"
    );
    assert_eq!(world.openclaw.runs().len(), 1);
    for rpc in world.openclaw.requests_to("/api/v1/admin/rpc") {
        let auth = rpc.header("authorization").unwrap();
        assert_eq!(
            auth,
            format!("Bearer {}", world.openclaw.gateway_token),
            "the GATEWAY token"
        );
    }
}

#[tokio::test]
async fn chat_completions_returns_the_reply_and_retries_provider_failures_as_new_runs() {
    let world = World::new().await;
    world.openclaw.outcomes([Outcome::error(), Outcome::ok()]);
    let _worker = world
        .worker(&world.config(GatewayApi::ChatCompletions))
        .await;
    let reply = world.turn("chat", "poetry-research-execute").await.unwrap();
    assert!(
        reply.starts_with("MOCK-REPLY: Research today's poetry topic"),
        "{reply}"
    );
    let runs = world.openclaw.runs();
    assert_eq!(runs.len(), 2, "502 then a new run");
    assert_eq!(runs[1].body["model"], "openclaw/main");
    for request in world.openclaw.requests_to("/v1/chat/completions") {
        let auth = request.header("authorization").unwrap();
        assert_eq!(auth, format!("Bearer {}", world.openclaw.gateway_token));
    }
}

#[tokio::test]
async fn the_preflight_names_what_is_misconfigured_without_blocking() {
    let world = World::new().await;
    let mut config = world.config(GatewayApi::HooksAgent);
    config.gateway.hooks_token_file = None; // no hooks token at all
    let worker = world.worker(&config).await;
    common::wait_until("the preflight warning", Duration::from_secs(20), || {
        worker.output().contains("no hooks token is set")
    })
    .await;

    let world = World::new().await;
    let mut config = world.config(GatewayApi::HooksAgent);
    config.gateway.url = format!("http://127.0.0.1:{}", common::free_port());
    let worker = world.worker(&config).await;
    common::wait_until(
        "the unreachable-gateway warning",
        Duration::from_secs(20),
        || worker.output().contains("OpenClaw gateway not reachable"),
    )
    .await;
    assert!(!worker.output().contains(&world.openclaw.hooks_token));
}

/// Runs `openclaw-cron <args>` (or another command) on the config at `path`: exit code,
/// standard output, standard error.
async fn command(path: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let (first, rest) = args.split_first().expect("a command");
    let mut full = vec![*first, "--config", path.to_str().unwrap()];
    full.extend_from_slice(rest);
    let out = common::cli(&full, &[]).await;
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test]
async fn openclaw_cron_lists_every_job_with_how_it_would_move_and_imports_what_can() {
    let world = World::new().await;
    let job = |id: &str, name: &str, schedule: Value, enabled: bool| {
        json!({"id": id, "name": name, "enabled": enabled, "agentId": "writer",
               "sessionTarget": "isolated", "delivery": {"mode": "none"}, "schedule": schedule,
               "payload": {"kind": "agentTurn", "message": format!("{name}."), "timeoutSeconds": 60}})
    };
    let cron = json!({"kind": "cron", "expr": "0 4 * * *", "tz": "Europe/Berlin"});
    world
        .openclaw
        .add_cron_job(job("j1", "nightly", cron.clone(), true));
    world
        .openclaw
        .add_cron_job(job("j2", "paused", cron.clone(), false));
    world.openclaw.add_cron_job(job(
        "j3",
        "once",
        json!({"kind": "at", "at": "2031-01-01T00:00:00Z"}),
        true,
    ));
    world
        .openclaw
        .add_cron_job(job("j4", "heartbeat-writer", cron, true));
    let config = world.config(GatewayApi::HooksAgent);
    let path = world.setup.path("config.toml");
    config.write(&path);

    let (code, listing, _) = command(&path, &["openclaw-cron", "list"]).await;
    assert_eq!(code, Some(0));
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 4, "disabled jobs too:\n{listing}");
    assert!(lines.iter().any(|l| l.starts_with("\"nightly\"  j1  [cron \"0 4 * * *\" Europe/Berlin]  agent=writer  enabled=true  as nightly  ok")), "{listing}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("j3") && l.contains("cannot: a one-shot job")),
        "{listing}"
    );
    assert!(
        lines.iter().any(
            |l| l.contains("j4") && l.ends_with("(OpenClaw's own: import --all leaves it out)")
        ),
        "{listing}"
    );
    let list_calls = world.openclaw.requests_to("/api/v1/admin/rpc");
    assert!(
        list_calls
            .iter()
            .all(|c| c.json()["params"]["includeDisabled"] == true)
    );

    let (code, toml, err) = command(&path, &["openclaw-cron", "import", "--all"]).await;
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("left out: once (j3): a one-shot job"), "{err}");
    let imported = clawfactory_temporal::config::Config::parse(&toml).unwrap();
    assert_eq!(
        imported.turns.0.keys().collect::<Vec<_>>(),
        ["nightly", "paused"]
    );
    assert_eq!(imported.turns.0["nightly"].agent, "writer");
    assert!(
        imported.schedules.0["paused"].paused,
        "a disabled job imports paused"
    );
    let (code, _, err) = command(&path, &["openclaw-cron", "import"]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("name the jobs to import"), "{err}");
}

/// Changes a job on the fake the way OpenClaw's own UI would: through `cron.update`.
async fn patch_job(openclaw: &FakeOpenClaw, id: &str, patch: Value) {
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/api/v1/admin/rpc", openclaw.url()))
        .bearer_auth(&openclaw.gateway_token)
        .json(&json!({"method": "cron.update", "params": {"id": id, "patch": patch}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["ok"], true, "{answer}");
}

/// The next 04:00 UTC, in ms: when OpenClaw would next run a `0 4 * * *` job.
fn next_four_utc_ms() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (day, four) = (86_400, 4 * 3600);
    ((now - four) / day + 1) * day * 1000 + four * 1000
}

#[tokio::test]
async fn openclaw_cron_refuses_a_changed_job_and_an_unapplied_schedule_then_cuts_over_and_rolls_back()
 {
    let world = World::new().await;
    let job = json!({"id": "j-nightly", "name": "nightly", "enabled": true, "agentId": "main",
        "sessionTarget": "isolated", "delivery": {"mode": "none"},
        "schedule": {"kind": "cron", "expr": "0 4 * * *", "tz": "UTC"},
        "nextRunAtMs": next_four_utc_ms(),
        "payload": {"kind": "agentTurn", "message": "Nightly.", "toolsAllow": ["*"]}});
    world.openclaw.add_cron_job(job.clone());
    let mut config = world.config(GatewayApi::HooksAgent);
    let path = world.setup.path("config.toml");
    config.write(&path);

    let (code, _, err) = command(&path, &["openclaw-cron", "import", "nope"]).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("no OpenClaw cron job has the id or name \"nope\": see `clawfactory-temporal openclaw-cron list`"), "{err}");
    let imported = world.setup.path("imported.toml");
    let out = ["--out", imported.to_str().unwrap()];
    let (code, _, _) = command(
        &path,
        &[&["openclaw-cron", "import", "nightly"][..], &out].concat(),
    )
    .await;
    assert_eq!(code, Some(0));
    config.append_raw_toml(&std::fs::read_to_string(&imported).unwrap());
    config.write(&path);

    let (code, out, _) = command(&path, &["openclaw-cron", "cutover"]).await;
    assert_eq!(code, Some(1));
    assert!(out.contains("! refused: nightly: schedule nightly is not on the server: run `clawfactory-temporal schedules apply` first"), "{out}");
    let (code, _, err) = command(&path, &["openclaw-cron", "cutover", "nope"]).await;
    assert_eq!(code, Some(1));
    assert!(
        err.contains("no imported job has the id or name \"nope\""),
        "{err}"
    );
    assert_eq!(command(&path, &["schedules", "apply"]).await.0, Some(0));

    patch_job(
        &world.openclaw,
        "j-nightly",
        json!({"payload": {"kind": "agentTurn", "message": "Changed."}}),
    )
    .await;
    let (code, out, _) = command(&path, &["openclaw-cron", "cutover"]).await;
    assert_eq!(code, Some(1));
    assert!(
        out.contains("changed since import (message: OpenClaw \"Changed.\", config \"Nightly.\")"),
        "{out}"
    );
    assert_eq!(
        world.openclaw.cron_jobs()[0]["enabled"],
        true,
        "a refusal changes nothing"
    );

    patch_job(
        &world.openclaw,
        "j-nightly",
        json!({"payload": job["payload"].clone()}),
    )
    .await;
    let (code, out, _) = command(&path, &["openclaw-cron", "cutover"]).await;
    assert_eq!(code, Some(0), "{out}");
    let cut = &world.openclaw.cron_jobs()[0];
    assert_eq!(cut["enabled"], false);
    assert!(
        cut["description"]
            .as_str()
            .unwrap()
            .starts_with("[clawfactory-temporal: cut over to Temporal schedule nightly on "),
        "{cut}"
    );
    let (code, out, _) = command(&path, &["openclaw-cron", "rollback", "nightly"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "> nightly: paused schedule nightly, re-enabled OpenClaw job \"nightly\" (j-nightly)"
        ),
        "{out}"
    );
    let back = &world.openclaw.cron_jobs()[0];
    assert_eq!(back["enabled"], true);
    assert_eq!(back.get("description"), None, "as it was");
    let (code, out, _) = command(&path, &["openclaw-cron", "rollback", "nightly"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("= nightly: not cut over; nothing to roll back"),
        "{out}"
    );
    assert_eq!(&world.openclaw.cron_jobs()[0], back);
}

#[tokio::test]
async fn openclaw_cron_says_what_to_do_about_the_token_the_plugin_and_an_unreachable_gateway() {
    let world = World::new().await;
    let path = world.setup.path("config.toml");
    let list = ["openclaw-cron", "list"];

    let mut config = world.config(GatewayApi::HooksAgent);
    config.gateway.token_file = None;
    config.write(&path);
    let (code, _, err) = command(&path, &list).await;
    assert_eq!(code, Some(1));
    assert!(err.contains("no gateway token is set (gateway.token_file, credential gateway-token, or GATEWAY_INTERNAL_TOKEN)"), "{err}");

    let config = world.setup.openclaw_config(
        GatewayApi::HooksAgent,
        world.openclaw.url(),
        &world.openclaw.hooks_token,
        &world.openclaw.hooks_token,
    );
    config.write(&path);
    let (_, _, err) = command(&path, &list).await;
    assert!(
        err.contains("the admin RPC takes the GATEWAY token"),
        "{err}"
    );
    assert!(
        !err.contains(&world.openclaw.hooks_token),
        "no token in errors"
    );

    // 404 Not Found: what OpenClaw answers on the admin RPC's path without the plugin.
    world
        .setup
        .gateway
        .script("/api/v1/admin/rpc", [Reply::status(404, "Not Found")]);
    let config =
        world
            .setup
            .openclaw_config(GatewayApi::HooksAgent, world.setup.gateway.url(), "h", "g");
    config.write(&path);
    let (_, _, err) = command(&path, &list).await;
    assert!(
        err.contains("plugins.entries.admin-http-rpc.enabled = true"),
        "{err}"
    );

    let url = format!("http://127.0.0.1:{}", common::free_port());
    let config = world
        .setup
        .openclaw_config(GatewayApi::HooksAgent, url, "h", "g");
    config.write(&path);
    let (_, _, err) = command(&path, &list).await;
    assert!(
        err.contains("could not connect") && err.contains("is OpenClaw running there"),
        "{err}"
    );
}

#[tokio::test]
async fn the_nix_import_evaluates_to_the_same_declaration_as_the_toml_one() {
    if std::process::Command::new("nix-instantiate")
        .arg("--version")
        .output()
        .is_err()
    {
        // Uncaptured, so a skip shows in CI's log.
        crate::harness::report("SKIPPED the Nix import check: no nix-instantiate on PATH");
        return;
    }
    let world = World::new().await;
    world
        .openclaw
        .add_cron_job(json!({"id": "j1", "name": "Inbox check", "enabled": true,
        "agentId": "main", "sessionTarget": "isolated", "delivery": {"mode": "none"},
        "schedule": {"kind": "every", "everyMs": 1_800_000, "anchorMs": 90_000},
        "payload": {"kind": "agentTurn", "message": "Say \"${hi}\" and \\n,\nthen stop.",
                    "model": "mock/mock-model", "thinking": "low"}}));
    let config = world.config(GatewayApi::HooksAgent);
    let path = world.setup.path("config.toml");
    config.write(&path);
    let (code, toml, err) = command(&path, &["openclaw-cron", "import", "--all"]).await;
    assert_eq!(code, Some(0), "{err}");
    let nix_file = world.setup.path("openclaw-cron.nix");
    let out = ["--format", "nix", "--out", nix_file.to_str().unwrap()];
    let (code, _, err) = command(
        &path,
        &[&["openclaw-cron", "import", "--all"][..], &out].concat(),
    )
    .await;
    assert_eq!(code, Some(0), "{err}");

    let evaluated = std::process::Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(&nix_file)
        .output()
        .unwrap();
    assert!(
        evaluated.status.success(),
        "{}",
        String::from_utf8_lossy(&evaluated.stderr)
    );
    let nix: Value = serde_json::from_slice(&evaluated.stdout).unwrap();
    let toml: Value = serde_json::to_value(toml.parse::<toml::Table>().unwrap()).unwrap();
    assert_eq!(nix["settings"]["turns"], toml["turns"]);
    assert_eq!(nix["schedules"], toml["schedules"]);
    assert_eq!(nix["schedules"]["inbox-check"]["phase"], "90s");
}
