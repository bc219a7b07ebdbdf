#!/bin/bash
# PID 1 inside the crosscloud UML kernel. The root is the machine's own "/"
# over hostfs, read-only; everything writable lives on tmpfs or on the
# hostfs-mounted $REPO/.lab folder. Prepares the kernel (modules, cgroup2),
# eth0 toward the machine's crosscloud-lab netns, the "internet" namespace,
# and the control sshd, then waits until labctl asks for a halt.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8
SELF=$(readlink -f "$0")
REPO=$(cd "$(dirname "$SELF")/../../.." && pwd)
LAB=$REPO/.lab
log() { echo "lab-init: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# the kernel auto-mounts devtmpfs on /dev (CONFIG_DEVTMPFS_MOUNT); mount it only if not
grep -q " /dev devtmpfs " /proc/mounts || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
# A checkout under /tmp (CI clones there) would be hidden by that tmpfs: bring the repository back.
case "$REPO/" in /tmp/*) mkdir -p "$REPO" && mount -t hostfs none "$REPO" -o "$REPO" ;; esac
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/netns /run/lab /run/lab/home /run/sshd /run/lock
mount -t cgroup2 none /sys/fs/cgroup
# writable lab folder (specs, captures, logs)
mount -t hostfs none "$LAB" -o "$LAB"

# Modules: Debian ships them under /usr/lib/uml/modules/<version>.
KVER=$(uname -r)
# The machine has no /lib/modules (and the root is read-only), so modprobe gets
# a module root of its own on tmpfs: /run/lab/modroot/lib/modules/$KVER.
MODSRC=/usr/lib/uml/modules/$KVER
# shellcheck disable=SC2012  # kernel version directories: plain names
[ -d "$MODSRC" ] || MODSRC=$(ls -d /usr/lib/uml/modules/*/ | head -1)
mkdir -p /run/lab/modroot/lib/modules
ln -s "${MODSRC%/}" "/run/lab/modroot/lib/modules/$KVER"
for m in esp4 xfrm_user xfrm4_tunnel tunnel4 veth overlay bridge sch_netem sch_ingress \
         ip_tables iptable_filter iptable_nat iptable_mangle iptable_raw x_tables \
         nf_conntrack nf_nat xt_nat xt_conntrack xt_state xt_tcpudp xt_multiport xt_comment \
         xt_TCPMSS xt_tcpmss xt_MASQUERADE xt_policy xt_esp xt_mark xt_addrtype \
         gcm ghash-generic ctr seqiv echainiv authenc authencesn cbc hmac sha512_generic cmac xcbc \
         ccm poly1305_generic chacha20poly1305 chacha_generic tun dummy udp_tunnel; do
  modprobe -d /run/lab/modroot "$m" || log "modprobe $m failed (maybe built in)"
done

# Kernel module auto-loading (crypto templates, xfrm...) calls /sbin/modprobe,
# which would look in the missing /lib/modules: point it at a wrapper.
printf '#!/bin/sh\nexec /sbin/modprobe -d /run/lab/modroot "$@"\n' > /run/lab/modprobe
chmod 755 /run/lab/modprobe
echo /run/lab/modprobe > /proc/sys/kernel/modprobe

hostname crosscloud-uml
ip link set lo up
ip addr add 192.0.2.2/30 dev eth0
ip link set eth0 up
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

# The WAN ("internet") namespace. UML root <-> internet: 192.0.2.4/30.
ip netns add internet
ip -n internet link set lo up
ip link add inet0 type veth peer name uplink netns internet
ip addr add 192.0.2.5/30 dev inet0; ip link set inet0 up
ip -n internet addr add 192.0.2.6/30 dev uplink; ip -n internet link set uplink up
ip netns exec internet sysctl -qw net.ipv4.ip_forward=1
ip netns exec internet sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
ip -n internet route add 192.0.2.0/30 via 192.0.2.5
for pub in 198.51.100.0/24 203.0.113.0/24; do ip route add "$pub" via 192.0.2.6; done

# Control sshd (config, host key and authorized key were written by up.sh)
/usr/sbin/sshd -f "$LAB/ctl/sshd_config" -E "$LAB/ctl/sshd.log" || log "control sshd failed to start"
log "ready"
echo ready > /run/lab/uml-ready

# Wait for "labctl halt" (it creates /run/lab/halt). Bash reaps adopted zombies.
while [ ! -e /run/lab/halt ]; do
  sleep 1 &
  wait $! 2>/dev/null
done
log "halting"
sync
halt -f
