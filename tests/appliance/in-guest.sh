#!/bin/bash
# Runs INSIDE the booted appliance container (systemd is PID 1). Installs the package the
# way a user would, then checks the appliance's promises. Prints PASS/FAIL lines and a
# SUMMARY; exits non-zero on any failure.
set -u
exec > >(tee /srv/results/test.log) 2>&1
W=clawfactory-temporal-worker
S=clawfactory-temporal
pass=0; fail=0
ok()   { echo "PASS: $*"; pass=$((pass+1)); }
bad()  { echo "FAIL: $*"; fail=$((fail+1)); }
check(){ local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
prop() { systemctl show -P "$2" "$1"; }
wait_for() { local secs=$1; shift; for _ in $(seq $((secs*10))); do "$@" && return 0; sleep 0.1; done; return 1; }
now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.2f\", $(now)-$1}"; }
finish() {
  journalctl -b --no-pager -o short-monotonic > /srv/results/journal.txt 2>/dev/null
  journalctl -b --no-pager -o json > /srv/results/journal.json 2>/dev/null
  echo "SUMMARY: pass=$pass fail=$fail"
  [ "$fail" -eq 0 ]
  exit $?
}
systemctl is-system-running --wait >/dev/null 2>&1
# A minimal rootfs may not resolve "localhost"; the CLI's default address needs it.
export TEMPORAL_ADDRESS=127.0.0.1:7233

# --- install, as a person would ---
dpkg -i /srv/appliance/clawfactory-temporal.deb >/dev/null || { bad "dpkg -i"; finish; }
install -m755 /srv/appliance/temporal /usr/local/bin/temporal
TOKEN="appliance-hooks-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$TOKEN" > /etc/clawfactory/credentials/hooks-token
printf '%s\n' "$TOKEN" > /srv/results/hooks-token
cat > /etc/clawfactory/temporal.toml <<'TOML'
[gateway]
api = "hooks-agent"
url = "http://127.0.0.1:18789"

[workflows.agent_turn.retry]
initial_interval = "1s"
maximum_interval = "2s"

[workflows.poetry_research]
settle = "1s"
TOML
check "check-config accepts the appliance config" /usr/bin/clawfactory-temporal check-config >/dev/null
# The watchdog test below would wait 30 s with the shipped WatchdogSec; a drop-in shortens it.
mkdir -p /etc/systemd/system/$W.service.d
printf '[Service]\nWatchdogSec=4\n' > /etc/systemd/system/$W.service.d/test-watchdog.conf
systemctl daemon-reload
systemd-run --quiet --unit=fake-gateway /usr/bin/python3 /srv/appliance/fake_gateway.py 18789
ln -sf /etc/nginx/sites-available/clawfactory-temporal /etc/nginx/sites-enabled/clawfactory-temporal
systemctl restart nginx

# --- readiness ---
t=$(now); systemctl start $S; echo "INFO: systemctl start $S (READY) took $(since "$t")s"
check "server active after READY" systemctl is-active --quiet $S
t=$(now); systemctl start $W; echo "INFO: systemctl start $W (READY) took $(since "$t")s"
if systemctl is-active --quiet $W; then ok "worker active after READY"; else
  bad "worker active after READY"
  systemctl status --no-pager $W | sed 's/^/  status: /'
  journalctl -u $W --no-pager -n 30 | sed 's/^/  journal: /'
  finish
fi
status=$(prop $W StatusText)
check "worker STATUS= is set ($status)" test "${status#polling clawfactory on }" != "$status"

run_poetry() { # id settle
  temporal workflow start --type PoetryResearchWorkflow --task-queue clawfactory \
    --workflow-id "$1" --input "{\"settle\": \"$2\"}" >/dev/null
}
settling() { # id: the execute turn is recorded and the run is in its durable wait
  temporal workflow query --workflow-id "$1" --type phase 2>/dev/null | grep -q "settling until"
}
completed() { # id
  timeout 120 temporal workflow result --workflow-id "$1" 2>/dev/null | grep -q "Poetry research workflow completed"
}

# --- a run, exactly as the reference's docs start it (the short settle comes from config) ---
temporal workflow start --type PoetryResearchWorkflow --task-queue clawfactory \
  --workflow-id poetry-research-manual >/dev/null
check "PoetryResearchWorkflow completes against the gateway" completed poetry-research-manual
check "the gateway saw both turns with the hooks token" \
  bash -c "grep -c 'poetry-research-' /srv/results/gateway.log | grep -qx 2"

# --- journald: structured fields, priorities, no token ---
J=$(journalctl -u $W -o json --no-pager)
check "journal: records carry WORKFLOW_ID=poetry-research-manual" \
  bash -c "journalctl -u $W WORKFLOW_ID=poetry-research-manual -o json --no-pager | grep -q 'AGENT_ID'"
for field in '"ACTIVITY_TYPE":"trigger_agent_turn"' '"ATTEMPT":"1"' '"WORKFLOW_TYPE":"PoetryResearchWorkflow"' '"RUN_ID":'; do
  check "journal: records carry $field" \
    bash -c "journalctl -u $W WORKFLOW_ID=poetry-research-manual -o json --no-pager | grep -qF '$field'"
done
check "journal: PRIORITY set (info=6)" bash -c "grep -q '\"PRIORITY\":\"6\"' <<<'$J'"
check "journal: server lines re-emitted with priorities" bash -c "journalctl -u $S -o json --no-pager | grep -q '\"TARGET\":\"temporal_server\"\\|temporal_server'"
check "journal: the token appears nowhere" bash -c "! journalctl -b --no-pager | grep -qF '$TOKEN'"

# --- worker SIGKILLed during the wait ---
run_poetry survive-kill 6s
wait_for 30 settling survive-kill
n=$(prop $W NRestarts); pid=$(prop $W MainPID)
kill -9 "$pid"
check "worker restarted after SIGKILL" wait_for 30 bash -c "[ \$(systemctl show -P NRestarts $W) -gt $n ] && systemctl is-active --quiet $W"
check "the run survives the killed worker" completed survive-kill

# --- a frozen worker is killed by the watchdog ---
n=$(prop $W NRestarts); pid=$(prop $W MainPID)
kill -STOP "$pid"
check "watchdog restarts a frozen worker" wait_for 30 bash -c "[ \$(systemctl show -P NRestarts $W) -gt $n ] && systemctl is-active --quiet $W"
check "journal names the watchdog" bash -c "journalctl -u $W --no-pager | grep -q 'Watchdog timeout'"

# --- the server restarted during the wait ---
run_poetry survive-server 6s
wait_for 30 settling survive-server
systemctl restart $S
systemctl start $W
check "the run survives a server restart" completed survive-server

# --- backups: the package's timer takes them; a restore through the units (docs/backup.md) ---
B=clawfactory-temporal-backup
BK=/srv/clawfactory/backups
DB=/srv/clawfactory/temporal/temporal.db
check "the package enabled and started the backup timer" \
  bash -c "systemctl is-enabled --quiet $B.timer && systemctl is-active --quiet $B.timer"
# A schedule of every 5 s in a drop-in, as an admin would shorten it (the NixOS module writes
# backup.schedule the same way).
mkdir -p /etc/systemd/system/$B.timer.d
printf '[Timer]\nOnCalendar=\nOnCalendar=*:*:0/5\nAccuracySec=1s\n' > /etc/systemd/system/$B.timer.d/test-schedule.conf
systemctl daemon-reload
systemctl restart $B.timer
check "the timer ran the backup service, which took a checked backup" \
  wait_for 30 bash -c "journalctl -u $B.service --no-pager | grep -q 'backup $BK/temporal-.*integrity ok'"
systemctl stop $B.timer
run_poetry survive-restore 45s
wait_for 30 settling survive-restore
systemctl start $B.service
F=$(ls $BK/temporal-*.db | tail -1)
echo "INFO: restoring $F ($(stat -c %s "$F") bytes; $(ls $BK/temporal-*.db | wc -l) backups kept)"
check "a backup is the server user's, mode 600" test "$(stat -c '%U:%G %a' "$F")" = "clawfactory:clawfactory 600"
# After the backup: gone again once it is restored.
temporal workflow start --type PoetryResearchWorkflow --task-queue clawfactory \
  --workflow-id after-the-backup --input '{"settle": "1h"}' >/dev/null
refused() { # the restore's exit code and output
  [ "$1" -ne 0 ] && grep -q 'is open in process' <<<"$2" \
    && grep -q 'systemctl stop clawfactory-temporal-worker clawfactory-temporal' <<<"$2"
}
out=$(clawfactory-temporal restore "$F" 2>&1); rc=$?
check "restore refuses while the server runs, saying what to stop" refused "$rc" "$out"
t=$(now)
systemctl stop clawfactory-temporal-worker clawfactory-temporal
check "restore puts the backup in place" clawfactory-temporal restore "$F"
systemctl start clawfactory-temporal clawfactory-temporal-worker
echo "INFO: stop, restore, start took $(since "$t")s"
check "the restored database is the server user's, mode 600" \
  test "$(stat -c '%U:%G %a' $DB)" = "clawfactory:clawfactory 600"
check "the replaced database is kept aside" bash -c "ls $DB.replaced-*/temporal.db >/dev/null"
check "the run waiting in the backup completes after the restore" completed survive-restore
check "a completed run's history is back" \
  bash -c "temporal workflow show --workflow-id poetry-research-manual | grep -q WorkflowExecutionCompleted"
check "what started after the backup is gone" \
  bash -c "! temporal workflow describe --workflow-id after-the-backup >/dev/null 2>&1"
check "the timer's service still works after the restore" systemctl start $B.service

# --- the killswitch the host's snapshot sync writes, as the worker unit sees it ---
KS=/tmp/clawfactory-snapshot-sync/KILLSWITCH_default
check "the killswitch directory exists from boot (tmpfiles)" test -d "${KS%/*}"
mkdir -p "${KS%/*}" && touch "$KS"
temporal workflow start --type CustomWorkflow --task-queue clawfactory --workflow-id killswitched \
  --input '{"steps": [{"type": "agent_turn", "agent_id": "poetry-research-execute"}]}' >/dev/null
timeout 60 temporal workflow result --workflow-id killswitched >/dev/null 2>&1 || true
check "a killswitch file the host writes stops the worker's agent turns" \
  bash -c "temporal workflow show --workflow-id killswitched --output json | grep -q KillswitchActive"
rm -f "$KS"

# --- UI through nginx, loopback-only ports ---
check "nginx :8082 serves the Temporal UI" bash -c "curl -fsS http://127.0.0.1:8082/ | grep -qi '<html'"
check "a UI API call through nginx works" bash -c "curl -fsS http://127.0.0.1:8082/api/v1/namespaces | grep -q '\"default\"'"
# --- the UI in a real browser: Chromium on the host, in this container's network namespace
#     (run.sh's browser agent), as a person's browser would reach the appliance ---
browse() { # NAME URL: the rendered page into /srv/results/browser-NAME.html
  rm -f /srv/results/browser-$1.html /srv/results/browser-$1.done
  printf '%s %s\n' "$1" "$2" > /srv/results/browser-$1.request
  wait_for 90 test -e /srv/results/browser-$1.done
}
shows() { grep -q -- "$2" /srv/results/browser-$1.html; }
UI=http://127.0.0.1:8082
RUN_ID=$(temporal workflow describe --workflow-id poetry-research-manual -o json | python3 -c \
  'import json, sys; print(json.load(sys.stdin)["workflowExecutionInfo"]["execution"]["runId"])')
browse list "$UI/namespaces/default/workflows"
check "the browser renders the workflow list through nginx" \
  bash -c "$(declare -f shows); shows list poetry-research-manual && shows list PoetryResearchWorkflow"
browse history "$UI/namespaces/default/workflows/poetry-research-manual/$RUN_ID/history"
check "the browser renders a run's history: its agent turns and its timer" \
  bash -c "$(declare -f shows); shows history trigger_agent_turn && shows history 'Timer Started'"
# A filter on the appliance's own search attribute (registered by its server unit, set by the
# workflows): PoetryResearch runs ran the synthesize turn; the killswitched CustomWorkflow did not.
browse filtered "$UI/namespaces/default/workflows?query=ClawTurns%3D%22poetry-research-synthesize%22"
check "the browser's ClawTurns filter shows only the runs that ran that turn" \
  bash -c "$(declare -f shows); shows filtered poetry-research-manual && ! shows filtered killswitched"
# Basic auth on, as docs/debian.md says to turn it on: nothing without the password.
python3 -W ignore -c 'import crypt; print("ui:" + crypt.crypt("ui-password", crypt.mksalt(crypt.METHOD_SHA512)))' \
  > /etc/nginx/clawfactory-temporal.htpasswd
rm /etc/nginx/sites-enabled/clawfactory-temporal # the link to the shipped site: write a copy instead
sed 's|^    location / {|    auth_basic "Temporal UI";\n    auth_basic_user_file /etc/nginx/clawfactory-temporal.htpasswd;\n\n&|' \
  /etc/nginx/sites-available/clawfactory-temporal > /etc/nginx/sites-enabled/clawfactory-temporal
systemctl reload nginx
status_is() { test "$(curl -s -o /dev/null -w '%{http_code}' $UI/)" = "$1"; }
# A reload returns before the new workers serve: wait for the change to show.
check "with basic auth on, the UI answers 401 without the password" wait_for 10 status_is 401
browse locked "$UI/namespaces/default/workflows"
check "and the browser gets none of the UI (no app code, no run)" \
  bash -c "$(declare -f shows); ! shows locked _app/immutable && ! shows locked poetry-research-manual"
browse unlocked "http://ui:ui-password@127.0.0.1:8082/namespaces/default/workflows"
check "with the password, the browser renders the workflow list (its API calls authenticated too)" \
  bash -c "$(declare -f shows); shows unlocked poetry-research-manual"
rm /etc/nginx/sites-enabled/clawfactory-temporal
ln -s /etc/nginx/sites-available/clawfactory-temporal /etc/nginx/sites-enabled/clawfactory-temporal
systemctl reload nginx
check "basic auth off again: the shipped site answers 200" wait_for 10 status_is 200
for port in 7233 7243 8233; do
  check "port $port listens on 127.0.0.1 only" bash -c \
    "ss -Hltn 'sport = :$port' | awk '{print \$4}' | grep -q . && ! ss -Hltn 'sport = :$port' | awk '{print \$4}' | grep -vq '^127.0.0.1:'"
done
# --- tailscale serve: port and target come from the unit's Environment=, which a drop-in
#     overrides (as the NixOS module does); a stand-in tailscale records what it is asked ---
cat > /usr/bin/tailscale <<'SH'
#!/bin/sh
echo "$*" >> /srv/results/tailscale.log
case "$1 $2" in
  "status --json") echo '{"BackendState": "Running"}' ;;
  "serve status") echo '{"TCP": {"9443": {"HTTPS": true}}, "Web": {"appliance.example.ts.net:9443": {"Handlers": {"/": {"Proxy": "http://127.0.0.1:9082"}}}}}' ;;
esac
SH
chmod 755 /usr/bin/tailscale
mkdir -p /etc/systemd/system/clawfactory-tailscale-serve.service.d
printf '[Service]\nEnvironment=CLAWFACTORY_SERVE_HTTPS_PORT=9443 CLAWFACTORY_SERVE_TARGET=http://127.0.0.1:9082\n' \
  > /etc/systemd/system/clawfactory-tailscale-serve.service.d/port.conf
systemctl daemon-reload
check "tailscale serve unit starts (drop-in port, checked with serve status)" systemctl start clawfactory-tailscale-serve
check "tailscale serve got the drop-in's port and target" \
  grep -qx 'serve --bg --https=9443 http://127.0.0.1:9082' /srv/results/tailscale.log
systemd-analyze security --no-pager $W.service | tail -1 | sed 's/^/INFO: online exposure: /'
systemd-analyze security --no-pager $S.service | tail -1 | sed 's/^/INFO: online exposure: /'
systemd-analyze security --no-pager $B.service | tail -1 | sed 's/^/INFO: online exposure: /'

# --- a full disk under /srv (docs/backup.md#a-full-disk): the data dir moves onto a small
#     tmpfs, runs wait while it fills, then space comes back and nobody touches the units ---
DATA=${DB%/*}
systemctl stop $W $S
mkdir -p /srv/pre-full && cp -a "$DATA/." /srv/pre-full/
size_mb=$(( $(du -sm "$DATA" | cut -f1) + 24 ))
mount -t tmpfs -o "size=${size_mb}m,mode=0750,uid=$(id -u clawfactory),gid=$(id -g clawfactory)" clawfactory-data "$DATA"
cp -a /srv/pre-full/. "$DATA/"
systemctl start $S $W
start_poetry() { # id settle
  timeout 20 temporal workflow start --type PoetryResearchWorkflow --task-queue clawfactory \
    --workflow-id "$1" --input "{\"settle\": \"$2\"}" >/dev/null 2>&1
}
start_poetry full-before 1s
check "a run completes on the small data dir" completed full-before
for i in 1 2 3; do start_poetry "full-wait-$i" 45s; done
restarts="$(prop $S NRestarts)/$(prop $W NRestarts)"
full_at=$(date '+%Y-%m-%d %H:%M:%S')
dd if=/dev/zero of="$DATA/filler" bs=1M > /dev/null 2>&1
check "the data dir is full" test "$(df --output=avail -B1 "$DATA" | tail -1)" -lt 1048576
accepted=0
for i in 1 2 3; do start_poetry "full-during-$i" 1s && accepted=$((accepted+1)); done
echo "INFO: with the disk full, $accepted of 3 starts were accepted (a refused start fails at the client)"
sleep 15
check "the server unit is active with the disk full" wait_for 30 systemctl is-active --quiet $S
check "the worker unit is active with the disk full" wait_for 30 systemctl is-active --quiet $W
journalctl -u $S --since "$full_at" --no-pager -o cat | grep -m2 -i 'disk is full' | cut -c1-240 | sed 's/^/INFO: server journal: /'
check "the server's journal names the cause (database or disk is full)" \
  bash -c "journalctl -u $S --since '$full_at' --no-pager -o cat | grep -q 'database or disk is full'"
journalctl -u $W --since "$full_at" --no-pager -o cat | grep -m1 -i 'unavailable' | cut -c1-240 | sed 's/^/INFO: worker journal: /'
FULLBK=/srv/full-backups
mkdir -p $FULLBK && mount -t tmpfs -o size=1m full-backups $FULLBK
dd if=/dev/zero of=$FULLBK/filler bs=64k > /dev/null 2>&1
out=$(clawfactory-temporal backup --to $FULLBK 2>&1); rc=$?
echo "INFO: backup into a full directory: exit $rc: $(echo "$out" | tail -1 | cut -c1-240)"
check "a backup into a full directory fails, naming it as the full device" \
  bash -c "[ $rc -ne 0 ] && grep -q 'no space left on the device of $FULLBK' <<< \"\$1\"" _ "$out"
check "and leaves no partial file behind" test "$(ls -A $FULLBK)" = filler
rm -f "$DATA/filler"
t=$(now)
for i in 1 2 3; do
  check "full-wait-$i, waiting while the disk was full, completes once space is back" completed "full-wait-$i"
done
echo "INFO: the waiting runs completed $(since "$t")s after space came back"
for i in 1 2 3; do
  if temporal workflow describe --workflow-id "full-during-$i" > /dev/null 2>&1; then
    check "full-during-$i, accepted while the disk was full, completes" completed "full-during-$i"
  fi
done
start_poetry full-after 1s
check "a new run starts and completes after space is back" completed full-after
check "the database passes integrity_check" python3 -c "
import sqlite3, sys
result = sqlite3.connect('file:$DB?mode=ro', uri=True).execute('pragma integrity_check').fetchone()[0]
sys.exit(result != 'ok')"
check "a run completed before the disk filled keeps its history" \
  bash -c "temporal workflow show --workflow-id full-before | grep -q WorkflowExecutionCompleted"
echo "INFO: restarts (server/worker) before the disk filled: $restarts; after: $(prop $S NRestarts)/$(prop $W NRestarts)"
finish
