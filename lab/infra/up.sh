#!/usr/bin/env bash
# Start the crosscloud lab: one UML kernel (the "cloud") reachable from the
# machine through netns crosscloud-lab (tap0 192.0.2.1/30 <-> UML eth0 192.0.2.2/30).
# Usage (root): lab/infra/up.sh          env: LAB_UML_MEM (default 4G), LAB_UP_TIMEOUT (default 90 s)
# Prints "lab up" once the control sshd in UML answers; exits non-zero with the
# tail of .lab/uml-console.log if it does not within the timeout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
T0=$(date +%s.%N)

bash "$REPO/lab/install-packages.sh"

# Leftovers of an earlier lab: stop it the clean way (down.sh kills only the
# UML process group recorded in .lab/uml.pid, then deletes our netns).
bash "$INFRA_DIR/down.sh" --quiet

mkdir -p "$LAB"/{ctl,uml,disks,specs,captures,logs}
# .lab must be ignored by git even if the repo has no .gitignore entry yet.
[[ -e $LAB/.gitignore ]] || echo '*' > "$LAB/.gitignore"

# Control channel credentials: fresh per `up`.
rm -f "$CTL_KEY" "$CTL_KEY.pub" "$LAB/ctl/host_key" "$LAB/ctl/host_key.pub"
ssh-keygen -q -t ed25519 -N '' -C crosscloud-lab-control -f "$CTL_KEY"
ssh-keygen -q -t ed25519 -N '' -C crosscloud-uml-host -f "$LAB/ctl/host_key"
cp "$CTL_KEY.pub" "$LAB/ctl/authorized_keys"
echo "$UML_IP $(cut -d' ' -f1,2 "$LAB/ctl/host_key.pub")" > "$CTL_KNOWN_HOSTS"
cat > "$LAB/ctl/sshd_config" <<CFG
# control sshd of the crosscloud lab (UML root namespace only)
ListenAddress $UML_IP
Port 22
HostKey $LAB/ctl/host_key
PidFile /run/lab/ctl-sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile $LAB/ctl/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
MaxStartups 200
MaxSessions 200
PrintMotd no
AcceptEnv LANG
# keep the machine's /root/.bashrc (pyenv etc.) out of control sessions
SetEnv HOME=/run/lab/home
Subsystem sftp internal-sftp
CFG

# Data disks: sparse files given to UML as ubd1..ubd4 (/dev/ubdb..ubde inside);
# labctl hands them to hosts whose spec says "dataDisk": true.
ubd_args=()
for i in 1 2 3 4; do
  f=$LAB/disks/disk$i.img
  rm -f "$f"; truncate -s "${LAB_DISK_SIZE:-4G}" "$f"
  ubd_args+=("ubd$i=$f")
done

# The machine-side namespace. Nothing but lo and tap0 is in it, so lab
# traffic cannot leave toward any real network.
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
ip -n "$NETNS" tuntap add dev tap0 mode tap
ip -n "$NETNS" addr add 192.0.2.1/30 dev tap0
ip -n "$NETNS" link set tap0 up
for pub in 198.51.100.0/24 203.0.113.0/24; do ip -n "$NETNS" route add "$pub" via "$UML_IP"; done

# Start UML in its own session/process group (so down.sh can end exactly it).
: > "$LAB/uml-console.log"
UML_BIN=$(uml_binary)
setsid ip netns exec "$NETNS" "$UML_BIN" \
  mem="$UML_MEM" root=/dev/root rootfstype=hostfs rootflags=/ ro \
  init="$INFRA_DIR/uml/init.sh" con=null con0=null,fd:1 ssl=null \
  umid="$UMID" uml_dir="$LAB/uml" eth0=tuntap,tap0 "${ubd_args[@]}" \
  </dev/null >>"$LAB/uml-console.log" 2>&1 &
echo $! > "$UML_PIDFILE"

# Wait (bounded) until the control sshd runs a command.
deadline=$(( $(date +%s) + ${LAB_UP_TIMEOUT:-90} ))
until bash "$INFRA_DIR/ctl.sh" ping >/dev/null 2>&1; do
  if ! uml_alive; then
    tail -n 40 "$LAB/uml-console.log" >&2
    die "UML exited during boot (see $LAB/uml-console.log)"
  fi
  if (( $(date +%s) > deadline )); then
    tail -n 40 "$LAB/uml-console.log" >&2
    die "control sshd at $UML_IP did not answer within ${LAB_UP_TIMEOUT:-90}s (see $LAB/uml-console.log)"
  fi
  sleep 0.5
done
printf 'lab up in %.1fs (UML pid %s, netns %s, control %s)\n' \
  "$(echo "$(date +%s.%N) - $T0" | bc 2>/dev/null || echo 0)" "$(cat "$UML_PIDFILE")" "$NETNS" "$UML_IP"
