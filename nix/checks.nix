# `nix flake check`: the Rust checks (sharing the package's dependency cache), the Nix files'
# lint and format, and the NixOS VM test of the appliance.
{ pkgs, craneLib, crate, nixosModule }:
let
  inherit (pkgs) lib;
  inherit (crate) commonArgs cargoArtifacts;

  nixFiles = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.fileFilter (file: file.hasExt "nix") ../.;
  };
in
{
  inherit (crate) package;

  # Clippy compiles the tests too, and some of them read the manual (its examples), so it sees
  # the tests' source; the dependency cache is the package's all the same.
  clippy = craneLib.cargoClippy (commonArgs // {
    inherit cargoArtifacts;
    src = crate.testSrc;
    cargoClippyExtraArgs = "--all-targets -- --deny warnings";
  });

  # `--all-targets` leaves out the heavy runs (`test = false` in Cargo.toml), and cargo drops
  # a `--test heavy` given beside it: they get a clippy run of their own.
  clippy-heavy = craneLib.cargoClippy (commonArgs // {
    inherit cargoArtifacts;
    src = crate.testSrc;
    cargoClippyExtraArgs = "--test heavy -- --deny warnings";
  });

  fmt = craneLib.cargoFmt { inherit (crate) src; };

  # The end-to-end tests start real `temporal server start-dev` processes on loopback (the
  # build sandbox has a loopback interface); tests/it/operations/units.rs runs systemd-analyze. Both tools
  # are inputs of this derivation only, so the dependency cache does not depend on them.
  tests = craneLib.cargoNextest (commonArgs // {
    inherit cargoArtifacts;
    # The package's source plus the manual the tests read (its config examples, the for_each
    # and overlap examples).
    src = crate.testSrc;
    nativeCheckInputs = [ pkgs.temporal-cli pkgs.systemd ];
    # Every test target, the heavy runs (`test = false` in Cargo.toml) included, as in CI.
    cargoNextestExtraArgs = "--lib --test '*'";
    TEMPORAL_BIN = lib.getExe pkgs.temporal-cli;
    # tests/openclaw/real.rs needs the real OpenClaw gateway, installed from the npm registry;
    # the sandbox has no network, so those tests print this reason and pass without running.
    # CI (.ci/run) installs it and runs them.
    CLAWFACTORY_SKIP_REAL_GATEWAY = "the Nix build sandbox has no network to install Node 24 and openclaw@2026.9.6 from the npm registry (CI runs these tests)";
    preCheck = ''
      export HOME="$(mktemp -d)"
      echo "tests/openclaw/real.rs: SKIPPED inside the Nix sandbox: $CLAWFACTORY_SKIP_REAL_GATEWAY"
    '';
  });

  nix-lint = pkgs.runCommand "clawfactory-temporal-nix-lint"
    {
      nativeBuildInputs = [ pkgs.deadnix pkgs.nixpkgs-fmt ];
    } ''
    cd ${nixFiles}
    deadnix --fail .
    nixpkgs-fmt --check .
    touch "$out"
  '';

  vm-test = import ./tests/vm.nix { inherit pkgs nixosModule; };
}
