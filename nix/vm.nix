# The appliance as a QEMU VM:
#   nix build .#vm && ./result/bin/run-clawfactory-vm     UI on the host at http://localhost:8082
# It is a whole NixOS system, not only a VM image: it carries its flake source, so inside the
# guest `clawfactory-switch` (nixos-rebuild switch --flake /root/flake#<this config>) rebuilds
# and switches it (docs/nixos.md).
{ config, pkgs, modulesPath, self, vmName, ... }:
let
  temporal = config.services.clawfactory.temporal;

  # QEMU forwards a host port to the guest's NIC address, never to its loopback, where
  # Temporal listens: this guest port relays to it, so the host's 127.0.0.1:7233 works.
  grpcRelayPort = 17233;
in
{
  # Imported here rather than used through `virtualisation.vmVariant`, so that the system
  # switched to inside the guest is this same VM configuration.
  imports = [ "${modulesPath}/virtualisation/qemu-vm.nix" ];

  services.clawfactory.temporal = {
    enable = true;
    # No OpenClaw in this VM: agent turns report which turn would have run. For a real
    # gateway: api = "hooks-agent", its url, and gateway.hooksTokenFile.
    settings.gateway.api = "echo";
    # A declared workflow to start from the UI ("Start Workflow", type research-digest) and
    # approve with `clawfactory-temporal approve <workflow-id>` (docs/declared-workflows.md).
    declared.research-digest = {
      description = "research; stop if nothing is new; approve; publish";
      steps = [
        { id = "research"; type = "agent_turn"; turn = "poetry-research-execute"; }
        {
          id = "nothing_new";
          type = "stop";
          when = "steps.research.result.lowerAscii().contains('nothing new')";
          reason = "nothing new today";
        }
        {
          id = "approve_publish";
          type = "approval";
          prompt = "Publish: {{ steps.research.result }}";
          timeout = "24h";
          on_timeout = "reject";
        }
        {
          id = "publish";
          type = "agent_turn";
          turn = "poetry-research-synthesize";
          message = "Publish today's digest: {{ steps.research.result }}";
        }
      ];
    };
    schedules.poetry-research-daily = {
      workflow = "PoetryResearchWorkflow";
      workflow_id = "poetry-research";
      cron = [ "0 4 * * *" ];
      overlap = "skip";
    };
    # On the NIC too: that is where QEMU's port forward arrives.
    ui.nginx = {
      enable = true;
      listenAddresses = [ "0.0.0.0" ];
    };
  };

  systemd.sockets.clawfactory-temporal-grpc-relay = {
    description = "Temporal gRPC relay for the VM host";
    wantedBy = [ "sockets.target" ];
    listenStreams = [ (toString grpcRelayPort) ];
  };
  systemd.services.clawfactory-temporal-grpc-relay = {
    description = "Temporal gRPC relay for the VM host (to 127.0.0.1:${toString temporal.server.ports.grpc})";
    requires = [ "clawfactory-temporal.service" ];
    after = [ "clawfactory-temporal.service" ];
    serviceConfig = {
      ExecStart = "${config.systemd.package}/lib/systemd/systemd-socket-proxyd 127.0.0.1:${toString temporal.server.ports.grpc}";
      DynamicUser = true;
      PrivateTmp = true;
    };
  };
  networking.firewall.allowedTCPPorts = [ grpcRelayPort ];

  virtualisation = {
    memorySize = 4096;
    cores = 2;
    # Room for what `nixos-rebuild switch` builds inside the guest; the store's writable
    # layer lives on this disk instead of in RAM.
    diskSize = 16384;
    writableStoreUseTmpfs = false;
    graphics = false;
    # Host loopback only: the UI, and Temporal's gRPC for `nix run .#schedules` and the CLI.
    forwardPorts = [
      {
        from = "host";
        host.address = "127.0.0.1";
        host.port = temporal.ui.nginx.port;
        guest.port = temporal.ui.nginx.port;
      }
      {
        from = "host";
        host.address = "127.0.0.1";
        host.port = temporal.server.ports.grpc;
        guest.port = grpcRelayPort;
      }
    ];
  };

  networking.hostName = "clawfactory";
  services.getty.autologinUser = "root";

  # The VM boots its kernel directly (no boot loader to install on a switch).
  boot.loader.grub.enable = false;
  nix.settings.experimental-features = [ "nix-command" "flakes" ];
  # The locked inputs, so evaluating the flake inside the guest needs no download.
  system.extraDependencies = [ self.inputs.nixpkgs.outPath self.inputs.crane.outPath ];
  # A writable copy of the flake, made once; a rebuilt VM image keeps an existing copy.
  system.activationScripts.clawfactory-flake = ''
    if [ ! -e /root/flake ]; then
      cp -r ${self} /root/flake
      chmod -R u+w /root/flake
    fi
  '';
  environment.systemPackages = [
    temporal.server.package
    (pkgs.writeShellApplication {
      name = "clawfactory-switch";
      text = ''
        exec nixos-rebuild switch --flake /root/flake#${vmName} "$@"
      '';
    })
  ];

  system.stateVersion = "26.05";
}
