#!/usr/bin/env bash
# Stop the crosscloud lab: in each cloud's kernel the hosts power off (bounded) and the kernel halts; a
# kernel still there after LAB_DOWN_TIMEOUT (default 60 s) has its process group killed. Then captures
# end, the internet netns and runtime files and disks under .lab/ are removed (logs and captures are
# kept: .lab/logs, .lab/captures, .lab/uml-SITE-console.log). Safe when nothing runs.
# Usage (root): lab/infra/down.sh [--quiet]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
quiet=0; [[ ${1:-} == --quiet ]] && quiet=1
say() { [[ $quiet -eq 1 ]] || echo "$@"; }

halt_site() {
  local site=$1 pid
  if uml_alive "$site"; then
    pid=$(cat "$(uml_pidfile "$site")")
    say "stopping the $site cloud's hosts and kernel (pid $pid)"
    # labctl halt powers hosts off (bounded inside) then asks init to halt -f.
    timeout 90 bash "$INFRA_DIR/ctl.sh" --site "$site" halt >/dev/null || say "labctl halt failed in $site; will kill its kernel"
    local deadline=$(($(date +%s) + ${LAB_DOWN_TIMEOUT:-60}))
    while [[ -e /proc/$pid ]] && (($(date +%s) < deadline)); do sleep 0.5; done
    [[ -e /proc/$pid ]] && say "the $site kernel still runs after the timeout: killing its process group $pid"
  fi
  # Also a crashed kernel's stray helpers (same process group), and the control connection's master.
  kill_uml "$site"
}

for site in "${SITES[@]}"; do halt_site "$site" & done
wait

# Captures (tcpdump in the internet netns), by their pid files: only what ctl.sh started.
for pf in "$LAB"/ctl/capture-*.pid; do
  [[ -e $pf ]] || continue
  kill -KILL "$(cat "$pf")" 2>/dev/null || true
done
if ip netns list | awk '{print $1}' | grep -xF "$NETNS" >/dev/null; then
  ip netns del "$NETNS"
  say "deleted netns $NETNS"
fi
rm -rf "$LAB/uml" "$LAB/ctl" "$LAB/disks" "$LAB/specs" "$LAB/generated-keys.json" "$LAB/outputs.json" "$LAB"/uml-*.pid "$CTL_KEY" "$CTL_KEY.pub" "$CTL_KNOWN_HOSTS"
say "lab down"
