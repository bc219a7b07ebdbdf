# Shared settings for the machine-side lab scripts (sourced, not run).
# shellcheck shell=bash disable=SC2034  # the settings are read by the scripts that source this file
INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$INFRA_DIR/../.." && pwd)
LAB=$REPO/.lab
# LAB_NAME lets several labs (one per checkout) run side by side on one machine.
LAB_SUFFIX=${LAB_NAME:+-$LAB_NAME}
# The "internet": a namespace on the machine. Each cloud is a UML kernel attached to it by two TAPs:
# ctl-SITE (the lab's control channel to that kernel) and wan-SITE (the site router's WAN link).
NETNS=crosscloud-lab$LAB_SUFFIX
SITES=(aws azure)
CTL_KEY=$LAB/control_key
CTL_KNOWN_HOSTS=$LAB/known_hosts
LABCTL=$INFRA_DIR/uml/labctl
UML_MEM=${LAB_UML_MEM:-3G}
die() { echo "lab: error: $*" >&2; exit 1; }
need_root() { [[ $(id -u) -eq 0 ]] || die "run as root"; }
valid_site() { [[ $1 == aws || $1 == azure ]] || die "unknown site '$1' (aws or azure)"; }
# Site k (aws 1, azure 2): control /30 192.0.2.(4k-4) (machine .(4k-3), UML .(4k-2)); WAN /30
# 192.0.2.(4k+4) (machine .(4k+5), the site router's wan .(4k+6)), as labctl's site-add numbers it.
site_index() { case $1 in aws) echo 1 ;; azure) echo 2 ;; *) die "unknown site '$1'" ;; esac; }
uml_ctl_ip() { echo "192.0.2.$(($(site_index "$1") * 4 - 2))"; }
machine_ctl_ip() { echo "192.0.2.$(($(site_index "$1") * 4 - 3))"; }
machine_wan_ip() { echo "192.0.2.$(($(site_index "$1") * 4 + 5))"; }
router_wan_ip() { echo "192.0.2.$(($(site_index "$1") * 4 + 6))"; }
public_range() { case $1 in aws) echo 198.51.100.0/24 ;; azure) echo 203.0.113.0/24 ;; esac; }
umid() { echo "crosscloud$LAB_SUFFIX-$1"; }
uml_pidfile() { echo "$LAB/uml-$1.pid"; }
ctl_mux() { echo "$LAB/ctl/mux-$1.sock"; }
# Is the UML recorded in SITE's pid file still that UML process? (guards PID reuse)
uml_alive() {
  local f; f=$(uml_pidfile "$1")
  [[ -s $f ]] || return 1
  local pid; pid=$(cat "$f")
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep "umid=$(umid "$1") " >/dev/null
}
# Both clouds running.
lab_alive() { uml_alive aws && uml_alive azure; }

# Boots SITE's kernel on the disks up.sh made (kept across a crash: the site comes back as it was).
start_uml() {
  local site=$1 bin ubd=() i=0 f
  bin=$(uml_binary)
  # ubd0 = /dev/ubda: labctl's records and the hosts' root disks; ubd1, ubd2: data disks.
  for f in "$LAB/disks/$site-state.img" "$LAB/disks/$site-data1.img" "$LAB/disks/$site-data2.img"; do
    [[ -e $f ]] || die "no disk $f: bring the lab up with lab/infra/up.sh"
    ubd+=("ubd$i=$f"); i=$((i + 1))
  done
  setsid ip netns exec "$NETNS" "$bin" \
    mem="$UML_MEM" root=/dev/root rootfstype=hostfs rootflags=/ ro \
    init="$INFRA_DIR/uml/init.sh" con=null con0=null,fd:1 ssl=null \
    umid="$(umid "$site")" uml_dir="$LAB/uml" eth0=tuntap,"ctl-$site" eth1=tuntap,"wan-$site" "${ubd[@]}" \
    lab_site="$site" lab_ctl_ip="$(uml_ctl_ip "$site")" \
    </dev/null >>"$LAB/uml-$site-console.log" 2>&1 &
  echo $! > "$(uml_pidfile "$site")"
}

# Waits (bounded) until SITE's control sshd runs a command.
wait_uml() {
  local site=$1 timeout=${2:-${LAB_UP_TIMEOUT:-90}} deadline
  deadline=$(($(date +%s) + timeout))
  until bash "$INFRA_DIR/ctl.sh" --site "$site" ping >/dev/null 2>&1; do
    if ! uml_alive "$site"; then
      tail -n 40 "$LAB/uml-$site-console.log" >&2
      die "the $site kernel exited during boot (see $LAB/uml-$site-console.log)"
    fi
    if (($(date +%s) > deadline)); then
      tail -n 40 "$LAB/uml-$site-console.log" >&2
      die "the $site kernel's control sshd at $(uml_ctl_ip "$site") did not answer within ${timeout}s (see $LAB/uml-$site-console.log)"
    fi
    sleep 0.5
  done
}

# Ends SITE's kernel at once (every host and the router with it): its whole process group.
kill_uml() {
  local site=$1 pid
  [[ -s $(uml_pidfile "$site") ]] || return 0
  pid=$(cat "$(uml_pidfile "$site")")
  kill -KILL -- "-$pid" 2>/dev/null || true
  local _; for _ in $(seq 40); do pgrep -g "$pid" >/dev/null || break; sleep 0.25; done
  pgrep -g "$pid" >/dev/null && die "the $site kernel's processes (group $pid) are still there after SIGKILL"
  # The control connection's master: ended by its own socket, so only that process.
  local mux; mux=$(ctl_mux "$site")
  # shellcheck disable=SC2015  # || true covers both: no socket and a master already gone are fine
  [[ -S $mux ]] && ssh -q -o ControlPath="$mux" -O exit root@"$(uml_ctl_ip "$site")" 2>/dev/null || true
  rm -f "$mux" "$(uml_pidfile "$site")"
}

# The UML kernel to run. Debian 12's linux.uml (6.1) reads and writes a process's FPU state through
# ptrace's NT_X86_XSTATE regset with a fixed 2696-byte buffer (AVX-512 and PKRU). The host kernel
# takes a write only of the regset's whole size (xstateregs_set: count != fpu_user_cfg.max_size ->
# EFAULT), which AMX makes 11008 bytes: UML then panics at its first process ("ptrace set fp regs
# failed, errno = 14"). On such a host the lab runs a copy whose one write (restore_fp_registers)
# passes the host's size. The bytes past UML's buffer are AMX state, which the header UML read back
# never marks as in use, so the kernel does not load them: the registers UML handles are written as before.
uml_binary() {
  local stock=/usr/bin/linux.uml size patched
  size=$(perl "$INFRA_DIR/xstate-size.pl") || die "could not read the host's XSAVE regset size (ptrace)"
  if ((size == 2696)); then
    echo "$stock"
    return 0
  fi
  patched=$LAB/uml/linux.uml-xstate-$size
  if [[ ! -x $patched || $patched -ot $stock ]]; then
    mkdir -p "$LAB/uml"
    # restore_fp_registers: iov.iov_len = 0xa88 just before ptrace(PTRACE_SETREGSET=0x4205, ...)
    SIZE=$size perl -0777 -pe '
      my $imm = pack("V", $ENV{SIZE});
      my $n = s/(\x48\xc7\x45\xf8)\x88\x0a\x00\x00(\xbf\x05\x42\x00\x00)/$1$imm$2/sg;
      $n == 1 or die "lab: error: $ARGV: the xstate write of linux.uml was not found exactly once ($n): this UML build is not the one the lab knows how to run on a host with a $ENV{SIZE}-byte XSAVE area\n";
    ' "$stock" >"$patched.tmp"
    chmod 755 "$patched.tmp"
    mv -f "$patched.tmp" "$patched"
  fi
  echo "$patched"
}
