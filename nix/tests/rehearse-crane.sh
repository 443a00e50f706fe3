#!/usr/bin/env bash
# Rehearses the crane checks of `nix flake check` (nix/checks.nix) on a machine that cannot
# build with Nix: the same files, the same commands, under the build sandbox's rules.
#
#   1. Nix 2.26 (../shared/nixeval/modern-nix.sh) evaluates nix/tests/crane-checks.nix: the
#      files of nix/package.nix's `src` (lib.fileset with the real nixpkgs lib and crane's
#      fileset helpers) and what nix/checks.nix passes to clippy, fmt, nextest and the package.
#   2. A fresh directory gets exactly those files.
#   3. Inside a new network namespace (loopback only, as the sandbox has) and mount namespace
#      (no /usr/bin, /usr/sbin or /usr/local/bin: no /usr/bin/env, no stray tools; /bin/sh
#      only), with `env -i`, HOME=/homeless-shelter and a PATH holding only the toolchain,
#      the tools the checks declare and stdenv's basic tools, it runs: cargo fmt --check,
#      clippy with the check's flags, the tests under cargo-nextest (one process per test)
#      with the check's environment and preCheck, and the package's install phase.
#
# What differs from a real `nix flake check`, on purpose (docs/nixos.md, "What is verified
# where"): the dev profile instead of release/dist (one build of the tree in CI: dependencies
# are shared with the README's test run through cargo's build-dir); root instead of the
# sandbox's build user; cargo's own registry cache instead of crane's vendored sources.
#
# Usage: nix/tests/rehearse-crane.sh [NIXEVAL_DIR]   (default ../shared/nixeval). Needs root.
# TEMPORAL (default target/venv/bin/temporal) stands in for pkgs.temporal-cli.
set -euo pipefail
cd "$(dirname "$0")/../.."
project=$PWD
nixeval=$(cd "${1:-../shared/nixeval}" && pwd -P)
work=$project/target/rehearsal
temporal=${TEMPORAL:-$project/target/venv/bin/temporal}
say() { echo "rehearse-crane: $*"; }
fail() { echo "rehearse-crane: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (network and mount namespaces)"
[ -x "$temporal" ] || fail "no Temporal CLI at $temporal (set TEMPORAL, or install tests/requirements.txt into target/venv)"

rm -rf "$work"
mkdir -p "$work/source" "$work/bin" "$work/tmp" "$work/out"

# --- 1. what Nix gives crane ---
plan=$work/checks.json
"$nixeval/modern-nix.sh" "$project" nix-instantiate --option warn-dirty false --eval --strict --json \
  nix/tests/crane-checks.nix --arg nixpkgsLib "$nixeval/nixpkgs-lib/lib" > "$plan" \
  || fail "evaluating nix/tests/crane-checks.nix failed (see above)"
field() { python3 -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."): value = value[key]
if isinstance(value, list): print("\n".join(value))
elif isinstance(value, dict): print("\n".join(f"{k}={v}" for k, v in sorted(value.items())))
else: print(value)' "$plan" "$1"; }
[ "$(field fmtSrcIsPackageSrc)" = True ] || fail "nix/checks.nix's fmt check no longer uses the package's src"
[ "$(field clippySrcIsTestsSrc)" = True ] || fail "nix/checks.nix's clippy checks must use the tests check's src (they compile the tests)"

# --- 2. the source set, and nothing else ---
field src > "$work/source-files"
(cd "$project" && cp --parents $(cat "$work/source-files") "$work/source/")
say "$(wc -l < "$work/source-files") files in nix/package.nix's src"
# A file that the crate reads at compile time but the set lacks fails the build with rustc's
# message; this names it first, with the reason, so a broken set is told in one line. Code
# outside tests must find it in the package's src; a test (under tests/, or after the file's
# first #[cfg(test)]) in the tests check's src, which clippy and the tests build from.
field tests.src > "$work/test-source-files"
missing=0
while IFS=: read -r file line included; do
  path=$(realpath -m "$(dirname "$work/source/$file")/$included")
  [ -e "$path" ] && continue
  relative=${path#"$work/source/"}
  first_test=$(grep -n '#\[cfg(test)\]' "$work/source/$file" | head -1 | cut -d: -f1)
  if [[ $file == tests/* || (-n $first_test && $first_test -lt $line) ]]; then
    grep -qxF "$relative" "$work/test-source-files" && continue
    echo "rehearse-crane: nix/package.nix's testSrc lacks $relative, which the test in $file reads at compile time" >&2
  else
    echo "rehearse-crane: nix/package.nix's src lacks $relative, which $file reads at compile time" >&2
  fi
  missing=1
done < <(cd "$work/source" && grep -rnoE --include='*.rs' 'include_(str|bytes)!\("[^"]+"\)' src tests \
  | sed -E 's/include_(str|bytes)!\("([^"]+)"\)/\2/')
[ "$missing" = 0 ] || fail "add the files above to nix/package.nix (src, or testSrc for what only tests read)"
# The tests check's source is the package's plus what only the tests read (nix/package.nix's
# testSrc: the README and the manual); the checks below run in one directory holding both.
(cd "$project" && cp --parents $(cat "$work/test-source-files") "$work/source/")
say "$(wc -l < "$work/test-source-files") files in the tests check's src"

# --- 3. the sandbox's PATH: copies, since /usr/bin is hidden below ---
tools=$work/bin
add_tool() { # NAME [PATH]: a copy of the host's tool under NAME
  local from=${2:-$(command -v "$1")} || true
  [ -n "$from" ] && [ -x "$from" ] || fail "no $1 on this machine"
  cp -L "$from" "$tools/$1"
}
sysroot=$(rustc --print sysroot)
for tool in cargo rustc rustdoc rustfmt cargo-fmt cargo-clippy clippy-driver; do
  ln -s "$sysroot/bin/$tool" "$tools/$tool" # outside /usr: the toolchain, as pkgs.cargo et al.
done
add_tool cargo-nextest
# stdenv's basic tools (coreutils, findutils, diffutils, sed, grep, gawk, tar, gzip, bzip2, xz,
# make, patch, bash) and the C toolchain rustc links with.
for tool in $(dpkg -L coreutils | sed -nE 's|^(/usr)?/bin/||p'); do add_tool "$tool" "/usr/bin/$tool"; done
for tool in find xargs diff cmp sed grep awk tar gzip bzip2 xz make patch bash \
  ld as ar ranlib nm strip objcopy; do add_tool "$tool"; done
# gcc finds its plugins relative to its own path, so it stays where it is: the hidden /usr/bin
# gets this one file back (below), and cc/gcc on PATH point at it.
gcc_driver=$(readlink -f "$(command -v cc)")
ln -s "$gcc_driver" "$tools/cc"
ln -s "$gcc_driver" "$tools/gcc"
cp "$tools/bash" "$tools/sh"
# The tools the tests check declares (nativeCheckInputs), stood in by the host's.
while read -r input; do
  case $input in
    temporal-cli) add_tool temporal "$temporal" ;;
    systemd) for tool in $(dpkg -L systemd | sed -nE 's|^(/usr)?/bin/||p'); do add_tool "$tool" "/usr/bin/$tool"; done ;;
    *) fail "nix/checks.nix's tests declare $input: say in nix/tests/rehearse-crane.sh which host tool stands in for it" ;;
  esac
done < <(field tests.nativeCheckInputs)

# The tests check's environment; a store path (@name@ in the evaluation) becomes its stand-in.
check_env=()
while IFS= read -r assignment; do
  check_env+=("$(printf '%s' "$assignment" | sed "s|@[a-z-]*@/bin/|$tools/|g")")
done < <(field tests.env)

# The commands, as crane runs them (lib/cargoFmt.nix, cargoClippy.nix, cargoNextest.nix), and
# the package's install phase with stdenv's substituteInPlace --replace-fail.
field tests.preCheck > "$work/preCheck.sh"
field package.postInstall > "$work/postInstall.sh"
cat > "$work/checks.sh" << EOF
set -euo pipefail
cd "$work/source"
substituteInPlace() { # FILE --replace-fail OLD NEW
  grep -qF -- "\$3" "\$1" || { echo "substituteInPlace: \$3 not in \$1" >&2; exit 1; }
  sed -i "s|\$3|\$4|g" "\$1"
}
step() { echo "rehearse-crane: \$1 (\$(( \$(date +%s) - started )) s so far)"; }
started=\$(date +%s)
[ ! -e /usr/bin/env ] || { echo "rehearse-crane: /usr/bin/env is visible: the sandbox is not" >&2; exit 1; }
step "cargo fmt --check"
cargo fmt -- --check
# What cargo-clippy does (clippy-driver as the workspace's rustc wrapper, the arguments after
# -- in CLIPPY_ARGS), in a build rather than a check: the lints are the same, and the
# dependencies are the README run's, not checked again (in CI, one build of the tree).
# Two checks: every target but the heavy runs, then those (see nix/checks.nix).
for clippy_args in "$(field clippy.extraArgs)" "$(field clippyHeavy.extraArgs)"; do
  export RUSTC_WORKSPACE_WRAPPER=clippy-driver
  export CLIPPY_ARGS=\$(printf '%s__CLIPPY_HACKERY__' \${clippy_args#*-- })
  step "cargo clippy --locked \$clippy_args (as a build)"
  cargo build --locked \${clippy_args%% --*}
done
step "tests: preCheck, then cargo nextest run --locked $(field tests.extraArgs)"
(
  . "$work/preCheck.sh"
  cargo nextest run --locked --no-fail-fast $(field tests.extraArgs)
)
step "the package's install phase (postInstall of nix/package.nix)"
out=$work/out
install -Dm755 "\$CARGO_TARGET_DIR/debug/$(field package.mainProgram)" "\$out/bin/$(field package.mainProgram)"
. "$work/postInstall.sh"
"\$out/bin/$(field package.mainProgram)" --version > /dev/null
step "done"
EOF

# --- 4. run them in the sandbox's shape ---
# Dependencies come from the README's test run (target/debug/deps, through cargo's build-dir);
# the crate's own artifacts land in target/rehearsal/out-target so they do not replace the
# README run's binaries.
# The host's CARGO_HOME, whose registry sources the README run's dependencies were built from
# (another path would rebuild them all); its bin/ (rustup's proxies, which cargo prefers for
# subcommands) is hidden below, as the sandbox has none.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
export cargo_home
sandbox_env=(
  HOME=/homeless-shelter TMPDIR="$work/tmp" PATH="$tools" TERM=dumb
  CARGO_HOME="$cargo_home" CARGO_NET_OFFLINE=true CARGO_TERM_COLOR=never
  CARGO_BUILD_BUILD_DIR="$project/target" CARGO_TARGET_DIR="$work/out-target"
  NEXTEST_SHOW_PROGRESS=counter
  "${check_env[@]}"
)
# ip and mount set the namespaces up and are not on the sandbox's PATH.
mkdir -p "$work/setup-bin" "$work/host-bin"
export gcc_driver host_bin=$work/host-bin
cp -L "$(command -v ip)" "$(command -v mount)" "$work/setup-bin/"
unshare --net --mount --propagation private "$tools/bash" -c '
  set -e
  tools=$0 setup=$1; shift
  "$setup/ip" link set lo up
  "$setup/mount" --bind /usr/bin "$host_bin"
  for dir in /usr/bin /usr/sbin /usr/local/bin "$cargo_home/bin"; do "$setup/mount" -t tmpfs -o size=8m,mode=755 tmpfs "$dir"; done
  "$tools/cp" "$tools/sh" /usr/bin/sh # the sandbox has /bin/sh (merged /usr: /bin is /usr/bin), nothing else
  "$tools/touch" "$gcc_driver"
  "$setup/mount" --bind "$host_bin/${gcc_driver##*/}" "$gcc_driver"
  exec "$tools/env" -i "$@"
' "$tools" "$work/setup-bin" "${sandbox_env[@]}" "$tools/bash" "$work/checks.sh"
