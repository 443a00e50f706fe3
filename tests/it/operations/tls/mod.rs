//! Temporal over TLS and mTLS, through a loopback TLS relay in front of a real dev server:
//! the worker and the CLI connect with the right CA, name and client certificate, and
//! refuse (saying why) a wrong CA, a certificate for another name, or a missing client
//! certificate. And an API key really travels as `authorization: Bearer <key>`.

mod header_sniffer;
mod proxy;

use crate::common;
use header_sniffer::HeaderSniffer;
use proxy::{TestCa, TlsProxy};

use clawfactory_temporal::config::TemporalConfig;
use common::{BIN, ChildGuard, Setup, WorkerProcess, cli, wait_until};
use std::path::Path;
use std::time::Duration;

/// The TLS keys of `[temporal]` for the relay; every other key left out.
fn tls_keys(address: &str, ca_file: &Path, server_name: Option<&str>) -> TemporalConfig {
    TemporalConfig {
        address: address.to_owned(),
        server_ca_file: Some(ca_file.to_owned()),
        server_name: server_name.map(str::to_owned),
        ..TemporalConfig::default()
    }
}

/// A worker config whose `[temporal]` table is `temporal` (instead of the test server's).
fn config_with(setup: &Setup, name: &str, temporal: TemporalConfig) -> String {
    let path = setup.path(name);
    let mut config = setup.config();
    config.temporal = temporal;
    config.write(&path);
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_and_cli_run_a_workflow_over_mutual_tls() {
    let setup = Setup::new().await;
    let dir = setup.dir.path();
    let server_ca = TestCa::new("server CA");
    let client_ca = TestCa::new("client CA");
    let server_leaf = server_ca.issue(dir, "temporal-frontend", &["temporal.test"]);
    let client_leaf = client_ca.issue(dir, "clawfactory-worker", &["clawfactory-worker"]);
    let proxy = TlsProxy::start(&server_leaf, Some(&client_ca), setup.server.grpc_port).await;
    let ca_file = server_ca.write_pem(&dir.join("server-ca.pem"));

    // The key comes in as a systemd credential; the certificate path is in the config.
    let credentials = dir.join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::copy(
        &client_leaf.key_file,
        credentials.join("temporal-client-key"),
    )
    .unwrap();
    let temporal = TemporalConfig {
        client_cert_file: Some(client_leaf.cert_file.clone()),
        ..tls_keys(&proxy.address(), &ca_file, Some("temporal.test"))
    };
    let config = config_with(&setup, "mtls.toml", temporal);
    let env = [("CREDENTIALS_DIRECTORY", credentials.to_str().unwrap())];

    let checked = cli(&["--config", &config, "check-config"], &env).await;
    let report = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{report}");
    assert!(
        report.contains(&format!("https://{}", proxy.address()))
            && report.contains("TLS (CA ")
            && report.contains("server name \"temporal.test\"")
            && report.contains("client certificate "),
        "check-config says where and how it connects: {report}"
    );
    assert!(!report.contains("PRIVATE KEY"), "{report}");

    let worker = WorkerProcess::start_with_env(Path::new(&config), &env).await;
    let run = cli(
        &[
            "--config",
            &config,
            "run",
            "PoetryResearchWorkflow",
            "--input",
            r#"{"settle": "1s"}"#,
            "--id",
            "over-tls",
            "--wait",
        ],
        &env,
    )
    .await;
    assert!(
        run.status.success(),
        "run over mTLS: {}\nworker log:\n{}",
        String::from_utf8_lossy(&run.stderr),
        worker.output()
    );
    assert_eq!(setup.gateway.requests_to("/api/cron/fire").len(), 2);
    assert!(
        proxy.handshake_errors().is_empty(),
        "{:?}",
        proxy.handshake_errors()
    );
}

/// Runs `schedules list` (one connection attempt, no retries) and returns its stderr.
async fn connection_error(config: &str, env: &[(&str, &str)]) -> String {
    let out = cli(&["--config", config, "schedules", "list"], env).await;
    assert!(!out.status.success(), "connected but should not have");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_ca_wrong_name_and_missing_client_certificate_are_refused_with_the_reason() {
    let setup = Setup::new().await;
    let dir = setup.dir.path();
    let server_ca = TestCa::new("server CA");
    let other_ca = TestCa::new("someone else's CA");
    let leaf = server_ca.issue(dir, "temporal-frontend", &["temporal.test"]);
    let proxy = TlsProxy::start(&leaf, None, setup.server.grpc_port).await;
    let right_ca = server_ca.write_pem(&dir.join("right-ca.pem"));
    let wrong_ca = other_ca.write_pem(&dir.join("wrong-ca.pem"));

    let right = config_with(
        &setup,
        "right.toml",
        tls_keys(&proxy.address(), &right_ca, Some("temporal.test")),
    );
    let listed = cli(&["--config", &right, "schedules", "list"], &[]).await;
    assert!(
        listed.status.success(),
        "the right CA and name connect: {}",
        String::from_utf8_lossy(&listed.stderr)
    );

    let wrong_issuer = config_with(
        &setup,
        "wrong-ca.toml",
        tls_keys(&proxy.address(), &wrong_ca, Some("temporal.test")),
    );
    let err = connection_error(&wrong_issuer, &[]).await;
    assert!(
        err.contains("https://") && err.contains("UnknownIssuer"),
        "a certificate from an unknown CA is named as such: {err}"
    );
    // The worker keeps retrying (a CA can be fixed without a restart of anything else),
    // says why in its log, and never reports ready.
    let log = setup.path("wrong-ca.worker.log");
    let mut worker = ChildGuard(
        std::process::Command::new(BIN)
            .args(["worker", "--config", &wrong_issuer])
            .env_remove("CREDENTIALS_DIRECTORY")
            .env("RUST_LOG", "info")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_until(
        "the worker's connection warning",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("UnknownIssuer")
        },
    )
    .await;
    assert!(
        !std::fs::read_to_string(&log)
            .unwrap()
            .contains("worker ready")
    );
    common::send_signal(worker.id() as i32, libc::SIGTERM);
    assert!(
        worker.wait().success(),
        "a stop while waiting is a clean exit"
    );

    // The certificate is for temporal.test; connecting by IP without server_name fails.
    let wrong_name = config_with(
        &setup,
        "wrong-name.toml",
        tls_keys(&proxy.address(), &right_ca, None),
    );
    let err = connection_error(&wrong_name, &[]).await;
    assert!(
        err.contains("NotValidForName"),
        "a certificate for another name is named as such: {err}"
    );

    // A relay that wants a client certificate refuses a client that has none.
    let client_ca = TestCa::new("client CA");
    let mtls_proxy = TlsProxy::start(&leaf, Some(&client_ca), setup.server.grpc_port).await;
    let no_client_cert = config_with(
        &setup,
        "no-client-cert.toml",
        tls_keys(&mtls_proxy.address(), &right_ca, Some("temporal.test")),
    );
    connection_error(&no_client_cert, &[]).await;
    let refused = mtls_proxy.handshake_errors();
    assert!(
        refused.iter().any(|e| e.contains("certificate")),
        "the server side refused for want of a client certificate: {refused:?}"
    );

    // Plaintext against the TLS port: an error, not a hang.
    let plaintext = config_with(
        &setup,
        "plaintext.toml",
        TemporalConfig {
            address: proxy.address(),
            tls: Some(false),
            ..TemporalConfig::default()
        },
    );
    connection_error(&plaintext, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_reaches_the_server_as_a_bearer_token() {
    let setup = Setup::new().await;
    // Plaintext (tls = false) so the relay can read the request headers.
    let sniffer = HeaderSniffer::start(setup.server.grpc_port).await;
    let key_file = setup.path("api-key");
    std::fs::write(&key_file, "cloud-api-key-0042\n").unwrap();
    let config = config_with(
        &setup,
        "api-key.toml",
        TemporalConfig {
            address: sniffer.address(),
            tls: Some(false),
            api_key_file: Some(key_file.clone()),
            ..TemporalConfig::default()
        },
    );
    let listed = cli(&["--config", &config, "schedules", "list"], &[]).await;
    let stderr = String::from_utf8_lossy(&listed.stderr);
    assert!(listed.status.success(), "{stderr}");
    assert!(!stderr.contains("cloud-api-key-0042"), "{stderr}");
    let headers = sniffer.headers();
    let authorization: Vec<&String> = headers
        .iter()
        .filter(|(name, _)| name == "authorization")
        .map(|(_, value)| value)
        .collect();
    assert!(
        !authorization.is_empty()
            && authorization
                .iter()
                .all(|v| *v == "Bearer cloud-api-key-0042"),
        "every request carries the key: {headers:?}"
    );
}

#[tokio::test]
async fn tls_settings_that_cannot_work_are_config_errors() {
    let setup = Setup::new().await;
    let dir = setup.dir.path();
    let not_pem = dir.join("ca.der");
    std::fs::write(&not_pem, [0x30, 0x82, 0x01]).unwrap();
    // `[temporal]` with only these keys (the address too is left at its default).
    let defaults = TemporalConfig::default;
    let cases = [
        (
            TemporalConfig {
                server_ca_file: Some(not_pem.clone()),
                ..defaults()
            },
            "temporal.server_ca_file",
            "is not a PEM file",
        ),
        (
            TemporalConfig {
                server_ca_file: Some("/nonexistent/ca.pem".into()),
                ..defaults()
            },
            "temporal.server_ca_file",
            "/nonexistent/ca.pem",
        ),
        (
            TemporalConfig {
                client_cert_file: Some("/etc/hostname".into()),
                ..defaults()
            },
            "temporal.client_key_file",
            "no key",
        ),
        (
            TemporalConfig {
                tls: Some(false),
                server_name: Some("x".into()),
                ..defaults()
            },
            "temporal.server_name",
            "tls = false",
        ),
    ];
    for (i, (table, key, words)) in cases.iter().enumerate() {
        let config = config_with(&setup, &format!("bad-{i}.toml"), table.clone());
        let out = cli(&["--config", &config, "check-config"], &[]).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{table:?}: {err}");
        assert!(err.contains(key) && err.contains(words), "{table:?}: {err}");
    }
    // A build-time check (the NixOS module's) sees the file alone: certificates and the
    // client key only exist on the target machine.
    for (i, (table, _, _)) in cases.iter().take(3).enumerate() {
        let config = config_with(&setup, &format!("offline-{i}.toml"), table.clone());
        let out = cli(&["--config", &config, "check-config", "--offline"], &[]).await;
        assert!(
            out.status.success(),
            "{table:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
