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
