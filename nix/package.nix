# The binary, built with crane, plus the files the appliance needs beside it: the unit files
# (nix/systemd, the same ones the Debian package ships) and the nginx site.
#
# Returns the package and what the checks (nix/checks.nix) share with it: the source and the
# dependency cache, so clippy and the tests do not build the dependencies again.
{ lib, craneLib }:
let
  root = ../.;

  # Cargo's sources (crane: Cargo.toml, Cargo.lock, every *.rs and *.toml) and exactly the other
  # files that the build, clippy or the tests read, so that a README or docs edit does not
  # change the package's hash. nix/tests/rehearse-crane.sh (CI) builds and tests from this set.
  srcFiles = lib.fileset.unions [
    (craneLib.fileset.commonCargoSources root)
    # The unit files and the nginx site: postInstall installs them; tests/it/operations/units.rs reads them.
    ./systemd
    ./nginx
    # The failure catalogue's table: src/failure.rs's unit test include_str!s it to hold the
    # catalogue and the docs to each other (a compile error without it).
    ../docs/failures.md
    # Recorded workflow histories that tests/it/workflows/replay/ replays against today's workflow code.
    ../tests/histories
    # The config file's JSON Schema: postInstall installs it; src/config/schema.rs's unit test
    # holds it equal to what the config types generate.
    ../docs/config.schema.json
  ];
  src = lib.fileset.toSource { inherit root; fileset = srcFiles; };

  # What the tests read besides: the README and the manual — the config examples (each ```toml
  # block; the Debian package's temporal.toml is a *.toml, already in `src`), which
  # src/config/schema.rs validates against the schema and loads, and the examples of
  # docs/declared-workflows.md that unit tests compile. Only the tests' source (the clippy and
  # tests checks) has them, so a docs edit does not rebuild the package.
  testSrc = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      srcFiles
      ../README.md
      (lib.fileset.fileFilter (file: file.hasExt "md") ../docs)
    ];
  };

  # The feature `vendored-protox` (Cargo.toml) compiles the Temporal protos without protoc.
  commonArgs = {
    inherit src;
    strictDeps = true;
  };

  # The checks (nix/checks.nix) build with the default release profile and share these.
  cargoArtifacts = craneLib.buildDepsOnly commonArgs;

  # The shipped binary uses Cargo.toml's `dist` profile (small over fast: fat LTO, one codegen
  # unit), the same one the Debian package and the benchmark use; its dependencies are built
  # for that profile too.
  distArgs = commonArgs // { CARGO_PROFILE = "dist"; };

  package = craneLib.buildPackage (distArgs // {
    cargoArtifacts = craneLib.buildDepsOnly distArgs;
    # The tests run once, in the nextest check (nix/checks.nix), with the Temporal CLI.
    doCheck = false;

    # The unit files say ExecStart=/usr/bin/clawfactory-temporal (the Debian path). The
    # path is fixed here, at install time, rather than by an ExecStart= override in the
    # module: the unit's command line then stays written once, in the unit file, and a
    # changed unit file fails this build (--replace-fail) instead of going stale.
    postInstall = ''
      for unit in nix/systemd/*.service nix/systemd/*.timer; do
        install -Dm644 "$unit" "$out/lib/systemd/system/$(basename "$unit")"
      done
      for unit in clawfactory-temporal-worker clawfactory-temporal clawfactory-temporal-backup; do
        substituteInPlace "$out/lib/systemd/system/$unit.service" \
          --replace-fail /usr/bin/clawfactory-temporal "$out/bin/clawfactory-temporal"
      done
      install -Dm644 nix/nginx/clawfactory-temporal.conf \
        "$out/share/clawfactory-temporal/nginx/clawfactory-temporal.conf"
      # Checked in rather than generated here by running the binary: it works cross-compiled, and
      # a `#:schema` line can point at the file in a checkout too.
      install -Dm644 docs/config.schema.json \
        "$out/share/clawfactory-temporal/config.schema.json"
    '';

    meta = {
      description = "Durable orchestration of OpenClaw agent turns on Temporal";
      license = lib.licenses.mit;
      mainProgram = "clawfactory-temporal";
      platforms = lib.platforms.unix;
    };
  });
in
{
  inherit src testSrc commonArgs cargoArtifacts package;
}
