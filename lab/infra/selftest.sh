#!/usr/bin/env bash
# Self-test of the crosscloud lab infrastructure (root). Brings the lab up,
# builds the two sites and four hosts the program will ask for, checks SSH
# (direct and via the gateway as jump host), user data, reboot persistence,
# the data disks, a whole site's crash and return, then brings the lab down. Prints timings per step.
# Usage: lab/infra/selftest.sh [--keep]   (--keep: leave the lab running)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
need_root
keep=0; [[ ${1:-} == --keep ]] && keep=1
C="$INFRA_DIR/ctl.sh"
W=$LAB/selftest; 
t_start=$(date +%s.%N); t_step=$t_start
step() { local now; now=$(date +%s.%N); printf '[%6.1fs] (+%5.1fs) %s\n' "$(bc <<<"$now-$t_start")" "$(bc <<<"$now-$t_step")" "$*"; t_step=$now; }
fail() { echo "SELFTEST FAILED: $*" >&2; [[ $keep -eq 1 ]] || bash "$INFRA_DIR/down.sh" || true; exit 1; }
cleanup() { rc=$?; if [[ $rc -ne 0 && $keep -eq 0 ]]; then bash "$INFRA_DIR/down.sh" --quiet || true; fi; }
trap cleanup EXIT

bash "$INFRA_DIR/up.sh"
step "lab up"
rm -rf "$W"; mkdir -p "$W"
ssh-keygen -q -t ed25519 -N '' -C selftest -f "$W/key"
cat > "$W/ssh_config" <<CFG
Host *
  IdentityFile $W/key
  IdentitiesOnly yes
  BatchMode yes
  ConnectTimeout 5
  StrictHostKeyChecking no
  UserKnownHostsFile $W/known_hosts
  LogLevel ERROR
CFG
# run in the machine-side netns, as the harness will
S() { ip netns exec "$NETNS" ssh -F "$W/ssh_config" "$@"; }
JUMP_AWS=ubuntu@198.51.100.10; JUMP_AZ=azureuser@203.0.113.10

for s in aws azure; do "$C" site-add $s >/dev/null; done
for n in 10.10.0.0/24 10.10.1.0/24; do "$C" subnet-add aws $n >/dev/null; done
for n in 10.20.0.0/24 10.20.1.0/24; do "$C" subnet-add azure $n >/dev/null; done
step "2 sites, 4 subnets"

KEY=$(cat "$W/key.pub")
# shellcheck disable=SC2016  # expanded on the lab host when the user data runs, not here
UD='#!/bin/bash\nset -e\necho "user-data ran on $(hostname) at $(date -Is)" | tee -a /var/lib/ud-runs\n'
spec() {  # name site subnet ip pub user disk
  jq -n --arg name "$1" --arg site "$2" --arg subnet "$3" --arg ip "$4" --arg pub "$5" --arg user "$6" \
        --arg key "$KEY" --arg ud "$(printf '%b' "$UD")" --argjson disk "$7" \
    '{name:$name, site:$site, subnet:$subnet, privateIp:$ip, hostname:$name, adminUser:$user,
      authorizedKey:$key, userData:$ud, dataDisk:$disk} + (if $pub == "" then {} else {publicIp:$pub} end)' > "$W/$1.json"
}
spec aws-gateway aws 10.10.0.0/24 10.10.0.10 198.51.100.10 ubuntu false
spec aws-db aws 10.10.1.0/24 10.10.1.10 "" ubuntu true
spec azure-gateway azure 10.20.0.0/24 10.20.0.10 203.0.113.10 azureuser false
spec azure-db azure 10.20.1.0/24 10.20.1.10 "" azureuser true

pids=()
for h in aws-gateway aws-db azure-gateway azure-db; do "$C" host-boot "$W/$h.json" > "$W/$h.boot.log" 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || { cat "$W"/*.boot.log; fail "host-boot failed"; }; done
step "host-boot x4 in parallel (all containers started)"
"$C" route-set aws 10.10.1.0/24 0.0.0.0/0 10.10.0.10 >/dev/null
"$C" route-set azure 10.20.1.0/24 0.0.0.0/0 10.20.0.10 >/dev/null
step "route-set x2"

# wait for SSH (bounded poll), the way a harness would
wait_ssh() {  # label timeout ssh-args...
  local label=$1 t=$2; shift 2; local end=$(( $(date +%s) + t ))
  until S "$@" true 2>/dev/null; do (( $(date +%s) < end )) || fail "$label: no SSH within ${t}s"; sleep 1; done
}
wait_ssh aws-gateway 180 "$JUMP_AWS"; step "ssh ready: aws-gateway (public IP)"
wait_ssh azure-gateway 180 "$JUMP_AZ"; step "ssh ready: azure-gateway (public IP)"
wait_ssh aws-db 180 -J "$JUMP_AWS" ubuntu@10.10.1.10; step "ssh ready: aws-db (via aws-gateway)"
wait_ssh azure-db 180 -J "$JUMP_AZ" azureuser@10.20.1.10; step "ssh ready: azure-db (via azure-gateway)"

check_host() {  # label ssh-args...
  local label=$1; shift
  local st; st=$(S "$@" 'timeout 120 systemctl is-system-running --wait' 2>&1) || true
  [[ $st == running ]] || { S "$@" 'systemctl --failed --no-pager' || true; fail "$label: system state '$st'"; }
  [[ $(S "$@" 'sudo -n cloud-init status --wait') == "status: done" ]] || fail "$label: cloud-init status not done"
  [[ $(S "$@" 'sudo -n wc -l < /var/lib/ud-runs') == 1 ]] || fail "$label: user data did not run exactly once"
  [[ $(S "$@" 'hostname') == "$label" ]] || fail "$label: wrong hostname"
  S "$@" 'test ! -e /etc/postgresql/15/main && test ! -e /var/lib/postgresql/15/main && ! systemctl is-active -q postgresql' \
    || fail "$label: looks like a pre-made postgres cluster / running postgres"
  echo "  $label: running, user data once, sudo ok"
}
check_host aws-gateway "$JUMP_AWS"
check_host azure-gateway "$JUMP_AZ"
check_host aws-db -J "$JUMP_AWS" ubuntu@10.10.1.10
check_host azure-db -J "$JUMP_AZ" azureuser@10.20.1.10
step "hosts checked (systemd running, user data once, sudo, no pg cluster)"

# WAN: gateway to gateway over the "internet" (public IPs, 1:1 NAT both sides)
S "$JUMP_AZ" 'timeout 5 bash -c "exec 3<>/dev/tcp/198.51.100.10/22; head -c 7 <&3"' | grep SSH-2.0 >/dev/null \
  || fail "azure-gateway cannot reach aws-gateway's public IP"
# no implicit outbound: a DB host without public IP and a route via a gateway
# that does not forward (ip_forward=0) cannot reach the other site
if S -J "$JUMP_AWS" ubuntu@10.10.1.10 'timeout 3 bash -c "exec 3<>/dev/tcp/203.0.113.10/22"' 2>/dev/null; then
  fail "aws-db reached 203.0.113.10 without a forwarding gateway"
fi
step "WAN reachability checks"

# what an IPsec gateway needs: sysctl net, xfrm (ESP AES-GCM, UDP-encapsulated), pluto starts
S "$JUMP_AWS" 'sudo -n bash -c "sysctl -qw net.ipv4.ip_forward=1 &&
  ip xfrm state add src 10.10.0.10 dst 203.0.113.10 proto esp spi 0x100 mode tunnel aead \"rfc4106(gcm(aes))\" 0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324 128 encap espinudp 4500 4500 0.0.0.0 &&
  ip xfrm state flush && systemctl start ipsec && systemctl is-active ipsec && ipsec whack --status >/dev/null && systemctl stop ipsec"' >/dev/null \
  || fail "aws-gateway: sysctl/xfrm/ipsec"
step "gateway: ip_forward sysctl, ESP xfrm state (aes-gcm, espinudp), ipsec.service start/stop"

# data disks
S -J "$JUMP_AWS" ubuntu@10.10.1.10 'sudo -n bash -c "test -b /dev/nvme1n1 && mkfs.ext4 -q -F /dev/nvme1n1 && mkdir -p /data && mount /dev/nvme1n1 /data && echo ok > /data/probe && sync && df -h /data | tail -1"' \
  || fail "aws-db data disk"
S -J "$JUMP_AZ" azureuser@10.20.1.10 'sudo -n bash -c "test -b /dev/disk/azure/scsi1/lun0 && test -b /dev/sdc"' || fail "azure-db data disk paths"
step "data disk: aws-db /dev/nvme1n1 mkfs+mount; azure-db /dev/sdc + /dev/disk/azure/scsi1/lun0 present"

# reboot keeps the disk (root and data disk), user data not re-run
S "$JUMP_AWS" 'echo persist | sudo -n tee /var/tmp/persist >/dev/null'
# shellcheck disable=SC2034  # recorded for the log only: the reboot is checked by its effects below
boot1=$(S "$JUMP_AWS" 'cat /proc/sys/kernel/random/boot_id')
S -J "$JUMP_AWS" ubuntu@10.10.1.10 'echo "/dev/nvme1n1 /data ext4 defaults,nofail 0 2" | sudo -n tee -a /etc/fstab >/dev/null'
"$C" host-reboot aws-gateway >/dev/null
"$C" host-reboot aws-db >/dev/null
step "host-reboot aws-gateway + aws-db sent"
sleep 1
wait_ssh aws-gateway 180 "$JUMP_AWS"
check_host aws-gateway "$JUMP_AWS"
[[ $(S "$JUMP_AWS" 'cat /var/tmp/persist') == persist ]] || fail "root disk not kept across reboot"
wait_ssh aws-db 180 -J "$JUMP_AWS" ubuntu@10.10.1.10
check_host aws-db -J "$JUMP_AWS" ubuntu@10.10.1.10
[[ $(S -J "$JUMP_AWS" ubuntu@10.10.1.10 'cat /data/probe') == ok ]] || fail "data disk not mounted from fstab after reboot"
step "rebooted hosts back: same root disk, data disk remounted by fstab, user data not re-run"

# a whole cloud's crash: its kernel ends at once; it comes back on the same disks, its hosts boot again
"$C" site-crash aws >/dev/null
if S -o ConnectTimeout=3 "$JUMP_AWS" true 2>/dev/null; then fail "aws-gateway answered after its cloud crashed"; fi
"$C" site-start aws >/dev/null
step "site-crash aws, site-start aws"
wait_ssh aws-gateway 180 "$JUMP_AWS"
check_host aws-gateway "$JUMP_AWS"
[[ $(S "$JUMP_AWS" 'cat /var/tmp/persist') == persist ]] || fail "root disk not kept across the site's crash"
wait_ssh aws-db 180 -J "$JUMP_AWS" ubuntu@10.10.1.10
[[ $(S -J "$JUMP_AWS" ubuntu@10.10.1.10 'cat /data/probe') == ok ]] || fail "data disk not back after the site's crash"
step "site back: routes and NAT rebuilt, same root and data disks, user data not re-run"

"$C" hosts
if [[ $keep -eq 1 ]]; then step "done (lab kept running)"; echo "SELFTEST PASSED"; exit 0; fi
bash "$INFRA_DIR/down.sh"
step "lab down"
echo "SELFTEST PASSED"
