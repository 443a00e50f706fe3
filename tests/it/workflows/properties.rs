//! Property tests: whatever text or JSON arrives — config files, `CustomWorkflow`
//! definitions, workflow inputs, durations, cron expressions, time zones — nothing panics and
//! every rejection names the field and the value. A small seeded generator of our own keeps
//! the cases the same on every run (a failure reproduces) and the whole file fast.
//!
//! Two tests run on a real dev server: `hostile_inputs_fail_every_workflow_type_typed_and_at_once`
//! starts every workflow type with hostile inputs (each must fail typed and non-retryable,
//! never wedge its workflow task), and the last one runs random declared definitions to an
//! end (each completes or fails typed).

use crate::common;

use clawfactory_temporal::config::{Config, DeclaredWorkflow, Env, GatewayApi, Instances, Source};
use clawfactory_temporal::duration;
use clawfactory_temporal::payload::{json_payload, json_value};
use clawfactory_temporal::workflows::declared::{self, Plan};
use clawfactory_temporal::workflows::definition::{Definition, Step};
use clawfactory_temporal::workflows::{PoetryInput, WorkflowSettings, weather_location};
use common::{Setup, start_workflow_raw, workflow_failure};
use futures::FutureExt;
use futures::future::LocalBoxFuture;
use serde_json::{Map, Value, json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::time::Duration;
use temporalio_common::data_converters::RawValue;
use temporalio_common::error::ActivityExecutionError;
use temporalio_common::protos::temporal::api::common::v1::Payload;
use temporalio_sdk::{TimerResult, WorkflowTermination};

/// Cases per property: a few thousand in all, well under a second each in a debug build.
const CASES: usize = 2000;

/// xorshift64*: deterministic, seeded per property.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Text made of pieces people (and attackers) write: numbers at type limits, units,
    /// cron tokens, path tricks, quotes, control and non-ASCII characters.
    fn text(&mut self, max_pieces: usize) -> String {
        const PIECES: [&str; 44] = [
            "0",
            "1",
            "5",
            "7",
            "24",
            "59",
            "60",
            "61",
            "90",
            "-1",
            "+3",
            "1.5",
            "1e3",
            "99999999999999999999",
            "9223372036854775808",
            "18446744073709551615",
            "87600",
            "s",
            "m",
            "h",
            "H",
            "d",
            " ",
            "  ",
            "\t",
            "\n",
            "*",
            "/",
            ",",
            "-",
            "@",
            "@daily",
            "#",
            "MON",
            "jan",
            "FUNDAY",
            "Europe/Berlin",
            "..",
            "UTC",
            "é",
            "\u{0}",
            "\u{202e}",
            "\"",
            "\\",
        ];
        let pieces = self.below(max_pieces + 1);
        (0..pieces).map(|_| *self.pick(&PIECES)).collect()
    }

    /// Any JSON value, biased toward the keys our inputs use.
    fn json(&mut self, depth: u32) -> Value {
        const KEYS: [&str; 12] = [
            "name", "steps", "type", "agent_id", "duration", "url", "method", "timeout", "settle",
            "instance", "x", "",
        ];
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => Value::Bool(self.chance(50)),
            2 => self.number(),
            3 | 4 => Value::String(self.text(6)),
            5 => Value::Array((0..self.below(4)).map(|_| self.json(depth - 1)).collect()),
            _ => Value::Object(
                (0..self.below(4))
                    .map(|_| (self.pick(&KEYS).to_string(), self.json(depth - 1)))
                    .collect(),
            ),
        }
    }

    fn number(&mut self) -> Value {
        match self.below(6) {
            0 => json!(i64::MIN),
            1 => json!(u64::MAX),
            2 => json!(self.below(100)),
            3 => json!(1e308),
            4 => json!(-0.000_001),
            _ => json!(self.below(200_000) as f64 / 3.0),
        }
    }

    /// A `CustomWorkflow` definition that is right more often than not, with wrong types,
    /// missing and unknown fields mixed in.
    fn definition(&mut self) -> Value {
        let mut object = Map::new();
        if self.chance(80) {
            let name = if self.chance(80) {
                json!(self.text(3))
            } else {
                self.json(1)
            };
            object.insert("name".into(), name);
        }
        let steps = (0..self.below(5)).map(|_| self.step()).collect();
        let steps = if self.chance(90) {
            Value::Array(steps)
        } else {
            self.json(2)
        };
        object.insert("steps".into(), steps);
        if self.chance(10) {
            object.insert(self.text(2), self.json(2));
        }
        Value::Object(object)
    }

    fn step(&mut self) -> Value {
        if self.chance(5) {
            return self.json(2);
        }
        let kind = *self.pick(&["agent_turn", "delay", "http", "sleep", ""]);
        let mut step = Map::new();
        if self.chance(95) {
            step.insert("type".into(), json!(kind));
        }
        let plausible: [(&str, Value); 5] = [
            ("agent_id", json!("poetry-research-execute")),
            (
                "duration",
                json!(format!(
                    "{}{}",
                    self.below(100),
                    self.pick(&["s", "m", "h"])
                )),
            ),
            ("url", json!("http://127.0.0.1:9/x")),
            ("method", json!(*self.pick(&["GET", "post", "PUT"]))),
            ("timeout", json!(self.below(100) + 1)),
        ];
        for (field, value) in plausible {
            let roll = self.below(10);
            if roll < 5 {
                step.insert(field.into(), value);
            } else if roll < 7 {
                let wrong = if self.chance(50) {
                    json!(self.text(4))
                } else {
                    self.json(1)
                };
                step.insert(field.into(), wrong);
            }
        }
        Value::Object(step)
    }

    /// Random edits of text: deletions, duplications, insertions, truncation.
    fn mutate(&mut self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for _ in 0..=self.below(3) {
            let at = self.below(chars.len() + 1);
            match self.below(4) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 => chars.truncate(at),
                2 if at < chars.len() => {
                    let c = chars[at];
                    chars.insert(at, c);
                }
                _ => {
                    let piece: Vec<char> = self.text(2).chars().collect();
                    chars.splice(at..at, piece);
                }
            }
        }
        chars.into_iter().collect()
    }
}

/// Runs `check` on one case; a panic fails the test naming the case.
fn no_panic<T>(what: &str, case: &dyn std::fmt::Debug, check: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(check)) {
        Ok(value) => value,
        Err(_) => panic!("{what} panicked on {case:?}"),
    }
}

struct NoEnv;

impl Env for NoEnv {
    fn var(&self, _name: &str) -> Option<String> {
        None
    }
}

/// Loads `text` as the config file, as the worker does (parse, secrets, validation).
fn load_config(dir: &Path, text: &str) -> Result<Config, String> {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    let source = Source::from_cli(Some(path));
    no_panic("Config::load", &text, || Config::load(&source, &NoEnv)).map_err(|e| format!("{e:#}"))
}

#[test]
fn durations_parse_or_name_the_text() {
    let mut rng = Rng::new(1);
    for _ in 0..CASES * 2 {
        let text = rng.text(4);
        match no_panic("duration::parse", &text, || duration::parse(&text)) {
            Ok(parsed) => {
                assert!(parsed <= duration::MAX, "{text:?} → {parsed:?}");
                assert_eq!(duration::parse(&duration::format(parsed)), Ok(parsed));
            }
            Err(err) => assert!(err.contains(&format!("{text:?}")), "{text:?}: {err}"),
        }
    }
}

/// A cron expression: a valid one, five plausible fields, or anything.
fn cron_text(rng: &mut Rng) -> String {
    const VALID: [&str; 4] = [
        "0 4 * * *",
        "*/15 * * * *",
        "@daily",
        "0 9-17/2 * * MON-FRI",
    ];
    if rng.chance(40) {
        return rng.pick(&VALID).to_string();
    }
    if rng.chance(20) {
        return rng.text(6);
    }
    let field = |rng: &mut Rng| -> String {
        let atom = |rng: &mut Rng| match rng.below(5) {
            0 => "*".to_owned(),
            1 => rng.below(70).to_string(),
            2 => rng
                .pick(&["MON", "fri", "JAN", "dec", "SUN", "x"])
                .to_string(),
            3 => format!("{}-{}", rng.below(40), rng.below(40)),
            _ => rng.text(1),
        };
        let mut text = atom(rng);
        if rng.chance(20) {
            text = format!("{text}/{}", rng.below(4));
        }
        if rng.chance(15) {
            text = format!("{text},{}", atom(rng));
        }
        text
    };
    let fields = if rng.chance(90) { 5 } else { rng.below(8) };
    (0..fields)
        .map(|_| field(rng))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn cron_and_time_zones_are_rejected_by_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(2);
    let zones = [
        "",
        "UTC",
        "Europe/Berlin",
        "America/New_York",
        "Mars/Olympus",
        "../etc",
    ];
    let mut accepted = 0;
    for _ in 0..CASES {
        let cron = cron_text(&mut rng);
        let zone = if rng.chance(60) {
            rng.pick(&zones).to_string()
        } else {
            rng.text(3)
        };
        let text = format!(
            "[schedules.s]\nworkflow = \"CustomWorkflow\"\ncron = [{}]\ntimezone = {}\n",
            toml::Value::String(cron.clone()),
            toml::Value::String(zone.clone())
        );
        match load_config(dir.path(), &text) {
            Ok(_) => accepted += 1,
            Err(err) if err.contains("schedules.s.cron: ") => {
                assert!(
                    err.contains(&format!("{:?}", cron.trim())),
                    "{cron:?}: {err}"
                );
            }
            Err(err) => {
                assert!(err.contains("schedules.s.timezone: "), "{zone:?}: {err}");
                assert!(err.contains(&format!("{zone:?}")), "{zone:?}: {err}");
            }
        }
    }
    // The generator must reach past the cron check, or the time zones went untested.
    assert!(accepted > CASES / 20, "only {accepted} accepted");
}

/// Every key of the config and a value of the right type (the README's full example).
const FULL_CONFIG: &str = r#"
[temporal]
address = "127.0.0.1:7233"
namespace = "default"
task_queue = "clawfactory"

[worker]
graceful_shutdown = "30s"

[gateway]
api = "hooks-agent"
url = "http://127.0.0.1:18789"
timeout = "300s"
instance = "default"
resolve_cron_jobs = false
on_skipped = "succeed"

[turns.digest]
message = "Write."
agent = "main"
timeout = "10m"

[workflows.agent_turn]
start_to_close = "10m"

[workflows.agent_turn.retry]
initial_interval = "30s"
maximum_interval = "5m"
maximum_attempts = 3

[workflows.poetry_research]
settle = "2h"

[weather]
base_url = "https://wttr.in"

[server]
temporal_bin = "temporal"
ip = "127.0.0.1"
grpc_port = 7233
log_level = "warn"

[schedules.nightly]
workflow = "CustomWorkflow"
cron = ["0 4 * * *"]
every = ["1h"]
timezone = "UTC"
overlap = "skip"
catchup_window = "8760h"
jitter = "0s"
input = { steps = [] }
"#;

/// `table.key` paths of the lines in `FULL_CONFIG` with a value.
fn config_keys() -> Vec<(String, String)> {
    let mut table = String::new();
    let mut keys = Vec::new();
    for line in FULL_CONFIG.lines() {
        if let Some(name) = line.strip_prefix('[') {
            table = name.trim_end_matches(']').to_owned();
        } else if let Some((key, _)) = line.split_once(" = ") {
            keys.push((table.clone(), key.to_owned()));
        }
    }
    keys
}

fn toml_value(rng: &mut Rng) -> String {
    match rng.below(9) {
        0 => rng
            .pick(&[
                "-1",
                "0",
                "70000",
                "9223372036854775807",
                "-9223372036854775808",
            ])
            .to_string(),
        1 => rng
            .pick(&["1.5", "-0.0", "inf", "nan", "1e308"])
            .to_string(),
        2 => rng.pick(&["true", "false"]).to_string(),
        3 => "1979-05-27T07:32:00Z".to_owned(),
        4 => format!("[{}]", toml::Value::String(rng.text(3))),
        5 => format!("{{ x = {} }}", toml::Value::String(rng.text(2))),
        6 => "[]".to_owned(),
        _ => toml::Value::String(rng.text(4)).to_string(),
    }
}

#[test]
fn config_files_with_wrong_types_unknown_keys_and_garbage_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    load_config(dir.path(), FULL_CONFIG).expect("the unmutated config is valid");
    let keys = config_keys();
    let mut rng = Rng::new(3);
    for _ in 0..CASES {
        let (table, key) = rng.pick(&keys).clone();
        let mut text = String::new();
        let mut current = String::new();
        let unknown = format!("zz_{}", rng.below(1000));
        let mode = rng.below(3);
        for line in FULL_CONFIG.lines() {
            if let Some(name) = line.strip_prefix('[') {
                current = name.trim_end_matches(']').to_owned();
            }
            match line.split_once(" = ") {
                Some((k, _)) if mode == 0 && current == table && k == key => {
                    text.push_str(&format!("{k} = {}\n", toml_value(&mut rng)));
                }
                _ => {
                    text.push_str(line);
                    text.push('\n');
                }
            }
            if mode == 1 && line == format!("[{table}]") {
                text.push_str(&format!("{unknown} = {}\n", toml_value(&mut rng)));
            }
        }
        if mode == 2 {
            // Anything at all: a syntax error must not panic either, and must say something.
            let garbled = rng.mutate(&text);
            if let Err(err) = load_config(dir.path(), &garbled) {
                assert!(!err.trim().is_empty(), "{garbled:?}");
            }
            continue;
        }
        let Err(err) = load_config(dir.path(), &text) else {
            assert_eq!(mode, 0, "unknown key {unknown} in [{table}] accepted");
            continue;
        };
        let named = if mode == 0 {
            key.as_str()
        } else {
            unknown.as_str()
        };
        assert!(err.contains(named), "[{table}] {named}: {err}\n{text}");
    }
}

#[test]
fn custom_workflow_definitions_validate_or_name_the_step_and_field() {
    let mut rng = Rng::new(4);
    for _ in 0..CASES * 2 {
        let definition = rng.definition();
        let mut inputs = vec![definition.clone(), Value::String(definition.to_string())];
        inputs.push(Value::String(rng.mutate(&definition.to_string())));
        for input in inputs {
            let parsed = no_panic("Definition::from_input", &input, || {
                Definition::from_input(Some(input.clone()))
            });
            match parsed {
                Ok(definition) => {
                    for step in &definition.steps {
                        match step {
                            Step::AgentTurn { agent_id, instance } => {
                                assert!(!agent_id.trim().is_empty());
                                assert!(instance.as_ref().is_none_or(|i| !i.trim().is_empty()));
                            }
                            Step::Delay { duration, .. } => assert!(*duration <= duration::MAX),
                            Step::Http { params } => {
                                assert_eq!(params.validate(), Ok(()));
                                assert!(params.timeout() <= Duration::from_secs(86_400));
                                serde_json::to_string(params).expect("params serialize");
                            }
                        }
                    }
                }
                Err(err) => assert_names_a_field(&err, &input),
            }
        }
    }
}

/// `definition: ...`, `name: ...`, `steps: ...` or `steps[i].<field>: ...`, with a real `i`.
fn assert_names_a_field(err: &str, input: &Value) {
    const FIELDS: [&str; 6] = ["type", "agent_id", "duration", "url", "method", "timeout"];
    if err.starts_with("definition: ") || err.starts_with("name: ") || err.starts_with("steps: ") {
        return;
    }
    let rest = err
        .strip_prefix("steps[")
        .unwrap_or_else(|| panic!("{input}: {err}"));
    let (index, rest) = rest
        .split_once("].")
        .unwrap_or_else(|| panic!("{input}: {err}"));
    let index: usize = index.parse().unwrap_or_else(|_| panic!("{input}: {err}"));
    let parsed = match input {
        Value::String(text) => serde_json::from_str(text).unwrap(),
        other => other.clone(),
    };
    assert!(
        index < parsed["steps"].as_array().unwrap().len(),
        "{input}: {err}"
    );
    assert!(
        FIELDS
            .iter()
            .any(|field| rest.starts_with(&format!("{field}: "))),
        "{input}: {err}"
    );
}

fn payload(encoding: Option<&str>, data: Vec<u8>) -> Payload {
    Payload {
        metadata: encoding
            .map(|e| ("encoding".to_owned(), e.as_bytes().to_vec()))
            .into_iter()
            .collect(),
        data,
        ..Default::default()
    }
}

/// Payloads as any starter might send them: JSON (plausible or not), other encodings,
/// bytes that are not UTF-8, none or several.
fn raw_input(rng: &mut Rng) -> RawValue {
    let payloads = (0..*rng.pick(&[0, 1, 1, 1, 1, 2, 3]))
        .map(|_| {
            let value = match rng.below(3) {
                0 => rng.definition(),
                1 => json!({"settle": rng.text(3)}),
                _ => rng.json(3),
            };
            let data = match rng.below(10) {
                0 => (0..rng.below(20)).map(|_| rng.next() as u8).collect(),
                1 => rng.mutate(&value.to_string()).into_bytes(),
                2 => "[".repeat(100_000).into_bytes(),
                _ => serde_json::to_vec(&value).unwrap(),
            };
            let encoding = *rng.pick(&[
                Some("json/plain"),
                Some("json/plain"),
                Some("json/plain"),
                Some("binary/null"),
                Some("binary/protobuf"),
                Some(""),
                None,
            ]);
            payload(encoding, data)
        })
        .collect();
    RawValue { payloads }
}

#[test]
fn every_workflow_input_decodes_or_fails_with_a_message() {
    let mut rng = Rng::new(5);
    for _ in 0..CASES * 2 {
        let raw = raw_input(&mut rng);
        let case = &raw.payloads;
        no_panic("json_value", case, || json_value(&raw)).ok();
        let results = [
            no_panic("CustomWorkflow input", case, || {
                Definition::from_raw(&raw).map(drop)
            }),
            no_panic("WeatherCheckWorkflow input", case, || {
                weather_location(&raw).map(drop)
            }),
            no_panic("PoetryResearchWorkflow input", case, || {
                PoetryInput::settle(&raw).map(|settle| {
                    assert!(settle.is_none_or(|s| s <= duration::MAX));
                })
            }),
        ];
        for err in results.into_iter().filter_map(Result::err) {
            assert!(err.len() > 10, "{case:?}: {err:?}");
        }
    }
}

#[tokio::test]
async fn hostile_inputs_fail_every_workflow_type_typed_and_at_once() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let json = |value: Value| vec![json_payload(&value)];
    let bytes = |encoding, data: &[u8]| vec![payload(Some(encoding), data.to_vec())];
    let deep = "[".repeat(100_000);
    let cases: Vec<(&str, Vec<Payload>, &str, &str)> = vec![
        // Durations past what a Temporal timer can hold panicked the workflow task.
        (
            "PoetryResearchWorkflow",
            json(json!({"settle": "9223372036854775808s"})),
            "InvalidInput",
            "settle: invalid duration",
        ),
        (
            "PoetryResearchWorkflow",
            json(json!({"settle": "2562047788015215h"})),
            "InvalidInput",
            "longer than the maximum",
        ),
        (
            "PoetryResearchWorkflow",
            bytes("json/plain", deep.as_bytes()),
            "InvalidInput",
            "not valid JSON",
        ),
        (
            "PoetryResearchWorkflow",
            bytes("binary/protobuf", b"\x08\x01"),
            "InvalidInput",
            "binary/protobuf",
        ),
        (
            "WeatherCheckWorkflow",
            json(json!(["Paris"])),
            "InvalidInput",
            "expected a location string",
        ),
        (
            "WeatherCheckWorkflow",
            bytes("json/plain", b"\xff\xfe\"Paris\""),
            "InvalidInput",
            "not valid JSON",
        ),
        (
            "WeatherCheckWorkflow",
            [json(json!("Paris")), json(json!("Oslo"))].concat(),
            "InvalidInput",
            "expected one input value, got 2",
        ),
        (
            "CustomWorkflow",
            json(json!({"steps": [{"type": "delay", "duration": "9223372036854775808s"}]})),
            "InvalidDefinition",
            "steps[0].duration: invalid duration",
        ),
        (
            "CustomWorkflow",
            json(
                json!({"steps": [{"type": "http", "url": "http://127.0.0.1:9/", "timeout": 1e308}]}),
            ),
            "InvalidDefinition",
            "steps[0].timeout",
        ),
        (
            "CustomWorkflow",
            json(Value::String(deep.clone())),
            "InvalidDefinition",
            "definition: not valid JSON",
        ),
        (
            "CustomWorkflow",
            bytes("json/plain", b"{\"steps\": [}"),
            "InvalidDefinition",
            "input is not valid JSON",
        ),
    ];
    for (index, (workflow_type, payloads, _, _)) in cases.iter().enumerate() {
        start_workflow_raw(
            &client,
            workflow_type,
            payloads.clone(),
            &format!("hostile-{index}"),
        )
        .await;
    }
    for (index, (workflow_type, _, failure_type, words)) in cases.iter().enumerate() {
        let id = format!("hostile-{index}");
        let failed = tokio::time::timeout(Duration::from_secs(30), workflow_failure(&client, &id))
            .await
            .unwrap_or_else(|_| panic!("{id} ({workflow_type}, {words}) did not fail within 30 s"));
        assert!(
            failed.chain.starts_with(&format!("[{failure_type}] ")),
            "{id}: {}",
            failed.chain
        );
        assert!(failed.chain.contains(words), "{id}: {}", failed.chain);
        assert!(failed.non_retryable, "{id}: {}", failed.chain);
        assert_eq!(failed.retry_state, None, "{id}: no activity may have run");
    }
    assert!(setup.gateway.calls().is_empty(), "no step may run");
}

// --- declared workflows ---

/// A step of a declared workflow as anyone might write it: mostly plausible, sometimes with
/// a wrong type, a key that does not apply, a bad expression or a reference to nowhere.
fn declared_step(rng: &mut Rng, ids: &mut Vec<String>, depth: u32) -> Value {
    const TYPES: [&str; 10] = [
        "agent_turn",
        "http",
        "delay",
        "parallel",
        "sequence",
        "approval",
        "stop",
        "for_each",
        "sleep",
        "",
    ];
    const EXPRESSIONS: [&str; 14] = [
        "true",
        "false",
        "input.n > 1",
        "has(input.n)",
        "steps.{prev}.status == 'ok'",
        "steps.{prev}.json.count > 2",
        "steps.{prev}.result.contains('x')",
        "steps.nowhere.status == 'ok'",
        "size(steps) > 0",
        "1 +",
        "unknownFn(1)",
        "failure.type == 'x'",
        "item == 1",
        "index > 0",
    ];
    let kind = if depth > 2 {
        *rng.pick(&["delay", "stop", "http"])
    } else {
        *rng.pick(&TYPES)
    };
    let mut step = Map::new();
    if !rng.chance(3) {
        let id = if rng.chance(3) && !ids.is_empty() {
            rng.pick(ids).clone()
        } else if rng.chance(3) {
            format!("bad-id {}", ids.len())
        } else {
            format!("s{}", ids.len())
        };
        ids.push(id.clone());
        step.insert("id".into(), json!(id));
    }
    step.insert("type".into(), json!(kind));
    let prev = ids.first().cloned().unwrap_or_else(|| "s0".into());
    if rng.chance(30) {
        let when = rng.pick(&EXPRESSIONS).replace("{prev}", &prev);
        step.insert("when".into(), json!(when));
    }
    match kind {
        "agent_turn" => {
            step.insert("turn".into(), json!("poetry-research-execute"));
            if rng.chance(30) {
                let message = format!(
                    "go {{{{ {} }}}}",
                    rng.pick(&["input", "steps", "1 +", "input.n"])
                );
                step.insert("message".into(), json!(message));
            }
        }
        "http" => {
            step.insert(
                "url".into(),
                json!(rng.pick(&["http://127.0.0.1:9/x", "nope", "ftp://x"])),
            );
            if rng.chance(40) {
                step.insert("headers".into(), headers(rng));
            }
        }
        "delay" => {
            step.insert(
                "duration".into(),
                json!(rng.pick(&["0s", "1s", "2 days", "x"])),
            );
        }
        "parallel" | "sequence" => {
            let steps: Vec<Value> = (0..rng.below(3))
                .map(|_| declared_step(rng, ids, depth + 1))
                .collect();
            step.insert("steps".into(), Value::Array(steps));
        }
        "for_each" => for_each_keys(rng, ids, depth, &prev, &mut step),
        "approval" => {
            if !rng.chance(10) {
                step.insert("timeout".into(), json!(rng.pick(&["1s", "0s", "1h"])));
            }
            if rng.chance(30) {
                step.insert(
                    "on_timeout".into(),
                    json!(rng.pick(&["approve", "reject", "fail", "maybe"])),
                );
            }
        }
        _ => {}
    }
    if rng.chance(10) {
        step.insert(
            rng.pick(&["url", "duration", "prompt", "retry"])
                .to_string(),
            json!("x"),
        );
    }
    if rng.chance(10) {
        step.insert("continue_on_error".into(), json!(true));
    }
    Value::Object(step)
}

/// An http step's `headers`: good and refused names; values with expressions, a secret alone
/// (good), a secret inside an expression (refused) and broken templates.
fn headers(rng: &mut Rng) -> Value {
    const NAMES: [&str; 6] = ["Authorization", "X-Title", "Host", "bad name", "", "title"];
    const VALUES: [&str; 6] = [
        "Bearer {{ secrets.slack }}",
        "{{ input.n }} new",
        "{{ 'Bearer ' + secrets.slack }}",
        "x{{ 1 + }}",
        "plain",
        "{{ secrets['slack'] }}",
    ];
    let headers: Map<String, Value> = (0..1 + rng.below(3))
        .map(|_| (rng.pick(&NAMES).to_string(), json!(rng.pick(&VALUES))))
        .collect();
    Value::Object(headers)
}

/// A for_each's keys: a list, not a list, longer than `max_items` or empty; `max_items`
/// sometimes missing or out of range; `concurrency` sometimes; steps that may read `item`.
fn for_each_keys(
    rng: &mut Rng,
    ids: &mut Vec<String>,
    depth: u32,
    prev: &str,
    step: &mut Map<String, Value>,
) {
    // Mostly runnable, so that some whole declarations compile and their for_each runs.
    let items = if rng.chance(70) {
        "[1, 2]".to_owned()
    } else {
        rng.pick(&[
            "[1, 2, 3, 4]",
            "[]",
            "input.n",
            "steps.{prev}.json.count",
            "item",
        ])
        .replace("{prev}", prev)
    };
    step.insert("items".into(), json!(items));
    if rng.chance(80) {
        step.insert("max_items".into(), json!(3));
    } else if rng.chance(50) {
        step.insert("max_items".into(), json!(rng.pick(&[0, 20000])));
    }
    if rng.chance(40) {
        step.insert("concurrency".into(), json!(rng.pick(&[1, 2, 5])));
    }
    let steps: Vec<Value> = (0..1 + rng.below(2))
        .map(|_| declared_step(rng, ids, depth + 1))
        .collect();
    step.insert("steps".into(), Value::Array(steps));
}

fn declaration(rng: &mut Rng) -> Value {
    let mut ids = Vec::new();
    let steps: Vec<Value> = (0..rng.below(5))
        .map(|_| declared_step(rng, &mut ids, 0))
        .collect();
    let mut declaration = json!({"steps": steps});
    if rng.chance(25) {
        declaration["inputs"] = declared_inputs(rng);
    }
    if rng.chance(10) {
        // The deadline: a few seconds (runs that wait may hit it), a bad one, or seconds.
        let timeouts = [
            json!("2s"),
            json!("1h"),
            json!("0s"),
            json!("soon"),
            json!(30),
        ];
        declaration["timeout"] = rng.pick(&timeouts).clone();
    }
    if rng.chance(20) {
        let on_failure: Vec<Value> = (0..2).map(|_| declared_step(rng, &mut ids, 1)).collect();
        declaration["on_failure"] = Value::Array(on_failure);
    }
    declaration
}

/// Adds, to one declaration in ten, `concurrency` (one run at a time): plausible keys, keys
/// reading steps or nothing, bad limits and modes. From its own generator, so the other
/// declarations stay what they were.
fn with_concurrency(mut declaration: Value, rng: &mut Rng) -> Value {
    if rng.chance(10) {
        let keys = [
            "'digest'",
            "'agent-' + string(input.n)",
            "steps.a.result",
            "",
            "(",
        ];
        let mut concurrency = json!({"key": rng.pick(&keys)});
        if rng.chance(50) {
            concurrency["limit"] = json!(rng.pick(&[0, 1, 2, 100, 101]));
        }
        if rng.chance(50) {
            concurrency["when_busy"] = json!(rng.pick(&["queue", "skip", "cancel_other", "x"]));
        }
        declaration["concurrency"] = concurrency;
    }
    declaration
}

/// Names the generated expressions read (`n`), plausible others, and bad or reserved ones.
const INPUT_NAMES: [&str; 6] = ["n", "topic", "depth", "bad-name", "instance", "_x"];

/// `inputs` as anyone might declare them: mostly plausible, with unknown types, defaults of
/// the wrong type, `required` with a default and `enum` where it does not apply.
fn declared_inputs(rng: &mut Rng) -> Value {
    const TYPES: [&str; 7] = [
        "string", "int", "float", "bool", "list", "object", "integer",
    ];
    let mut inputs = Map::new();
    if rng.chance(50) {
        // What the generated expressions read, so declarations with inputs still compile.
        inputs.insert("n".into(), json!({"type": "int", "default": 1}));
    }
    for _ in 0..rng.below(4) {
        let mut field = Map::new();
        let kind = *rng.pick(&TYPES);
        field.insert("type".into(), json!(kind));
        if rng.chance(30) {
            field.insert("required".into(), json!(true));
        }
        if rng.chance(40) {
            let default = match kind {
                "int" if rng.chance(70) => json!(rng.below(5)),
                "string" if rng.chance(70) => json!(rng.pick(&["a", "b"])),
                _ => rng.json(2),
            };
            field.insert("default".into(), default);
        }
        if rng.chance(20) {
            field.insert("enum".into(), json!(["a", "b"]));
        }
        inputs.insert(rng.pick(&INPUT_NAMES).to_string(), Value::Object(field));
    }
    Value::Object(inputs)
}

/// A run's input: usually an object of the fields inputs use, sometimes anything at all.
fn run_input(rng: &mut Rng) -> Value {
    if rng.chance(20) {
        return rng.json(2);
    }
    let fields: Map<String, Value> = (0..rng.below(3))
        .map(|_| {
            let value = match rng.below(3) {
                0 => json!(rng.below(3)),
                1 => json!(rng.pick(&["a", "b", "c"])),
                _ => rng.json(1),
            };
            (rng.pick(&INPUT_NAMES).to_string(), value)
        })
        .collect();
    Value::Object(fields)
}

/// Answers every durable call at once, as a workflow's commands would eventually be.
struct AnswersAtOnce(std::cell::Cell<u64>);

impl declared::Engine for AnswersAtOnce {
    fn agent_turn(
        &self,
        _input: clawfactory_temporal::activities::AgentTurnInput,
        _options: temporalio_sdk::ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>> {
        let n = self.0.get();
        self.0.set(n + 1);
        let reply = if n.is_multiple_of(2) {
            json!({"count": n}).to_string()
        } else {
            "x new".into()
        };
        futures::future::ready(Ok(reply)).boxed_local()
    }

    fn http(
        &self,
        _params: String,
        _options: temporalio_sdk::ActivityOptions,
    ) -> LocalBoxFuture<'static, Result<String, ActivityExecutionError>> {
        futures::future::ready(Ok("{\"count\": 3}".to_owned())).boxed_local()
    }

    fn resolve(
        &self,
        _request: declared::ResolveRequest,
        _options: temporalio_sdk::LocalActivityOptions,
    ) -> LocalBoxFuture<'static, Result<declared::Resolved, ActivityExecutionError>> {
        unreachable!("the test compiles the plan itself")
    }

    fn timer(&self, _d: Duration, _summary: String) -> LocalBoxFuture<'static, TimerResult> {
        futures::future::ready(TimerResult::Fired).boxed_local()
    }

    fn decision(
        &self,
        step: String,
        _timeout: Duration,
        _summary: String,
    ) -> LocalBoxFuture<'static, Result<Option<declared::Decision>, WorkflowTermination>> {
        let decision = (!step.len().is_multiple_of(3)).then(|| declared::Decision {
            approved: step.len().is_multiple_of(2),
            comment: "c".into(),
            step: None,
        });
        futures::future::ready(Ok(decision)).boxed_local()
    }

    fn set_phase(&self, _phase: String) {}

    fn workflow_time(&self) -> Option<std::time::SystemTime> {
        None
    }

    /// Granted, or (every third time) refused as `when_busy = "skip"` would be.
    fn acquire_lock(
        &self,
        _key: String,
        _limit: u32,
        _when_busy: clawfactory_temporal::config::WhenBusy,
    ) -> LocalBoxFuture<'static, Result<declared::LockAnswer, WorkflowTermination>> {
        let n = self.0.get();
        let answer = if n.is_multiple_of(3) {
            declared::LockAnswer::Refused
        } else {
            declared::LockAnswer::Granted
        };
        futures::future::ready(Ok(answer)).boxed_local()
    }

    fn release_lock(&self, _key: String) -> LocalBoxFuture<'static, ()> {
        futures::future::ready(()).boxed_local()
    }
}

#[test]
fn declared_workflows_compile_or_name_the_workflow_step_and_key_and_runs_never_panic() {
    let mut rng = Rng::new(6);
    let settings = WorkflowSettings::from_config(&Config::default());
    let (mut compiled, mut ran, mut ran_for_each) = (0, 0, 0);
    let (mut refused, mut ran_with_inputs) = (0, 0);
    let mut locks = Rng::new(23);
    let mut locked = 0;
    for _ in 0..CASES {
        let value = with_concurrency(declaration(&mut rng), &mut locks);
        let Ok(declaration) = serde_json::from_value::<DeclaredWorkflow>(value.clone()) else {
            continue;
        };
        let plan = no_panic("Plan::compile", &value, || Plan::compile("p", &declaration));
        let plan = match plan {
            Ok(plan) => plan,
            Err(err) => {
                assert!(err.starts_with("declared.p."), "{value}: {err}");
                let key = err.split(": ").next().unwrap();
                let named = [
                    ".steps",
                    ".on_failure",
                    "declared.p.timeout",
                    ".id",
                    ".type",
                    ".when",
                    ".turn",
                    ".url",
                    ".duration",
                    ".timeout",
                    ".message",
                    ".on_timeout",
                    ".retry",
                    ".prompt",
                    ".inputs",
                    ".headers",
                    ".items",
                    ".max_items",
                    ".concurrency",
                ];
                assert!(named.iter().any(|k| key.contains(k)), "{value}: {err}");
                continue;
            }
        };
        compiled += 1;
        let engine = AnswersAtOnce(std::cell::Cell::new(0));
        let mut input = if rng.chance(50) {
            json!({"n": rng.below(3)})
        } else {
            run_input(&mut rng)
        };
        if rng.chance(10) && input.is_object() {
            input["$timeout"] = json!("5m");
        }
        let run = no_panic("Run::new", &value, || {
            declared::Run::new(&engine, &settings, &plan, &input)
        });
        let run = match run {
            Ok(run) => run,
            Err(err) => {
                // A refused input names the field (or the input as a whole).
                let named = err.starts_with("p: input") || err.starts_with("input.instance: ");
                assert!(named, "{value} {input}: {err}");
                refused += 1;
                continue;
            }
        };
        let outcome = no_panic("Run::execute", &value, || {
            futures::executor::block_on(run.execute())
        });
        if let Ok(result) = outcome {
            let result = serde_json::to_value(result).unwrap();
            assert!(result["steps"].as_array().is_some(), "{value}: {result}");
            ran += 1;
            ran_with_inputs += usize::from(!plan.inputs.is_empty());
            let for_each_ran = result["steps"].as_array().unwrap().iter().any(|step| {
                step["type"] == "for_each" && step["status"] == "ok" && step["result"] != "[]"
            });
            ran_for_each += u32::from(for_each_ran);
            locked += u32::from(plan.concurrency.is_some());
        }
    }
    // Most cases are meant to be refused (every key has bad values); about one in twenty
    // compiles (96 of 2000 with this seed), enough to drive the interpreter through each kind.
    assert!(
        compiled > CASES / 25
            && ran > 0
            && refused > 0
            && ran_with_inputs > 0
            && ran_for_each > 0
            && locked > 0,
        "the generator must reach the interpreter: {compiled} compiled, {ran} ran \
         ({ran_with_inputs} with inputs, {ran_for_each} with a for_each that ran, {locked} with \
         concurrency), \
         {refused} inputs refused"
    );
}

#[test]
fn declared_sections_in_config_files_load_or_name_the_key() {
    let mut rng = Rng::new(7);
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..CASES / 4 {
        let value = declaration(&mut rng);
        let Ok(text) = toml::to_string(&json!({"declared": {"p": value}})) else {
            continue;
        };
        let text = if rng.chance(30) {
            rng.mutate(&text)
        } else {
            text
        };
        let loaded = no_panic("Config::load", &text, || load_config(dir.path(), &text));
        let checked = loaded.and_then(|config| {
            let instances = Instances::resolve(&config, GatewayApi::HooksAgent);
            no_panic("declared::check", &text, || {
                declared::check(&config, &instances)
            })
        });
        if let Err(err) = checked {
            assert!(!err.trim().is_empty(), "{text}");
        }
    }
}

#[tokio::test]
async fn random_declared_definitions_complete_or_fail_typed_on_a_real_server() {
    let setup = Setup::new().await;
    let _worker = setup.worker(&setup.config()).await;
    let client = setup.server.client().await;
    let mut rng = Rng::new(8);
    let url = format!("{}/step", setup.gateway.url());
    let runs = 30;
    for index in 0..runs {
        // Runnable waits only: short delays and approvals that time out.
        let text = declaration(&mut rng)
            .to_string()
            .replace("http://127.0.0.1:9/x", &url)
            .replace("\"1h\"", "\"1s\"")
            .replace("2 days", "1s");
        let mut definition: Value = serde_json::from_str(&text).unwrap();
        definition["input"] = if rng.chance(70) {
            json!({"n": rng.below(3)})
        } else {
            run_input(&mut rng)
        };
        common::start_workflow(
            &client,
            "CustomWorkflow",
            Some(definition),
            &format!("random-{index}"),
        )
        .await;
    }
    for index in 0..runs {
        let id = format!("random-{index}");
        let outcome = tokio::time::timeout(
            Duration::from_secs(60),
            common::workflow_result(&client, &id),
        )
        .await
        .unwrap_or_else(|_| panic!("{id} neither completed nor failed within 60 s"));
        match outcome {
            Ok(result) => assert!(result.starts_with('{'), "{id}: {result}"),
            Err(chain) => assert!(chain.starts_with('['), "{id} failed untyped: {chain}"),
        }
    }
}
