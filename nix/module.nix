# NixOS module of the clawfactory-temporal appliance.
#
# The units are the package's (nix/systemd/, the files the Debian package installs), loaded
# with systemd.packages; this module only adds what NixOS decides: which units start, the
# generated config, the credentials' sources, the server's user and data dir, nginx and
# tailscale. No unit setting is written twice.
{ config, lib, pkgs, ... }:
let
  cfg = config.services.clawfactory.temporal;
  toml = pkgs.formats.toml { };
  inherit (lib) mkOption types;

  # The unit file's ReadWritePaths= and the binary's default db_file live here.
  defaultDataDir = "/srv/clawfactory/temporal";
  # What the backup units say (nix/systemd/clawfactory-temporal-backup.*): the service's
  # second ReadWritePaths= (the binary's default [backup] dir) and the timer's OnCalendar=.
  defaultBackupDir = "/srv/clawfactory/backups";
  defaultBackupSchedule = "*-*-* 03:15:00";

  # The config is checked at build time by the binary itself: a key it rejects fails the
  # system build with the key's path, not the worker at boot.
  configFile = pkgs.runCommand "clawfactory-temporal.toml"
    {
      unchecked = toml.generate "clawfactory-temporal-unchecked.toml" cfg.settings;
    } ''
    ${lib.getExe cfg.package} --log text --config "$unchecked" check-config --offline > /dev/null
    cp "$unchecked" "$out"
  '';

  # systemd cannot remove a dependency in a drop-in (systemd.unit(5): "Dependencies (After=,
  # etc.) cannot be reset to an empty list"). Without the local server the worker unit is
  # therefore derived from the shipped file with exactly its two references to the server
  # removed, and the server unit is not installed at all.
  units =
    if cfg.server.enable then cfg.package
    else
      pkgs.runCommand "clawfactory-temporal-units-external-server" { } ''
        mkdir -p "$out/lib/systemd/system"
        cd ${cfg.package}/lib/systemd/system
        cp clawfactory-tailscale-serve.service "$out/lib/systemd/system/"
        sed -e '/^Requires=clawfactory-temporal\.service$/d' \
          -e '/^After=/s/ clawfactory-temporal\.service//' \
          clawfactory-temporal-worker.service > "$out/lib/systemd/system/clawfactory-temporal-worker.service"
        if grep -n '^[^#]*clawfactory-temporal\.service' "$out/lib/systemd/system/clawfactory-temporal-worker.service"; then
          echo "the worker unit still refers to the server unit" >&2
          exit 1
        fi
      '';

  # A token file becomes the credential file the worker unit loads (LoadCredential=
  # NAME:/etc/clawfactory/credentials/NAME); without one, that file is empty: no token (the
  # unit fails on a missing one). Both are a link, replaced on every activation: an `f` rule
  # for the empty file leaves an existing link in place (systemd-tmpfiles: "exists and is not
  # a regular file", exit 73, which NixOS's tmpfiles services count as success), so a removed
  # token would stay linked. nix/tests/tmpfiles-secret.sh applies both cases in turn.
  noSecret = pkgs.writeText "clawfactory-temporal-no-secret" "";
  credential = file: { "L+".argument = if file == null then "${noSecret}" else file; };
  credentialFiles = {
    gateway-token = cfg.gateway.tokenFile;
    hooks-token = cfg.gateway.hooksTokenFile;
    temporal-api-key = cfg.temporal.apiKeyFile;
    temporal-client-key = cfg.temporal.clientKeyFile;
  };
  # systemd copies a credential when the unit starts, and a switch restarts only changed
  # units: naming the sources in the unit makes a changed or removed token restart it (after
  # sysinit-reactivation.target, i.e. after tmpfiles relinked the file).
  restartOnCredentials = names:
    lib.mapAttrsToList (name: file: "${name}:${if file == null then "none" else file}")
      (lib.getAttrs names credentialFiles);

  # `<name>.gateway-token` / `<name>.hooks-token` for every instance with a token file.
  instanceCredentials = lib.concatLists (lib.mapAttrsToList
    (name: instance:
      lib.optional (instance.tokenFile != null) "${name}.gateway-token:${instance.tokenFile}"
      ++ lib.optional (instance.hooksTokenFile != null) "${name}.hooks-token:${instance.hooksTokenFile}")
    cfg.instances);

  # `secret.<name>` for every secret http steps' headers may read (`secretFiles.<name>`).
  stepSecretCredentials = lib.mapAttrsToList (name: file: "secret.${name}:${file}") cfg.secretFiles;

  isLoopback = address: lib.hasPrefix "127." address || address == "[::1]";

  # A secret given as a Nix path would be copied into the world-readable store.
  secretPath = types.nullOr (types.strMatching "/.*");
in
{
  options.services.clawfactory.temporal = {
    enable = lib.mkEnableOption "the ClawFactory Temporal appliance: the worker, by default a local Temporal dev server";

    package = mkOption {
      type = types.package;
      description = "The clawfactory-temporal package (its binary and unit files).";
    };

    server = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Run the local Temporal dev server (SQLite, loopback only) as
          clawfactory-temporal.service. When false, the worker talks to
          `settings.temporal.address` and does not depend on a local server.
        '';
      };

      package = lib.mkPackageOption pkgs "temporal-cli" { };

      dataDir = mkOption {
        type = types.strMatching "/.*";
        default = defaultDataDir;
        description = "Directory of the server's SQLite database (temporal.db), owned by the user clawfactory.";
      };

      namespace = mkOption {
        type = types.str;
        default = "default";
        description = "Namespace the dev server creates, and the worker's default namespace.";
      };

      retention = mkOption {
        type = types.nullOr (types.strMatching "[0-9]+ *[smhSMH]");
        default = null;
        example = "2160h";
        description = ''
          How long the namespace keeps a closed run (history, input, result, failure) for the UI,
          e.g. `"2160h"` for 90 days; applied at every server start. `null`: the worker's
          default, 30 days (`[server] retention`). Check-config rejects less than 1h; the disk it
          costs is in docs/backup.md.
        '';
      };

      ports = {
        grpc = mkOption { type = types.port; default = 7233; description = "Frontend gRPC port (127.0.0.1)."; };
        http = mkOption { type = types.port; default = 7243; description = "Frontend HTTP port (127.0.0.1)."; };
        ui = mkOption { type = types.port; default = 8233; description = "Temporal UI port (127.0.0.1)."; };
        metrics = mkOption { type = types.port; default = 7235; description = "Prometheus metrics port (127.0.0.1)."; };
      };
    };

    backup = {
      enable = mkOption {
        type = types.bool;
        default = cfg.server.enable;
        defaultText = lib.literalExpression "config.services.clawfactory.temporal.server.enable";
        description = ''
          Back up the local server's database on `schedule` with
          clawfactory-temporal-backup.timer: an online copy while the server runs, checked,
          named by UTC time in `dir` (docs/backup.md has restore).
        '';
      };

      dir = mkOption {
        type = types.strMatching "/.*";
        default = defaultBackupDir;
        description = "Directory of the backups (`[backup] dir`), owned by the user clawfactory; keep it outside `server.dataDir`.";
      };

      keep = mkOption {
        type = types.ints.positive;
        default = 7;
        description = "How many backups to keep (`[backup] keep`); older ones are removed after each backup.";
      };

      schedule = mkOption {
        type = types.str;
        default = defaultBackupSchedule;
        example = "hourly";
        description = "When the timer takes a backup: a systemd calendar expression (OnCalendar=, systemd.time(7)).";
      };
    };

    settings = mkOption {
      type = types.submodule { freeformType = toml.type; };
      default = { };
      example = lib.literalExpression ''
        {
          gateway = { api = "hooks-agent"; url = "http://127.0.0.1:18789"; };
          workflows.poetry_research.settle = "2h";
        }
      '';
      description = ''
        The worker's TOML config (sections as in docs/configuration.md: temporal, worker, gateway,
        workflows, turns, ...), written to /etc/clawfactory/temporal.toml and validated at
        build time with `clawfactory-temporal check-config`. With the local server, the
        `server` section and the defaults of `temporal.address` and `temporal.namespace`
        come from the `server.*` options. Tokens never go here: see `gateway.tokenFile`
        and `gateway.hooksTokenFile`.
      '';
    };

    configFile = mkOption {
      type = types.path;
      readOnly = true;
      default = configFile;
      defaultText = lib.literalMD "the validated TOML rendering of `settings`";
      description = "The generated config file; `nix run .#schedules` applies the schedules it declares.";
    };

    gateway = {
      tokenFile = mkOption {
        type = secretPath;
        default = null;
        example = "/run/secrets/openclaw-gateway-token";
        description = ''
          File with the OpenClaw gateway token (chat-completions, admin RPC, cron-fire),
          passed to the worker as the systemd credential `gateway-token`; it is never
          copied into the Nix store. Null: no gateway token.
        '';
      };

      hooksTokenFile = mkOption {
        type = secretPath;
        default = null;
        example = "/run/secrets/openclaw-hooks-token";
        description = ''
          File with the OpenClaw hooks token (`hooks-agent`), passed to the worker as the
          systemd credential `hooks-token`; never copied into the Nix store. Null: no token.
        '';
      };
    };

    temporal = {
      apiKeyFile = mkOption {
        type = secretPath;
        default = null;
        example = "/run/secrets/temporal-cloud-api-key";
        description = ''
          File with a Temporal API key (Temporal Cloud), passed as the systemd credential
          `temporal-api-key` to the worker and the schedules unit; never copied into the Nix
          store. Null: no key. The address and TLS files go in `settings.temporal`.
        '';
      };

      clientKeyFile = mkOption {
        type = secretPath;
        default = null;
        example = "/run/secrets/temporal-client.key";
        description = ''
          PEM private key for mTLS to Temporal (its certificate is
          `settings.temporal.client_cert_file`), passed as the credential `temporal-client-key`.
        '';
      };
    };

    secretFiles = mkOption {
      type = types.attrsOf (types.strMatching "/.*");
      default = { };
      example = { slack = "/run/secrets/slack-bot-token"; };
      description = ''
        Secrets `http` steps may send in a header as `{{ secrets.<name> }}`: each file is
        passed to the worker as the systemd credential `secret.<name>` (never copied into the
        Nix store) and declared as `[secrets.<name>]` with that credential. A name uses
        letters, digits and `_`.
      '';
    };

    instances = mkOption {
      type = types.attrsOf (types.submodule {
        options = {
          url = mkOption {
            type = types.str;
            example = "http://127.0.0.1:18790";
            description = "The instance's OpenClaw gateway URL.";
          };
          tokenFile = mkOption {
            type = secretPath;
            default = null;
            description = "The instance's gateway token, as the credential `<name>.gateway-token`.";
          };
          hooksTokenFile = mkOption {
            type = secretPath;
            default = null;
            description = "The instance's hooks token, as the credential `<name>.hooks-token`.";
          };
        };
      });
      default = { };
      example = lib.literalExpression ''{ lab.url = "http://127.0.0.1:18790"; }'';
      description = ''
        More OpenClaw instances besides the default one (`[instances.<name>]`; further keys
        such as `api` go in `settings.instances.<name>`). Workflows pick one with
        `"instance": "<name>"` in their input.
      '';
    };

    schedules = mkOption {
      type = types.attrsOf (types.submodule { freeformType = toml.type; });
      default = { };
      example = lib.literalExpression ''
        {
          poetry-research-daily = {
            workflow = "PoetryResearchWorkflow";
            cron = [ "0 4 * * *" ];
          };
        }
      '';
      description = ''
        Declared schedules (`[schedules.<id>]`, keys as in docs/schedules.md). They are applied by
        clawfactory-temporal-schedules.service after the worker at boot and whenever a
        switch changes the config, and by `nix run .#schedules`. Empty: the binary's
        default, the reference's poetry-research-daily.
      '';
    };

    declared = mkOption {
      type = types.attrsOf (types.submodule { freeformType = toml.type; });
      default = { };
      example = lib.literalExpression ''
        {
          research-digest = {
            description = "research; stop if nothing is new; approve; publish";
            steps = [
              { id = "research"; type = "agent_turn"; turn = "poetry-research-execute"; }
              { id = "nothing_new"; type = "stop"; when = "steps.research.result.contains('nothing new')"; }
              { id = "ok"; type = "approval"; timeout = "24h"; }
              { id = "publish"; type = "agent_turn"; turn = "poetry-publish"; }
            ];
          };
        }
      '';
      description = ''
        Declared workflows (`[declared.<name>]`, keys as in docs/declared-workflows.md). The
        worker registers each as a workflow type of that name, started from the UI, the
        `temporal` CLI, `clawfactory-temporal run <name>` or a schedule. They are checked
        when the system is built (`check-config`): a bad declaration fails the build, naming
        the workflow, the step and the key. Runs already open keep the definition they
        started with across a switch.
      '';
    };

    ui = {
      nginx = {
        enable = lib.mkEnableOption "nginx in front of the Temporal UI (websockets included)";

        port = mkOption {
          type = types.port;
          default = 8082;
          description = "Port nginx serves the UI on.";
        };

        listenAddresses = mkOption {
          type = types.listOf types.str;
          default = [ "127.0.0.1" ];
          example = [ "0.0.0.0" "[::]" ];
          description = ''
            Addresses nginx listens on (IPv6 in brackets). The firewall opens `port` only if
            one of them is not a loopback address.
          '';
        };

        basicAuthFile = mkOption {
          type = secretPath;
          default = null;
          example = "/run/secrets/temporal-ui.htpasswd";
          description = "htpasswd file protecting the UI; it must be readable by nginx. Null: no authentication.";
        };
      };

      tailscale = {
        enable = lib.mkEnableOption "tailscale, and publishing the nginx UI proxy on the tailnet with `tailscale serve`";

        httpsPort = mkOption {
          type = types.port;
          default = 8444;
          description = "HTTPS port of the UI on the tailnet (https://<host>:<port>/).";
        };

        authKeyFile = mkOption {
          type = secretPath;
          default = null;
          description = "Tailscale auth key file (services.tailscale.authKeyFile). Null: log in by hand with `tailscale up`.";
        };
      };
    };
  };

  config = lib.mkIf cfg.enable (lib.mkMerge [
    {
      assertions = [
        {
          assertion = !((cfg.settings.gateway or { }) ? token_file || (cfg.settings.gateway or { }) ? hooks_token_file);
          message = "services.clawfactory.temporal: set gateway.tokenFile / gateway.hooksTokenFile (systemd credentials) instead of settings.gateway.token_file / hooks_token_file.";
        }
        {
          assertion = !((cfg.settings.temporal or { }) ? api_key_file || (cfg.settings.temporal or { }) ? client_key_file);
          message = "services.clawfactory.temporal: set temporal.apiKeyFile / temporal.clientKeyFile (systemd credentials) instead of settings.temporal.api_key_file / client_key_file.";
        }
        {
          assertion = lib.all (i: !(i ? token_file || i ? hooks_token_file)) (lib.attrValues (cfg.settings.instances or { }));
          message = "services.clawfactory.temporal: set instances.<name>.tokenFile / hooksTokenFile (systemd credentials) instead of settings.instances.<name>.token_file / hooks_token_file.";
        }
        {
          assertion = lib.all (secret: !(secret ? file)) (lib.attrValues (cfg.settings.secrets or { }));
          message = "services.clawfactory.temporal: set secretFiles.<name> (a systemd credential) instead of settings.secrets.<name>.file.";
        }
        {
          assertion = cfg.backup.enable -> cfg.server.enable;
          message = "services.clawfactory.temporal.backup copies the local server's database: it needs server.enable.";
        }
        {
          assertion = cfg.ui.nginx.enable -> cfg.server.enable;
          message = "services.clawfactory.temporal.ui.nginx proxies the local server's UI: it needs server.enable.";
        }
        {
          # tailscale serve proxies to http://127.0.0.1:<ui.nginx.port>.
          assertion = cfg.ui.tailscale.enable ->
            cfg.ui.nginx.enable && lib.any (a: a == "127.0.0.1" || a == "0.0.0.0") cfg.ui.nginx.listenAddresses;
          message = "services.clawfactory.temporal.ui.tailscale publishes the nginx proxy on 127.0.0.1: enable ui.nginx with 127.0.0.1 or 0.0.0.0 in listenAddresses.";
        }
      ];

      services.clawfactory.temporal.settings = lib.mkMerge [
        (lib.mkIf (cfg.schedules != { }) { inherit (cfg) schedules; })
        (lib.mkIf (cfg.declared != { }) { inherit (cfg) declared; })
        (lib.mkIf (cfg.instances != { }) {
          instances = lib.mapAttrs (_: instance: { inherit (instance) url; }) cfg.instances;
        })
        (lib.mkIf (cfg.secretFiles != { }) {
          secrets = lib.mapAttrs (name: _: { credential = "secret.${name}"; }) cfg.secretFiles;
        })
        # One fact per port: the server options feed [server]; a different value for the
        # same key in `settings` is a conflicting definition, not a silent override.
        (lib.mkIf cfg.server.enable {
          temporal = {
            address = lib.mkDefault "127.0.0.1:${toString cfg.server.ports.grpc}";
            namespace = lib.mkDefault cfg.server.namespace;
          };
          server = {
            temporal_bin = lib.getExe cfg.server.package;
            ip = "127.0.0.1";
            grpc_port = cfg.server.ports.grpc;
            http_port = cfg.server.ports.http;
            ui_port = cfg.server.ports.ui;
            metrics_port = cfg.server.ports.metrics;
            db_file = "${cfg.server.dataDir}/temporal.db";
          } // lib.optionalAttrs (cfg.server.retention != null) { inherit (cfg.server) retention; };
          backup = { inherit (cfg.backup) dir keep; };
        })
      ];

      # The default path of every subcommand, so `clawfactory-temporal run ...` and
      # `schedules list` in a shell use the appliance's config.
      environment.etc."clawfactory/temporal.toml".source = configFile;
      environment.systemPackages = [ cfg.package ];

      systemd.packages = [ units ];

      # The killswitch directory the worker binds into its private /tmp, from the same file the
      # Debian package installs as a tmpfiles.d entry.
      systemd.tmpfiles.rules = lib.filter (line: line != "" && !lib.hasPrefix "#" line)
        (lib.splitString "\n" (builtins.readFile ./systemd/clawfactory-temporal.tmpfiles));

      systemd.tmpfiles.settings."10-clawfactory-temporal" = {
        "/etc/clawfactory/credentials".d = { mode = "0700"; user = "root"; group = "root"; };
      } // lib.mapAttrs' (name: file: lib.nameValuePair "/etc/clawfactory/credentials/${name}" (credential file)) credentialFiles;

      # The unit sets CLAWFACTORY_CONFIG=/etc/clawfactory/temporal.toml; pointing it at the
      # store file instead makes a changed config change the unit, so a switch restarts it.
      systemd.services.clawfactory-temporal-worker = {
        wantedBy = [ "multi-user.target" ];
        environment.CLAWFACTORY_CONFIG = "${configFile}";
        # Instances are named here, not in the shipped unit: their credentials are a drop-in.
        serviceConfig.LoadCredential = instanceCredentials ++ stepSecretCredentials;
        restartTriggers = restartOnCredentials [ "gateway-token" "hooks-token" "temporal-api-key" "temporal-client-key" ]
          ++ stepSecretCredentials;
      };

      systemd.services.clawfactory-temporal-schedules = {
        description = "Apply the declared ClawFactory Temporal schedules";
        wantedBy = [ "multi-user.target" ];
        wants = [ "clawfactory-temporal-worker.service" ];
        # The worker is READY only once Temporal answered and the namespace exists.
        after = [ "clawfactory-temporal-worker.service" ];
        restartTriggers = restartOnCredentials [ "temporal-api-key" "temporal-client-key" ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${lib.getExe cfg.package} --config ${configFile} schedules apply";
          # The same Temporal credentials as the worker (an API key or mTLS for a cluster).
          LoadCredential = [
            "temporal-api-key:/etc/clawfactory/credentials/temporal-api-key"
            "temporal-client-key:/etc/clawfactory/credentials/temporal-client-key"
          ];
          DynamicUser = true;
          CapabilityBoundingSet = "";
          NoNewPrivileges = true;
          PrivateDevices = true;
          PrivateUsers = true;
          ProtectHome = true;
          ProtectSystem = "strict";
          ProtectKernelTunables = true;
          ProtectKernelModules = true;
          ProtectControlGroups = true;
          RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
          RestrictNamespaces = true;
          SystemCallArchitectures = "native";
          SystemCallFilter = [ "@system-service" "~@privileged @resources" ];
        };
      };
    }

    (lib.mkIf cfg.server.enable {
      users.users.clawfactory = {
        isSystemUser = true;
        group = "clawfactory";
        home = "/srv/clawfactory";
        description = "ClawFactory Temporal dev server";
      };
      users.groups.clawfactory = { };

      systemd.tmpfiles.settings."10-clawfactory-temporal".${cfg.server.dataDir}.d = {
        mode = "0750";
        user = "clawfactory";
        group = "clawfactory";
      };

      systemd.services.clawfactory-temporal = {
        wantedBy = [ "multi-user.target" ];
        environment.CLAWFACTORY_CONFIG = "${configFile}";
        # The unit may write only its default data dir; another one replaces that list.
        serviceConfig.ReadWritePaths = lib.mkIf (cfg.server.dataDir != defaultDataDir) [ "" cfg.server.dataDir ];
      };
    })

    (lib.mkIf cfg.backup.enable {
      systemd.tmpfiles.settings."10-clawfactory-temporal".${cfg.backup.dir}.d = {
        mode = "0750";
        user = "clawfactory";
        group = "clawfactory";
      };

      systemd.services.clawfactory-temporal-backup = {
        environment.CLAWFACTORY_CONFIG = "${configFile}";
        # The unit may write only the default data and backup dirs; other ones replace that list.
        serviceConfig.ReadWritePaths = lib.mkIf (cfg.server.dataDir != defaultDataDir || cfg.backup.dir != defaultBackupDir)
          [ "" cfg.server.dataDir cfg.backup.dir ];
      };

      systemd.timers.clawfactory-temporal-backup = {
        wantedBy = [ "timers.target" ];
        timerConfig.OnCalendar = lib.mkIf (cfg.backup.schedule != defaultBackupSchedule) [ "" cfg.backup.schedule ];
      };
    })

    # The Debian package ships nix/nginx/clawfactory-temporal.conf as a fixed file. On NixOS
    # the nginx module owns nginx.conf, and here the listen addresses, the port, the proxy
    # target and basic auth follow this module's options, which a fixed file cannot; the
    # proxy headers are the same (recommendedProxySettings + proxyWebsockets).
    (lib.mkIf cfg.ui.nginx.enable {
      services.nginx = {
        enable = true;
        virtualHosts.clawfactory-temporal = {
          listen = map (addr: { inherit addr; inherit (cfg.ui.nginx) port; }) cfg.ui.nginx.listenAddresses;
          inherit (cfg.ui.nginx) basicAuthFile;
          locations."/" = {
            proxyPass = "http://127.0.0.1:${toString cfg.server.ports.ui}";
            proxyWebsockets = true;
            recommendedProxySettings = true;
            extraConfig = ''
              proxy_read_timeout 300s;
            '';
          };
        };
      };
      networking.firewall.allowedTCPPorts =
        lib.mkIf (!lib.all isLoopback cfg.ui.nginx.listenAddresses) [ cfg.ui.nginx.port ];
    })

    (lib.mkIf cfg.ui.tailscale.enable {
      services.tailscale = {
        enable = true;
        inherit (cfg.ui.tailscale) authKeyFile;
      };

      systemd.services.clawfactory-tailscale-serve = {
        wantedBy = [ "multi-user.target" ];
        # Ordered after the login with authKeyFile, where there is one.
        after = [ "tailscaled-autoconnect.service" ];
        # For the unit's `tailscale` (ExecStart=, ExecStop=) and its /bin/sh checks.
        path = [ config.services.tailscale.package ];
        serviceConfig.ExecSearchPath = lib.makeBinPath [ config.services.tailscale.package ];
        environment = {
          CLAWFACTORY_SERVE_HTTPS_PORT = toString cfg.ui.tailscale.httpsPort;
          CLAWFACTORY_SERVE_TARGET = "http://127.0.0.1:${toString cfg.ui.nginx.port}";
        };
      };

      # Only on the tailnet interface.
      networking.firewall.interfaces.${config.services.tailscale.interfaceName}.allowedTCPPorts =
        [ cfg.ui.tailscale.httpsPort ];
    })
  ]);
}
