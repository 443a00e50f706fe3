# The appliance under NixOS, asserting what the nspawn appliance test (tests/appliance/) asserts
# on Debian: the worker is READY, a PoetryResearchWorkflow completes against a fake OpenClaw
# gateway with the hooks token, journald carries the run's fields, nginx serves the UI,
# Temporal's ports listen on loopback only, and the backup timer's service takes a backup that
# restores through the units (docs/backup.md). Then it switches to the same machine without the
# hooks token and back: a removed token must really go away (nix/tests/tmpfiles-secret.sh has
# the tmpfiles side of it).
{ pkgs, nixosModule }:
let
  hooksToken = "vm-test-hooks-token";
in
pkgs.testers.runNixOSTest {
  name = "clawfactory-temporal";

  nodes.machine = { config, lib, ... }: {
    imports = [ nixosModule ];

    services.clawfactory.temporal = {
      enable = true;
      settings = {
        gateway = {
          api = "hooks-agent";
          url = "http://127.0.0.1:18789";
        };
        workflows.agent_turn.retry = {
          initial_interval = "1s";
          maximum_interval = "2s";
        };
        workflows.poetry_research.settle = "1s";
      };
      gateway.hooksTokenFile = "/srv/results/hooks-token";
      ui.nginx.enable = true;
    };

    # tests/appliance/fake_gateway.py reads its token from, and logs every request to,
    # /srv/results (as in the nspawn test).
    systemd.services.fake-gateway = {
      wantedBy = [ "multi-user.target" ];
      before = [ "clawfactory-temporal-worker.service" ];
      preStart = ''
        mkdir -p /srv/results
        printf '%s\n' ${hooksToken} > /srv/results/hooks-token
        chmod 0600 /srv/results/hooks-token
      '';
      serviceConfig.ExecStart = "${pkgs.python3.interpreter} ${../../tests/appliance/fake_gateway.py} 18789";
    };

    environment.systemPackages = [ config.services.clawfactory.temporal.server.package pkgs.curl ];
    virtualisation.memorySize = 2048;

    # The same machine once the hooks token is removed from the configuration.
    specialisation.no-hooks-token.configuration = {
      services.clawfactory.temporal.gateway.hooksTokenFile = lib.mkForce null;
    };
  };

  testScript = ''
    worker = "clawfactory-temporal-worker.service"
    address = "--address 127.0.0.1:7233"
    machine.wait_for_unit("clawfactory-temporal.service")
    machine.wait_for_unit(worker)

    with subtest("the worker is READY (Type=notify) and says what it polls"):
        machine.succeed(f"systemctl is-active {worker}")
        machine.succeed(f"systemctl show -P StatusText {worker} | grep 'polling clawfactory on'")

    with subtest("the declared schedules were applied after the worker"):
        machine.wait_for_unit("clawfactory-temporal-schedules.service")
        machine.succeed(f"temporal schedule list {address} | grep poetry-research-daily")

    with subtest("a PoetryResearchWorkflow completes against the gateway"):
        machine.succeed(
            "temporal workflow start --type PoetryResearchWorkflow --task-queue clawfactory"
            f" --workflow-id poetry-research-manual {address}"
        )
        machine.succeed(
            f"timeout 120 temporal workflow result --workflow-id poetry-research-manual {address}"
            " | grep 'Poetry research workflow completed'"
        )
        machine.succeed("test $(grep -c poetry-research- /srv/results/gateway.log) -eq 2")

    with subtest("journald: activity records carry the run's fields, the token appears nowhere"):
        records = f"journalctl -u {worker} WORKFLOW_ID=poetry-research-manual -o json --no-pager"
        for field in ['"ACTIVITY_TYPE":"trigger_agent_turn"', '"ATTEMPT":"1"',
                      '"WORKFLOW_TYPE":"PoetryResearchWorkflow"', '"RUN_ID":', '"AGENT_ID":']:
            machine.succeed(f"{records} | grep -F '{field}'")
        machine.fail("journalctl -b --no-pager | grep -F ${hooksToken}")

    with subtest("nginx serves the Temporal UI on :8082"):
        machine.wait_for_open_port(8082)
        machine.succeed("curl -fsS http://localhost:8082/ | grep -qi '<html'")
        machine.succeed("curl -fsS http://localhost:8082/api/v1/namespaces | grep -q default")

    with subtest("Temporal's ports listen on 127.0.0.1 only"):
        for port in [7233, 7243, 8233]:
            machine.succeed(f"ss -Hltn 'sport = :{port}' | grep -q .")
            machine.fail(f"ss -Hltn 'sport = :{port}' | awk '{{print $4}}' | grep -v '^127.0.0.1:'")

    with subtest("the backup timer is on; its service takes a backup; a restore through the units"):
        machine.succeed("systemctl is-active clawfactory-temporal-backup.timer")
        machine.succeed("systemctl start clawfactory-temporal-backup.service")
        backup = machine.succeed("ls /srv/clawfactory/backups/temporal-*.db | tail -1").strip()
        machine.succeed(f"test \"$(stat -c '%U %a' {backup})\" = 'clawfactory 600'")
        machine.fail(f"clawfactory-temporal restore {backup}")
        machine.succeed("systemctl stop clawfactory-temporal-worker clawfactory-temporal")
        machine.succeed(f"clawfactory-temporal restore {backup}")
        machine.succeed("systemctl start clawfactory-temporal clawfactory-temporal-worker")
        machine.wait_for_unit(worker)
        machine.succeed("test \"$(stat -c '%U %a' /srv/clawfactory/temporal/temporal.db)\" = 'clawfactory 600'")
        machine.succeed(
            f"temporal workflow show --workflow-id poetry-research-manual {address} | grep WorkflowExecutionCompleted"
        )

    # What the running worker got: systemd's copy of its credentials, as its own mount namespace
    # shows it, read as the worker reads it.
    def worker_credentials():
        pid = machine.succeed(f"systemctl show -P MainPID {worker}").strip()
        return f"/proc/{pid}/root/run/credentials/{worker}"
    def worker_hooks_token(expected):
        machine.succeed(
            f"CREDENTIALS_DIRECTORY={worker_credentials()} clawfactory-temporal check-config --offline"
            f" | grep -F 'hooks token {expected}'"
        )
    def switch(system):
        pid = machine.succeed(f"systemctl show -P MainPID {worker}").strip()
        since = machine.succeed("date +%s").strip()
        machine.succeed(f"{system}/bin/switch-to-configuration test")
        machine.wait_for_unit(worker)
        assert machine.succeed(f"systemctl show -P MainPID {worker}").strip() != pid, "the switch did not restart the worker"
        return since

    with subtest("a removed token really goes away: set, switch, unset, switch"):
        worker_hooks_token("set (redacted)")
        since = switch("/run/booted-system/specialisation/no-hooks-token")
        machine.succeed("test -f /etc/clawfactory/credentials/hooks-token")
        machine.succeed("test ! -s /etc/clawfactory/credentials/hooks-token")
        machine.succeed(f"test -f {worker_credentials()}/hooks-token && test ! -s {worker_credentials()}/hooks-token")
        worker_hooks_token("not set")
        machine.wait_until_succeeds(
            f"journalctl -u {worker} --since=@{since} -o json --no-pager | grep -F 'no hooks token is set'"
        )

    with subtest("and a token set again is used again"):
        switch("/run/booted-system")
        machine.succeed("grep -qxF ${hooksToken} /etc/clawfactory/credentials/hooks-token")
        worker_hooks_token("set (redacted)")
  '';
}
