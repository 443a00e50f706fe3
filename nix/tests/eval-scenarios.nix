# The NixOS module's scenarios for nixeval (../shared/nixeval/README.md; .ci/run runs them with
# `../shared/nixeval/run.sh .`). One per option group: each evaluates the module with those
# options and states what they must produce; a statement that does not hold fails the
# scenario with its text. One assert-* scenario per assertion of the module.
# What the credential rules do under the real systemd-tmpfiles is nix/tests/tmpfiles-secret.sh's
# part; what the backup timer and a restore do under the real systemd is the appliance test's
# (tests/appliance/in-guest.sh).
{ temporal, withModule, summary, expectAssertion, lib, ... }:
let
  # The summary (what run.sh records), once every statement about it holds.
  expect = facts: value:
    let wrong = lib.attrNames (lib.filterAttrs (_: holds: !holds) facts); in
    if wrong == [ ] then value else throw "does not hold: ${lib.concatStringsSep "; " wrong}";
  scenario = result: facts: let s = summary result; in expect (facts s result.config) s;

  has = lib.hasInfix;
  tmpfiles = s: s.tmpfiles."10-clawfactory-temporal";
  credentialNames = [ "gateway-token" "hooks-token" "temporal-api-key" "temporal-client-key" ];
  # The tmpfiles rule of /etc/clawfactory/credentials/NAME.
  credentialRule = s: name:
    lib.findFirst (has "'/etc/clawfactory/credentials/${name}'") "none" (lib.splitString "\n" (tmpfiles s));
  linkedTo = file: s: name: credentialRule s name == "'L+' '/etc/clawfactory/credentials/${name}' '-' '-' '-' '-' ${file}";
  # No token: a link to the module's empty store file, which systemd-tmpfiles puts in place
  # whatever was there before (an `f` rule leaves a link to a removed token file).
  noToken = s: name:
    builtins.match "'L\\+' '/etc/clawfactory/credentials/${name}' '-' '-' '-' '-' /nix/store/[^/]+-clawfactory-temporal-no-secret"
      (credentialRule s name) != null;
  worker = c: c.systemd.services.clawfactory-temporal-worker;
  backupTimer = c: c.systemd.timers.clawfactory-temporal-backup;

  tokens = {
    gateway = { tokenFile = "/run/secrets/gateway-token"; hooksTokenFile = "/run/secrets/hooks-token"; };
    temporal = { apiKeyFile = "/run/secrets/temporal-api-key"; clientKeyFile = "/run/secrets/temporal-client-key"; };
  };
  withTokens = temporal tokens;
  withoutTokens = temporal { };
in
{
  # --- the local server (server.enable = true, the default) ---
  server-default = scenario withoutTokens (s: _: {
    "the server, the worker and the schedules start at boot" = lib.all (u: lib.elem u s.wantedByMultiUser)
      [ "clawfactory-temporal.service" "clawfactory-temporal-worker.service" "clawfactory-temporal-schedules.service" ];
    "the package's units are loaded as shipped" = map (p: p.name) s.systemdPackages == [ "clawfactory-temporal-0.1.0" ];
    "the worker talks to the local server" = s.settings.temporal == { address = "127.0.0.1:7233"; namespace = "default"; };
    "[server] comes from the server options" = s.settings.server.ip == "127.0.0.1" && s.settings.server.grpc_port == 7233
      && s.settings.server.ui_port == 8233 && s.settings.server.db_file == "/srv/clawfactory/temporal/temporal.db";
    "the server's user owns its data dir" = s.users.clawfactory.isSystemUser
      && has "'d' '/srv/clawfactory/temporal' '0750' 'clawfactory' 'clawfactory'" (tmpfiles s);
    "the server unit keeps the shipped ReadWritePaths=" = !(has "ReadWritePaths" s.units.clawfactory-temporal);
    "the worker reads the file /etc/clawfactory/temporal.toml links to" =
      has "CLAWFACTORY_CONFIG=${s.etc."clawfactory/temporal.toml".source}\"" s.units.clawfactory-temporal-worker;
    "no schedules declared: the binary's default" = !(s.settings ? schedules);
    "no retention set: the binary's default" = !(s.settings.server ? retention);
    "no nginx, no open port, no tailscale" = s.nginx == null && s.firewall.allowedTCPPorts == [ ] && !s.tailscale.enable;
  });

  retention = scenario (temporal { server.retention = "2160h"; }) (s: _: {
    "server.retention feeds [server] retention" = s.settings.server.retention == "2160h";
  });

  data-dir = scenario (temporal { server.dataDir = "/var/lib/clawfactory-temporal"; }) (s: _: {
    "the database is in the data dir" = s.settings.server.db_file == "/var/lib/clawfactory-temporal/temporal.db";
    "tmpfiles creates it for the server's user, and not the default one" =
      has "'d' '/var/lib/clawfactory-temporal' '0750' 'clawfactory' 'clawfactory'" (tmpfiles s)
      && !(has "/srv/clawfactory/temporal" (tmpfiles s));
    "the server unit may write there instead of the default" =
      has "ReadWritePaths=\nReadWritePaths=/var/lib/clawfactory-temporal\n" s.units.clawfactory-temporal;
    "the backup unit may read the database there, and write the backups" =
      has "ReadWritePaths=\nReadWritePaths=/var/lib/clawfactory-temporal\nReadWritePaths=/srv/clawfactory/backups\n" s.units.clawfactory-temporal-backup;
  });

  # --- backups: on with the local server ---
  backup-default = scenario withoutTokens (s: c: {
    "the timer starts at boot, on the shipped schedule" = (backupTimer c).wantedBy == [ "timers.target" ] && (backupTimer c).timerConfig == { };
    "[backup] comes from the backup options" = s.settings.backup == { dir = "/srv/clawfactory/backups"; keep = 7; };
    "tmpfiles creates the backup dir for the server's user" =
      has "'d' '/srv/clawfactory/backups' '0750' 'clawfactory' 'clawfactory'" (tmpfiles s);
    "the backup unit reads the generated config and keeps the shipped ReadWritePaths=" =
      has "CLAWFACTORY_CONFIG=${s.etc."clawfactory/temporal.toml".source}\"" s.units.clawfactory-temporal-backup
      && !(has "ReadWritePaths" s.units.clawfactory-temporal-backup);
  });

  backup-custom = scenario (temporal { backup = { dir = "/var/backups/clawfactory"; keep = 30; schedule = "hourly"; }; }) (s: c: {
    "[backup] has the dir and the count" = s.settings.backup == { dir = "/var/backups/clawfactory"; keep = 30; };
    "the schedule replaces the shipped OnCalendar=" = (backupTimer c).timerConfig.OnCalendar == [ "" "hourly" ];
    "the backup unit may write the new dir instead of the default" =
      has "ReadWritePaths=\nReadWritePaths=/srv/clawfactory/temporal\nReadWritePaths=/var/backups/clawfactory\n" s.units.clawfactory-temporal-backup;
    "tmpfiles creates the new dir, not the default one" =
      has "'d' '/var/backups/clawfactory' '0750' 'clawfactory' 'clawfactory'" (tmpfiles s)
      && !(has "/srv/clawfactory/backups" (tmpfiles s));
  });

  backup-off = scenario (temporal { backup.enable = false; }) (s: c: {
    "no timer, no backup dir, no drop-in" = !(c.systemd.timers ? clawfactory-temporal-backup)
      && !(has "/srv/clawfactory/backups" (tmpfiles s)) && !(s.units ? clawfactory-temporal-backup);
    "a backup taken by hand still goes to the configured dir" = s.settings.backup.dir == "/srv/clawfactory/backups";
  });

  # --- an external cluster: no local server, TLS, an API key and an mTLS key ---
  external-cluster-tls-api-key = scenario
    (temporal {
      server.enable = false;
      settings.temporal = {
        address = "temporal.internal:7233";
        namespace = "clawfactory";
        server_ca_file = "/etc/clawfactory/temporal-ca.pem";
        server_name = "frontend.temporal.internal";
        client_cert_file = "/etc/clawfactory/temporal-client.pem";
      };
      temporal = { inherit (tokens.temporal) apiKeyFile clientKeyFile; };
    })
    (s: c: {
      "no local server, so no backups: no timer, no [backup]" = !(c.systemd.timers ? clawfactory-temporal-backup)
        && !(s.settings ? backup) && !(s.units ? clawfactory-temporal-backup);
      "no local server: no unit, user, data dir or [server]" = !(s.units ? clawfactory-temporal)
        && !(lib.elem "clawfactory-temporal.service" s.wantedByMultiUser) && s.users == { }
        && !(s.settings ? server) && !(has "/srv/clawfactory" (tmpfiles s));
      "the worker unit is the shipped one without the server dependency" =
        map (p: p.name) s.systemdPackages == [ "clawfactory-temporal-units-external-server" ]
        && has "-e '/^Requires=clawfactory-temporal\\.service$/d'" (lib.head s.systemdPackages).script;
      "[temporal] is as given, without the local server's defaults" = s.settings.temporal == {
        address = "temporal.internal:7233";
        namespace = "clawfactory";
        server_ca_file = "/etc/clawfactory/temporal-ca.pem";
        server_name = "frontend.temporal.internal";
        client_cert_file = "/etc/clawfactory/temporal-client.pem";
      };
      "the API key and the client key are linked credentials" = linkedTo tokens.temporal.apiKeyFile s "temporal-api-key"
        && linkedTo tokens.temporal.clientKeyFile s "temporal-client-key";
      "the gateway tokens stay unset" = noToken s "gateway-token" && noToken s "hooks-token";
      "the schedules unit loads the Temporal credentials too" =
        has "LoadCredential=temporal-api-key:/etc/clawfactory/credentials/temporal-api-key\nLoadCredential=temporal-client-key:/etc/clawfactory/credentials/temporal-client-key\n" s.units.clawfactory-temporal-schedules;
      "a changed key restarts the worker and the schedules unit" =
        lib.elem "temporal-api-key:${tokens.temporal.apiKeyFile}" (worker c).restartTriggers
        && lib.elem "temporal-api-key:${tokens.temporal.apiKeyFile}" c.systemd.services.clawfactory-temporal-schedules.restartTriggers;
    });

  # --- the UI behind nginx ---
  nginx-basic-auth = scenario
    (temporal {
      ui.nginx = {
        enable = true;
        port = 8443;
        listenAddresses = [ "0.0.0.0" "[::]" ];
        basicAuthFile = "/run/secrets/temporal-ui.htpasswd";
      };
    })
    (s: _:
      let vhost = s.nginx.clawfactory-temporal; in {
        "nginx listens on every given address" = has "listen 0.0.0.0:8443 ;" vhost && has "listen [::]:8443 ;" vhost;
        "basic auth with the htpasswd file" = has "auth_basic_user_file /run/secrets/temporal-ui.htpasswd;" vhost;
        "it proxies the UI, websockets included" = has "proxy_pass http://127.0.0.1:8233;" vhost
          && has "proxy_set_header Upgrade $http_upgrade;" vhost && has "proxy_read_timeout 300s;" vhost;
        "the firewall opens the port" = s.firewall.allowedTCPPorts == [ 8443 ];
      });

  nginx-loopback = scenario (temporal { ui.nginx.enable = true; server.ports.ui = 9233; }) (s: _:
    let vhost = s.nginx.clawfactory-temporal; in {
      "on 127.0.0.1:8082 only" = has "listen 127.0.0.1:8082 ;" vhost && lib.length (lib.splitString "listen " vhost) == 2;
      "the firewall stays closed" = s.firewall.allowedTCPPorts == [ ];
      "no authentication" = !(has "auth_basic" vhost);
      "it proxies the UI port the server uses" = has "proxy_pass http://127.0.0.1:9233;" vhost && s.settings.server.ui_port == 9233;
    });

  # --- the UI on the tailnet ---
  tailscale = scenario
    (temporal {
      ui.nginx.enable = true;
      ui.tailscale = { enable = true; httpsPort = 443; authKeyFile = "/run/secrets/tailscale-key"; };
    })
    (s: c:
      let serve = s.units.clawfactory-tailscale-serve; in {
        "tailscale with the auth key" = s.tailscale.enable && s.tailscale.authKeyFile == "/run/secrets/tailscale-key";
        "tailscale serve publishes the nginx proxy on the HTTPS port" = has "CLAWFACTORY_SERVE_HTTPS_PORT=443\"" serve
          && has "CLAWFACTORY_SERVE_TARGET=http://127.0.0.1:8082\"" serve;
        "it starts at boot, after the login with the auth key" = lib.elem "clawfactory-tailscale-serve.service" s.wantedByMultiUser
          && has "After=tailscaled-autoconnect.service" serve;
        "it finds the tailscale binary" = has "ExecSearchPath=${c.services.tailscale.package}/bin" serve;
        "the HTTPS port is open on the tailnet only" = s.firewall.interfaces == { tailscale0 = [ 443 ]; }
          && s.firewall.allowedTCPPorts == [ ];
      });

  # --- more OpenClaw instances, with tokens ---
  instances-with-tokens = scenario
    (temporal {
      instances.lab = { url = "http://127.0.0.1:18790"; tokenFile = "/run/secrets/lab-gateway-token"; hooksTokenFile = "/run/secrets/lab-hooks-token"; };
      instances.plain.url = "http://127.0.0.1:18791";
      settings.instances.lab.api = "hooks-agent";
    })
    (s: _:
      let unit = s.units.clawfactory-temporal-worker; in {
        "[instances] has the urls and settings, no token paths" = s.settings.instances == {
          lab = { url = "http://127.0.0.1:18790"; api = "hooks-agent"; };
          plain.url = "http://127.0.0.1:18791";
        };
        "the lab tokens are credentials of the worker" =
          has "LoadCredential=lab.gateway-token:/run/secrets/lab-gateway-token\nLoadCredential=lab.hooks-token:/run/secrets/lab-hooks-token\n" unit;
        "an instance without tokens has no credentials" = !(has "plain." unit);
        "the default instance keeps no token" = lib.all (noToken s) credentialNames;
      });

  # --- secrets for http steps' headers ---
  step-secrets = scenario
    (temporal { secretFiles.slack = "/run/secrets/slack-bot-token"; })
    (s: c:
      let unit = s.units.clawfactory-temporal-worker; in {
        "[secrets] names the credential, never a path or a value" =
          s.settings.secrets == { slack.credential = "secret.slack"; };
        "the file is a credential of the worker" =
          has "LoadCredential=secret.slack:/run/secrets/slack-bot-token\n" unit;
        "a changed file restarts the worker" =
          lib.elem "secret.slack:/run/secrets/slack-bot-token" (worker c).restartTriggers;
      });

  # --- declared schedules ---
  schedules = scenario
    (temporal {
      schedules.nightly = { workflow = "PoetryResearchWorkflow"; workflow_id = "poetry-research"; cron = [ "0 3 * * *" ]; overlap = "skip"; };
    })
    (s: _: {
      "[schedules] in the config" = s.settings.schedules == {
        nightly = { workflow = "PoetryResearchWorkflow"; workflow_id = "poetry-research"; cron = [ "0 3 * * *" ]; overlap = "skip"; };
      };
      "applied at boot after the worker, from the generated config" =
        lib.elem "clawfactory-temporal-schedules.service" s.wantedByMultiUser
        && has "After=clawfactory-temporal-worker.service" s.units.clawfactory-temporal-schedules
        && has "--config ${s.etc."clawfactory/temporal.toml".source} schedules apply" s.units.clawfactory-temporal-schedules;
    });

  # --- declared workflows ---
  declared = scenario
    (temporal {
      declared.gate.steps = [
        { id = "ok"; type = "approval"; timeout = "1h"; }
        { id = "go"; type = "agent_turn"; turn = "poetry-research-execute"; when = "steps.ok.result != ''"; }
      ];
    })
    (s: _: {
      "[declared] in the config, as written" = s.settings.declared == {
        gate.steps = [
          { id = "ok"; type = "approval"; timeout = "1h"; }
          { id = "go"; type = "agent_turn"; turn = "poetry-research-execute"; when = "steps.ok.result != ''"; }
        ];
      };
    });
  no-declared = scenario withoutTokens (s: _: {
    "no declared workflows: no [declared] section" = !(s.settings ? declared);
  });

  # --- credentials: set, then removed ---
  credentials-set = scenario withTokens (s: c: {
    "each credential is linked to its token file" = lib.all (n: linkedTo "/run/secrets/${n}" s n) credentialNames;
    "the worker restarts when a token file changes or goes" = (worker c).restartTriggers != (worker withoutTokens.config).restartTriggers;
  });
  credentials-unset = scenario withoutTokens (s: _: {
    "each credential is linked to the empty store file, whatever was there" = lib.all (noToken s) credentialNames;
  });
  # What the VM test switches to: the same machine once the token is removed.
  credentials-removed-in-a-specialisation = scenario
    (withModule {
      services.clawfactory.temporal = { enable = true; gateway.hooksTokenFile = tokens.gateway.hooksTokenFile; };
      specialisation.no-hooks-token.configuration = { lib, ... }: {
        services.clawfactory.temporal.gateway.hooksTokenFile = lib.mkForce null;
      };
    })
    (s: c:
      let
        child = c.specialisation.no-hooks-token.configuration;
        childSummary = summary { config = child; };
      in
      {
        "the system has the token" = linkedTo tokens.gateway.hooksTokenFile s "hooks-token";
        "the specialisation has none" = noToken childSummary "hooks-token";
        "switching between them restarts the worker" = (worker c).restartTriggers != (worker child).restartTriggers;
      });

  # --- the module's assertions, one scenario each ---
  assert-gateway-tokens-not-in-settings = expectAssertion "instead of settings.gateway.token_file"
    (temporal { settings.gateway.hooks_token_file = "/run/secrets/hooks-token"; });
  assert-temporal-keys-not-in-settings = expectAssertion "instead of settings.temporal.api_key_file"
    (temporal { settings.temporal.api_key_file = "/run/secrets/temporal-api-key"; });
  assert-instance-tokens-not-in-settings = expectAssertion "instead of settings.instances.<name>.token_file"
    (temporal { instances.lab.url = "http://127.0.0.1:18790"; settings.instances.lab.token_file = "/run/secrets/lab"; });
  assert-step-secrets-not-in-settings = expectAssertion "instead of settings.secrets.<name>.file"
    (temporal { settings.secrets.slack.file = "/run/secrets/slack"; });
  assert-backup-needs-server = expectAssertion "backup copies the local server's database"
    (temporal { server.enable = false; backup.enable = true; });
  assert-nginx-needs-server = expectAssertion "ui.nginx proxies the local server's UI"
    (temporal { server.enable = false; ui.nginx.enable = true; });
  assert-tailscale-needs-nginx-on-ipv4 = expectAssertion "ui.tailscale publishes the nginx proxy on 127.0.0.1"
    (temporal { ui.nginx = { enable = true; listenAddresses = [ "[::1]" ]; }; ui.tailscale.enable = true; });
}
