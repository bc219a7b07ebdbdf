#!/usr/bin/env bash
# Stop the crosscloud lab: hosts power off (bounded), UML halts; if UML is
# still there after LAB_DOWN_TIMEOUT (default 60 s) its process group is
# killed. Then the netns and runtime files under .lab/ are removed (logs and
# captures are kept in .lab/logs, .lab/captures, .lab/uml-console.log).
# Safe to run when nothing is running.   Usage (root): lab/infra/down.sh [--quiet]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
quiet=0; [[ ${1:-} == --quiet ]] && quiet=1
say() { [[ $quiet -eq 1 ]] || echo "$@"; }

if uml_alive; then
  pid=$(cat "$UML_PIDFILE")
  say "stopping lab hosts and UML (pid $pid)"
  # labctl halt powers hosts off (bounded inside) then asks init to halt -f.
  timeout 90 bash "$INFRA_DIR/ctl.sh" halt || say "labctl halt failed; will kill UML"
  deadline=$(( $(date +%s) + ${LAB_DOWN_TIMEOUT:-60} ))
  while [[ -e /proc/$pid ]] && (( $(date +%s) < deadline )); do sleep 0.5; done
  if [[ -e /proc/$pid ]]; then
    say "UML still running after timeout: killing its process group $pid"
    kill -TERM -- "-$pid" 2>/dev/null || true; sleep 2
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  # UML's helper processes are in the same process group; make sure none stay.
  for _ in $(seq 20); do pgrep -g "$pid" >/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || true
elif [[ -s $UML_PIDFILE ]]; then
  # pid file but no UML: maybe stray helpers of a crashed UML in that group.
  pid=$(cat "$UML_PIDFILE")
  if pgrep -g "$pid" -f linux.uml >/dev/null 2>&1; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
fi

# The control connection's master (ctl.sh): ended by its own socket, so only that process.
# shellcheck disable=SC2015  # || true covers both: no socket and a master already gone are fine
[[ -S $CTL_MUX ]] && ssh -q -o ControlPath="$CTL_MUX" -O exit root@"$UML_IP" 2>/dev/null || true
if ip netns list | awk '{print $1}' | grep -qxF "$NETNS"; then
  ip netns del "$NETNS"
  say "deleted netns $NETNS"
fi
rm -rf "$LAB/uml" "$LAB/ctl" "$LAB/disks" "$LAB/specs" "$LAB/generated-keys.json" "$LAB/outputs.json" "$UML_PIDFILE" "$CTL_KEY" "$CTL_KEY.pub" "$CTL_KNOWN_HOSTS"
say "lab down"
