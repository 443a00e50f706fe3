//! Agent turns against the REAL OpenClaw gateway (`openclaw@2026.9.6` on Node 24, installed by
//! `tests/openclaw-real/install.sh`; harness in `harness.rs`), each checked against what
//! OpenClaw itself recorded (its log, its runs, the model calls it made), not only against
//! what the worker says.
//!
//! The tests share one gateway (it takes 10–20 s to start); each test uses its own turn names
//! and model-stub markers, and its own recording proxy ([`Tap`]) in front of the gateway.

use crate::common;

use crate::OpenClawSetup;
use crate::fake_openclaw::FakeOpenClaw;
use crate::harness::{
    self as real, ADMIN, Answer, CHAT, Gate, HOOKS, NOT_A_HOOK_AGENT, RealOpenClaw, Tap, Target,
    Turn, hook_runs, raw_exchange, real_gateway,
};
use clawfactory_temporal::config::{GatewayApi, TurnConfig};
use common::{ConfigFile, Setup, WorkerProcess, start_workflow, wait_until, workflow_result};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// One test's world: Temporal, a recording proxy in front of the target, worker configs.
struct World {
    setup: Setup,
    target: Target,
    tap: Tap,
}

impl World {
    async fn new(target: Target) -> World {
        World {
            setup: Setup::new().await,
            tap: Tap::start(target.port).await,
            target,
        }
    }

    /// A worker config speaking `api` to the target through the tap, both tokens in files.
    fn config(&self, api: GatewayApi) -> ConfigFile {
        let target = &self.target;
        self.setup.openclaw_config(
            api,
            self.tap.url(),
            &target.hooks_token,
            &target.gateway_token,
        )
    }

    async fn worker(&self, config: &ConfigFile) -> WorkerProcess {
        self.setup.worker(config).await
    }

    async fn start_turn(&self, id: &str, agent_turn: &str) {
        let client = self.setup.server.client().await;
        let definition = json!({"steps": [{"type": "agent_turn", "agent_id": agent_turn}]});
        start_workflow(&client, "CustomWorkflow", Some(definition), id).await;
    }

    /// The result of one agent turn run through CustomWorkflow, or its failure chain.
    async fn turn_result(&self, id: &str) -> Result<String, String> {
        let client = self.setup.server.client().await;
        let summary = workflow_result(&client, id).await?;
        let summary: Value = serde_json::from_str(&summary).unwrap();
        Ok(summary["results"][0]["result"].as_str().unwrap().to_owned())
    }

    async fn turn(&self, id: &str, agent_turn: &str) -> Result<String, String> {
        self.start_turn(id, agent_turn).await;
        self.turn_result(id).await
    }
}

/// The JSON answer of an exchange the tap saw (panics if there was none).
fn answer_json(exchange: &real::Exchange) -> Value {
    let answer = exchange.answer.as_ref().expect("an answer");
    serde_json::from_str(&answer.body).unwrap_or_else(|_| panic!("JSON: {}", answer.body))
}

/// The POSTs of one turn: all under one Idempotency-Key (a POST that outlasts gateway.timeout
/// is re-sent with it; the first run after the gateway starts can take over 10 s), exactly one
/// answered. Returns the answered one.
fn one_turn(posts: &[real::Exchange]) -> real::Exchange {
    assert!(!posts.is_empty(), "the turn was sent");
    let keys: Vec<_> = posts
        .iter()
        .map(|p| p.request.header("idempotency-key"))
        .collect();
    assert!(
        keys.iter().all(|k| k.is_some() && *k == keys[0]),
        "one Idempotency-Key: {keys:?}"
    );
    let answered: Vec<_> = posts.iter().filter(|p| p.answer.is_some()).collect();
    assert_eq!(
        answered.len(),
        1,
        "one answer, re-sends before it timed out"
    );
    answered[0].clone()
}

#[tokio::test]
async fn poetry_research_through_hooks_agent_is_exactly_two_openclaw_runs_on_the_main_agent() {
    let gateway = real_gateway!("poetry research through hooks-agent");
    let world = World::new(Target::real(gateway)).await;
    let _worker = world.worker(&world.config(GatewayApi::HooksAgent)).await;
    let client = world.setup.server.client().await;
    start_workflow(
        &client,
        "PoetryResearchWorkflow",
        Some(json!({"settle": "1s"})),
        "poetry-real",
    )
    .await;
    assert_eq!(
        workflow_result(&client, "poetry-real").await,
        Ok("Poetry research workflow completed".into())
    );

    // What the worker sent and was told. A turn longer than gateway.timeout (10 s; the first
    // run after the gateway starts can be) is waited for by re-sending the same key.
    let posts = world.tap.to(HOOKS);
    let mut run_ids = Vec::new();
    for turn in ["poetry-research-execute", "poetry-research-synthesize"] {
        let sent: Vec<_> = posts
            .iter()
            .filter(|p| p.request.json()["name"] == turn)
            .collect();
        assert!(!sent.is_empty(), "{turn} was sent");
        for post in &sent {
            assert_eq!(post.request.json()["agentId"], "main");
            assert_eq!(
                post.request.header("authorization"),
                Some(format!("Bearer {}", gateway.hooks_token).as_str())
            );
        }
        let sent: Vec<real::Exchange> = sent.into_iter().cloned().collect();
        let answer = answer_json(&one_turn(&sent));
        assert_eq!(answer["completion"]["status"], "ok", "{answer}");
        run_ids.push(answer["runId"].as_str().unwrap().to_owned());
        println!(
            "{turn}: {} POST(s) with one Idempotency-Key, run {}",
            sent.len(),
            run_ids.last().unwrap()
        );
    }

    // What OpenClaw recorded: exactly these two runs, on the main agent, both ok.
    for (turn, run_id) in ["poetry-research-execute", "poetry-research-synthesize"]
        .iter()
        .zip(&run_ids)
    {
        let runs = hook_runs(gateway, turn, 1).await;
        assert_eq!(
            runs.len(),
            1,
            "exactly one OpenClaw run for {turn}: {runs:?}"
        );
        assert_eq!(&runs[0].run_id, run_id);
        assert_eq!(runs[0].agent_id, "main");
        assert_eq!(runs[0].status, "ok");
        // And the model was asked once for it (the hook prompt names the task).
        let calls = gateway.model.calls_with(&format!("Task: {turn}\n"));
        assert_eq!(calls.len(), 1, "one model call for {turn}");
    }
}

#[tokio::test]
async fn chat_completions_returns_the_model_reply_as_the_workflow_result() {
    let gateway = real_gateway!("chat-completions");
    let marker = "[chat-reply-test]";
    let reply = "Rain on the tin roof, a haiku the stub was told to write.";
    gateway.model.script(marker, [Turn::Reply(reply.into())]);
    let world = World::new(Target::real(gateway)).await;
    let mut config = world.config(GatewayApi::ChatCompletions);
    // A turn timeout: chat completions has no idempotency, so a read timeout would mean a new
    // run, and the first run after the gateway starts can take over gateway.timeout (10 s).
    let haiku = TurnConfig {
        timeout: Some(Duration::from_secs(120)),
        ..TurnConfig::with_message(format!("Write a haiku about rain. {marker}"))
    };
    config.turns.0.insert("chat-haiku".into(), haiku);
    let _worker = world.worker(&config).await;

    assert_eq!(
        world.turn("chat-real", "chat-haiku").await,
        Ok(reply.into())
    );

    let posts = world.tap.to(CHAT);
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].request.header("authorization"),
        Some(format!("Bearer {}", gateway.gateway_token).as_str()),
        "the GATEWAY token"
    );
    assert_eq!(posts[0].request.json()["model"], "openclaw/main");
    let answer = answer_json(&posts[0]);
    let id = answer["id"].as_str().unwrap().to_owned();
    // OpenClaw ran it once, as the run the answer names, and asked the model once.
    wait_until(
        "the chat run in OpenClaw's log",
        Duration::from_secs(20),
        || gateway.chat_runs().iter().any(|(run, _)| run == &id),
    )
    .await;
    let runs: Vec<_> = gateway
        .chat_runs()
        .into_iter()
        .filter(|(run, _)| run == &id)
        .collect();
    assert_eq!(runs, vec![(id.clone(), "stop".to_owned())]);
    assert_eq!(gateway.model.calls_with(marker).len(), 1);
}

#[tokio::test]
async fn a_cron_job_created_through_the_admin_rpc_is_found_by_name_and_its_payload_runs() {
    let gateway = real_gateway!("resolve_cron_jobs");
    let name = "nightly-digest-real";
    let marker = "[cron-payload-test]";
    let message = format!("Summarise the night. {marker}");
    gateway
        .model
        .script(marker, [Turn::Reply("The night was quiet.".into())]);
    let mut ids = Vec::new();
    for (job_name, text) in [
        (name.to_owned(), message.clone()),
        (
            format!("{name}-extra"),
            "A substring match, not ours.".into(),
        ),
    ] {
        // Feb 29, 04:00 UTC: the schedule itself never fires during a test.
        let added = gateway
            .admin_rpc(
                "cron.add",
                json!({"name": job_name, "agentId": "writer",
                   "schedule": {"kind": "cron", "expr": "0 4 29 2 *", "tz": "UTC"},
                   "sessionTarget": "isolated", "wakeMode": "now",
                   "payload": {"kind": "agentTurn", "message": text, "timeoutSeconds": 300},
                   "delivery": {"mode": "none"}}),
            )
            .await;
        assert_eq!(added["ok"], true, "{added}");
        ids.push(added["payload"]["id"].as_str().unwrap().to_owned());
    }

    let world = World::new(Target::real(gateway)).await;
    let mut config = world.config(GatewayApi::HooksAgent);
    config.gateway.resolve_cron_jobs = true;
    let _worker = world.worker(&config).await;
    let result: Value =
        serde_json::from_str(&world.turn("cron-real", name).await.unwrap()).unwrap();
    assert_eq!(result["status"], "ok", "{result}");

    // Found by the admin RPC, with the gateway token, then run through /hooks/agent.
    let rpcs = world.tap.to(ADMIN);
    assert!(!rpcs.is_empty());
    for rpc in &rpcs {
        assert_eq!(
            rpc.request.header("authorization"),
            Some(format!("Bearer {}", gateway.gateway_token).as_str())
        );
    }
    assert!(
        rpcs.iter()
            .any(|rpc| rpc.request.json()["method"] == "cron.list")
    );
    let post = one_turn(&world.tap.to(HOOKS));
    let body = post.request.json();
    assert_eq!(body["message"], message.as_str(), "the job's payload");
    assert_eq!(body["agentId"], "writer");
    assert_eq!(body["timeoutSeconds"], 300);

    // OpenClaw ran that payload once, on the job's agent.
    let runs = hook_runs(gateway, name, 1).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].agent_id, "writer");
    assert_eq!(runs[0].status, "ok");
    assert_eq!(
        Some(&runs[0].run_id),
        result["runId"].as_str().map(str::to_owned).as_ref()
    );
    assert_eq!(gateway.model.calls_with(marker).len(), 1);

    for id in ids {
        let removed = gateway.admin_rpc("cron.remove", json!({"id": id})).await;
        assert_eq!(removed["ok"], true, "{removed}");
    }
}

/// Runs `openclaw-cron <args>` (or any command, with `--config` after it) on `config`;
/// returns the exit code and standard output, and prints both streams.
async fn command(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let (first, rest) = args.split_first().expect("a command");
    let mut full = vec![*first, "--config", config.to_str().unwrap()];
    full.extend_from_slice(rest);
    let out = common::cli(&full, &[]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!(
        "$ {}\n{stdout}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), stdout)
}

/// Every cron job on the gateway, disabled ones too, by id.
async fn cron_jobs(gateway: &RealOpenClaw) -> std::collections::BTreeMap<String, Value> {
    let listed = gateway
        .admin_rpc("cron.list", json!({"includeDisabled": true, "limit": 200}))
        .await;
    assert_eq!(listed["payload"]["hasMore"], false, "{listed}");
    listed["payload"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| (job["id"].as_str().unwrap().to_owned(), job.clone()))
        .collect()
}

/// Only the jobs of these ids.
fn mine(
    mut jobs: std::collections::BTreeMap<String, Value>,
    ids: &[String],
) -> std::collections::BTreeMap<String, Value> {
    jobs.retain(|id, _| ids.contains(id));
    jobs
}

/// The line `openclaw-cron list` prints for the job of this id.
fn line_of<'a>(listing: &'a str, id: &str) -> &'a str {
    listing
        .lines()
        .find(|line| line.contains(id))
        .unwrap_or_else(|| panic!("{id} listed:\n{listing}"))
}

#[tokio::test]
async fn openclaw_cron_jobs_move_to_temporal_schedules_without_a_double_run_and_roll_back() {
    let gateway = real_gateway!("openclaw-cron");
    let marker = "[openclaw-cron-test]";
    let message = format!("Write the nightly digest. {marker}");
    let isolated = |name: &str, schedule: Value, text: &str| {
        json!({"name": name, "agentId": "writer", "schedule": schedule,
               "sessionTarget": "isolated", "wakeMode": "now", "delivery": {"mode": "none"},
               "payload": {"kind": "agentTurn", "message": text, "timeoutSeconds": 300}})
    };
    // Feb 29 only: the cron jobs never fire during a test (the hourly one may: cutover waits).
    let movable = [
        isolated(
            "oc-move-daily",
            json!({"kind": "cron", "expr": "0 4 29 2 *", "tz": "Europe/Berlin"}),
            &message,
        ),
        isolated(
            "oc-move-hourly",
            json!({"kind": "every", "everyMs": 3_600_000, "anchorMs": 1_795_000_000_000u64 + 17 * 60_000}),
            "Check the inbox.",
        ),
        isolated(
            "oc-move-twin",
            json!({"kind": "cron", "expr": "30 5 29 2 *", "tz": "UTC"}),
            "First twin.",
        ),
        isolated(
            "oc-move-twin",
            json!({"kind": "cron", "expr": "45 5 29 2 *", "tz": "UTC"}),
            "Second twin.",
        ),
    ];
    let unmovable = [
        isolated(
            "oc-move-once",
            json!({"kind": "at", "at": "2031-01-01T00:00:00Z"}),
            "Once.",
        ),
        json!({"name": "oc-move-event", "schedule": {"kind": "cron", "expr": "0 4 29 2 *"},
               "sessionTarget": "main", "wakeMode": "next-heartbeat",
               "payload": {"kind": "systemEvent", "text": "Wake up."}}),
    ];
    let mut ids = Vec::new();
    for job in movable.iter().chain(&unmovable) {
        let added = gateway.admin_rpc("cron.add", job.clone()).await;
        assert_eq!(added["ok"], true, "{added}");
        ids.push(added["payload"]["id"].as_str().unwrap().to_owned());
    }
    let (moved, kept) = ids.split_at(movable.len());
    // OpenClaw makes its own jobs while it starts, some of them seconds after it is ready.
    let started = Instant::now();
    let builtins = clawfactory_temporal::openclaw_cron::HOUSEKEEPING;
    loop {
        let names: Vec<String> = cron_jobs(gateway)
            .await
            .values()
            .map(|job| job["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        if builtins.iter().all(|name| names.iter().any(|n| n == name)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "OpenClaw's own jobs {builtins:?} within 60 s; it has {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let world = World::new(Target::real(gateway)).await;
    let mut config = world.config(GatewayApi::HooksAgent);
    let path = config.write(&world.setup.path("worker.toml"));

    // list: every job, how it would move; the built-ins too.
    let (code, listing) = command(&path, &["openclaw-cron", "list"]).await;
    assert_eq!(code, Some(0));
    for id in moved {
        assert!(line_of(&listing, id).ends_with("  ok"), "{listing}");
    }
    assert!(line_of(&listing, &kept[0]).contains("cannot: a one-shot job"));
    assert!(line_of(&listing, &kept[1]).contains("cannot: payload kind \"systemEvent\""));
    for builtin in builtins {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(&format!("{builtin:?}"))),
            "{builtin} listed:\n{listing}"
        );
    }
    let twin_ids: Vec<&str> = moved[2..]
        .iter()
        .map(|id| {
            line_of(&listing, id)
                .split("  as ")
                .nth(1)
                .unwrap()
                .split("  ")
                .next()
                .unwrap()
        })
        .collect();
    assert_ne!(twin_ids[0], twin_ids[1], "two jobs of one name, two ids");

    // import (both formats) → check-config → schedules apply.
    let imported = world.setup.path("imported.toml");
    let mut args = vec![
        "openclaw-cron",
        "import",
        "oc-move-daily",
        "oc-move-hourly",
        "oc-move-twin",
    ];
    let (code, nix) = command(&path, &[&args[..], &["--format", "nix"]].concat()).await;
    assert_eq!(code, Some(0));
    assert!(nix.contains("settings = {\n    turns = {"), "{nix}");
    args.extend(["--out", imported.to_str().unwrap()]);
    assert_eq!(command(&path, &args).await.0, Some(0));
    config.append_raw_toml(&std::fs::read_to_string(&imported).unwrap());
    let path = config.write(&path);
    assert_eq!(command(&path, &["check-config"]).await.0, Some(0));
    let (code, applied) = command(&path, &["schedules", "apply"]).await;
    assert_eq!(code, Some(0));
    assert_eq!(applied.matches("+ create ").count(), 4, "{applied}");

    // cutover: the dry run changes nothing; then exactly the four jobs are disabled.
    let before = cron_jobs(gateway).await;
    let (code, dry) = command(&path, &["openclaw-cron", "cutover", "--dry-run"]).await;
    assert_eq!(code, Some(0));
    assert_eq!(dry.matches(": would disable").count(), 4, "{dry}");
    let (code, cut) = command(&path, &["openclaw-cron", "cutover"]).await;
    assert_eq!(code, Some(0), "{cut}");
    assert_eq!(cut.matches("> ").count(), 4, "{cut}");
    // Other tests share the gateway: what is compared is the jobs this test made, and which
    // jobs carry cutover's mark.
    let after = cron_jobs(gateway).await;
    let marked: Vec<&String> = after
        .iter()
        .filter(|(_, job)| {
            job["description"]
                .as_str()
                .is_some_and(|d| d.contains("[clawfactory-temporal: cut over"))
        })
        .map(|(id, _)| id)
        .collect();
    let mut expected: Vec<&String> = moved.iter().collect();
    expected.sort();
    assert_eq!(marked, expected, "cutover marks those jobs and only those");
    for id in moved {
        assert_eq!(after[id]["enabled"], false, "{}", after[id]);
    }
    for (id, job) in &before {
        if !moved.contains(id) && after.contains_key(id) {
            assert_eq!(after[id]["enabled"], job["enabled"], "left alone: {job}");
        }
    }
    let (_, listing) = command(&path, &["openclaw-cron", "list"]).await;
    for id in moved {
        assert!(
            line_of(&listing, id).contains("migrated (schedule "),
            "{listing}"
        );
    }

    // A fire of the schedule is one OpenClaw run, with the job's message, agent and timeout.
    let _worker = world.worker(&config).await;
    let (code, _) = command(&path, &["schedules", "trigger", "oc-move-daily"]).await;
    assert_eq!(code, Some(0));
    // One fire is one successful OpenClaw run. A run OpenClaw fails at once (a first run on
    // an agent racing another test's can meet "Session metadata unavailable ... retry after
    // the agent store is ready") is retried by the worker as a new run, as any failed run is.
    wait_until(
        "an ok OpenClaw run of the schedule's turn",
        Duration::from_secs(120),
        || {
            gateway
                .hook_runs_named("oc-move-daily")
                .iter()
                .any(|run| run.status == "ok")
        },
    )
    .await;
    let runs = gateway.hook_runs_named("oc-move-daily");
    let ok: Vec<_> = runs.iter().filter(|run| run.status == "ok").collect();
    assert_eq!(ok.len(), 1, "{runs:?}");
    assert_eq!(ok[0].agent_id, "writer");
    for post in world.tap.to(HOOKS) {
        let body = post.request.json();
        assert_eq!(body["message"], message.as_str());
        assert_eq!(body["agentId"], "writer");
        assert_eq!(body["timeoutSeconds"], 300);
    }
    assert_eq!(gateway.model.calls_with(marker).len(), 1);
    let cron_runs = gateway
        .admin_rpc("cron.runs", json!({"id": moved[0], "limit": 10}))
        .await;
    assert_eq!(
        cron_runs["payload"]["total"], 0,
        "OpenClaw itself ran nothing: {cron_runs}"
    );

    // A second cutover changes nothing.
    let (code, again) = command(&path, &["openclaw-cron", "cutover"]).await;
    assert_eq!(code, Some(0));
    assert_eq!(again.matches("already cut over").count(), 4, "{again}");
    assert_eq!(mine(cron_jobs(gateway).await, &ids), mine(after, &ids));

    // rollback: the jobs are enabled again, as they were, and the schedules paused.
    let (code, rolled) = command(&path, &["openclaw-cron", "rollback"]).await;
    assert_eq!(code, Some(0), "{rolled}");
    let restored = cron_jobs(gateway).await;
    for id in moved {
        assert_eq!(restored[id]["enabled"], true);
        assert_eq!(
            restored[id].get("description"),
            before[id].get("description")
        );
    }
    let client = world.setup.server.client().await;
    for schedule_id in ["oc-move-daily", "oc-move-hourly", twin_ids[0], twin_ids[1]] {
        let described = clawfactory_temporal::schedules::describe(&client, schedule_id)
            .await
            .unwrap()
            .expect("paused, not deleted");
        assert!(
            described.schedule.unwrap().state.unwrap().paused,
            "{schedule_id}"
        );
    }
    let (code, again) = command(&path, &["openclaw-cron", "rollback"]).await;
    assert_eq!(code, Some(0));
    assert!(again.contains("nothing to roll back"), "{again}");
    assert_eq!(mine(cron_jobs(gateway).await, &ids), mine(restored, &ids));

    for id in &ids {
        let removed = gateway.admin_rpc("cron.remove", json!({"id": id})).await;
        assert_eq!(removed["ok"], true, "{removed}");
    }
}

#[tokio::test]
async fn a_worker_sigkilled_mid_turn_is_succeeded_by_one_that_reattaches_and_openclaw_runs_the_turn_once()
 {
    let gateway = real_gateway!("worker SIGKILL mid-turn");
    let marker = "[slow-turn-crash-test]";
    let gate = Gate::new();
    gateway.model.script(
        marker,
        [Turn::Hold(gate.clone(), "Slow poem, done.".into())],
    );
    let world = World::new(Target::real(gateway)).await;
    let mut config = world.config(GatewayApi::HooksAgent);
    // One POST per worker: the read timeout outlasts the whole wait.
    config.gateway.timeout = Duration::from_secs(240);
    config.turns.0.insert(
        "slow-turn-crash".into(),
        TurnConfig::with_message(format!("Write a slow poem. {marker}")),
    );
    let mut worker = world.worker(&config).await;
    world.start_turn("crash-real", "slow-turn-crash").await;

    // The turn is running on the gateway: OpenClaw has called the model, which holds.
    wait_until(
        "the slow turn's model call",
        Duration::from_secs(120),
        || gateway.model.calls_with(marker).len() == 1,
    )
    .await;
    worker.kill9();
    let killed = Instant::now();
    worker.restart().await;

    wait_until("the successor's POST", Duration::from_secs(180), || {
        world.tap.to(HOOKS).len() >= 2
    })
    .await;
    let posts = world.tap.to(HOOKS);
    let picked_up = posts[1].request.at - killed;
    real::report(&format!(
        "RECOVERY: the successor worker re-sent the turn {:.1} s after the SIGKILL \
         (agent-turn heartbeat timeout {}, counted from the last heartbeat; retry interval 1 s)",
        picked_up.as_secs_f64(),
        clawfactory_temporal::duration::format(config.workflows.agent_turn.heartbeat_timeout)
    ));
    assert!(posts[0].answer.is_none(), "the killed worker got no answer");
    assert_eq!(
        posts[0].request.header("idempotency-key"),
        posts[1].request.header("idempotency-key"),
        "the same Idempotency-Key re-attaches"
    );
    assert_eq!(posts[0].request.body, posts[1].request.body);
    // Still one model call: the run goes on while nobody waits for it.
    assert_eq!(gateway.model.calls_with(marker).len(), 1);
    gate.release();

    let result: Value =
        serde_json::from_str(&world.turn_result("crash-real").await.unwrap()).unwrap();
    assert_eq!(result["status"], "ok", "{result}");
    let runs = hook_runs(gateway, "slow-turn-crash", 1).await;
    assert_eq!(
        runs.len(),
        1,
        "OpenClaw ran the turn exactly once: {runs:?}"
    );
    assert_eq!(runs[0].status, "ok");
    assert_eq!(Some(runs[0].run_id.as_str()), result["runId"].as_str());
    assert_eq!(
        gateway.model.calls_with(marker).len(),
        1,
        "and called the model once"
    );
    assert_eq!(world.tap.to(HOOKS).len(), 2, "no third POST");
}

#[tokio::test]
async fn a_run_that_completed_with_error_is_retried_as_a_new_run_and_the_old_key_replays_openclaws_error()
 {
    let gateway = real_gateway!("run error retried under a new key");
    let marker = "[fails-once-test]";
    gateway.model.script(
        marker,
        [Turn::Fail(400), Turn::Reply("Memo drafted.".into())],
    );
    let world = World::new(Target::real(gateway)).await;
    let mut config = world.config(GatewayApi::HooksAgent);
    config.turns.0.insert(
        "fails-once".into(),
        TurnConfig::with_message(format!("Draft the memo. {marker}")),
    );
    let _worker = world.worker(&config).await;
    let result: Value =
        serde_json::from_str(&world.turn("fails-once-real", "fails-once").await.unwrap()).unwrap();
    assert_eq!(result["status"], "ok");

    // Two keys, in order: the first run's and a new one (`/run-2`). Under each key, POSTs that
    // outlasted gateway.timeout were re-sent; one answer per key.
    let posts = world.tap.to(HOOKS);
    let mut keys: Vec<String> = Vec::new();
    for post in &posts {
        let key = post.request.header("idempotency-key").unwrap().to_owned();
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    assert_eq!(keys.len(), 2, "one failed run, one good run: {keys:?}");
    assert_eq!(keys[1], format!("{}/run-2", keys[0]), "a new key");
    let answered = |key: &str| {
        let with_key: Vec<_> = posts
            .iter()
            .filter(|p| p.request.header("idempotency-key") == Some(key))
            .filter(|p| p.answer.is_some())
            .collect();
        assert_eq!(with_key.len(), 1, "one answer under {key}");
        with_key[0].clone()
    };
    let (failed_post, good_post) = (answered(&keys[0]), answered(&keys[1]));
    let first = answer_json(&failed_post);
    let second = answer_json(&good_post);
    assert_eq!(first["completion"]["status"], "error", "{first}");
    assert_eq!(second["completion"]["status"], "ok", "{second}");
    assert_ne!(first["runId"], second["runId"]);

    // OpenClaw recorded two runs: the failed one and a new one.
    let runs = hook_runs(gateway, "fails-once", 2).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].run_id, first["runId"].as_str().unwrap());
    assert_eq!(runs[0].status, "error");
    assert!(
        runs[0]
            .summary
            .as_deref()
            .unwrap_or_default()
            .contains("LLM request failed"),
        "{runs:?}"
    );
    assert_eq!(runs[1].run_id, second["runId"].as_str().unwrap());
    assert_eq!(runs[1].status, "ok");

    // The old key, replayed as the worker sent it, gets OpenClaw's error again: the same run,
    // the same bytes, and no new run or model call. This is why the retry needs a new key.
    let replay = post_as_recorded(gateway.port, &failed_post.request).await;
    assert_eq!(replay.status, 200);
    assert_eq!(
        replay.body,
        failed_post.answer.as_ref().unwrap().body,
        "the replay is the original answer"
    );
    println!("OpenClaw's replay of the failed run's key: {}", replay.body);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(gateway.hook_runs_named("fails-once").len(), 2);
    assert_eq!(gateway.model.calls_with(marker).len(), 2);
}

/// Re-sends a recorded request (same headers and body) straight to `port`.
async fn post_as_recorded(port: u16, request: &common::fake_http::Recorded) -> Answer {
    let mut text = format!("{} {} HTTP/1.1\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        if !matches!(name.as_str(), "connection" | "content-length") {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    text.push_str(&format!(
        "content-length: {}\r\n\r\n{}",
        request.body.len(),
        request.body
    ));
    raw_exchange(port, &text).await.unwrap()
}

/// The turns the misconfiguration scenarios run (markers: the model must never see them).
fn misconfigured_turns() -> Vec<(String, TurnConfig)> {
    [
        ("misconfig-token", "Never runs: wrong token.", "main"),
        (
            "misconfig-not-allowed",
            "Never runs: agent not allowed.",
            NOT_A_HOOK_AGENT,
        ),
        ("misconfig-unknown", "Never runs: unknown agent.", "nobody"),
    ]
    .into_iter()
    .map(|(id, message, agent)| {
        let turn = TurnConfig {
            agent: agent.into(),
            ..TurnConfig::with_message(format!("{message} [{id}]"))
        };
        (id.to_owned(), turn)
    })
    .collect()
}

/// Wrong hooks token, an agent hooks may not run, an agent nobody knows: each fails at once
/// with its own type, after exactly one request.
async fn misconfigured_turns_fail_typed(target: Target) -> World {
    let world = World::new(target).await;
    let mut config = world.config(GatewayApi::HooksAgent);
    config.turns.0.extend(misconfigured_turns());
    // The GATEWAY token where the hooks token belongs.
    config.gateway.hooks_token_file = Some(world.setup.path("gateway-token"));
    let worker = world.worker(&config).await;
    let err = world
        .turn("misconfig-token", "misconfig-token")
        .await
        .unwrap_err();
    let side = world.target.name;
    assert!(
        err.contains("[GatewayUnauthorized]") && err.contains("HOOKS token"),
        "{side}: {err}"
    );
    drop(worker);

    let mut config = world.config(GatewayApi::HooksAgent);
    config.turns.0.extend(misconfigured_turns());
    let _worker = world.worker(&config).await;
    let err = world
        .turn("misconfig-not-allowed", "misconfig-not-allowed")
        .await
        .unwrap_err();
    assert!(
        err.contains("[UnknownAgent]") && err.contains("hooks.allowedAgentIds"),
        "{side}: {err}"
    );
    let err = world
        .turn("misconfig-unknown", "misconfig-unknown")
        .await
        .unwrap_err();
    assert!(
        err.contains("[UnknownAgent]") && err.contains("unknown agentId \"nobody\""),
        "{side}: {err}"
    );
    let statuses: Vec<u16> = world
        .tap
        .to(HOOKS)
        .iter()
        .map(|e| e.answer.as_ref().unwrap().status)
        .collect();
    assert_eq!(statuses, [401, 400, 400], "{side}: one request each");
    world
}

#[tokio::test]
async fn a_wrong_token_a_disallowed_agent_and_an_unknown_agent_fail_typed_on_the_real_gateway_and_the_fake_alike()
 {
    let gateway = real_gateway!("misconfigured turns");
    misconfigured_turns_fail_typed(Target::fake(&FakeOpenClaw::start().await)).await;
    misconfigured_turns_fail_typed(Target::real(gateway)).await;
    // OpenClaw ran none of them.
    for name in [
        "misconfig-token",
        "misconfig-not-allowed",
        "misconfig-unknown",
    ] {
        assert!(gateway.hook_runs_named(name).is_empty(), "{name} ran");
        assert!(gateway.model.calls_with(&format!("[{name}]")).is_empty());
    }
}

#[tokio::test]
async fn hooks_disabled_in_openclaw_is_gateway_endpoint_not_found() {
    let Some(gateway) = real::own(
        "hooks disabled",
        real::Options {
            hooks_enabled: false,
        },
    )
    .await
    else {
        return;
    };
    let world = World::new(Target::real(&gateway)).await;
    let _worker = world.worker(&world.config(GatewayApi::HooksAgent)).await;
    let err = world
        .turn("hooks-off", "poetry-research-execute")
        .await
        .unwrap_err();
    assert!(
        err.contains("[GatewayEndpointNotFound]") && err.contains("enable OpenClaw hooks"),
        "{err}"
    );
    let posts = world.tap.to(HOOKS);
    assert_eq!(posts.len(), 1, "not retried");
    let answer = posts[0].answer.as_ref().unwrap();
    assert_eq!((answer.status, answer.body.as_str()), (404, "Not Found"));
    assert!(gateway.hook_runs().is_empty());
    assert!(gateway.model.calls().is_empty(), "no model call at all");
}

#[tokio::test]
async fn the_killswitch_stops_a_turn_before_any_request_reaches_openclaw() {
    let gateway = real_gateway!("killswitch");
    let world = World::new(Target::real(gateway)).await;
    let mut config = world.config(GatewayApi::HooksAgent);
    config.turns.0.insert(
        "killswitched".into(),
        TurnConfig::with_message("Never runs. [killswitched-test]"),
    );
    std::fs::write(config.gateway.killswitch_file.as_ref().unwrap(), "").unwrap();
    let _worker = world.worker(&config).await;
    let err = world
        .turn("killswitch-real", "killswitched")
        .await
        .unwrap_err();
    assert!(err.contains("[KillswitchActive]"), "{err}");
    let calls: Vec<String> = world
        .tap
        .exchanges()
        .iter()
        .map(|e| e.request.path().to_owned())
        .filter(|path| path != "/readyz")
        .collect();
    assert!(
        calls.is_empty(),
        "no request but the startup probe: {calls:?}"
    );
    assert!(gateway.hook_runs_named("killswitched").is_empty());
    assert!(gateway.model.calls_with("[killswitched-test]").is_empty());
}

#[tokio::test]
async fn the_gateway_runs_offline_and_nothing_in_it_tries_to_reach_the_network() {
    let gateway = real_gateway!("offline");
    if real::is_root() && std::env::var_os(real::NO_NETNS_VAR).is_none() {
        assert!(
            gateway.in_network_namespace,
            "as root the gateway runs in a network namespace of its own"
        );
    }
    println!(
        "gateway ready {:.1} s after launch",
        gateway.ready_after.as_secs_f64()
    );
    let health = raw_exchange(gateway.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(health.body, r#"{"ok":true,"status":"live"}"#);
    // Off by config: update checks, telemetry, mDNS, channels, the model catalog refresh.
    // A lookup or connection attempt to the outside would have failed and been logged.
    let log = std::fs::read_to_string(gateway.log_path()).unwrap()
        + &std::fs::read_to_string(gateway.state_dir.join("gateway.out")).unwrap();
    for sign in [
        "EAI_AGAIN",
        "ENOTFOUND",
        "ENETUNREACH",
        "getaddrinfo",
        "catalog.openclaw",
    ] {
        assert!(!log.contains(sign), "the gateway tried the network: {sign}");
    }
    assert!(log.contains("skipping channel start"), "channels are off");
}
