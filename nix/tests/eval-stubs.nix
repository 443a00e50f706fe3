# NixOS options that the module, nix/vm.nix or the VM test's node (nix/tests/vm.nix) use and
# nixeval's stubs lack (../shared/nixeval/README.md): a list of modules added to the stubs.
# Types and defaults are those of the nixpkgs file named above each one.
[
  # nixos/modules/system/boot/systemd.nix (systemd.timers) with nixos/lib/systemd-unit-options.nix
  # (NixOS/nixpkgs 05e1dd32): of a timer's options only those the module sets, `enable` and
  # `wantedBy` from commonUnitOptions and `timerConfig` from timerOptions, whose values are
  # unitOption: lists concatenate, scalars must be equal.
  ({ lib, ... }:
    let
      unitOption = lib.mkOptionType {
        name = "systemd option";
        merge = loc: defs:
          if lib.any (def: lib.isList def.value) defs
          then lib.concatMap (def: lib.toList def.value) defs
          else lib.mergeEqualOption loc defs;
      };
    in
    {
      options.systemd.timers = lib.mkOption {
        default = { };
        type = lib.types.attrsOf (lib.types.submodule {
          options.enable = lib.mkOption { type = lib.types.bool; default = true; };
          options.wantedBy = lib.mkOption { type = lib.types.listOf lib.types.str; default = [ ]; };
          options.timerConfig = lib.mkOption { type = lib.types.attrsOf unitOption; default = { }; };
        });
      };
    })

  # nixos/modules/system/activation/specialisation.nix (NixOS/nixpkgs 05e1dd32), with its
  # no-clone.nix reduced to the option declared here. Only inheritParentConfig = true is
  # modelled: NixOS's `noUserModules` is not an argument lib.evalModules gives.
  # Not an option: the parent's system contains each child's (system.build.toplevel's
  # specialisation/), so a child's failed assertion fails the parent, and a child's units
  # and tmpfiles are evaluated with the parent's.
  ({ config, lib, extendModules, ... }: {
    options.specialisation = lib.mkOption {
      default = { };
      type = lib.types.attrsOf (lib.types.submodule {
        options.inheritParentConfig = lib.mkOption {
          type = lib.types.bool;
          default = true;
        };
        options.configuration = lib.mkOption {
          default = { };
          visible = "shallow";
          inherit (extendModules { modules = [{ specialisation = lib.mkOverride 0 { }; }]; }) type;
        };
      });
    };

    config.assertions = lib.concatLists (lib.mapAttrsToList
      (name: child: [
        {
          assertion = builtins.deepSeq child.configuration.systemd.rendered child.inheritParentConfig;
          message = "specialisation.${name}: nixeval models only inheritParentConfig = true";
        }
      ] ++ map (a: a // { message = "specialisation.${name}: ${a.message}"; }) child.configuration.assertions)
      config.specialisation);
  })
]
