//! `import`: the `[turns]` and `[schedules]` that replace chosen cron jobs, as TOML or as the
//! NixOS module's attribute set. Changes nothing anywhere.

use super::job::Job;
use crate::config::{GatewayApi, ScheduleConfig, TurnConfig};
use anyhow::{Result, bail};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Toml,
    Nix,
}

/// What an import declares, and the jobs it left out with why.
#[derive(Debug, Default)]
pub struct Imported {
    pub turns: BTreeMap<String, TurnConfig>,
    pub schedules: BTreeMap<String, ScheduleConfig>,
    pub left_out: Vec<String>,
}

/// The turn and schedule id of every job: its name made plain (lowercase letters, digits,
/// `-`), and when jobs share one, each of them followed by the start of its job id. Depends
/// only on the names, so another import gives the same ids.
pub fn ids(jobs: &[Job]) -> BTreeMap<String, String> {
    let mut by_slug: BTreeMap<String, Vec<&Job>> = BTreeMap::new();
    for job in jobs {
        by_slug.entry(slug(job.name())).or_default().push(job);
    }
    let mut ids = BTreeMap::new();
    for (slug, group) in by_slug {
        for job in &group {
            let id = if group.len() == 1 {
                slug.clone()
            } else {
                let short: String = job
                    .id()
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .take(8)
                    .collect();
                format!("{slug}-{}", short.to_ascii_lowercase())
            };
            ids.insert(job.id().to_owned(), id);
        }
    }
    ids
}

fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() {
        "openclaw-job".into()
    } else {
        slug.to_owned()
    }
}

/// Whether `wanted` (a job id, a job name, or the id import gives it) picks `job`.
pub fn picks(wanted: &str, job: &Job, ids: &BTreeMap<String, String>) -> bool {
    wanted == job.id() || wanted == job.name() || ids.get(job.id()).is_some_and(|id| id == wanted)
}

/// An import names its jobs or says `--all`.
pub fn require_selection(wanted: &[String], all: bool) -> Result<()> {
    if wanted.is_empty() && !all {
        bail!("name the jobs to import (id or name, see `openclaw-cron list`), or give --all");
    }
    Ok(())
}

/// The declaration for `wanted` jobs, or with `all` every job but OpenClaw's housekeeping.
/// A job named that cannot move is an error; with `all` it is left out, and said so.
pub fn import(
    jobs: &[Job],
    wanted: &[String],
    all: bool,
    api: GatewayApi,
    instance: Option<&str>,
) -> Result<Imported> {
    require_selection(wanted, all)?;
    let ids = ids(jobs);
    for name in wanted {
        if !jobs.iter().any(|job| picks(name, job, &ids)) {
            bail!(
                "no OpenClaw cron job has the id or name {name:?}: see `clawfactory-temporal \
                 openclaw-cron list`"
            );
        }
    }
    let mut imported = Imported::default();
    for job in jobs {
        let named = wanted.iter().any(|name| picks(name, job, &ids));
        let in_all = all && !job.is_housekeeping();
        if !named && !in_all {
            continue;
        }
        let id = &ids[job.id()];
        let moved = job
            .turn(api)
            .and_then(|turn| Ok((turn, job.schedule(id, instance)?)));
        match moved {
            Ok((turn, schedule)) => {
                imported.turns.insert(id.clone(), turn);
                imported.schedules.insert(id.clone(), schedule);
            }
            Err(why) if named => bail!("{} ({}) cannot move: {why}", job.name(), job.id()),
            Err(why) => imported
                .left_out
                .push(format!("{} ({}): {why}", job.name(), job.id())),
        }
    }
    Ok(imported)
}

/// The declaration as text to paste: TOML sections, or the attribute set for
/// `services.clawfactory.temporal` (turns under `settings`, schedules as the module option).
pub fn render(imported: &Imported, format: Format) -> Result<String> {
    let mut header = String::from(
        "# Imported from OpenClaw cron by `clawfactory-temporal openclaw-cron import`.\n\
         # Apply the schedules, then run `clawfactory-temporal openclaw-cron cutover`.\n",
    );
    for job in &imported.left_out {
        header.push_str(&format!("# left out: {job}\n"));
    }
    let turns = serde_json::to_value(&imported.turns)?;
    let mut schedules = serde_json::Map::new();
    for (id, schedule) in &imported.schedules {
        schedules.insert(id.clone(), without_defaults(schedule)?);
    }
    Ok(match format {
        Format::Toml => {
            let table = serde_json::json!({"turns": turns, "schedules": schedules});
            let table: toml::Table = serde_json::from_value(table)?;
            header + &toml::to_string(&table)?
        }
        Format::Nix => {
            let set = serde_json::json!({"settings": {"turns": turns}, "schedules": schedules});
            let mut text = header;
            nix(&set, 0, &mut text);
            text.push('\n');
            text
        }
    })
}

/// The schedule's keys that differ from what leaving them out gives: a short declaration.
fn without_defaults(schedule: &ScheduleConfig) -> Result<Value> {
    let defaults: ScheduleConfig =
        serde_json::from_value(serde_json::json!({"workflow": schedule.workflow}))?;
    let defaults = serde_json::to_value(defaults)?;
    let mut value = serde_json::to_value(schedule)?;
    if let Some(map) = value.as_object_mut() {
        map.retain(|key, v| key == "workflow" || defaults.get(key) != Some(v));
    }
    Ok(value)
}

/// JSON written as a Nix expression.
fn nix(value: &Value, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent + 1);
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(&b.to_string()),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => out.push_str(&nix_string(s)),
        Value::Array(items) => {
            out.push('[');
            for item in items {
                out.push(' ');
                nix(item, indent, out);
            }
            out.push_str(" ]");
        }
        Value::Object(map) => {
            out.push_str("{\n");
            for (key, item) in map {
                out.push_str(&pad);
                out.push_str(&nix_key(key));
                out.push_str(" = ");
                nix(item, indent + 1, out);
                out.push_str(";\n");
            }
            out.push_str(&"  ".repeat(indent));
            out.push('}');
        }
    }
}

fn nix_string(text: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `${` would start an interpolation.
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A plain identifier stays bare; anything else (a dot, a leading digit, a keyword) is quoted.
fn nix_key(key: &str) -> String {
    const KEYWORDS: [&str; 12] = [
        "if", "then", "else", "assert", "with", "let", "in", "rec", "inherit", "or", "true",
        "false",
    ];
    let mut chars = key.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '\''))
        && !KEYWORDS.contains(&key);
    if plain {
        key.to_owned()
    } else {
        nix_string(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn job(id: &str, name: &str, schedule: Value) -> Job {
        Job(
            json!({"id": id, "name": name, "enabled": true, "agentId": "main",
                   "sessionTarget": "isolated", "delivery": {"mode": "none"}, "schedule": schedule,
                   "payload": {"kind": "agentTurn", "message": "Say \"${hi}\".\nTwice.",
                               "timeoutSeconds": 120}}),
        )
    }

    fn jobs() -> Vec<Job> {
        vec![
            job(
                "e130ac91-26e6",
                "Nightly digest",
                json!({"kind": "cron", "expr": "0 4 * * *", "tz": "Europe/Berlin"}),
            ),
            job(
                "9aed4cc1-0000",
                "twin",
                json!({"kind": "every", "everyMs": 1_800_000, "anchorMs": 60_000}),
            ),
            job(
                "3bb0aa55-1111",
                "twin",
                json!({"kind": "cron", "expr": "*/5 * * * *"}),
            ),
            job(
                "5c5c5c5c-2222",
                "once",
                json!({"kind": "at", "at": "2030-01-01"}),
            ),
            job(
                "6d6d6d6d-3333",
                "heartbeat-main",
                json!({"kind": "every", "everyMs": 1_800_000}),
            ),
        ]
    }

    #[test]
    fn ids_are_plain_names_and_jobs_of_one_name_get_their_id_added() {
        let ids = ids(&jobs());
        assert_eq!(ids["e130ac91-26e6"], "nightly-digest");
        assert_eq!(ids["9aed4cc1-0000"], "twin-9aed4cc1");
        assert_eq!(ids["3bb0aa55-1111"], "twin-3bb0aa55");
        assert_eq!(slug("  --Ünïcode!! "), "n-code");
        assert_eq!(slug("!!!"), "openclaw-job");
    }

    /// The import of the jobs named so, from the test's jobs.
    fn import_named(names: &[&str]) -> Result<Imported> {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        import(&jobs(), &names, false, GatewayApi::HooksAgent, None)
    }

    #[test]
    fn all_leaves_out_housekeeping_and_says_what_cannot_move() {
        let imported = import(&jobs(), &[], true, GatewayApi::HooksAgent, None).unwrap();
        let ids: Vec<&String> = imported.schedules.keys().collect();
        assert_eq!(ids, ["nightly-digest", "twin-3bb0aa55", "twin-9aed4cc1"]);
        assert_eq!(imported.left_out.len(), 1);
        assert!(imported.left_out[0].starts_with("once (5c5c5c5c-2222): a one-shot"));

        let named = import_named(&["heartbeat-main"]).unwrap();
        assert_eq!(named.turns.keys().collect::<Vec<_>>(), ["heartbeat-main"]);
        let err = import_named(&["once"]).unwrap_err();
        assert!(
            err.to_string().contains("once (5c5c5c5c-2222) cannot move"),
            "{err}"
        );
        let err = import_named(&["nope"]).unwrap_err();
        assert!(err.to_string().contains("openclaw-cron list"), "{err}");
    }

    #[test]
    fn the_toml_is_a_config_that_passes_the_checks_and_holds_what_was_imported() {
        let imported = import(&jobs(), &[], true, GatewayApi::HooksAgent, None).unwrap();
        let text = render(&imported, Format::Toml).unwrap();
        assert!(text.contains("# left out: once"), "{text}");
        let config = Config::parse(&text).unwrap();
        let instances = crate::config::Instances::resolve(&config, GatewayApi::HooksAgent);
        crate::workflows::declared::check(&config, &instances).unwrap();
        assert_eq!(config.turns.0, imported.turns);
        assert_eq!(config.schedules.0, imported.schedules);
        assert_eq!(config.schedules.0["twin-9aed4cc1"].phase.as_secs(), 60);
    }

    #[test]
    fn the_nix_attribute_set_escapes_strings_and_quotes_keys_that_need_it() {
        let imported = import_named(&["Nightly digest"]).unwrap();
        let text = render(&imported, Format::Nix).unwrap();
        assert!(
            text.contains(r#"message = "Say \"\${hi}\".\nTwice.";"#),
            "{text}"
        );
        assert!(
            text.contains("settings = {\n    turns = {\n      nightly-digest = {"),
            "{text}"
        );
        assert!(text.contains(r#"cron = [ "0 4 * * *" ];"#), "{text}");
        assert_eq!(nix_key("2fa"), "\"2fa\"");
        assert_eq!(nix_key("a.b"), "\"a.b\"");
        assert_eq!(nix_key("in"), "\"in\"");
    }
}
