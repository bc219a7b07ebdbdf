# Shared settings for the machine-side lab scripts (sourced, not run).
# shellcheck shell=bash disable=SC2034  # the settings are read by the scripts that source this file
INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$INFRA_DIR/../.." && pwd)
LAB=$REPO/.lab
# LAB_NAME lets several labs (one per checkout) run side by side on one machine.
LAB_SUFFIX=${LAB_NAME:+-$LAB_NAME}
NETNS=crosscloud-lab$LAB_SUFFIX
UMID=crosscloud$LAB_SUFFIX
UML_IP=192.0.2.2
UML_PIDFILE=$LAB/uml.pid
CTL_KEY=$LAB/control_key
CTL_KNOWN_HOSTS=$LAB/known_hosts
CTL_MUX=$LAB/ctl/mux.sock
LABCTL=$INFRA_DIR/uml/labctl
UML_MEM=${LAB_UML_MEM:-4G}
die() { echo "lab: error: $*" >&2; exit 1; }
need_root() { [[ $(id -u) -eq 0 ]] || die "run as root"; }
# Is the UML recorded in the pid file still that UML process? (guards PID reuse)
uml_alive() {
  [[ -s $UML_PIDFILE ]] || return 1
  local pid; pid=$(cat "$UML_PIDFILE")
  [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "umid=$UMID "
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
