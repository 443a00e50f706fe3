#!/usr/bin/env bash
# Builds the Debian/Ubuntu package of the appliance from a built binary:
#   nix/debian/build-deb.sh target/dist/clawfactory-temporal [OUT_DIR]
# The units and the nginx site come from nix/systemd and nix/nginx, the same files the
# NixOS module uses. The `temporal` CLI is a prerequisite (see docs/debian.md), not bundled.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:?usage: build-deb.sh PATH_TO_BINARY [OUT_DIR]}
out=${2:-$root/target/debian}
version=$(awk -F'"' '/^version *=/{print $2; exit}' "$root/Cargo.toml")
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

install -Dm755 "$binary" "$stage/usr/bin/clawfactory-temporal"
for unit in "$root"/nix/systemd/*.service "$root"/nix/systemd/*.timer; do
  install -Dm644 "$unit" "$stage/lib/systemd/system/$(basename "$unit")"
done
install -Dm644 "$root/nix/systemd/clawfactory-temporal.tmpfiles" "$stage/usr/lib/tmpfiles.d/clawfactory-temporal.conf"
install -Dm644 "$root/nix/nginx/clawfactory-temporal.conf" "$stage/etc/nginx/sites-available/clawfactory-temporal"
install -Dm644 "$here/temporal.toml" "$stage/etc/clawfactory/temporal.toml"
# The config file's JSON Schema for editors (temporal.toml's `#:schema` line points at it).
install -Dm644 "$root/docs/config.schema.json" "$stage/usr/share/clawfactory-temporal/config.schema.json"
install -Dm644 "$root/README.md" "$stage/usr/share/doc/clawfactory-temporal/README.md"
for page in "$root"/docs/*.md; do
  install -Dm644 "$page" "$stage/usr/share/doc/clawfactory-temporal/docs/$(basename "$page")"
done

mkdir -p "$stage/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" "$here/control" > "$stage/DEBIAN/control"
install -m755 "$here/postinst" "$here/prerm" "$here/postrm" "$stage/DEBIAN/"
echo /etc/clawfactory/temporal.toml > "$stage/DEBIAN/conffiles"
echo /etc/nginx/sites-available/clawfactory-temporal >> "$stage/DEBIAN/conffiles"

mkdir -p "$out"
deb="$out/clawfactory-temporal_${version}_${arch}.deb"
# Tests set DEB_COMPRESS="-Zgzip -z1": a debug binary is large, xz is slow.
dpkg-deb --root-owner-group ${DEB_COMPRESS:--Zxz} --build "$stage" "$deb" >/dev/null
echo "$deb"
