#!/usr/bin/env bash
# The lab's cloud API from the machine: runs `labctl ARGS...` in the kernel of the cloud it concerns, or
# does it here where the machine does it (the internet: WAN cut and captures; a whole site's crash).
#   lab/infra/ctl.sh ARGS...            (root; works inside or outside the crosscloud-lab netns)
#   lab/infra/ctl.sh --site SITE ARGS   labctl in that cloud's kernel, as given
# Which kernel: the SITE argument (site-add, subnet-add, route-*), the spec's site (host-boot), the host's
# site recorded at host-boot (host-*, shell, exec-ns); `hosts`, `routes`, `status`, `ping`, `halt` ask
# both. Arguments are passed intact; stdin is forwarded; the exit status is labctl's (255 = channel failed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[[ -s $CTL_KEY ]] || die "no control key at $CTL_KEY: is the lab up? (lab/infra/up.sh)"

in_netns() {  # CMD...: in the internet namespace (re-entered only from outside it)
  if [[ $(ip netns identify $$ 2>/dev/null) == "$NETNS" ]]; then "$@"; else ip netns exec "$NETNS" "$@"; fi
}

# labctl ARGS in SITE's kernel. One SSH connection per kernel for the lab's life (the first call becomes
# its master, down.sh or a site crash ends it): each call is a channel on it (~0.2 s), not a key exchange.
remote() {
  local site=$1; shift
  local cmd; cmd=$(printf '%q ' "$LABCTL" "$@")
  local tty=(-T); [[ -t 0 && -t 1 ]] && tty=(-t)
  local ssh_cmd=(ssh "${tty[@]}" -q -i "$CTL_KEY" -o UserKnownHostsFile="$CTL_KNOWN_HOSTS" -o StrictHostKeyChecking=yes
    -o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=15 -o ServerAliveCountMax=4
    -o ControlMaster=auto -o ControlPath="$(ctl_mux "$site")" -o ControlPersist=yes
    -o LogLevel=ERROR root@"$(uml_ctl_ip "$site")" "$cmd")
  if [[ $(ip netns identify $$ 2>/dev/null) == "$NETNS" ]]; then exec "${ssh_cmd[@]}"; else exec ip netns exec "$NETNS" "${ssh_cmd[@]}"; fi
}

# The site of a host (recorded at host-boot), of a router namespace, or die.
site_of() {
  case $1 in
    aws-vpc) echo aws; return ;;
    azure-vnet) echo azure; return ;;
  esac
  [[ -s $LAB/ctl/hosts/$1 ]] || die "no host '$1' in the lab"
  cat "$LAB/ctl/hosts/$1"
}

# Both kernels, one after the other; fails if either does.
both() {
  local site rc=0
  for site in "${SITES[@]}"; do (remote "$site" "$@") || rc=$?; done
  return "$rc"
}

wan_sites() { if [[ -n ${1:-} ]]; then valid_site "$1"; echo "$1"; else printf '%s\n' "${SITES[@]}"; fi; }

# wan cut on|off [SITE]: drop everything crossing SITE's WAN link (both ways, the harness's own traffic
# to the site included, as when the site's link itself is down).
wan_cut() {
  local mode=${1:-} site
  [[ $mode == on || $mode == off ]] || die "usage: wan cut on|off [SITE]"
  for site in $(wan_sites "${2:-}"); do
    local rules=("FORWARD -i wan-$site" "FORWARD -o wan-$site" "INPUT -i wan-$site" "OUTPUT -o wan-$site") r
    for r in "${rules[@]}"; do
      # shellcheck disable=SC2086  # "CHAIN -i IF": split on purpose
      if [[ $mode == on ]]; then
        in_netns iptables-legacy -w -C $r -j DROP -m comment --comment labcut 2>/dev/null ||
          in_netns iptables-legacy -w -I $r -j DROP -m comment --comment labcut
      else
        while in_netns iptables-legacy -w -D $r -j DROP -m comment --comment labcut 2>/dev/null; do :; done
      fi
    done
    echo "wan $site: cut $mode"
  done
}

wan_status() {
  local site cut
  for site in "${SITES[@]}"; do
    # grep reads everything (no -q): under pipefail an early exit would fail the listing with SIGPIPE
    cut=off; in_netns iptables-legacy -w -S FORWARD | grep -- "-i wan-$site .*labcut" >/dev/null && cut=on
    echo "wan $site: cut $cut"
    (remote "$site" wan qdisc) || true
  done
}

# capture start FILE [SITE] [FILTER...]: tcpdump on the internet side of SITE's WAN link (public
# addresses, ESP-in-UDP); FILE relative -> .lab/captures/FILE. capture stop [SITE].
capture() {
  local sub=${1:-}; shift || true
  case $sub in
    start)
      local file=${1:-} site=${2:-aws}; shift 2 2>/dev/null || shift $#
      [[ -n $file ]] || die "usage: capture start FILE [SITE] [PCAP FILTER...]"
      valid_site "$site"
      [[ $file == /* ]] || file=$LAB/captures/$file
      case $(readlink -m "$file") in "$LAB"/*) ;; *) die "capture file must be under $LAB" ;; esac
      local pf=$LAB/ctl/capture-$site.pid log=$LAB/ctl/capture-$site.log
      [[ -s $pf ]] && kill -0 "$(cat "$pf")" 2>/dev/null && die "a capture is already running on $site"
      mkdir -p "$(dirname "$file")"
      setsid ip netns exec "$NETNS" tcpdump -i "wan-$site" -U -s 0 -Z root -w "$file" "$@" </dev/null >"$log" 2>&1 &
      echo $! > "$pf"
      local _; for _ in $(seq 50); do grep -q 'listening on' "$log" && break; sleep 0.1; done
      grep -q 'listening on' "$log" || die "tcpdump did not start: $(cat "$log")"
      echo "capturing wan-$site to $file" ;;
    stop)
      local pf; for pf in "$LAB"/ctl/capture-*.pid; do
        [[ -e $pf ]] || continue; local s=${pf#"$LAB"/ctl/capture-}; s=${s%.pid}
        [[ -z ${1:-} || $1 == "$s" ]] || continue
        local p; p=$(cat "$pf"); kill -INT "$p" 2>/dev/null || true
        local _; for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true; rm -f "$pf"
        echo "capture on $s stopped: $(grep -h 'packets captured' "$LAB/ctl/capture-$s.log" || true)"
      done ;;
    *) die "usage: capture start FILE [SITE] [FILTER...] | capture stop [SITE]" ;;
  esac
}

cmd=${1:-help}
case $cmd in
  --site) [[ $# -ge 3 ]] || die "usage: ctl.sh --site SITE LABCTL_ARGS..."; valid_site "$2"; site=$2; shift 2; remote "$site" "$@" ;;
  shell | host-wait | host-stop | host-start | host-crash | host-reboot | host-keys | exec-ns)
    [[ $# -ge 2 ]] || die "usage: $cmd NAME ..."; remote "$(site_of "$2")" "$@" ;;
  host-destroy)
    [[ $# -eq 2 ]] || die "usage: host-destroy NAME"; site=$(site_of "$2")
    (remote "$site" "$@"); rm -f "$LAB/ctl/hosts/$2" ;;
  host-boot)
    [[ $# -eq 2 && -r $2 ]] || die "usage: host-boot SPEC.json (readable)"
    name=$(jq -r '.name // empty' "$2"); site=$(jq -r '.site // empty' "$2")
    valid_site "$site"; [[ $name =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "spec: bad or missing name '$name'"
    if [[ -s $LAB/ctl/hosts/$name && $(cat "$LAB/ctl/hosts/$name") != "$site" ]]; then
      die "host $name exists in $(cat "$LAB/ctl/hosts/$name")"
    fi
    (remote "$site" "$@"); echo "$site" > "$LAB/ctl/hosts/$name" ;;
  site-add | subnet-add | route-set | route-del)
    [[ $# -ge 2 ]] || die "usage: $cmd SITE ..."; valid_site "$2"; remote "$2" "$@" ;;
  routes) if [[ $# -ge 2 ]]; then valid_site "$2"; remote "$2" "$@"; else both routes; fi ;;
  hosts) { (remote aws hosts); (remote azure hosts) | tail -n +2; } ;;
  ping | halt) both "$cmd" ;;
  status) echo "internet (machine netns $NETNS): $(in_netns ip -br addr | awk '$1 != "lo" {print $1, $3}' | paste -sd' ')"; wan_status; both status ;;
  wan)
    case ${2:-status} in
      cut) wan_cut "${3:-}" "${4:-}" ;;
      netem) [[ -n ${3:-} ]] || die 'usage: wan netem "SPEC"|clear [SITE]'
        for site in $(wan_sites "${4:-}"); do (remote "$site" wan netem "$3"); done ;;
      status) wan_status ;;
      stats) for site in $(wan_sites "${3:-}"); do (remote "$site" wan stats); done ;;
      *) die "usage: wan cut|netem|status|stats" ;;
    esac ;;
  capture) shift; capture "$@" ;;
  # A whole cloud's outage: its kernel ends at once, every host and the router with it; the disks stay.
  site-crash) [[ $# -eq 2 ]] || die "usage: site-crash SITE"; valid_site "$2"
    uml_alive "$2" || die "the $2 kernel is not running"
    kill_uml "$2"; echo "site $2 crashed: its kernel, routers and hosts are gone; its disks are kept" ;;
  # ... and its return: the kernel boots on the same disks, the site's network and hosts come back.
  site-start) [[ $# -eq 2 ]] || die "usage: site-start SITE"; valid_site "$2"
    uml_alive "$2" && die "the $2 kernel is already running"
    start_uml "$2"; wait_uml "$2"; remote "$2" _restore ;;
  help | -h | --help) remote aws help ;;
  *) remote aws "$@" ;;
esac
