{
  description = "clawfactory-temporal: OpenClaw agent turns as durable Temporal workflows, and its NixOS appliance";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    crane.url = "github:ipetkov/crane";
  };

  outputs = { self, nixpkgs, crane }:
    let
      inherit (nixpkgs) lib;

      linuxSystems = [ "x86_64-linux" "aarch64-linux" ];
      # A Mac runs the VM's QEMU (and the CLI); the guest is aarch64-linux, built by a
      # Linux builder (nix-darwin's nix.linux-builder).
      allSystems = linuxSystems ++ [ "aarch64-darwin" ];
      forSystems = systems: f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      crateFor = pkgs: import ./nix/package.nix {
        inherit (pkgs) lib;
        craneLib = crane.mkLib pkgs;
      };

      # The VM configuration whose runner works on each host system.
      vmFor = {
        x86_64-linux = "vm";
        aarch64-linux = "vm-aarch64";
        aarch64-darwin = "vm-darwin";
      };

      mkVm = { name, guest, host ? guest }: lib.nixosSystem {
        specialArgs = {
          inherit self;
          vmName = name;
        };
        modules = [
          self.nixosModules.default
          ./nix/vm.nix
          ({ lib, ... }: {
            nixpkgs.hostPlatform = guest;
            virtualisation.host.pkgs = lib.mkIf (host != guest) nixpkgs.legacyPackages.${host};
          })
        ];
      };
    in
    {
      nixosModules.default = { lib, pkgs, ... }: {
        imports = [ ./nix/module.nix ];
        services.clawfactory.temporal.package =
          lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
      };

      nixosConfigurations = {
        vm = mkVm { name = "vm"; guest = "x86_64-linux"; };
        vm-aarch64 = mkVm { name = "vm-aarch64"; guest = "aarch64-linux"; };
        vm-darwin = mkVm { name = "vm-darwin"; guest = "aarch64-linux"; host = "aarch64-darwin"; };
      };

      packages = forSystems allSystems (pkgs: {
        default = (crateFor pkgs).package;
        vm = self.nixosConfigurations.${vmFor.${pkgs.stdenv.hostPlatform.system}}.config.system.build.vm;
      });

      apps = forSystems allSystems (pkgs:
        let
          inherit (pkgs.stdenv.hostPlatform) system;
          package = self.packages.${system}.default;
          # The same generated file the VM's units use: one declaration of the schedules.
          applianceConfig = self.nixosConfigurations.${vmFor.${system}}.config.services.clawfactory.temporal.configFile;
          app = description: drv: {
            type = "app";
            program = "${drv}/bin/${drv.name}";
            meta = { inherit description; };
          };
        in
        {
          # `nix run`: the local dev appliance (Temporal dev server, UI and worker).
          default = app "clawfactory-temporal dev: a local Temporal dev server, its UI and the worker" (pkgs.writeShellApplication {
            name = "clawfactory-temporal-dev";
            runtimeInputs = [ package pkgs.temporal-cli ];
            text = ''
              exec clawfactory-temporal dev "$@"
            '';
          });

          # nix run .#schedules [-- --address HOST:PORT] [apply [--dry-run] [--prune] | list | ...]
          schedules = app "Apply the appliance's declared schedules to a Temporal (default 127.0.0.1:7233)" (pkgs.writeShellApplication {
            name = "clawfactory-temporal-schedules";
            runtimeInputs = [ package ];
            text = ''
              address=127.0.0.1:7233
              while [ "$#" -gt 0 ]; do
                case "$1" in
                  --address) address=$2; shift 2 ;;
                  --address=*) address=''${1#--address=}; shift ;;
                  *) break ;;
                esac
              done
              [ "$#" -gt 0 ] || set -- apply
              exec clawfactory-temporal --config ${applianceConfig} schedules --address "$address" "$@"
            '';
          });
        });

      checks = forSystems linuxSystems (pkgs: import ./nix/checks.nix {
        inherit pkgs;
        craneLib = crane.mkLib pkgs;
        crate = crateFor pkgs;
        nixosModule = self.nixosModules.default;
      });

      devShells = forSystems allSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.cargo
            pkgs.clippy
            pkgs.rustc
            pkgs.rustfmt
            pkgs.cargo-nextest
            pkgs.temporal-cli
            pkgs.deadnix
            pkgs.nixpkgs-fmt
          ];
        };
      });

      formatter = forSystems allSystems (pkgs: pkgs.nixpkgs-fmt);
    };
}
