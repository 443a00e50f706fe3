//! One OpenClaw cron job as `cron.list` / `cron.get` give it, and how it moves: the
//! `[turns.<id>]` and `[schedules.<id>]` that replace it, or why it cannot move.

use crate::config::{GatewayApi, ScheduleConfig, TurnConfig, cron};
use serde_json::{Value, json};
use std::fmt;
use std::time::{Duration, SystemTime};

/// The jobs OpenClaw makes for itself at start, for the main agent; it makes a heartbeat and
/// a skill review for every other agent too (`heartbeat-<agent>`, ...). `import --all`
/// leaves them out, naming one imports it.
pub const HOUSEKEEPING: [&str; 3] = [
    "heartbeat-main",
    "Memory Dreaming Promotion",
    "skill-collection-review-main",
];
const HOUSEKEEPING_PER_AGENT: [&str; 2] = ["heartbeat-", "skill-collection-review-"];

/// An imported schedule's `note` starts so, followed by the OpenClaw job id: cutover finds
/// the job a declared schedule replaces by it.
pub const NOTE_PREFIX: &str = "openclaw-cron job ";

/// Cutover's mark in a job's description (OpenClaw's side): the only record of which jobs this
/// tool disabled, read by `list` (migrated) and `rollback`.
const MARK_START: &str = "[clawfactory-temporal: cut over to Temporal schedule ";
const MARK_SCHEDULE_END: &str = " on ";
const MARK_END: &str = "; `clawfactory-temporal openclaw-cron rollback` re-enables it]";

#[derive(Debug, Clone, PartialEq)]
pub struct Job(pub Value);

/// How a job would move.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Ok,
    /// Already cut over, to this schedule.
    Migrated(String),
    Cannot(String),
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Ok => write!(f, "ok"),
            Verdict::Migrated(schedule) => write!(f, "migrated (schedule {schedule})"),
            Verdict::Cannot(why) => write!(f, "cannot: {why}"),
        }
    }
}

impl Job {
    fn text(&self, key: &str) -> &str {
        self.0[key].as_str().unwrap_or_default()
    }

    pub fn id(&self) -> &str {
        self.text("id")
    }

    pub fn name(&self) -> &str {
        self.text("name")
    }

    pub fn enabled(&self) -> bool {
        self.0["enabled"] != false
    }

    pub fn description(&self) -> &str {
        self.text("description")
    }

    /// The agent the job runs on: its own, else the one OpenClaw resolved, else `main`.
    pub fn agent(&self) -> &str {
        [&self.0["agentId"], &self.0["effectiveAgentId"]]
            .into_iter()
            .find_map(Value::as_str)
            .unwrap_or("main")
    }

    pub fn next_run(&self) -> Option<SystemTime> {
        let ms = self.0["nextRunAtMs"]
            .as_u64()
            .or_else(|| self.0["state"]["nextRunAtMs"].as_u64())?;
        Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// OpenClaw's revision of the job's definition; an update that names it is refused if
    /// the job changed since.
    pub fn revision(&self) -> Option<&str> {
        self.0["configRevision"].as_str()
    }

    pub fn is_housekeeping(&self) -> bool {
        let name = self.name();
        HOUSEKEEPING.contains(&name)
            || HOUSEKEEPING_PER_AGENT
                .iter()
                .any(|prefix| name.strip_prefix(prefix) == Some(self.agent()))
    }

    /// The schedule cutover named in the job's description, whatever the job's state.
    pub fn cut_over_to(&self) -> Option<&str> {
        let description = self.description();
        let start = description.find(MARK_START)? + MARK_START.len();
        let rest = &description[start..];
        Some(&rest[..rest.find(MARK_SCHEDULE_END)?])
    }

    /// Disabled by cutover, in favour of this schedule.
    pub fn migrated(&self) -> Option<&str> {
        self.cut_over_to().filter(|_| !self.enabled())
    }

    /// The schedule in a few words, as `list` shows it.
    pub fn schedule_text(&self) -> String {
        let schedule = &self.0["schedule"];
        let field = |key: &str| match &schedule[key] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        match schedule["kind"].as_str().unwrap_or("?") {
            "cron" => {
                let tz = field("tz");
                format!(
                    "cron {:?}{}",
                    field("expr"),
                    if tz.is_empty() {
                        String::new()
                    } else {
                        format!(" {tz}")
                    }
                )
            }
            "every" => match schedule["everyMs"].as_u64() {
                Some(ms) => format!("every {}", crate::duration::format(millis(ms))),
                None => "every ?".into(),
            },
            "at" => format!("at {}", field("at")),
            kind => kind.to_owned(),
        }
    }

    pub fn verdict(&self, api: GatewayApi) -> Verdict {
        if let Some(schedule) = self.migrated() {
            return Verdict::Migrated(schedule.to_owned());
        }
        match self.turn(api).and_then(|_| self.schedule("x", None)) {
            Ok(_) => Verdict::Ok,
            Err(why) => Verdict::Cannot(why),
        }
    }

    /// The `[turns.<id>]` that runs what the job runs, through protocol `api`; or why the
    /// job runs something that protocol cannot carry.
    pub fn turn(&self, api: GatewayApi) -> Result<TurnConfig, String> {
        if !matches!(api, GatewayApi::HooksAgent | GatewayApi::ChatCompletions) {
            return Err(format!(
                "the instance's protocol {api} does not run [turns] (hooks-agent does)"
            ));
        }
        let payload = &self.0["payload"];
        if payload["kind"] != "agentTurn" {
            return Err(format!(
                "payload kind {} is not an agent turn",
                payload["kind"]
            ));
        }
        let session = self.text("sessionTarget");
        if !session.is_empty() && session != "isolated" {
            return Err(format!(
                "session target {session:?}: turns run in an isolated session"
            ));
        }
        match self.0["delivery"]["mode"].as_str() {
            Some("none") => {}
            Some(mode) => {
                return Err(format!(
                    "delivery mode {mode:?}: the worker runs turns without delivery (deliver: false)"
                ));
            }
            None => {
                return Err("no delivery mode: OpenClaw announces the result by default, and \
                            the worker runs turns without delivery (set delivery mode none on the job to move it)"
                    .into());
            }
        }
        if payload["fallbacks"]
            .as_array()
            .is_some_and(|f| !f.is_empty())
        {
            return Err("payload fallbacks: a turn names one model".into());
        }
        if payload["lightContext"] == true {
            return Err("payload lightContext: no protocol carries it".into());
        }
        if payload["toolsAllow"]
            .as_array()
            .is_some_and(|tools| tools != &[json!("*")])
        {
            return Err(format!(
                "payload toolsAllow {}: no protocol carries a tool list",
                payload["toolsAllow"]
            ));
        }
        let spec = crate::gateway::spec_from_cron_job(self.name(), &self.0)
            .map_err(|err| err.message().to_owned())?;
        if api == GatewayApi::ChatCompletions && (spec.model.is_some() || spec.thinking.is_some()) {
            return Err(
                "payload model/thinking: chat-completions cannot carry them (hooks-agent can)"
                    .into(),
            );
        }
        Ok(TurnConfig {
            message: spec.message,
            agent: self.agent().to_owned(),
            model: spec.model,
            thinking: spec.thinking,
            timeout: spec.timeout,
        })
    }

    /// The `[schedules.<id>]` firing at the job's times and running `[turns.<id>]` as a
    /// one-step CustomWorkflow; or why no schedule fires at those times.
    pub fn schedule(&self, id: &str, instance: Option<&str>) -> Result<ScheduleConfig, String> {
        let mut schedule: ScheduleConfig = serde_json::from_value(json!({
            "workflow": "CustomWorkflow",
            "input": {"name": id, "steps": [{"type": "agent_turn", "agent_id": id}]},
            "note": format!("{NOTE_PREFIX}{}", self.id()),
        }))
        .expect("a schedule needs only its workflow");
        schedule.instance = instance.map(str::to_owned);
        // A job cutover disabled was enabled before: its schedule runs.
        schedule.paused = !self.enabled() && self.migrated().is_none();
        let spec = &self.0["schedule"];
        match spec["kind"].as_str().unwrap_or_default() {
            "cron" => {
                let expr = spec["expr"].as_str().unwrap_or_default();
                cron::validate(expr).map_err(|err| format!("cron expression {err}"))?;
                schedule.cron = vec![expr.to_owned()];
                schedule.timezone = spec["tz"].as_str().unwrap_or_default().to_owned();
                // Temporal's jitter is whole seconds here: round the stagger up, never down.
                let stagger = spec["staggerMs"].as_u64().unwrap_or(0);
                schedule.jitter = Duration::from_secs(stagger.div_ceil(1000));
            }
            "every" => {
                let every = spec["everyMs"]
                    .as_u64()
                    .filter(|ms| *ms > 0 && ms % 1000 == 0)
                    .ok_or_else(|| {
                        format!(
                            "every {}ms: intervals are whole seconds here",
                            spec["everyMs"]
                        )
                    })?;
                schedule.every = vec![millis(every)];
                let anchor = spec["anchorMs"]
                    .as_u64()
                    .or_else(|| self.0["createdAtMs"].as_u64())
                    .unwrap_or(0);
                // To the second below: cutover allows for it when it compares fire times.
                schedule.phase = Duration::from_secs((anchor % every) / 1000);
            }
            "at" => {
                return Err(format!(
                    "a one-shot job (at {}): a schedule repeats; leave it in OpenClaw, or start \
                     it once with `clawfactory-temporal run`",
                    spec["at"]
                ));
            }
            kind => {
                return Err(format!(
                    "schedule kind {kind:?}: a Temporal schedule fires at times, not on events"
                ));
            }
        }
        Ok(schedule)
    }
}

fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// `description` with cutover's mark for `schedule_id` on a line of its own.
pub fn marked(description: &str, schedule_id: &str, at: SystemTime) -> String {
    let mark = format!(
        "{MARK_START}{schedule_id}{MARK_SCHEDULE_END}{}{MARK_END}",
        humantime::format_rfc3339_seconds(at)
    );
    let kept = unmarked(description);
    if kept.is_empty() {
        mark
    } else {
        format!("{kept}\n{mark}")
    }
}

/// `description` without cutover's mark: what it was before cutover.
pub fn unmarked(description: &str) -> String {
    description
        .lines()
        .filter(|line| !line.starts_with(MARK_START))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(schedule: Value, payload: Value) -> Job {
        Job(
            json!({"id": "4f1c2d3e-aaaa", "name": "Nightly digest", "enabled": true,
                   "agentId": "writer", "sessionTarget": "isolated", "delivery": {"mode": "none"},
                   "createdAtMs": 1_795_627_607_045u64, "schedule": schedule, "payload": payload}),
        )
    }

    fn turn_payload() -> Value {
        json!({"kind": "agentTurn", "message": "Digest.", "model": "m", "thinking": "low",
               "timeoutSeconds": 300, "toolsAllow": ["*"]})
    }

    #[test]
    fn a_cron_job_becomes_a_turn_and_a_schedule_with_its_expression_zone_and_stagger() {
        let job = job(
            json!({"kind": "cron", "expr": "0 4 * * *", "tz": "Europe/Berlin", "staggerMs": 1500}),
            turn_payload(),
        );
        assert_eq!(job.verdict(GatewayApi::HooksAgent), Verdict::Ok);
        let turn = job.turn(GatewayApi::HooksAgent).unwrap();
        assert_eq!(turn.message, "Digest.");
        assert_eq!(turn.agent, "writer");
        assert_eq!(turn.model.as_deref(), Some("m"));
        assert_eq!(turn.timeout, Some(Duration::from_secs(300)));
        let schedule = job.schedule("nightly-digest", None).unwrap();
        assert_eq!(schedule.cron, ["0 4 * * *"]);
        assert_eq!(schedule.timezone, "Europe/Berlin");
        assert_eq!(schedule.jitter, Duration::from_secs(2));
        assert_eq!(schedule.note, "openclaw-cron job 4f1c2d3e-aaaa");
        assert_eq!(
            schedule.input.unwrap()["steps"][0],
            json!({"type": "agent_turn", "agent_id": "nightly-digest"})
        );
        assert!(!schedule.paused);
    }

    #[test]
    fn an_every_job_keeps_its_anchor_as_the_phase() {
        let job = job(
            json!({"kind": "every", "everyMs": 3_600_000, "anchorMs": 1_795_627_607_045u64}),
            turn_payload(),
        );
        let schedule = job.schedule("x", None).unwrap();
        assert_eq!(schedule.every, [Duration::from_secs(3600)]);
        // 1_795_627_607_045 ms is 26 min 47.045 s past an hour.
        assert_eq!(schedule.phase, Duration::from_secs(26 * 60 + 47));
    }

    #[test]
    fn what_cannot_move_says_why() {
        let cases = [
            (
                job(
                    json!({"kind": "at", "at": "2030-01-01T00:00:00Z"}),
                    turn_payload(),
                ),
                "one-shot",
            ),
            (
                job(json!({"kind": "on-exit"}), turn_payload()),
                "schedule kind \"on-exit\"",
            ),
            (
                job(
                    json!({"kind": "cron", "expr": "0 4 * * *"}),
                    json!({"kind": "systemEvent", "text": "x"}),
                ),
                "not an agent turn",
            ),
            (
                job(
                    json!({"kind": "cron", "expr": "0 4 * * *"}),
                    json!({"kind": "agentTurn", "message": "x", "fallbacks": ["b"]}),
                ),
                "fallbacks",
            ),
        ];
        for (job, expected) in cases {
            let verdict = job.verdict(GatewayApi::HooksAgent).to_string();
            assert!(
                verdict.starts_with("cannot: ") && verdict.contains(expected),
                "{verdict}"
            );
        }
        let mut announced = job(json!({"kind": "cron", "expr": "0 4 * * *"}), turn_payload());
        announced.0["delivery"] = json!({"mode": "announce"});
        assert!(
            announced
                .verdict(GatewayApi::HooksAgent)
                .to_string()
                .contains("delivery mode \"announce\"")
        );
        let plain = job(json!({"kind": "cron", "expr": "0 4 * * *"}), turn_payload());
        assert!(
            plain
                .verdict(GatewayApi::ChatCompletions)
                .to_string()
                .contains("chat-completions cannot carry")
        );
        assert!(
            plain
                .verdict(GatewayApi::CronFire)
                .to_string()
                .contains("does not run [turns]")
        );
    }

    #[test]
    fn cutovers_mark_comes_off_again_and_names_the_schedule() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_627_607);
        let mut job = job(json!({"kind": "cron", "expr": "0 4 * * *"}), turn_payload());
        job.0["description"] = json!("Mine.");
        let marked = marked("Mine.", "nightly-digest", at);
        assert!(
            marked.starts_with("Mine.\n[clawfactory-temporal: cut over"),
            "{marked}"
        );
        assert_eq!(marked, self::marked(&marked, "nightly-digest", at));
        assert_eq!(unmarked(&marked), "Mine.");
        job.0["description"] = json!(marked);
        assert_eq!(job.cut_over_to(), Some("nightly-digest"));
        assert_eq!(job.migrated(), None, "still enabled");
        job.0["enabled"] = json!(false);
        assert_eq!(
            job.verdict(GatewayApi::HooksAgent),
            Verdict::Migrated("nightly-digest".into())
        );
        assert!(!job.schedule("x", None).unwrap().paused);
    }
}
