//! A loopback fake of the OpenClaw 2026.9.6 gateway, faithful to what was observed of the
//! real one (shared/reference/openclaw-gateway.md): the same routes, tokens, status codes,
//! text/plain vs JSON bodies, and the `/hooks/agent` idempotency rules:
//! - same key + same dispatch payload → the same run (re-attach while it runs, replay after);
//! - a run that completed with error replays that error for the same key;
//! - a different payload under the same key is a new run; no key, always a new run;
//! - failed admissions (non-2xx) are not cached.
//!
//! Tests script what each new run does (how long, how it ends), admission failures, and
//! connections cut mid-wait, and read back every request and every run.

use crate::common::fake_http::{Recorded, Reply, accept_forever, read_request, write_reply};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How a new run ends.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: &'static str,
    pub after: Duration,
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome::ok_after(Duration::ZERO)
    }
    pub fn ok_after(after: Duration) -> Outcome {
        Outcome {
            status: "ok",
            after,
        }
    }
    pub fn error() -> Outcome {
        Outcome {
            status: "error",
            after: Duration::ZERO,
        }
    }
    pub fn skipped() -> Outcome {
        Outcome {
            status: "skipped",
            after: Duration::ZERO,
        }
    }
}

/// A started run, as the test reads it back.
#[derive(Debug, Clone)]
pub struct Run {
    pub idempotency_key: Option<String>,
    pub body: Value,
}

struct Entry {
    run_id: String,
    done: watch::Receiver<Option<&'static str>>,
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    runs: Vec<Run>,
    replay: HashMap<(String, String), Arc<Entry>>,
    outcomes: VecDeque<Outcome>,
    admission_failures: VecDeque<Reply>,
    cuts: VecDeque<Duration>,
    cron_jobs: Vec<Value>,
}

#[derive(Clone)]
pub struct FakeOpenClaw {
    pub port: u16,
    pub hooks_token: String,
    pub gateway_token: String,
    state: Arc<Mutex<State>>,
}

const AGENTS: [&str; 3] = ["main", "writer", "reviewer"];
/// `hooks.allowedAgentIds`: the agents `/hooks/agent` may run (all agents stay usable over
/// chat completions), as in the real gateway the tests run (`real_openclaw.rs`).
const HOOK_AGENTS: [&str; 2] = ["main", "writer"];

impl FakeOpenClaw {
    pub async fn start() -> FakeOpenClaw {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let fake = FakeOpenClaw {
            port: listener.local_addr().unwrap().port(),
            hooks_token: "hook-token-fedcba9876543210".into(),
            gateway_token: "gw-token-0123456789abcdef".into(),
            state: Arc::default(),
        };
        let server = fake.clone();
        accept_forever(listener, move |stream| {
            let server = server.clone();
            async move { server.serve(stream).await }
        });
        fake
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How the next new runs end, in order; afterwards runs end `ok` at once.
    pub fn outcomes(&self, outcomes: impl IntoIterator<Item = Outcome>) {
        self.state.lock().unwrap().outcomes.extend(outcomes);
    }

    /// The next `/hooks/agent` admissions answer these instead (not cached, no run).
    pub fn fail_admissions(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state
            .lock()
            .unwrap()
            .admission_failures
            .extend(replies);
    }

    /// The next waiting `/hooks/agent` requests lose their connection after these delays;
    /// their runs go on.
    pub fn cut_connections(&self, after: impl IntoIterator<Item = Duration>) {
        self.state.lock().unwrap().cuts.extend(after);
    }

    pub fn add_cron_job(&self, mut job: Value) {
        let mut state = self.state.lock().unwrap();
        if job.get("configRevision").is_none() {
            job["configRevision"] = json!(format!("sha256:fake-{}", state.cron_jobs.len()));
        }
        state.cron_jobs.push(job);
    }

    /// The cron jobs as the fake now holds them (after any `cron.update`).
    pub fn cron_jobs(&self) -> Vec<Value> {
        self.state.lock().unwrap().cron_jobs.clone()
    }

    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        let state = self.state.lock().unwrap();
        state
            .requests
            .iter()
            .filter(|r| r.path() == path)
            .cloned()
            .collect()
    }

    pub fn runs(&self) -> Vec<Run> {
        self.state.lock().unwrap().runs.clone()
    }

    async fn serve(&self, mut stream: TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        self.state.lock().unwrap().requests.push(request.clone());
        let reply = match (request.method.as_str(), request.path()) {
            (_, "/hooks/agent") => match self.hooks_agent(&request).await {
                Some(reply) => reply,
                None => return, // connection cut: drop the stream without an answer
            },
            (_, "/v1/chat/completions") => self.chat_completions(&request).await,
            (_, "/api/v1/admin/rpc") => self.admin_rpc(&request),
            ("GET", "/readyz" | "/ready") => {
                Reply::json(200, json!({"ready": true, "failing": [], "uptimeMs": 2913}))
            }
            ("GET", "/health" | "/healthz") => {
                Reply::json(200, json!({"ok": true, "status": "live"}))
            }
            _ => not_found(),
        };
        write_reply(&mut stream, &reply).await;
    }

    async fn hooks_agent(&self, request: &Recorded) -> Option<Reply> {
        if request.method != "POST" {
            return Some(method_not_allowed());
        }
        let bearer = request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "));
        let token = bearer.or(request.header("x-openclaw-token"));
        if token != Some(self.hooks_token.as_str()) {
            return Some(Reply::status(401, "Unauthorized"));
        }
        let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
            return Some(Reply::json(
                400,
                json!({"ok": false, "error": "Unexpected end of JSON input"}),
            ));
        };
        if body["message"].as_str().is_none_or(str::is_empty) {
            return Some(Reply::json(
                400,
                json!({"ok": false, "error": "message required"}),
            ));
        }
        let agent = body["agentId"].as_str().unwrap_or("main");
        if !AGENTS.contains(&agent) {
            return Some(Reply::json(
                400,
                json!({"ok": false, "error": format!("unknown agentId \"{agent}\"")}),
            ));
        }
        if !HOOK_AGENTS.contains(&agent) {
            return Some(Reply::json(
                400,
                json!({"ok": false, "error": "agentId is not allowed by hooks.allowedAgentIds"}),
            ));
        }
        if let Some(failure) = self.state.lock().unwrap().admission_failures.pop_front() {
            return Some(failure);
        }
        let key = request
            .header("idempotency-key")
            .or(request.header("x-openclaw-idempotency-key"))
            .map(str::to_owned)
            .or_else(|| body["idempotencyKey"].as_str().map(str::to_owned));
        let entry = self.run_for(key, &body);
        if body["waitForCompletion"] != Value::Bool(true) {
            return Some(Reply::json(200, json!({"ok": true, "runId": entry.run_id})));
        }
        let cut = self.state.lock().unwrap().cuts.pop_front();
        let mut done = entry.done.clone();
        let finished = async {
            let status = done.wait_for(Option::is_some).await.unwrap();
            status.unwrap()
        };
        let status = match cut {
            Some(after) => tokio::select! {
                status = finished => status,
                () = tokio::time::sleep(after) => return None,
            },
            None => finished.await,
        };
        let disposition = match status {
            "ok" => "visible",
            "skipped" => "silent",
            _ => "empty",
        };
        // A run that failed (provider error) reports no delivery fields.
        let completion = match status {
            "error" => json!({"status": status, "replyDisposition": disposition}),
            _ => json!({"status": status, "replyDisposition": disposition, "delivered": false,
                        "deliveryAttempted": false}),
        };
        Some(Reply::json(
            200,
            json!({"ok": true, "runId": entry.run_id, "completion": completion}),
        ))
    }

    /// The existing run for (key, dispatch payload), or a new one.
    fn run_for(&self, key: Option<String>, body: &Value) -> Arc<Entry> {
        let mut dispatch = body.clone();
        if let Some(fields) = dispatch.as_object_mut() {
            fields.remove("waitForCompletion");
            fields.remove("idempotencyKey");
        }
        let mut state = self.state.lock().unwrap();
        let replay_key = key.clone().map(|k| (k, dispatch.to_string()));
        if let Some(entry) = replay_key.as_ref().and_then(|k| state.replay.get(k)) {
            return entry.clone();
        }
        let run_id = format!("run-{:04}", state.runs.len() + 1);
        let outcome = state.outcomes.pop_front().unwrap_or_else(Outcome::ok);
        let (finish, done) = watch::channel(None);
        tokio::spawn(async move {
            tokio::time::sleep(outcome.after).await;
            let _ = finish.send(Some(outcome.status));
        });
        state.runs.push(Run {
            idempotency_key: key,
            body: body.clone(),
        });
        let entry = Arc::new(Entry { run_id, done });
        if let Some(replay_key) = replay_key {
            state.replay.insert(replay_key, entry.clone());
        }
        entry
    }

    async fn chat_completions(&self, request: &Recorded) -> Reply {
        if request.method != "POST" {
            return method_not_allowed();
        }
        if request.header("authorization")
            != Some(format!("Bearer {}", self.gateway_token).as_str())
        {
            return Reply::json(
                401,
                json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}),
            );
        }
        let invalid = |message: String| {
            Reply::json(
                400,
                json!({"error": {"message": message, "type": "invalid_request_error"}}),
            )
        };
        let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
            return invalid("Unexpected end of JSON input".into());
        };
        let model = body["model"].as_str().unwrap_or_default();
        let agent = match model {
            "openclaw" | "openclaw/default" => "main",
            other => match other
                .strip_prefix("openclaw/")
                .or(other.strip_prefix("openclaw:"))
                .or(other.strip_prefix("agent:"))
            {
                Some(agent) => agent,
                None => {
                    return invalid(
                        "Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.".into(),
                    );
                }
            },
        };
        if !AGENTS.contains(&agent) {
            return invalid(format!("Unknown agent '{agent}'."));
        }
        let user_message = body["messages"]
            .as_array()
            .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
            .and_then(|m| m["content"].as_str())
            .map(str::to_owned);
        let Some(user_message) = user_message else {
            return invalid("Missing user message in `messages`.".into());
        };
        // No idempotency on this endpoint: every request is a new run.
        let entry = self.run_for(None, &body);
        let mut done = entry.done.clone();
        let status = done.wait_for(Option::is_some).await.unwrap().unwrap();
        if status != "ok" {
            return Reply::json(
                502,
                json!({"error": {"message": "upstream provider error", "type": "api_error"}}),
            );
        }
        let reply = format!(
            "MOCK-REPLY: {}",
            user_message.chars().take(40).collect::<String>()
        );
        Reply::json(
            200,
            json!({"id": format!("chatcmpl_{}", entry.run_id), "object": "chat.completion", "created": 1795627640,
                   "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                   "finish_reason": "stop"}], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        )
    }

    fn admin_rpc(&self, request: &Recorded) -> Reply {
        if request.method != "POST" {
            return Reply::json(405, json!({"ok": false, "error": {"type": "method_not_allowed", "message": "Method Not Allowed"}}))
                .header("Allow", "POST");
        }
        if request.header("authorization")
            != Some(format!("Bearer {}", self.gateway_token).as_str())
        {
            return Reply::json(
                401,
                json!({"error": {"message": "Unauthorized", "type": "unauthorized"}}),
            );
        }
        let Ok(call) = serde_json::from_str::<Value>(&request.body) else {
            return Reply::json(
                400,
                json!({"ok": false, "error": {"type": "invalid_request", "message": "request body must be valid JSON"}}),
            );
        };
        // The gateway makes up a request id when the call has none.
        let id = match &call["id"] {
            Value::Null => json!(format!("rpc-{}", self.state.lock().unwrap().requests.len())),
            id => id.clone(),
        };
        let params = &call["params"];
        let jobs = self.state.lock().unwrap().cron_jobs.clone();
        let invalid = |message: String| {
            Reply::json(
                400,
                json!({"id": id, "ok": false, "error": {"code": "INVALID_REQUEST", "message": message}}),
            )
        };
        match call["method"].as_str() {
            Some("cron.list") => {
                let query = params["query"].as_str().unwrap_or_default();
                let matching: Vec<Value> = jobs
                    .into_iter()
                    .filter(|job| job["name"].as_str().unwrap_or_default().contains(query))
                    .filter(|job| params["includeDisabled"] == true || job["enabled"] != false)
                    .collect();
                let offset = params["offset"].as_u64().unwrap_or(0) as usize;
                let limit = params["limit"].as_u64().unwrap_or(200) as usize;
                let page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
                let next = offset + page.len();
                let more = next < matching.len();
                Reply::json(
                    200,
                    json!({"id": id, "ok": true, "payload": {"jobs": page, "total": matching.len(),
                    "offset": offset, "limit": limit, "hasMore": more,
                    "nextOffset": if more { json!(next) } else { Value::Null }}}),
                )
            }
            Some("cron.get") => {
                let wanted = params["id"].as_str().unwrap_or_default();
                match jobs.into_iter().find(|job| job["id"] == wanted) {
                    Some(job) => Reply::json(200, json!({"id": id, "ok": true, "payload": job})),
                    None => Reply::json(
                        400,
                        json!({"id": id, "ok": false, "error": {"code": "INVALID_REQUEST",
                               "message": format!("cron job not found: {wanted}. List automations and retry with a current job id. For cross-session management, use a fresh authenticated configured channel owner or Control UI administrator turn or the Automations page."),
                               "details": {"code": "CRON_JOB_NOT_FOUND", "jobId": wanted}}}),
                    ),
                }
            }
            Some("cron.update") => self.cron_update(&id, params),
            Some(method) => invalid(format!("admin HTTP RPC method is not supported: {method}")),
            None => Reply::json(
                400,
                json!({"ok": false, "error": {"type": "invalid_request", "message": "method must be a non-empty string"}}),
            ),
        }
    }
}

impl FakeOpenClaw {
    /// `cron.update {id, patch, expectedConfigRevision?}` as the real gateway answers it: the
    /// patched job, or a refusal for an unknown id or a stale revision.
    fn cron_update(&self, id: &Value, params: &Value) -> Reply {
        let wanted = params["id"].as_str().unwrap_or_default();
        let refused = |message: String, details: Value| {
            Reply::json(
                400,
                json!({"id": id, "ok": false, "error": {"code": "INVALID_REQUEST",
                       "message": message, "details": details}}),
            )
        };
        let mut state = self.state.lock().unwrap();
        let Some(job) = state.cron_jobs.iter_mut().find(|job| job["id"] == wanted) else {
            return refused(
                format!(
                    "Automation not found: {wanted}. List automations and retry with a current job id. For cross-session management, use a fresh authenticated configured channel owner or Control UI administrator turn or the Automations page."
                ),
                json!({"code": "CRON_JOB_NOT_FOUND", "jobId": wanted}),
            );
        };
        if let Some(expected) = params.get("expectedConfigRevision")
            && *expected != job["configRevision"]
        {
            return refused(
                "cron job definition no longer matches the loaded version; review the latest version before retrying".into(),
                json!({"code": "CRON_JOB_CHANGED", "expectedConfigRevision": expected,
                       "actualConfigRevision": job["configRevision"]}),
            );
        }
        if let Some(patch) = params["patch"].as_object() {
            for (key, value) in patch {
                // An empty description is no description, as the real gateway keeps it.
                if key == "description" && value == "" {
                    job.as_object_mut().unwrap().remove(key);
                } else {
                    job[key] = value.clone();
                }
            }
        }
        Reply::json(200, json!({"id": id, "ok": true, "payload": job.clone()}))
    }
}

fn not_found() -> Reply {
    Reply::status(404, "Not Found")
}

fn method_not_allowed() -> Reply {
    Reply::status(405, "Method Not Allowed").header("Allow", "POST")
}
