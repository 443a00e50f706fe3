//! The config file's JSON Schema, for editors: taplo (and VS Code's Even Better TOML, which
//! runs it) completes, documents and checks a `temporal.toml` against it. `check-config
//! --schema` prints it; the packages install it as `share/clawfactory-temporal/config.schema.json`.
//!
//! Generated from the config types with `schemars`, never written by hand: it follows their
//! serde attributes (`deny_unknown_fields` becomes `additionalProperties: false`, defaults are
//! shown, enums by their serde names) and their `///` docs become the editor's hover text.
//! What serde reads through a hand-written deserializer has a small schema here to match:
//! durations ([`DurationText`]).
//!
//! JSON Schema draft 7, the newest that editors' TOML support handles, and with two rewrites
//! for TOML: no `null` (TOML has none; an unset `Option` is a left-out key), and an enum whose
//! values have docs is a plain `enum` with taplo's per-value docs (`x-taplo`), which taplo
//! completes, instead of schemars' `oneOf` of `const`s.
//!
//! What it cannot say, and `check-config` still checks: anything across keys or outside the
//! file (a schedule's workflow exists, `every` or `cron` is set, an instance or turn a step names
//! is configured, files exist, cron expressions and time zones are valid, a declared step uses
//! only the keys of its `type`), and a duration's upper bound (10 years).

use schemars::{JsonSchema, SchemaGenerator, generate::SchemaSettings, json_schema};
use serde_json::{Map, Value};
use std::borrow::Cow;

use super::declared::STEP_TYPES;

/// The schema of the whole config file ([`super::Config`]).
pub fn schema() -> Value {
    let generator = SchemaGenerator::new(SchemaSettings::draft07());
    let mut schema = generator.into_root_schema_for::<super::Config>().to_value();
    for_toml(&mut schema);
    schema
}

/// [`schema`] as pretty JSON with a final newline, as `check-config --schema` prints it.
pub fn pretty() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// A duration as `crate::duration::parse` reads it: a whole number and a unit.
pub struct DurationText;

/// What [`DurationText`] matches; `crate::duration::parse` trims and ignores the unit's case.
pub const DURATION_PATTERN: &str = r"^\s*[0-9]+\s*[smhSMH]\s*$";

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    /// Inline, so each field's own doc is its description next to the pattern.
    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": format!("A duration: {}.", crate::duration::EXPECTED),
            "examples": ["90s", "5m", "2h"],
        })
    }
}

/// A declared step's `type`: every step type the workflow-side compiler knows.
pub struct StepType;

impl JsonSchema for StepType {
    fn schema_name() -> Cow<'static, str> {
        "StepType".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> schemars::Schema {
        json_schema!({ "type": "string", "enum": STEP_TYPES })
    }
}

/// Rewrites the generated schema for TOML, everywhere in it.
fn for_toml(value: &mut Value) {
    match value {
        Value::Object(object) => {
            drop_null(object);
            enum_of_consts(object);
            object.values_mut().for_each(for_toml);
        }
        Value::Array(items) => items.iter_mut().for_each(for_toml),
        _ => {}
    }
}

/// TOML has no null: `"type": ["string", "null"]` becomes `"string"`, and `anyOf: [X, null]`
/// becomes X (a reference stays wrapped, so the field's description may sit beside it).
fn drop_null(object: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = object.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            object.insert("type".into(), only);
        }
    }
    let Some(Value::Array(any_of)) = object.get_mut("anyOf") else {
        return;
    };
    any_of.retain(|s| s.get("type").is_none_or(|t| t != "null"));
    if any_of.len() != 1 {
        return;
    }
    let Some(Value::Object(only)) = object
        .remove("anyOf")
        .and_then(|mut a| a.as_array_mut()?.pop())
    else {
        return;
    };
    if only.contains_key("$ref") {
        object.insert("allOf".into(), Value::Array(vec![Value::Object(only)]));
    } else {
        for (key, value) in only {
            object.entry(key).or_insert(value);
        }
    }
}

/// `oneOf: [{const: "a", description: ...}, ...]` (an enum whose variants have docs) becomes
/// `enum: ["a", ...]` with the docs in `x-taplo.docs.enumValues`, which taplo shows per value.
fn enum_of_consts(object: &mut Map<String, Value>) {
    let Some(Value::Array(variants)) = object.get("oneOf") else {
        return;
    };
    let consts: Option<Vec<(Value, Value)>> = variants
        .iter()
        .map(|variant| {
            let value = variant.get("const")?.clone();
            let doc = variant.get("description").cloned().unwrap_or(Value::Null);
            Some((value, doc))
        })
        .collect();
    let Some(consts) = consts.filter(|c| !c.is_empty()) else {
        return;
    };
    object.remove("oneOf");
    let (values, docs): (Vec<Value>, Vec<Value>) = consts.into_iter().unzip();
    if values.iter().all(Value::is_string) {
        object.insert("type".into(), "string".into());
    }
    object.insert("enum".into(), Value::Array(values));
    object.insert(
        "x-taplo".into(),
        serde_json::json!({ "docs": { "enumValues": docs } }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_support::env;
    use crate::config::{Config, Source};
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// The schema compiled by an independent validator (`boon`), which also checks it against
    /// the draft 7 meta-schema.
    struct Validator {
        schemas: boon::Schemas,
        index: boon::SchemaIndex,
    }

    impl Validator {
        fn new() -> Self {
            let mut schemas = boon::Schemas::new();
            let mut compiler = boon::Compiler::new();
            compiler
                .add_resource("config.schema.json", schema())
                .unwrap();
            let index = compiler
                .compile("config.schema.json", &mut schemas)
                .unwrap_or_else(|err| panic!("the schema does not compile: {err:#}"));
            Validator { schemas, index }
        }

        /// The TOML text as the schema sees it (TOML to JSON), validated.
        fn check(&self, toml_text: &str) -> Result<(), String> {
            let table: toml::Table = toml::from_str(toml_text).map_err(|err| err.to_string())?;
            let json = serde_json::to_value(table).unwrap();
            self.schemas
                .validate(&json, self.index)
                .map_err(|err| format!("{err:#}"))
        }
    }

    /// The real loader: parse, defaults, environment (none), validation; not the files the
    /// config points at (they are examples' paths), as `check-config --offline`.
    fn load(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.toml");
        std::fs::write(&path, text).unwrap();
        let source = Source {
            path,
            required: true,
            check_files: false,
        };
        Config::load(&source, &env(&[]))
    }

    /// The marker of a ```toml block in the docs that is another tool's file.
    const NOT_A_CONFIG: &str = "(not a clawfactory-temporal config)";

    /// Every ```toml block of a Markdown file, with the line it starts on.
    fn toml_blocks(markdown: &str) -> Vec<(usize, String)> {
        let mut blocks = Vec::new();
        let mut current: Option<(usize, String)> = None;
        for (number, line) in markdown.lines().enumerate() {
            match &mut current {
                None if line.trim_start().starts_with("```toml") => {
                    current = Some((number + 1, String::new()));
                }
                Some(_) if line.trim_start().starts_with("```") => {
                    blocks.extend(current.take());
                }
                Some((_, text)) => {
                    text.push_str(line);
                    text.push('\n');
                }
                None => {}
            }
        }
        blocks
    }

    /// Every config example people read: each ```toml block of README.md and docs/*.md, and the
    /// Debian package's temporal.toml. Each block is a whole config file (a page that shows
    /// alternatives shows them in separate blocks), except a block whose first line is a
    /// comment saying `(not a clawfactory-temporal config)` (another tool's file).
    fn examples() -> Vec<(String, String)> {
        let mut pages = vec![root().join("README.md")];
        let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
            .collect();
        docs.sort();
        pages.extend(docs);
        let mut examples = Vec::new();
        for page in pages {
            let markdown = std::fs::read_to_string(&page).unwrap();
            let name = page.strip_prefix(root()).unwrap().display().to_string();
            for (line, text) in toml_blocks(&markdown) {
                let first = text.lines().next().unwrap_or_default();
                if first.starts_with('#') && first.contains(NOT_A_CONFIG) {
                    continue;
                }
                examples.push((format!("{name}:{line}"), text));
            }
        }
        let debian = Path::new("nix/debian/temporal.toml");
        let text = std::fs::read_to_string(root().join(debian)).unwrap();
        examples.push((debian.display().to_string(), text));
        examples
    }

    #[test]
    fn every_config_example_in_the_docs_passes_the_schema_and_the_loader() {
        let validator = Validator::new();
        let examples = examples();
        assert!(
            examples.len() >= 10,
            "found only {} examples: {examples:#?}",
            examples.len()
        );
        let mut failures = Vec::new();
        for (place, text) in &examples {
            if let Err(err) = validator.check(text) {
                failures.push(format!("{place}: the schema refuses it: {err}"));
            }
            if let Err(err) = load(text) {
                failures.push(format!("{place}: the loader refuses it: {err:#}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    #[test]
    fn misspelt_keys_bad_durations_and_bad_enum_values_are_refused_by_schema_and_loader() {
        let validator = Validator::new();
        for text in [
            "[gateway]\ntimout = \"5s\"\n",
            "[surprise]\n",
            "[gateway]\ntimeout = \"5x\"\n",
            "[gateway]\ntimeout = \"1h30m\"\n",
            "[workflows.poetry_research]\nsettle = 5\n",
            "[gateway]\napi = \"grpc\"\n",
            "[gateway]\non_skipped = \"maybe\"\n",
            "[temporal]\ntask_queue = 3\n",
            "[schedules.a]\nworkflow = \"CustomWorkflow\"\nevery = [\"1d\"]\n",
            "[schedules.a]\nworkflow = \"CustomWorkflow\"\ncron = [\"@daily\"]\noverlap = \"sometimes\"\n",
            "[schedules.a]\ncron = [\"@daily\"]\n",
            "[turns.x]\nagent = \"main\"\n",
            "[instances.lab]\nurl = \"http://127.0.0.1:1\"\ntimeout = \"5s\"\n",
            "[instances.\"a b\"]\nurl = \"http://127.0.0.1:1\"\n",
            "[declared.\"a b\"]\nsteps = [{type = \"stop\"}]\n",
            "[declared.x]\nsteps = [{type = \"stop\", colour = 1}]\n",
            "[[declared.x.steps]]\ntype = \"delay\"\nduration = \"soon\"\n",
            "[backup]\nkeep = -1\n",
            "[server]\ngrpc_port = 70000\n",
        ] {
            assert!(
                validator.check(text).is_err(),
                "the schema accepts {text:?}"
            );
            // Declared steps' contents are checked by the workflow-side compiler, not here.
            if !text.contains("duration = \"soon\"") {
                assert!(load(text).is_err(), "the loader accepts {text:?}");
            }
        }
        assert!(
            validator
                .check("[declared.x]\nsteps = [{type = \"nap\"}]\n")
                .is_err(),
            "a step type nobody knows"
        );
        for text in [
            "",
            "[gateway]\ntimeout = \" 3 M \"\n",
            "[temporal]\ntls = true\n",
        ] {
            validator.check(text).unwrap();
            load(text).unwrap();
        }
    }

    #[test]
    fn the_schema_names_every_section_with_defaults_and_docs() {
        let schema = schema();
        let properties = schema["properties"].as_object().unwrap();
        let sections: Vec<&str> = properties.keys().map(String::as_str).collect();
        let from_serde = toml::to_string(&Config::default()).unwrap();
        for section in [
            "temporal",
            "worker",
            "gateway",
            "workflows",
            "weather",
            "server",
            "http",
            "backup",
            "schedules",
            "turns",
            "instances",
            "declared",
        ] {
            assert!(sections.contains(&section), "{section} in {sections:?}");
        }
        for section in from_serde.lines().filter_map(|l| l.strip_prefix('[')) {
            let name = section.split(['.', ']']).next().unwrap();
            assert!(sections.contains(&name), "{name} in {sections:?}");
        }
        assert_eq!(schema["additionalProperties"], false);
        let text = pretty();
        for expected in [
            r#""default": "5m""#,
            r#""hooks-agent""#,
            r#""buffer_one""#,
            "How long one attempt to open the connection may take.",
            DURATION_PATTERN.replace('\\', r"\\").as_str(),
        ] {
            assert!(text.contains(expected), "{expected} in the schema");
        }
        assert!(!text.contains("\"null\""), "TOML has no null");
    }

    /// The packages install docs/config.schema.json; `SCHEMA_WRITE=1` rewrites it.
    #[test]
    fn the_shipped_schema_file_is_the_generated_one() {
        let file = root().join("docs/config.schema.json");
        if std::env::var_os("SCHEMA_WRITE").is_some() {
            std::fs::write(&file, pretty()).unwrap();
        }
        let shipped = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            shipped == pretty(),
            "{} is not what the config types generate; regenerate it with\n  \
             SCHEMA_WRITE=1 cargo test --lib config::schema",
            file.display()
        );
    }
}
