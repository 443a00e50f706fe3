//! `check-config`: validate the config and print the effective settings, secrets reduced to
//! whether they are set. Exit 2 on an error (the NixOS build runs this with `--offline`).
//! `--schema` prints the config file's JSON Schema instead.

use crate::config::{Config, InstanceTokens, Instances};
use crate::duration;
use crate::secret::Secret;
use anyhow::{Context, Result};
use clap::Args as ClapArgs;
use std::process::ExitCode;
use std::time::Duration;

/// Validate the config and print the effective settings (secrets redacted). Exit 2 on error.
#[derive(ClapArgs)]
pub struct Args {
    /// Check the file alone, not the certificate and key files it points at (for
    /// build-time checks, e.g. in a Nix build, where they do not exist yet).
    #[arg(long)]
    pub offline: bool,

    /// Print the config file's JSON Schema instead (for editors: docs/configuration.md) and
    /// exit; reads no config.
    #[arg(long, conflicts_with = "offline")]
    pub schema: bool,
}

/// `check-config --schema`: the JSON Schema of the config file, which needs no config.
pub fn print_schema() -> ExitCode {
    print!("{}", crate::config::schema::pretty());
    ExitCode::SUCCESS
}

/// Loading already validated the config (an error exits 2 before this runs). Online, it also
/// says how long the cluster keeps closed runs; an unreachable cluster is reported, not an
/// error (the file is what is checked).
pub async fn run(config: &Config, instances: &Instances, args: &Args) -> Result<ExitCode> {
    for refused in config.http.refused_declared_steps(&config.declared) {
        tracing::warn!("{refused}");
    }
    for overlapping in crate::workflows::declared::overlap_warnings(config) {
        tracing::warn!("{overlapping}");
    }
    if !args.offline {
        println!("{}", retention_line(config).await);
    }
    print!("{}", redacted_toml(config, instances)?);
    Ok(ExitCode::SUCCESS)
}

/// How long the namespace keeps closed runs, beside what `server.retention` asks for (which
/// only the appliance's own server applies, at its start; an external cluster's operator
/// sets theirs).
async fn retention_line(config: &Config) -> String {
    const WAIT: Duration = Duration::from_secs(5);
    let namespace = &config.temporal.namespace;
    let wanted = duration::format(config.server.retention);
    let read = async {
        let client = crate::temporal_client::connect(&config.temporal).await?;
        crate::namespace::retention(&client, namespace).await
    };
    match tokio::time::timeout(WAIT, read).await {
        Ok(Ok(current)) if current == config.server.retention => {
            format!("# namespace {namespace}: closed runs are kept for {wanted}")
        }
        Ok(Ok(current)) => format!(
            "# namespace {namespace}: closed runs are kept for {} (server.retention = {wanted} takes \
             effect when the appliance's server next starts; an external cluster keeps its own)",
            duration::format(current)
        ),
        Ok(Err(err)) => format!("# namespace {namespace}: retention not checked ({err:#})"),
        Err(_) => format!(
            "# namespace {namespace}: retention not checked (no answer from {} within {})",
            config.temporal.address,
            duration::format(WAIT)
        ),
    }
}

/// The effective configuration as TOML, behind a header of what follows from it: each
/// instance resolved, the built-in turns, the metrics address. Schedules show as they go to
/// the server (an `instance` already in their input and queue).
pub fn redacted_toml(config: &Config, instances: &Instances) -> Result<String> {
    let effective = Config {
        schedules: crate::schedules::declared(config, instances),
        ..config.clone()
    };
    let body = toml::to_string_pretty(&effective).context("cannot render config")?;
    let set = |secret: &Option<Secret>| match secret {
        Some(_) => "set (redacted)",
        None => "not set",
    };
    let mut header = format!("# temporal: {}\n", config.temporal.describe());
    for instance in instances.iter() {
        let InstanceTokens { gateway, hooks } = &instance.tokens;
        header.push_str(&format!(
            "# instance {}: {} on task queue {}; gateway token {}, hooks token {}, killswitch file {}\n",
            instance.name,
            instance.gateway.url,
            instance.task_queue,
            set(gateway),
            set(hooks),
            instance.killswitch_file.display()
        ));
    }
    let builtin: Vec<String> = crate::workflows::builtin_turns()
        .into_iter()
        .filter(|(id, _)| !config.turns.0.contains_key(id))
        .map(|(id, _)| id)
        .collect();
    if !builtin.is_empty() {
        header.push_str(&format!(
            "# built-in turns (unless [turns.<id>] or, with resolve_cron_jobs, a cron job defines them): {}\n",
            builtin.join(", ")
        ));
    }
    for (name, workflow) in &config.declared.0 {
        let plan = crate::workflows::declared::Plan::compile(name, workflow)
            .map_err(|err| anyhow::anyhow!(err))?;
        header.push_str(&format!(
            "# declared workflow {name}: {} steps, at most {} history events{}\n",
            plan.ids().len(),
            plan.history_events(),
            if workflow.description.is_empty() {
                String::new()
            } else {
                format!(" — {}", workflow.description)
            }
        ));
    }
    // Names, sources and whether each can be read now; the TOML below shows the sources only.
    for line in config.secrets.files(&crate::config::ProcessEnv).describe() {
        header.push_str(&line);
        header.push('\n');
    }
    if let Some(address) = &config.worker.metrics_address {
        header.push_str(&format!("# metrics: http://{address}/metrics\n"));
    }
    Ok(format!("{header}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GatewayApi;
    use crate::config::test_support::load_text;
    use std::time::Duration;

    #[test]
    fn secrets_show_by_name_source_and_readability_never_by_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("slack");
        std::fs::write(&file, "xoxb-never-shown").unwrap();
        let text = format!(
            "[secrets]\nslack = {{ file = \"{}\" }}\ngone = {{ file = \"/nonexistent/x\" }}\n",
            file.display()
        );
        let c = load_text(&text, &[]).unwrap();
        let out = redacted_toml(&c, &Instances::resolve(&c, GatewayApi::HooksAgent)).unwrap();
        assert!(
            out.contains(&format!(
                "# secret slack: from {}; readable",
                file.display()
            )) && out.contains("# secret gone: from /nonexistent/x; NOT readable"),
            "{out}"
        );
        assert!(!out.contains("xoxb-never-shown"), "{out}");
    }

    #[test]
    fn the_hooks_token_shows_only_as_set() {
        let c = load_text("", &[("GATEWAY_HOOKS_TOKEN", "hooks-env")]).unwrap();
        let out = redacted_toml(&c, &Instances::resolve(&c, GatewayApi::HooksAgent)).unwrap();
        assert!(out.contains("hooks token set (redacted)") && !out.contains("hooks-env"));
    }

    #[test]
    fn redacted_output_hides_the_token_and_reparses() {
        let c = load_text("", &[("GATEWAY_INTERNAL_TOKEN", "s3cret-value")]).unwrap();
        let out = redacted_toml(&c, &Instances::resolve(&c, GatewayApi::HooksAgent)).unwrap();
        assert!(!out.contains("s3cret-value"));
        assert!(out.contains("gateway token set (redacted)"));
        let again = Config::parse(&out).unwrap();
        assert_eq!(again.temporal.task_queue, "clawfactory");
        assert_eq!(
            again.workflows.poetry_research.settle,
            Duration::from_secs(7200)
        );
    }

    #[test]
    fn the_temporal_api_key_comes_from_the_environment_and_is_never_printed() {
        let c = load_text(
            "[temporal]\naddress = \"ns.acct.tmprl.cloud:7233\"\n",
            &[("TEMPORAL_API_KEY", "cloud-key-xyz")],
        )
        .unwrap();
        assert_eq!(
            c.temporal.api_key.as_ref().unwrap().expose(),
            "cloud-key-xyz"
        );
        assert!(c.temporal.uses_tls());
        let out = redacted_toml(&c, &Instances::resolve(&c, GatewayApi::HooksAgent)).unwrap();
        assert!(!out.contains("cloud-key-xyz"), "{out}");
        assert!(
            out.contains("# temporal: https://ns.acct.tmprl.cloud:7233"),
            "{out}"
        );
        Config::parse(&out).unwrap();
    }
}
