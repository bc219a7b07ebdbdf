#!/usr/bin/env bash
# Run a labctl command inside the lab's UML over the control channel:
#   lab/infra/ctl.sh ARGS...     (root; works inside or outside the crosscloud-lab netns)
# Arguments are passed intact (each is shell-quoted for the remote side).
# stdin is forwarded (so `ctl.sh shell NAME bash -s < script` works).
# Exit status is labctl's (255 = control channel failed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ -s $CTL_KEY ]] || die "no control key at $CTL_KEY: is the lab up? (lab/infra/up.sh)"
remote=$(printf '%q ' "$LABCTL" "$@")
tty=(-T); [[ -t 0 && -t 1 ]] && tty=(-t)
# One SSH connection for the lab's life (the first call becomes its master, down.sh ends it): each call
# is a channel on it (~0.2 s) instead of a new key exchange on UML's one CPU (~1 s).
ssh_cmd=(ssh "${tty[@]}" -q -i "$CTL_KEY" -o UserKnownHostsFile="$CTL_KNOWN_HOSTS" -o StrictHostKeyChecking=yes
  -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4
  -o ControlMaster=auto -o ControlPath="$CTL_MUX" -o ControlPersist=yes
  -o LogLevel=ERROR root@"$UML_IP" "$remote")
# Already inside the netns? (its routes reach 192.0.2.2) Then do not re-enter.
if [[ $(ip netns identify $$ 2>/dev/null) == "$NETNS" ]]; then
  exec "${ssh_cmd[@]}"
else
  exec ip netns exec "$NETNS" "${ssh_cmd[@]}"
fi
