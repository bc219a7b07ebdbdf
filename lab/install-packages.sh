#!/usr/bin/env bash
# Installs what the crosscloud lab needs on a Debian 12 machine (run as root).
# Idempotent: asks dpkg first and only touches apt when something is missing.
# Services that Debian's postinst would start (postgresql, ssh, ipsec) must run
# only inside lab hosts, never on the machine itself: a policy-rc.d that answers
# 101 keeps invoke-rc.d from starting them during the install, and afterwards we
# stop/disable any of them that were not running before this script.
set -euo pipefail

PKGS=(user-mode-linux libreswan postgresql postgresql-contrib openssh-server
      openssh-client systemd-container iperf3 tcpdump iptables iproute2 sudo
      rsync kmod procps jq e2fsprogs util-linux bc iputils-ping iptables-persistent
      ssl-cert shellcheck)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-packages.sh: must run as root" >&2; exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) != 'install ok installed' ]]; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-packages.sh: all lab packages present"
  exit 0
fi
echo "install-packages.sh: installing: ${missing[*]}"
# iptables-persistent would ask whether to save the machine's rules: no.
debconf-set-selections <<<'iptables-persistent iptables-persistent/autosave_v4 boolean false'
debconf-set-selections <<<'iptables-persistent iptables-persistent/autosave_v6 boolean false'

# What was running before: we must not stop a service someone else runs here.
svc_running() {  # $1 = process name pattern checked with pgrep -x
  pgrep -x "$1" >/dev/null 2>&1
}
declare -A was_running=()
for proc in postgres sshd pluto; do
  if svc_running "$proc"; then was_running[$proc]=1; fi
done

# policy-rc.d: exit 101 = "action forbidden", so postinst scripts start nothing.
# Keep an existing one (e.g. a Docker image's) untouched.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\n# temporary, from crosscloud lab/install-packages.sh\nexit 101\n' > "$POLICY"
  chmod 755 "$POLICY"
  created_policy=1
fi
cleanup() { if [[ $created_policy -eq 1 ]]; then rm -f "$POLICY"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -q --no-install-recommends "${missing[@]}"

# Belt and braces: if something started anyway, stop it (only if it was not
# running before) and keep it from starting at the machine's next boot.
stop_disable() {  # $1 = unit/init name, $2 = process name
  local unit=$1 proc=$2
  if [[ -z ${was_running[$proc]:-} ]] && svc_running "$proc"; then
    echo "install-packages.sh: stopping $unit on the machine (lab hosts run it, not the machine)"
    if [[ -d /run/systemd/system ]]; then systemctl stop "$unit" || true
    elif [[ -x /etc/init.d/$unit ]]; then /etc/init.d/"$unit" stop || true
    fi
  fi
  if [[ -d /run/systemd/system ]]; then
    systemctl disable "$unit" >/dev/null 2>&1 || true
  else
    update-rc.d "$unit" disable >/dev/null 2>&1 || true
    systemctl disable "$unit" >/dev/null 2>&1 || true   # offline mode edits the symlinks
  fi
}
stop_disable postgresql postgres
stop_disable ssh sshd
stop_disable ipsec pluto
echo "install-packages.sh: done"
