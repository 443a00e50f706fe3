#!/usr/bin/env bash
# The Nix checks that run without a Nix store or network access to nixpkgs (CI has neither):
#   1. every .nix file parses (Debian's nix-bin: `nix-instantiate --parse`);
#   2. no unused bindings (deadnix --fail) and nixpkgs-fmt formatting (--check); the VM
#      test's Python script evaluates (with a stub runNixOSTest) and compiles;
#   3. flake.lock is a version-7 lock naming exactly the pinned nixpkgs and crane;
#   4. the unit files still say what the Nix code relies on (paths, names, variables,
#      the backup timer's schedule).
# Everything that needs nixpkgs (building, the module's option types, the VM test) is left to
# `nix flake check` on a machine with Nix. Idempotent; prints nothing on success.
set -euo pipefail
cd "$(dirname "$0")/.."

DEADNIX_VERSION=1.3.1
NIXPKGS_FMT_VERSION=1.3.0
NIXPKGS_REV=567a49d1913ce81ac6e9582e3553dd90a955875f
NIXPKGS_NARHASH=sha256-lrp67w8AulE9Ks53n27I45ADSzbOCn4H+CNW1Ck8B+8=
CRANE_REV=469fd08d0bcf6926321fa973c6777fbc87785dd7
CRANE_NARHASH=sha256-SlXKwIRIhrOSAcTjCB3ftPLzJWZStQIPS7J1FlZPnKk=

tools=$PWD/target/nix-tools
log=$(mktemp)
trap 'rm -f "$log" "$log.script"' EXIT
fail() { echo "nix/check-offline.sh: $*" >&2; exit 1; }
# Runs a command quietly; on failure shows its output and stops.
quiet() { "$@" > "$log" 2>&1 || { cat "$log" >&2; fail "failed: $*"; }; }

# --- tools ---
if ! command -v nix-instantiate > /dev/null; then
  apt-get install -y -qq --no-install-recommends nix-bin > "$log" 2>&1 \
    || { apt-get update -qq > /dev/null 2>&1 && quiet apt-get install -y -qq --no-install-recommends nix-bin; }
fi
install_tool() { # crate version binary
  if [ "$("$tools/bin/$3" --version 2>/dev/null)" != "$3 $2" ]; then
    quiet cargo install --locked --quiet --force --version "$2" --root "$tools" "$1"
  fi
}
install_tool deadnix "$DEADNIX_VERSION" deadnix
install_tool nixpkgs-fmt "$NIXPKGS_FMT_VERSION" nixpkgs-fmt

mapfile -t files < <(find . \( -path ./target -o -path ./.git \) -prune -o -name '*.nix' -print | sort)
[ "${#files[@]}" -gt 0 ] || fail "no .nix files found"

# --- 1. syntax (deadnix and nixpkgs-fmt pass files they cannot parse) ---
for file in "${files[@]}"; do
  nix-instantiate --parse "$file" > /dev/null 2> "$log" \
    || { grep -v "group 'nixbld'" "$log" >&2; fail "$file does not parse"; }
done

# --- 2. lint and format ---
quiet "$tools/bin/deadnix" --fail "${files[@]}"
quiet "$tools/bin/nixpkgs-fmt" --check "${files[@]}"

# --- the VM test's Python script (it needs only a stub runNixOSTest to evaluate) compiles ---
nix-instantiate --eval --strict --json -E \
  '(import ./nix/tests/vm.nix { pkgs = { testers.runNixOSTest = test: test; }; nixosModule = null; }).testScript' \
  2> "$log" > "$log.script" || { grep -v "group 'nixbld'" "$log" >&2; fail "nix/tests/vm.nix: testScript does not evaluate"; }
python3 -c 'import json, sys; compile(json.load(open(sys.argv[1])), "nix/tests/vm.nix testScript", "exec")' "$log.script" \
  || fail "nix/tests/vm.nix: testScript is not valid Python"

# --- 3. flake.lock and 4. the unit files against the Nix code ---
python3 - "$NIXPKGS_REV" "$NIXPKGS_NARHASH" "$CRANE_REV" "$CRANE_NARHASH" <<'PY'
import json, re, sys

nixpkgs_rev, nixpkgs_hash, crane_rev, crane_hash = sys.argv[1:]
errors = []
def check(ok, message):
    if not ok:
        errors.append(message)

# 3. flake.lock
try:
    lock = json.load(open("flake.lock"))
except (OSError, ValueError) as err:
    sys.exit(f"nix/check-offline.sh: flake.lock is not valid JSON: {err}")
check(lock.get("version") == 7, "flake.lock: version must be 7")
nodes = lock.get("nodes", {})
check(lock.get("root") == "root", 'flake.lock: root must be "root"')
check(set(nodes) == {"root", "nixpkgs", "crane"}, f"flake.lock: nodes must be root, nixpkgs, crane, not {sorted(nodes)}")
check(nodes.get("root", {}).get("inputs") == {"nixpkgs": "nixpkgs", "crane": "crane"},
      "flake.lock: root.inputs must be nixpkgs and crane")
pins = {
    "nixpkgs": ("NixOS", "nixpkgs", nixpkgs_rev, nixpkgs_hash, "nixos-unstable"),
    "crane": ("ipetkov", "crane", crane_rev, crane_hash, None),
}
for name, (owner, repo, rev, nar_hash, ref) in pins.items():
    node = nodes.get(name, {})
    locked, original = node.get("locked", {}), node.get("original", {})
    check(locked.get("type") == "github" and locked.get("owner") == owner and locked.get("repo") == repo,
          f"flake.lock: {name} must be locked as github:{owner}/{repo}")
    check(locked.get("rev") == rev, f"flake.lock: {name}.locked.rev must be {rev}")
    check(locked.get("narHash") == nar_hash, f"flake.lock: {name}.locked.narHash must be {nar_hash}")
    check(isinstance(locked.get("lastModified"), int), f"flake.lock: {name}.locked.lastModified must be an integer")
    expected = {"type": "github", "owner": owner, "repo": repo, **({"ref": ref} if ref else {})}
    check(original == expected, f"flake.lock: {name}.original must be {expected}")
    check("inputs" not in node, f"flake.lock: {name} has no inputs of its own")
flake = open("flake.nix").read()
check('nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";' in flake, "flake.nix: nixpkgs.url must match the lock")
check('crane.url = "github:ipetkov/crane";' in flake, "flake.nix: crane.url must match the lock")

# 4. What nix/package.nix and nix/module.nix rely on in the shipped unit files.
def unit(name):
    return open(f"nix/systemd/{name}.service").read().splitlines()
worker, server, serve = unit("clawfactory-temporal-worker"), unit("clawfactory-temporal"), unit("clawfactory-tailscale-serve")
backup, backup_timer = unit("clawfactory-temporal-backup"), open("nix/systemd/clawfactory-temporal-backup.timer").read().splitlines()
module = open("nix/module.nix").read()
for name, lines in [("worker", worker), ("server", server), ("backup", backup)]:
    # package.nix: substituteInPlace --replace-fail /usr/bin/clawfactory-temporal
    check(any(l.startswith("ExecStart=/usr/bin/clawfactory-temporal ") for l in lines),
          f"{name} unit: ExecStart=/usr/bin/clawfactory-temporal ... (package.nix rewrites that path)")
    # module.nix: environment.CLAWFACTORY_CONFIG overrides the unit's own
    check("Environment=CLAWFACTORY_CONFIG=/etc/clawfactory/temporal.toml" in lines,
          f"{name} unit: Environment=CLAWFACTORY_CONFIG=/etc/clawfactory/temporal.toml")
for credential in ["gateway-token", "hooks-token", "temporal-api-key", "temporal-client-key"]:
    check(f"LoadCredential={credential}:/etc/clawfactory/credentials/{credential}" in worker,
          f"worker unit: LoadCredential={credential}:/etc/clawfactory/credentials/{credential} (module.nix links the token file there)")
# module.nix, server.enable = false: the same two sed expressions must remove every reference.
derived = [re.sub(r" clawfactory-temporal\.service", "", l) if l.startswith("After=") else l
           for l in worker if l != "Requires=clawfactory-temporal.service"]
check(any("clawfactory-temporal.service" in l for l in worker), "worker unit: depends on clawfactory-temporal.service")
check(not any("clawfactory-temporal.service" in l and not l.startswith("#") for l in derived),
      "worker unit: a server reference the module's sed does not remove")
check("User=clawfactory" in server and "Group=clawfactory" in server, "server unit: User=/Group=clawfactory (module.nix creates them)")
data_dir = re.search(r'defaultDataDir = "([^"]+)";', module)
check(data_dir and f"ReadWritePaths={data_dir.group(1)}" in server,
      "server unit: ReadWritePaths= must be module.nix's defaultDataDir")
# module.nix replaces the backup unit's ReadWritePaths= and the timer's OnCalendar= only when
# an option differs from what the units say.
backup_dir = re.search(r'defaultBackupDir = "([^"]+)";', module)
check(data_dir and backup_dir and f"ReadWritePaths={data_dir.group(1)} {backup_dir.group(1)}" in backup,
      "backup unit: ReadWritePaths= must be module.nix's defaultDataDir and defaultBackupDir")
check("User=clawfactory" in backup, "backup unit: User=clawfactory (the database is the server user's)")
schedule = re.search(r'defaultBackupSchedule = "([^"]+)";', module)
check(schedule and f"OnCalendar={schedule.group(1)}" in backup_timer,
      "backup timer: OnCalendar= must be module.nix's defaultBackupSchedule")
for var in ["CLAWFACTORY_SERVE_HTTPS_PORT", "CLAWFACTORY_SERVE_TARGET"]:
    check(any(l.startswith("Environment=") and f"{var}=" in l for l in serve) and var in module,
          f"tailscale serve unit and module.nix: {var}")
check(any(l.startswith("ExecStart=tailscale ") for l in serve),
      "tailscale serve unit: ExecStart=tailscale ... (module.nix sets ExecSearchPath)")

if errors:
    sys.exit("nix/check-offline.sh:\n  " + "\n  ".join(errors))
PY
