#!/usr/bin/env bash
# Start the crosscloud lab: one UML kernel per cloud (aws, azure), both attached to the "internet",
# netns crosscloud-lab on the machine, by a control TAP and a WAN TAP each (addresses in common.sh).
# Usage (root): lab/infra/up.sh    env: LAB_UML_MEM (default 3G a kernel), LAB_UP_TIMEOUT (default 90 s),
# LAB_DISK_SIZE (data disks, default 4G, sparse). Prints "lab up" once both kernels' control sshd answer;
# exits non-zero with the tail of that kernel's console log if one does not within the timeout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
T0=$(date +%s.%N)

bash "$REPO/lab/install-packages.sh"

# Leftovers of an earlier lab: stop it the clean way (down.sh kills only the
# UML process group recorded in .lab/uml.pid, then deletes our netns).
bash "$INFRA_DIR/down.sh" --quiet

mkdir -p "$LAB"/{ctl,ctl/hosts,uml,disks,specs,captures,logs}
# .lab must be ignored by git even if the repo has no .gitignore entry yet.
[[ -e $LAB/.gitignore ]] || echo '*' > "$LAB/.gitignore"

# Control channel credentials: fresh per `up`.
rm -f "$CTL_KEY" "$CTL_KEY.pub" "$LAB/ctl/host_key" "$LAB/ctl/host_key.pub"
ssh-keygen -q -t ed25519 -N '' -C crosscloud-lab-control -f "$CTL_KEY"
ssh-keygen -q -t ed25519 -N '' -C crosscloud-uml-host -f "$LAB/ctl/host_key"
cp "$CTL_KEY.pub" "$LAB/ctl/authorized_keys"
echo "$(uml_ctl_ip aws),$(uml_ctl_ip azure) $(cut -d' ' -f1,2 "$LAB/ctl/host_key.pub")" > "$CTL_KNOWN_HOSTS"
cat > "$LAB/ctl/sshd_config" <<CFG
# control sshd of the crosscloud lab (each UML's root namespace: its control TAP only)
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

# Each kernel's disks (sparse files, kept across a site crash, removed by down.sh): ubd0 its state disk
# (labctl's records and every host's root disk, ext4 made here), ubd1/ubd2 data disks labctl hands to
# hosts whose spec says "dataDisk": true (/dev/ubdb, /dev/ubdc inside).
for site in "${SITES[@]}"; do
  rm -f "$LAB/disks/$site-"*.img
  truncate -s 8G "$LAB/disks/$site-state.img"
  mkfs.ext4 -q -F -L "lab-$site" -E lazy_itable_init=1,lazy_journal_init=1 "$LAB/disks/$site-state.img"
  for i in 1 2; do truncate -s "${LAB_DISK_SIZE:-4G}" "$LAB/disks/$site-data$i.img"; done
done

# The internet: nothing but lo and the four TAPs is in it, so lab traffic cannot leave toward any real
# network. It routes each site's public range to that site's router (the WAN cut and captures happen here).
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
ip netns exec "$NETNS" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
for site in "${SITES[@]}"; do
  for tap in "ctl-$site" "wan-$site"; do
    ip -n "$NETNS" tuntap add dev "$tap" mode tap
    ip netns exec "$NETNS" sysctl -qw "net.ipv6.conf.$tap.disable_ipv6=1"
  done
  ip -n "$NETNS" addr add "$(machine_ctl_ip "$site")/30" dev "ctl-$site"
  ip -n "$NETNS" addr add "$(machine_wan_ip "$site")/30" dev "wan-$site"
  ip -n "$NETNS" link set "ctl-$site" up
  ip -n "$NETNS" link set "wan-$site" up
  # the operator (the harness) speaks from one address, 192.0.2.1 (lab/stack.json's crosscloud:adminCidrs)
  ip -n "$NETNS" route add "$(public_range "$site")" via "$(router_wan_ip "$site")" dev "wan-$site" src "$(machine_ctl_ip aws)"
done

# Both kernels boot at once, each in its own session/process group (so a site crash or down.sh ends exactly it).
for site in "${SITES[@]}"; do
  : > "$LAB/uml-$site-console.log"
  start_uml "$site"
done
for site in "${SITES[@]}"; do wait_uml "$site"; done
printf 'lab up in %.1fs (UML pids aws %s, azure %s; netns %s)\n' \
  "$(echo "$(date +%s.%N) - $T0" | bc 2>/dev/null || echo 0)" "$(cat "$(uml_pidfile aws)")" "$(cat "$(uml_pidfile azure)")" "$NETNS"
