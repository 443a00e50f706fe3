# What `nix flake check` gives crane, without building anything: nix/package.nix's `src` as a
# list of files, and the arguments nix/checks.nix passes to crane's clippy, fmt and nextest
# checks. nix/tests/rehearse-crane.sh runs those checks from this. Needs Nix >= 2.18
# (lib.fileset) and the nixpkgs lib:
#   nix-instantiate --eval --strict --json nix/tests/crane-checks.nix --arg nixpkgsLib PATH/lib
{ nixpkgsLib }:
let
  realLib = import nixpkgsLib;

  # lib.fileset.toSource builds a store path; here it lists the files it would hold, relative
  # to the root. A flake in a git repository sees only the files git tracks (not target/).
  lib = realLib.extend (_: prev: {
    fileset = prev.fileset // {
      toSource = { root, fileset }:
        map (file: prev.removePrefix "./" (prev.path.removePrefix root file))
          (prev.fileset.toList (prev.fileset.intersection fileset (prev.fileset.gitTracked root)));
    };
  });

  # crane's builders return their arguments: what each check would be called with.
  craneLib = {
    fileset = import ./crane-fileset.nix { inherit lib; };
    buildDepsOnly = args: args;
    buildPackage = args: args;
    cargoClippy = args: args;
    cargoFmt = args: args;
    cargoNextest = args: args;
  };

  # The packages the checks name; `@name@` stands for the store path the rehearsal maps to a
  # host tool.
  fakePackage = name: mainProgram: {
    type = "derivation";
    inherit name;
    outPath = "@${name}@";
    meta.mainProgram = mainProgram;
  };
  pkgs = {
    inherit lib;
    temporal-cli = fakePackage "temporal-cli" "temporal";
    systemd = fakePackage "systemd" "systemctl";
    deadnix = fakePackage "deadnix" "deadnix";
    nixpkgs-fmt = fakePackage "nixpkgs-fmt" "nixpkgs-fmt";
    runCommand = name: _: _: fakePackage name name;
  };

  crate = import ../package.nix { inherit lib craneLib; };
  checks = import ../checks.nix { inherit pkgs craneLib crate; nixosModule = { }; };

  # The tests check's environment: every string-valued argument crane exports as-is.
  exported = lib.filterAttrs (name: value: builtins.isString value && builtins.match "[A-Z_][A-Z0-9_]*" name != null);
in
{
  src = crate.src;
  package = {
    profile = crate.package.CARGO_PROFILE;
    postInstall = crate.package.postInstall;
    mainProgram = crate.package.meta.mainProgram;
  };
  fmtSrcIsPackageSrc = checks.fmt.src == crate.src;
  # Clippy compiles the tests: it must see what they read, the tests check's source.
  clippySrcIsTestsSrc = checks.clippy.src == checks.tests.src && checks.clippy-heavy.src == checks.tests.src;
  clippy.extraArgs = checks.clippy.cargoClippyExtraArgs;
  clippyHeavy.extraArgs = checks.clippy-heavy.cargoClippyExtraArgs;
  tests = {
    # The package's src plus what only the tests read (the docs' config examples).
    src = checks.tests.src;
    env = exported checks.tests;
    nativeCheckInputs = map (p: p.name) checks.tests.nativeCheckInputs;
    preCheck = checks.tests.preCheck or "";
    extraArgs = checks.tests.cargoNextestExtraArgs or "";
  };
}
