//! The faithful fake (`tests/common/fake_openclaw.rs`) held to the real gateway: every
//! scenario both can play runs against both, and a difference in status, body shape or the
//! error text the worker depends on fails.

use crate::fake_openclaw::{FakeOpenClaw, Outcome};
use crate::harness::{
    ADMIN, Answer, CHAT, HOOKS, NOT_A_HOOK_AGENT, RealOpenClaw, Target, Turn, hook_runs,
    raw_exchange, real_gateway,
};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Token {
    Hooks,
    Gateway,
    Wrong,
}

/// One request of a scenario.
struct Probe {
    method: &'static str,
    path: &'static str,
    token: Option<Token>,
    key: Option<&'static str>,
    body: String,
    rule: Rule,
}

/// How the fake's answer must match the real one.
#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Status, Content-Type and body equal (JSON compared as values, generated ids and run ids
    /// left out).
    Exact,
    /// Status and Content-Type equal; every JSON field the fake sends exists in the real answer
    /// with the same type (the fake may leave fields out, never add or retype one); the
    /// values at these JSON pointers equal.
    Shape(&'static [&'static str]),
}

/// What a scenario needs prepared on each side.
#[derive(Clone, Copy)]
enum Prepare {
    Nothing,
    /// The next run's model call fails (real: the stub answers 400; fake: an error outcome).
    FailNextRun(&'static str),
    /// A cron job named so exists, on the writer agent.
    CronJob(&'static str),
}

struct Scenario {
    name: &'static str,
    prepare: Prepare,
    probes: Vec<Probe>,
    /// (i, j, same): probes i and j answered the same runId (or not), on both sides.
    same_run: &'static [(usize, usize, bool)],
    /// (i, j): probe j's body is exactly probe i's (a replay), on both sides.
    replays: &'static [(usize, usize)],
}

fn probe(method: &'static str, path: &'static str, token: Option<Token>, body: Value) -> Probe {
    Probe {
        method,
        path,
        token,
        key: None,
        body: if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
        rule: Rule::Exact,
    }
}

impl Probe {
    fn key(mut self, key: &'static str) -> Probe {
        self.key = Some(key);
        self
    }

    fn raw(mut self, body: &str) -> Probe {
        self.body = body.to_owned();
        self
    }

    fn rule(mut self, rule: Rule) -> Probe {
        self.rule = rule;
        self
    }
}

fn hook_body(name: &str, message: &str, wait: bool) -> Value {
    json!({"message": message, "name": name, "agentId": "main", "deliver": false,
           "waitForCompletion": wait})
}

/// An admin RPC method's refusal: its code, message and detail code as the real one's.
const RPC_ERROR: Rule = Rule::Shape(&[
    "/ok",
    "/error/code",
    "/error/message",
    "/error/details/code",
]);

const COMPLETION: Rule =
    Rule::Shape(&["/ok", "/completion/status", "/completion/replyDisposition"]);

fn scenarios() -> Vec<Scenario> {
    use Token::*;
    let post = |path, token, body| probe("POST", path, token, body);
    let chat = |model: &str, content: &str| json!({"model": model, "messages": [{"role": "user", "content": content}]});
    let rpc = |method: &str, params: Value| json!({"method": method, "params": params});
    // One job a page of the cron jobs both compare scenarios made.
    let page = |offset: u64| {
        let params = json!({"query": "compare-cron-", "includeDisabled": true, "limit": 1, "offset": offset});
        post(ADMIN, Some(Gateway), rpc("cron.list", params))
    };
    vec![
        Scenario {
            name: "hooks: a run completes, its key replays it, a new message under the key is a new run, admission only",
            prepare: Prepare::Nothing,
            probes: vec![
                post(
                    HOOKS,
                    Some(Hooks),
                    hook_body("compare-ok", "Compare: a run that completes.", true),
                )
                .key("compare-ok-1")
                .rule(COMPLETION),
                post(
                    HOOKS,
                    Some(Hooks),
                    hook_body("compare-ok", "Compare: a run that completes.", true),
                )
                .key("compare-ok-1")
                .rule(COMPLETION),
                post(
                    HOOKS,
                    Some(Hooks),
                    hook_body("compare-ok", "Compare: another message.", true),
                )
                .key("compare-ok-1")
                .rule(COMPLETION),
                post(
                    HOOKS,
                    Some(Hooks),
                    hook_body("compare-admit", "Compare: admission only.", false),
                )
                .key("compare-admit-1")
                .rule(Rule::Shape(&["/ok"])),
            ],
            same_run: &[(0, 1, true), (0, 2, false)],
            replays: &[],
        },
        Scenario {
            name: "hooks: a run completes with error, and its key replays the error",
            prepare: Prepare::FailNextRun("[compare-error]"),
            probes: vec![
                post(
                    HOOKS,
                    Some(Hooks),
                    hook_body("compare-error", "Compare: fails. [compare-error]", true),
                )
                .key("compare-error-1")
                .rule(COMPLETION),
                post(
                    HOOKS,
                    Some(Hooks),
                    hook_body("compare-error", "Compare: fails. [compare-error]", true),
                )
                .key("compare-error-1")
                .rule(COMPLETION),
            ],
            same_run: &[(0, 1, true)],
            replays: &[(0, 1)],
        },
        Scenario {
            name: "hooks: refusals",
            prepare: Prepare::Nothing,
            probes: vec![
                post(HOOKS, Some(Wrong), hook_body("compare-refused", "x", true)),
                post(
                    HOOKS,
                    Some(Gateway),
                    hook_body("compare-refused", "x", true),
                ),
                probe("GET", HOOKS, Some(Hooks), Value::Null),
                post(HOOKS, Some(Hooks), Value::Null).raw(r#"{"message":"#),
                post(HOOKS, Some(Hooks), json!({"name": "compare-refused"})),
                post(
                    HOOKS,
                    Some(Hooks),
                    json!({"message": "x", "agentId": "nobody"}),
                ),
                post(
                    HOOKS,
                    Some(Hooks),
                    json!({"message": "x", "agentId": NOT_A_HOOK_AGENT}),
                ),
                post("/hooks/nothing", Some(Hooks), json!({"message": "x"})),
            ],
            same_run: &[],
            replays: &[],
        },
        Scenario {
            name: "chat completions: a reply, and refusals",
            prepare: Prepare::Nothing,
            probes: vec![
                post(
                    CHAT,
                    Some(Gateway),
                    chat("openclaw/main", "Compare: a chat reply."),
                )
                .rule(Rule::Shape(&[
                    "/object",
                    "/model",
                    "/choices/0/message/role",
                    "/choices/0/finish_reason",
                ])),
                post(CHAT, Some(Hooks), chat("openclaw/main", "x")),
                post(CHAT, Some(Gateway), chat("openclaw/nobody", "x")),
                post(CHAT, Some(Gateway), chat("mock-model", "x")),
                post(
                    CHAT,
                    Some(Gateway),
                    json!({"model": "openclaw/main", "messages": []}),
                ),
                probe("GET", CHAT, Some(Gateway), Value::Null),
            ],
            same_run: &[],
            replays: &[],
        },
        Scenario {
            name: "admin RPC: cron jobs by name, and refusals",
            prepare: Prepare::CronJob("compare-cron-job"),
            probes: vec![
                post(
                    ADMIN,
                    Some(Gateway),
                    rpc(
                        "cron.list",
                        json!({"query": "compare-cron-job", "includeDisabled": true, "limit": 200}),
                    ),
                )
                .rule(Rule::Shape(&[
                    "/ok",
                    "/payload/total",
                    "/payload/jobs/0/name",
                    "/payload/jobs/0/agentId",
                    "/payload/jobs/0/payload/kind",
                    "/payload/jobs/0/payload/message",
                ])),
                post(
                    ADMIN,
                    Some(Gateway),
                    rpc("cron.get", json!({"id": "no-such-job"})),
                )
                .rule(RPC_ERROR),
                post(
                    ADMIN,
                    Some(Gateway),
                    json!({"id": "compare-1", "method": "agent", "params": {}}),
                ),
                post(ADMIN, Some(Hooks), rpc("cron.list", json!({}))),
                probe("GET", ADMIN, Some(Gateway), Value::Null),
                post(ADMIN, Some(Gateway), Value::Null).raw(r#"{"method":"cron.list""#),
                post(ADMIN, Some(Gateway), json!({"params": {}})),
            ],
            same_run: &[],
            replays: &[],
        },
        Scenario {
            name: "admin RPC: cron.update disables and re-enables a job; cron.list pages and leaves disabled jobs out unless asked",
            prepare: Prepare::CronJob("compare-cron-update"),
            probes: vec![
                post(
                    ADMIN,
                    Some(Gateway),
                    rpc(
                        "cron.update",
                        json!({"id": JOB_ID, "patch": {"enabled": false, "description": "Compare: disabled."}}),
                    ),
                )
                .rule(Rule::Shape(&[
                    "/ok",
                    "/payload/name",
                    "/payload/enabled",
                    "/payload/description",
                    "/payload/payload/message",
                ])),
                post(
                    ADMIN,
                    Some(Gateway),
                    rpc("cron.list", json!({"query": "compare-cron-update", "limit": 200})),
                )
                .rule(Rule::Shape(&["/ok", "/payload/total", "/payload/hasMore"])),
                page(0).rule(Rule::Shape(&[
                    "/ok",
                    "/payload/total",
                    "/payload/offset",
                    "/payload/limit",
                    "/payload/hasMore",
                    "/payload/nextOffset",
                ])),
                page(1).rule(Rule::Shape(&[
                    "/ok",
                    "/payload/total",
                    "/payload/hasMore",
                    "/payload/nextOffset",
                ])),
                post(
                    ADMIN,
                    Some(Gateway),
                    rpc(
                        "cron.update",
                        json!({"id": JOB_ID, "patch": {"enabled": true, "description": ""}}),
                    ),
                )
                // No description now: the real gateway drops an empty one.
                .rule(Rule::Shape(&["/ok", "/payload/enabled"])),
                post(
                    ADMIN,
                    Some(Gateway),
                    rpc("cron.update", json!({"id": "no-such-job", "patch": {"enabled": false}})),
                )
                .rule(RPC_ERROR),
                post(
                    ADMIN,
                    Some(Gateway),
                    rpc(
                        "cron.update",
                        json!({"id": JOB_ID, "expectedConfigRevision": "sha256:stale", "patch": {"enabled": false}}),
                    ),
                )
                .rule(RPC_ERROR),
            ],
            same_run: &[],
            replays: &[],
        },
        Scenario {
            name: "other routes",
            prepare: Prepare::Nothing,
            probes: vec![
                post(
                    "/api/cron/fire",
                    Some(Gateway),
                    json!({"job_id": "poetry-research-execute"}),
                ),
                probe("GET", "/healthz", None, Value::Null),
                probe("GET", "/readyz", None, Value::Null)
                    .rule(Rule::Shape(&["/ready", "/failing"])),
            ],
            same_run: &[],
            replays: &[],
        },
    ]
}

/// One side of the comparison.
enum Side<'a> {
    Real(&'a RealOpenClaw),
    Fake(&'a FakeOpenClaw),
}

impl Side<'_> {
    fn target(&self) -> Target {
        match self {
            Side::Real(gateway) => Target::real(gateway),
            Side::Fake(fake) => Target::fake(fake),
        }
    }

    /// Prepares the side; returns the id of the cron job it made, if it made one (probes
    /// say `JOB_ID` where it goes: each side makes up its own ids).
    async fn prepare(&self, prepare: Prepare) -> Option<String> {
        match (self, prepare) {
            (_, Prepare::Nothing) => None,
            (Side::Real(gateway), Prepare::FailNextRun(marker)) => {
                gateway.model.script(marker, [Turn::Fail(400)]);
                None
            }
            (Side::Fake(fake), Prepare::FailNextRun(_)) => {
                fake.outcomes([Outcome::error()]);
                None
            }
            (Side::Real(gateway), Prepare::CronJob(name)) => {
                let listed = gateway
                    .admin_rpc("cron.list", json!({"query": name, "includeDisabled": true}))
                    .await;
                let job = match listed["payload"]["jobs"][0].clone() {
                    Value::Null => {
                        let added = gateway.admin_rpc("cron.add", cron_job(name)).await;
                        assert_eq!(added["ok"], true, "{added}");
                        added["payload"].clone()
                    }
                    job => job,
                };
                job["id"].as_str().map(str::to_owned)
            }
            (Side::Fake(fake), Prepare::CronJob(name)) => {
                let mut job = cron_job(name);
                let id = format!("0b7c4f7e-5c39-4c57-9d0a-{:012x}", fake.cron_jobs().len());
                job["id"] = json!(id);
                job["enabled"] = json!(true);
                fake.add_cron_job(job);
                Some(id)
            }
        }
    }

    async fn send(&self, probe: &Probe, job_id: Option<&str>) -> Answer {
        let target = self.target();
        let body = match job_id {
            Some(id) => probe.body.replace(JOB_ID, id),
            None => probe.body.clone(),
        };
        let mut request = format!(
            "{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n",
            probe.method, probe.path
        );
        if let Some(token) = probe.token {
            let token = match token {
                Token::Hooks => target.hooks_token.clone(),
                Token::Gateway => target.gateway_token.clone(),
                Token::Wrong => "wrong-token-0000".into(),
            };
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if let Some(key) = probe.key {
            request.push_str(&format!("Idempotency-Key: {key}\r\n"));
        }
        if probe.method == "POST" {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        tokio::time::timeout(
            Duration::from_secs(120),
            raw_exchange(target.port, &request),
        )
        .await
        .unwrap_or_else(|_| panic!("{} {}: no answer in 120 s", probe.method, probe.path))
        .unwrap()
    }
}

/// Where a probe's body names the job its scenario prepared.
const JOB_ID: &str = "<job id>";

/// The job both sides hold for the cron scenarios (the fields the worker reads).
fn cron_job(name: &str) -> Value {
    json!({"name": name, "agentId": "writer",
           "schedule": {"kind": "cron", "expr": "0 4 29 2 *", "tz": "UTC"},
           "sessionTarget": "isolated", "wakeMode": "now",
           "payload": {"kind": "agentTurn", "message": "Compare: the cron job's payload.", "timeoutSeconds": 300},
           "delivery": {"mode": "none"}})
}

/// Where the fake's answer differs from the real one, in words; empty when it does not.
fn differences(rule: Rule, real: &Answer, fake: &Answer) -> Vec<String> {
    let mut found = Vec::new();
    if real.status != fake.status {
        found.push(format!(
            "status: real {}, fake {}",
            real.status, fake.status
        ));
    }
    for header in ["content-type", "allow", "retry-after"] {
        if real.header(header) != fake.header(header) {
            found.push(format!(
                "{header}: real {:?}, fake {:?}",
                real.header(header),
                fake.header(header)
            ));
        }
    }
    match (real.json(), fake.json()) {
        (Some(real_json), Some(fake_json)) => match rule {
            Rule::Exact => {
                let (real_json, fake_json) = (without_ids(real_json), without_ids(fake_json));
                if real_json != fake_json {
                    found.push(format!("body: real {real_json}, fake {fake_json}"));
                }
            }
            Rule::Shape(pointers) => {
                extra_fields("", &real_json, &fake_json, &mut found);
                for pointer in pointers {
                    let (r, f) = (real_json.pointer(pointer), fake_json.pointer(pointer));
                    if r != f || r.is_none() {
                        found.push(format!("{pointer}: real {r:?}, fake {f:?}"));
                    }
                }
            }
        },
        _ if real.body != fake.body => {
            found.push(format!("body: real {:?}, fake {:?}", real.body, fake.body));
        }
        _ => {}
    }
    found
}

/// Generated values that differ by nature: the RPC's request id and run ids.
fn without_ids(mut json: Value) -> Value {
    if let Some(object) = json.as_object_mut() {
        for key in ["id", "runId"] {
            if object.get(key).is_some_and(Value::is_string) {
                object.insert(key.into(), json!("<generated>"));
            }
        }
    }
    json
}

/// Fields the fake sends that the real answer lacks, or has with another JSON type.
fn extra_fields(path: &str, real: &Value, fake: &Value, found: &mut Vec<String>) {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if kind(real) != kind(fake) {
        found.push(format!(
            "{path}: real is {}, fake is {}",
            kind(real),
            kind(fake)
        ));
        return;
    }
    match (real, fake) {
        (Value::Object(real), Value::Object(fake)) => {
            for (key, value) in fake {
                match real.get(key) {
                    Some(real_value) => {
                        extra_fields(&format!("{path}/{key}"), real_value, value, found)
                    }
                    None => found.push(format!("{path}/{key}: only the fake sends it")),
                }
            }
        }
        (Value::Array(real), Value::Array(fake)) => {
            if let (Some(real), Some(fake)) = (real.first(), fake.first()) {
                extra_fields(&format!("{path}/0"), real, fake, found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_fake_answers_every_scenario_both_can_play_as_the_real_gateway_does() {
    let gateway = real_gateway!("fake vs real");
    let fake = FakeOpenClaw::start().await;
    let mut report = Vec::new();
    for scenario in scenarios() {
        let mut answers = Vec::new();
        for side in [Side::Real(gateway), Side::Fake(&fake)] {
            let job_id = side.prepare(scenario.prepare).await;
            let mut side_answers = Vec::new();
            for probe in &scenario.probes {
                side_answers.push(side.send(probe, job_id.as_deref()).await);
            }
            answers.push(side_answers);
        }
        let (real_answers, fake_answers) = (&answers[0], &answers[1]);
        for (index, probe) in scenario.probes.iter().enumerate() {
            let (real, fake) = (&real_answers[index], &fake_answers[index]);
            println!(
                "{} #{index} {} {}: real {} {}",
                scenario.name, probe.method, probe.path, real.status, real.body
            );
            for difference in differences(probe.rule, real, fake) {
                report.push(format!(
                    "{} — #{index} {} {} ({:?} token): {difference}",
                    scenario.name, probe.method, probe.path, probe.token
                ));
            }
        }
        for (side, side_answers) in ["real", "fake"].iter().zip(&answers) {
            let run_id = |i: usize| side_answers[i].json().map(|j| j["runId"].clone());
            for &(i, j, same) in scenario.same_run {
                if (run_id(i) == run_id(j)) != same || run_id(i).is_none() {
                    report.push(format!(
                        "{} — {side}: probes #{i} and #{j} should {}answer the same runId: {:?} / {:?}",
                        scenario.name,
                        if same { "" } else { "not " },
                        run_id(i),
                        run_id(j)
                    ));
                }
            }
            for &(i, j) in scenario.replays {
                if side_answers[i].body != side_answers[j].body {
                    report.push(format!(
                        "{} — {side}: probe #{j} should replay #{i}: {} / {}",
                        scenario.name, side_answers[i].body, side_answers[j].body
                    ));
                }
            }
        }
    }
    // The real gateway really did run the scenarios' turns (and the failing one failed).
    let ok = hook_runs(gateway, "compare-ok", 2).await;
    assert_eq!(ok.len(), 2, "{ok:?}");
    assert!(ok.iter().all(|run| run.status == "ok"));
    let failed = hook_runs(gateway, "compare-error", 1).await;
    assert_eq!(failed.len(), 1, "the replay ran nothing: {failed:?}");
    assert_eq!(failed[0].status, "error");
    assert_eq!(gateway.model.calls_with("Compare: a chat reply.").len(), 1);
    assert!(
        gateway
            .model
            .calls_with("Compare: a chat reply.")
            .iter()
            .all(|c| c.status == 200),
    );
    assert!(
        report.is_empty(),
        "the fake differs from the real gateway:\n{}",
        report.join("\n")
    );
}
