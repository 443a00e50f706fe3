#!/usr/bin/env bash
# Starts the real OpenClaw gateway for tests/openclaw/harness.rs, which sets every variable
# below and, as root, runs this script as PID 1 of private network, PID and mount namespaces
# (`unshare --net --pid --mount --fork --kill-child`): the namespace's only interface is `lo`,
# so nothing the gateway does can leave the machine, and when the gateway exits every process
# it started dies with it. /tmp there is a private tmpfs (OpenClaw writes /tmp/openclaw
# whatever its config says). relay.mjs joins the namespace's loopback to the test process
# through Unix sockets in the state directory. Without root (OPENCLAW_REAL_NETNS=0) the
# gateway runs on the machine's loopback instead, with the same config.
set -euo pipefail
: "${NODE:?}" "${OPENCLAW_MJS:?}" "${GATEWAY_PORT:?}" "${OPENCLAW_STATE_DIR:?}"
if [ "${OPENCLAW_REAL_NETNS:-0}" = 1 ]; then
  : "${RELAY_MJS:?}" "${GATEWAY_SOCKET:?}" "${MODEL_PORT:?}" "${MODEL_SOCKET:?}"
  ip link set lo up
  case $OPENCLAW_STATE_DIR in
    /tmp/*) echo "launch.sh: the state dir is under /tmp; /tmp stays shared" >&2 ;;
    *) mount -t tmpfs -o mode=1777 tmpfs /tmp ;;
  esac
  "$NODE" "$RELAY_MJS" "$GATEWAY_SOCKET" "$GATEWAY_PORT" "$MODEL_PORT" "$MODEL_SOCKET" &
fi
exec "$NODE" "$OPENCLAW_MJS" gateway --port "$GATEWAY_PORT" --bind loopback
