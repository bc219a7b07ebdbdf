#!/bin/bash
# PID 1 inside one cloud's UML kernel (lab_site=aws|azure on the kernel command line). The root is the
# machine's own "/" over hostfs, read-only; writable: tmpfs, the hostfs-mounted $REPO/.lab folder, and
# the site's state disk (/dev/ubda: labctl's records and the hosts' root disks, kept across a crash).
# Prepares the kernel (modules, cgroup2), eth0 (the control TAP) and the control sshd, then waits until
# labctl asks for a halt. eth1 (the WAN TAP) becomes the site router's `wan` at labctl site-add.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8
SELF=$(readlink -f "$0")
REPO=$(cd "$(dirname "$SELF")/../../.." && pwd)
LAB=$REPO/.lab
log() { echo "lab-init: $*"; }

mount -t proc proc /proc
mount -t sysfs sysfs /sys
# lab_site= and lab_ctl_ip= (set by start_uml in lab/infra/common.sh)
SITE='' CTL_IP=''
read -r -a cmdline < /proc/cmdline
for arg in "${cmdline[@]}"; do
  case $arg in
    lab_site=*) SITE=${arg#*=} ;;
    lab_ctl_ip=*) CTL_IP=${arg#*=} ;;
  esac
done
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
echo "$SITE" > /run/lab/site
# The site's state disk: a crash leaves it as a power loss would (ext4's journal replays at mount).
mkdir -p /run/lab/disk
fsck.ext4 -p /dev/ubda || log "fsck.ext4 /dev/ubda exited $?"
mount -t ext4 /dev/ubda /run/lab/disk || log "cannot mount the state disk /dev/ubda"

# Modules: Debian ships them under /usr/lib/uml/modules/<version>.
KVER=$(uname -r)
# The machine has no /lib/modules (and the root is read-only), so modprobe gets
# a module root of its own on tmpfs: /run/lab/modroot/lib/modules/$KVER.
MODSRC=/usr/lib/uml/modules/$KVER
[ -d "$MODSRC" ] || { mods=(/usr/lib/uml/modules/*/); MODSRC=${mods[0]}; }
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

hostname "crosscloud-$SITE"
ip link set lo up
ip addr add "$CTL_IP/30" dev eth0
ip link set eth0 up
# no default route: the root namespace talks to the machine's control TAP only ($MACHINE_IP, on link);
# the WAN is eth1, moved into the site router's namespace by labctl site-add
sysctl -qw net.ipv4.ip_forward=0
sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

# Control sshd (config, host key and authorized key were written by up.sh)
/usr/sbin/sshd -f "$LAB/ctl/sshd_config" -E "$LAB/ctl/sshd-$SITE.log" || log "control sshd failed to start"
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
