# crane's `fileset` helpers, shaped after ipetkov/crane at the revision flake.lock pins
# (lib/fileset/{commonCargoSources,cargoTomlAndLock,rust,toml}.nix): the rehearsal of the
# flake's checks (nix/tests/rehearse-crane.sh) evaluates nix/package.nix's `src` with these,
# under a current Nix, to learn which files crane's checks get. If crane changes these at a
# new pin, change them here too.
{ lib }:
let
  cargoTomlAndLock = path: lib.fileset.fileFilter (file: lib.elem file.name [ "Cargo.toml" "Cargo.lock" ]) path;
  rust = path: lib.fileset.fileFilter (file: file.hasExt "rs") path;
  toml = path: lib.fileset.fileFilter (file: file.hasExt "toml") path;
in
{
  inherit cargoTomlAndLock rust toml;
  commonCargoSources = path: lib.fileset.unions [ (cargoTomlAndLock path) (rust path) (toml path) ];
}
