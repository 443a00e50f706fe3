//! The shipped unit files: hardened (systemd's own exposure score ≤ 2.0), notify-typed, and
//! consistent with the binary's defaults.

use std::path::Path;
use std::process::Command;

const UNITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/nix/systemd");

fn unit(name: &str) -> String {
    std::fs::read_to_string(Path::new(UNITS).join(name)).unwrap()
}

#[test]
fn worker_server_and_backup_units_score_at_most_2_0_exposure() {
    for name in [
        "clawfactory-temporal-worker.service",
        "clawfactory-temporal.service",
        "clawfactory-temporal-backup.service",
    ] {
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=20", "--no-pager"])
            .arg(Path::new(UNITS).join(name))
            .output()
            .expect("systemd-analyze (Debian package systemd) is needed for this test");
        let text = String::from_utf8_lossy(&out.stdout);
        let verdict = text.lines().last().unwrap_or_default();
        assert!(
            out.status.success(),
            "{name}: {verdict}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(verdict.contains("Overall exposure level"), "{verdict}");
    }
}

#[test]
fn units_are_notify_services_with_the_documented_wiring() {
    let worker = unit("clawfactory-temporal-worker.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/clawfactory-temporal worker",
        "WatchdogSec=30",
        "Restart=on-failure",
        "Requires=clawfactory-temporal.service",
        "LoadCredential=gateway-token:/etc/clawfactory/credentials/gateway-token",
        "LoadCredential=hooks-token:/etc/clawfactory/credentials/hooks-token",
    ] {
        assert!(
            worker.lines().any(|l| l == line),
            "worker unit lacks {line}"
        );
    }
    let server = unit("clawfactory-temporal.service");
    for line in [
        "Type=notify",
        "ExecStart=/usr/bin/clawfactory-temporal server",
        "ReadWritePaths=/srv/clawfactory/temporal",
    ] {
        assert!(
            server.lines().any(|l| l == line),
            "server unit lacks {line}"
        );
    }
    // The stop timeout must outlast the worker's default drain period.
    let defaults = clawfactory_temporal::config::Config::default();
    assert!(defaults.worker.graceful_shutdown.as_secs() < 60);
    assert_eq!(
        defaults.server.db_file,
        Path::new("/srv/clawfactory/temporal/temporal.db")
    );
}

#[test]
fn the_backup_timer_runs_the_backup_service_as_the_server_user_on_the_configured_paths() {
    let service = unit("clawfactory-temporal-backup.service");
    let defaults = clawfactory_temporal::config::Config::default();
    let read_write = format!(
        "ReadWritePaths={} {}",
        defaults.server.db_file.parent().unwrap().display(),
        defaults.backup.dir.display()
    );
    for line in [
        "Type=oneshot",
        "ExecStart=/usr/bin/clawfactory-temporal backup",
        "Environment=CLAWFACTORY_CONFIG=/etc/clawfactory/temporal.toml",
        "After=clawfactory-temporal.service",
        "User=clawfactory",
        "PrivateNetwork=yes",
        read_write.as_str(),
    ] {
        assert!(
            service.lines().any(|l| l == line),
            "backup unit lacks {line}"
        );
    }
    let timer = unit("clawfactory-temporal-backup.timer");
    for line in ["Persistent=true", "WantedBy=timers.target"] {
        assert!(
            timer.lines().any(|l| l == line),
            "backup timer lacks {line}"
        );
    }
    let calendar = timer
        .lines()
        .find_map(|l| l.strip_prefix("OnCalendar="))
        .expect("OnCalendar=");
    let out = Command::new("systemd-analyze")
        .args(["calendar", calendar])
        .output()
        .expect("systemd-analyze");
    assert!(out.status.success(), "OnCalendar={calendar} does not parse");
}
