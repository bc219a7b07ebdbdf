# Shared settings for the machine-side lab scripts (sourced, not run).
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
  tr '\0' ' ' < /proc/$pid/cmdline | grep -q "umid=$UMID "
}

# The UML kernel to run. Debian 12's linux.uml (6.1) saves a process's FPU state with ptrace's
# NT_X86_XSTATE regset in a fixed 2696-byte buffer (AVX-512's size); a host whose XSAVE area is
# larger (AMX: 10752 bytes) refuses that write (the kernel's xstateregs_set wants the whole buffer,
# else EFAULT), and UML panics at its first process: "ptrace set fp regs failed, errno = 14".
# On such a host the lab runs a copy whose start-up probe leaves have_xstate_support at 0, so UML
# uses PTRACE_GETFPREGS/SETFPREGS (x87 and SSE state) as on hosts without XSAVE. Restoring that
# state resets the AVX registers, which UML does after every page fault it handles: code that keeps
# values in AVX registers across a fault (glibc's AVX2/EVEX string functions, OpenSSL's and NSS's
# AVX code) computes garbage. So every process inside UML is told not to use AVX: UML_CPU_ENV is
# handed to its init (the kernel passes VAR=value arguments on), to each host's systemd and sessions.
UML_CPU_ENV=(
  "GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX512F,-AVX512CD,-AVX512BW,-AVX512DQ,-AVX512VL,-AVX512ER,-AVX512PF,-FMA,-FMA4,-F16C,-AVX_Fast_Unaligned_Load"
  "OPENSSL_ia32cap=~0x1000000000000000:0"
  "NSS_DISABLE_AVX=1" "NSS_DISABLE_AVX2=1"
)
uml_binary() {
  local stock=/usr/bin/linux.uml patched=$LAB/uml/linux.uml-noxstate
  if ! grep -qw amx_tile /proc/cpuinfo; then
    echo "$stock"
    return 0
  fi
  if [[ ! -x $patched || $patched -ot $stock ]]; then
    mkdir -p "$LAB/uml"
    # arch_init_registers: malloc(0xa88); ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) == 0 -> have_xstate_support = 1
    perl -0777 -pe '
      my $n = s/(\x48\xc7\x45\xe8\x88\x0a\x00\x00\xba\x02\x02\x00\x00\x44\x89\xe6\xbf\x04\x42\x00\x00\x49\xb8.{8}\x41\xff\xd0\x48\x85\xc0\x75\x10\x48\xb8.{8}\xc7\x00)\x01(\x00\x00\x00)/$1\x00$2/sg;
      $n == 1 or die "crosscloud: error: $ARGV: the xstate probe of linux.uml was not found exactly once ($n): this UML build is not the one the lab knows how to run on an AMX host\n";
    ' "$stock" > "$patched.tmp"
    chmod 755 "$patched.tmp"
    mv -f "$patched.tmp" "$patched"
  fi
  echo "$patched"
}
