#!/usr/bin/env bash
# The appliance under a REAL systemd: boots a Debian bookworm container with systemd-nspawn,
# installs the .deb, and runs tests/appliance/in-guest.sh there (systemd is PID 1 inside).
#
#   sudo bash tests/appliance/run.sh PATH_TO_BINARY [PATH_TO_TEMPORAL]
#
# Needs root and the machine's own Debian mirror (read from its apt sources, never written
# down here). The rootfs is cached under $WORK. Exit code: the in-guest test's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=$(realpath "${1:?usage: run.sh PATH_TO_BINARY [PATH_TO_TEMPORAL]}")
temporal=$(realpath "${2:-$(command -v temporal)}")
WORK=${WORK:-$root/target/appliance}
TIMEOUT=${TIMEOUT:-900}
SUITE=bookworm
PKGS=systemd,systemd-sysv,dbus,libnss-systemd,adduser,nginx-light,curl,procps,iproute2,ca-certificates,python3
KEY=$(echo "$SUITE $PKGS v1" | sha256sum | cut -c1-12)
ROOTFS=$WORK/rootfs-$KEY
TOOLS=$WORK/hosttools
mkdir -p "$WORK"
since() { awk "BEGIN{printf \"%.1f\", $(date +%s.%N)-$1}"; }
T0=$(date +%s.%N)

mirror() { awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null; }

# 1. nspawn and debootstrap, unpacked next to us (installing systemd-container would also
#    upgrade the host's systemd).
if command -v systemd-nspawn >/dev/null; then
  NSPAWN=(systemd-nspawn)
else
  if [ ! -x "$TOOLS/usr/bin/systemd-nspawn" ]; then
    apt-get update -qq
    mkdir -p "$TOOLS/debs"
    (cd "$TOOLS/debs" && apt-get download -qq systemd-container libsystemd-shared debootstrap)
    for deb in "$TOOLS"/debs/*.deb; do dpkg -x "$deb" "$TOOLS"; done
  fi
  NSPAWN=(env LD_LIBRARY_PATH="$TOOLS/usr/lib/x86_64-linux-gnu/systemd" "$TOOLS/usr/bin/systemd-nspawn")
fi
if command -v debootstrap >/dev/null; then DEBOOTSTRAP=(debootstrap)
else DEBOOTSTRAP=(env DEBOOTSTRAP_DIR="$TOOLS/usr/share/debootstrap" "$TOOLS/usr/sbin/debootstrap"); fi

# Debian's Chromium for the browser checks (it runs on the host, in the guest's network).
CHROMIUM=$(command -v chromium || true)
if [ -z "$CHROMIUM" ]; then
  apt-get install -y -qq chromium > "$WORK/chromium-install.log" 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq chromium > "$WORK/chromium-install.log" 2>&1; } \
    || { tail -20 "$WORK/chromium-install.log"; exit 90; }
  CHROMIUM=$(command -v chromium)
fi

# 2. The guest's root filesystem, cached.
if [ ! -x "$ROOTFS/lib/systemd/systemd" ]; then
  rm -rf "$ROOTFS.tmp"
  T1=$(date +%s.%N)
  "${DEBOOTSTRAP[@]}" --variant=minbase --include="$PKGS" "$SUITE" "$ROOTFS.tmp" "$(mirror)" \
    > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 90; }
  echo appliance > "$ROOTFS.tmp/etc/hostname"
  : > "$ROOTFS.tmp/etc/machine-id"
  rm -rf "$ROOTFS.tmp"/var/cache/apt/archives/*.deb
  mv "$ROOTFS.tmp" "$ROOTFS"
  echo "[appliance] rootfs built in $(since "$T1")s"
fi

# 3. What the guest gets: the package, the Temporal CLI, the test.
SHARE=$WORK/share
RESULTS=$WORK/results
rm -rf "$SHARE" "$RESULTS"
mkdir -p "$SHARE" "$RESULTS"
DEB_COMPRESS="-Zgzip -z1" bash "$root/nix/debian/build-deb.sh" "$binary" "$SHARE" > /dev/null
mv "$SHARE"/clawfactory-temporal_*.deb "$SHARE/clawfactory-temporal.deb"
install -m755 "$temporal" "$SHARE/temporal"
install -m755 "$here/in-guest.sh" "$here/fake_gateway.py" "$SHARE/"
install -m644 "$here/appliance-test.service" "$SHARE/"

# 4. Boot. Own cgroup, so the container and everything in it can be killed as one; private
#    mount namespace with a tmpfs on /run/systemd/nspawn (the host /run is not a tmpfs).
NAME=appliance-$$
for h in unified systemd; do
  [ -d /sys/fs/cgroup/$h ] && mkdir -p /sys/fs/cgroup/$h/$NAME && echo $$ > /sys/fs/cgroup/$h/$NAME/cgroup.procs
done
cleanup() {
  for h in unified systemd; do
    [ -d /sys/fs/cgroup/$h/$NAME ] || continue
    echo $$ > /sys/fs/cgroup/$h/cgroup.procs
    [ -f /sys/fs/cgroup/$h/$NAME/cgroup.kill ] && echo 1 > /sys/fs/cgroup/$h/$NAME/cgroup.kill
    sleep 0.2
    find /sys/fs/cgroup/$h/$NAME -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}
trap cleanup EXIT

# 5. The browser agent: the guest asks for a page (results/browser-NAME.request: NAME URL);
#    the host's Chromium renders it inside the container's network namespace (its loopback,
#    where nginx listens) and writes results/browser-NAME.html, then .done.
container_pid() { # a process of this container's cgroup that is in its network namespace
  local host_net pid
  host_net=$(readlink /proc/self/ns/net)
  for pid in $(find /sys/fs/cgroup/unified/$NAME /sys/fs/cgroup/$NAME -name cgroup.procs -exec cat {} + 2>/dev/null); do
    [ "$(readlink /proc/$pid/ns/net 2>/dev/null)" != "$host_net" ] && [ -n "$(readlink /proc/$pid/ns/net 2>/dev/null)" ] \
      && { echo "$pid"; return; }
  done
}
browser_agent() {
  local req name url pid
  while sleep 0.3; do
    for req in "$RESULTS"/browser-*.request; do
      [ -e "$req" ] || continue
      read -r name url < "$req"; rm -f "$req"
      pid=$(container_pid)
      # A closed run's page goes idle, so the virtual time budget ends the render; an open
      # run's page long-polls its history and would not (the guest asks for closed ones).
      nsenter -t "$pid" -n -- timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
        --disable-dev-shm-usage --disable-quic --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --user-data-dir="$(mktemp -d)" \
        --virtual-time-budget=8000 --dump-dom "$url" > "$RESULTS/browser-$name.html" 2> "$RESULTS/browser-$name.log"
      touch "$RESULTS/browser-$name.done"
    done
  done
}
browser_agent &
AGENT=$!
trap 'kill $AGENT 2>/dev/null; cleanup' EXIT
T2=$(date +%s.%N)
set +e
timeout -k 10 "$TIMEOUT" unshare --mount --propagation private -- /bin/sh -c \
  'mkdir -p /run/systemd/nspawn && mount -t tmpfs -o mode=0755 nspawn-run /run/systemd/nspawn && exec "$@"' sh \
  "${NSPAWN[@]}" --register=no --keep-unit --quiet -D "$ROOTFS" -M "$NAME" --boot --volatile=overlay \
  --private-network --bind-ro="$SHARE":/srv/appliance \
  --bind-ro="$SHARE/appliance-test.service":/etc/systemd/system/appliance-test.service \
  --bind="$RESULTS":/srv/results --console=passive -- systemd.wants=appliance-test.service \
  </dev/null > "$RESULTS/console.log" 2>&1
rc=$?
set -e
cat "$RESULTS/test.log" 2>/dev/null || { echo "[appliance] no test log; console:"; tail -40 "$RESULTS/console.log"; }
if [ "$rc" -ne 0 ] && [ -f "$RESULTS/journal.txt" ]; then
  echo "[appliance] journal of the failed run (last 80 lines):"
  tail -80 "$RESULTS/journal.txt"
fi
echo "[appliance] container exit=$rc after $(since "$T2")s; total $(since "$T0")s; artifacts in $RESULTS"
exit "$rc"
