#!/usr/bin/env bash
# A removed secret really goes away. The NixOS module turns each credential option
# (gateway.tokenFile, gateway.hooksTokenFile, temporal.apiKeyFile, temporal.clientKeyFile) into a
# tmpfiles rule for /etc/clawfactory/credentials/<name>, the file the worker unit loads with
# LoadCredential=. This test takes those rules from the module's own evaluation (nixeval: all
# four tokens set, then none) and applies them in turn with the real systemd-tmpfiles to a
# temporary root, as switches would: set -> unset -> set, starting from empty credential files.
# After "unset" every credential must be what the worker reads as "no token": an existing, empty
# regular file (a missing one fails the unit's LoadCredential=). Each
# sequence runs with --create and with --create --remove (what NixOS's systemd-tmpfiles-setup and
# -resetup services run); systemd-tmpfiles must exit 0 (those services count its exit statuses
# 65 and 73 as success, so a rule it could not apply goes unnoticed there).
# It prints the rules, what systemd-tmpfiles said and what each path became after every step.
#
# Usage: nix/tests/tmpfiles-secret.sh [NIXEVAL_DIR]   (default: ../shared/nixeval beside the
# repository; without it the test is skipped). Needs nix-instantiate and systemd-tmpfiles
# (Debian's nix-bin and systemd, installed with apt-get when missing). Writes only to a
# temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
nixeval=${1:-../shared/nixeval}
if [ ! -f "$nixeval/eval.nix" ]; then
  echo "tmpfiles-secret: skipped: no nixeval at $nixeval (the rules come from the module's evaluation)"
  exit 0
fi
nixeval=$(cd "$nixeval" && pwd -P)

apt_install() {
  local sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" > /dev/null \
    || { $sudo apt-get update -qq > /dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" > /dev/null; }
}
command -v nix-instantiate > /dev/null || apt_install nix-bin
command -v systemd-tmpfiles > /dev/null || apt_install systemd

work=$(mktemp -d "${TMPDIR:-/tmp}/tmpfiles-secret.XXXXXX")
trap 'rm -rf "$work"' EXIT
credentials=(gateway-token hooks-token temporal-api-key temporal-client-key)
failures=0
fail() { echo "   FAIL: $*"; failures=$((failures + 1)); }

# --- the rules, from the module's evaluation (nixeval's eval.nix, as its run.sh uses it) ---
export NIXEVAL_PROJECT=$PWD NIX_CONFIG="build-users-group ="
if [ ! -w /nix/var/nix ] && [ ! -S /nix/var/nix/daemon-socket/socket ]; then
  NIX_CONFIG+=$'\nstore = dummy://'
fi
rules() { # NAME OPTIONS: the credentials' rules of the module with these options, as NixOS writes them
  nix-instantiate --eval --strict --json --argstr eval "$nixeval/eval.nix" -E "{ eval }: let h = (import eval).helpers; in
    (h.summary (h.temporal $2)).tmpfiles" > "$work/$1.json" 2> "$work/$1.err" || { cat "$work/$1.err" >&2; exit 1; }
  python3 - "$work/$1.json" > "$work/$1.conf" <<'PY'
import json, sys
rules = json.load(open(sys.argv[1]))["10-clawfactory-temporal"]
sys.stdout.write("".join(l + "\n" for l in rules.splitlines() if "'/etc/clawfactory/credentials" in l))
PY
}
rules token-set '{
  gateway = { tokenFile = "/run/secrets/gateway-token"; hooksTokenFile = "/run/secrets/hooks-token"; };
  temporal = { apiKeyFile = "/run/secrets/temporal-api-key"; clientKeyFile = "/run/secrets/temporal-client-key"; };
}'
rules token-unset '{ }'

# The file each credential is linked to by a rule (its L/L+ argument), else nothing.
link_target() { # SCENARIO NAME
  awk -v p="'/etc/clawfactory/credentials/$2'" '$2 == p && $1 ~ /^.L/ { print $7 }' "$work/$1.conf"
}

# --- applying them to a root ---
resolve() { # PATH inside $root, symlinks followed inside $root
  local path=$1 target hops=0
  while [ -L "$root$path" ] && [ $hops -lt 10 ]; do
    target=$(readlink "$root$path")
    case $target in /*) path=$target ;; *) path=$(dirname "$path")/$target ;; esac
    hops=$((hops + 1))
  done
  echo "$path"
}
describe() { # PATH: what it is, as the worker unit's LoadCredential= would read it
  local path=$1 real
  real=$(resolve "$path")
  if [ -L "$root$path" ]; then printf 'symlink -> %s, ' "$(readlink "$root$path")"; fi
  if [ ! -e "$root$real" ]; then echo "missing"
  elif [ -f "$root$real" ]; then echo "regular file, $(stat -c %s "$root$real") bytes${real:+ $(head -c 40 "$root$real" | tr '\n' ' ')}"
  else echo "not a regular file ($(stat -c %F "$root$real"))"; fi
}
apply() { # SCENARIO FLAGS...
  local scenario=$1 rc
  shift
  echo "-- $scenario: systemd-tmpfiles --root=ROOT $* $scenario.conf"
  sed 's/^/   rule: /' "$work/$scenario.conf"
  # Where a rule links a credential, the file it links to: a token (token-set), or the
  # module's store file, which the build makes empty.
  for name in "${credentials[@]}"; do
    target=$(link_target "$scenario" "$name")
    [ -n "$target" ] || continue
    mkdir -p "$root$(dirname "$target")"
    case $target in
      /nix/store/*) : > "$root$target" ;;
      *) printf 'token for %s\n' "$name" > "$root$target"; chmod 0600 "$root$target" ;;
    esac
  done
  rc=0
  systemd-tmpfiles --root="$root" "$@" "$work/$scenario.conf" > "$work/out" 2>&1 || rc=$?
  sed -e "s|$root||g" -e 's/^/   systemd-tmpfiles: /' "$work/out"
  echo "   exit status: $rc"
  [ "$rc" = 0 ] || fail "systemd-tmpfiles exited with $rc"
  for name in "${credentials[@]}"; do
    echo "   /etc/clawfactory/credentials/$name: $(describe "/etc/clawfactory/credentials/$name")"
  done
}
expect_token() { # the worker gets the token file's content
  for name in "${credentials[@]}"; do
    local path=/etc/clawfactory/credentials/$name real
    real=$(resolve "$path")
    if [ "$real" != "$(link_target token-set "$name")" ] || [ "$(cat "$root$real")" != "token for $name" ]; then
      fail "$path is not linked to the token file"
    fi
  done
}
expect_no_token() { # the worker gets an empty credential
  for name in "${credentials[@]}"; do
    local path=/etc/clawfactory/credentials/$name real
    real=$(resolve "$path")
    if [ "$real" = "$(link_target token-set "$name")" ]; then fail "$path still leads to the removed token file"
    elif [ ! -f "$root$real" ]; then fail "$path is not a regular file (LoadCredential= needs one)"
    elif [ -s "$root$real" ]; then fail "$path is not empty"
    fi
  done
}

for flags in "--create" "--create --remove"; do
  echo "== set -> unset -> set, with $flags"
  root=$work/root-${flags// /}
  # Where an earlier version of the module (and the Debian package) left them: empty files.
  mkdir -p "$root/etc/clawfactory/credentials"
  for name in "${credentials[@]}"; do install -m 0600 /dev/null "$root/etc/clawfactory/credentials/$name"; done
  # shellcheck disable=SC2086 # the flags are words
  apply token-set $flags
  expect_token
  # shellcheck disable=SC2086
  apply token-unset $flags
  expect_no_token
  # shellcheck disable=SC2086
  apply token-set $flags
  expect_token
done

if [ "$failures" = 0 ]; then
  echo "tmpfiles-secret: a removed secret goes away (set -> unset -> set, with --create and --create --remove)"
else
  echo "tmpfiles-secret: $failures check(s) FAILED"
  exit 1
fi
