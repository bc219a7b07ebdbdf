# crosscloud host library: the first part of every script the program runs on a host.
# Everything here is idempotent: a second run of the same script changes nothing and says so.

# Nothing on a host may stop to ask: no terminal is attached.
export DEBIAN_FRONTEND=noninteractive
CROSSCLOUD_CHANGES=0
CROSSCLOUD_STARTED=$(date +%s)
CROSSCLOUD_STARTED_US=${EPOCHREALTIME/./}

log() { printf 'crosscloud: %s\n' "$*"; }
die() {
    printf 'crosscloud: error: %s\n' "$*" >&2
    exit 1
}
# Any other command that ends the script (set -e) says so on stderr, with every status of its pipeline:
# under pipefail the failing command may not be the last one, whose text $BASH_COMMAND holds.
# (set -E, in the script's first lines, carries this trap into functions and command substitutions.)
crosscloud_failed() { printf 'crosscloud: error: line %s: "%s" exited %s (pipeline statuses: %s)\n' "$3" "$4" "$1" "$2" >&2; }
# shellcheck disable=SC2016 # expanded when the trap fires
trap 'crosscloud_failed "$?" "${PIPESTATUS[*]}" "$LINENO" "$BASH_COMMAND"' ERR
# Seconds since the script started, to a tenth (when each change happened: switchover timings).
elapsed() {
    local us=$((${EPOCHREALTIME/./} - CROSSCLOUD_STARTED_US))
    printf '%d.%d' $((us / 1000000)) $((us % 1000000 / 100000))
}
changed() {
    CROSSCLOUD_CHANGES=$((CROSSCLOUD_CHANGES + 1))
    log "changed: $* (at +$(elapsed) s)"
}
# The last line every script prints; the lab's idempotency check reads it.
finish() { log "done: ${CROSSCLOUD_CHANGES} changes in $(($(date +%s) - CROSSCLOUD_STARTED)) s"; }

# put_file PATH MODE OWNER:GROUP <content on stdin>
# Writes the file atomically only when content, mode or owner differ. Returns 0 when it changed it.
# A file that is already right costs no process: its content is compared by bash builtins and its
# mode, owner and size come from FILE_STATS (read_file_stats), because every process start costs a
# tenth of a second or more on a small VM and a step puts a score of files.
declare -A FILE_STATS=()
put_file() {
    local LC_ALL=C # sizes in bytes, as stat counts them
    local path=$1 mode=$2 owner=$3 dir=${1%/*} want="" have="" stats tmp
    IFS= read -r -d '' want || true
    if [[ -f $path ]]; then
        stats=${FILE_STATS[$path]:-$(stat -c '%a %U:%G %s' -- "$path")}
        if [[ $stats == "$mode $owner ${#want}" ]]; then
            IFS= read -r -d '' have <"$path" || true
            [[ $have == "$want" ]] && return 1
        fi
    fi
    [[ -d $dir ]] || install -d -m 755 "$dir"
    tmp=$(mktemp "$dir/.crosscloud.XXXXXX")
    printf '%s' "$want" >"$tmp"
    chmod "$mode" "$tmp"
    chown "$owner" "$tmp"
    mv -f "$tmp" "$path"
    FILE_STATS[$path]="$mode $owner ${#want}"
    changed "$path"
    return 0
}
# read_file_stats PATH...: mode, owner and size of each existing PATH into FILE_STATS, in one process.
read_file_stats() {
    local mode owner size path
    while read -r mode owner size path; do
        FILE_STATS[$path]="$mode $owner $size"
    done < <(stat -c '%a %U:%G %s %n' -- "$@" 2>/dev/null || true)
}

# ensure_packages PKG... : installs only what is missing (dpkg first, so hosts without a network
# that already have the packages never touch apt).
ensure_packages() {
    local missing=() pkg status
    local -A installed=()
    # One dpkg-query for all (it names those it does not know on stderr and exits 1: still read).
    while read -r pkg status; do
        [[ $status == "install ok installed" ]] && installed[$pkg]=1
    done < <(dpkg-query -W -f='${Package} ${Status}\n' -- "$@" 2>/dev/null || true)
    for pkg in "$@"; do
        [[ -n ${installed[$pkg]:-} ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    # cloud-init may still hold the apt lock right after boot: wait for it, bounded.
    DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends "${missing[@]}" >/dev/null
    changed "installed ${missing[*]}"
}

# ensure_enabled UNIT... : enabled at boot (started separately, so a restart can follow a change). One
# `systemctl enable` for all of them: each call reloads systemd's configuration (systemctl(1), enable:
# "implicitly reload the system manager configuration"), seconds each on a small VM. Sets RELOADED=1
# when it enabled anything, so that a caller needs no daemon-reload of its own.
RELOADED=0
ensure_enabled() {
    local unit missing=()
    for unit in "$@"; do
        systemctl is-enabled --quiet "$unit" 2>/dev/null || missing+=("$unit")
    done
    ((${#missing[@]} == 0)) && return 0
    systemctl enable --quiet "${missing[@]}"
    RELOADED=1
    for unit in "${missing[@]}"; do
        changed "enabled $unit"
    done
}

# ensure_running UNIT RESTART(0|1) : restarts after a change, starts when stopped, else leaves it.
ensure_running() {
    local unit=$1 restart=$2
    if [[ $restart == 1 ]]; then
        systemctl restart "$unit"
        changed "restarted $unit"
    elif ! systemctl is-active --quiet "$unit"; then
        systemctl start "$unit"
        changed "started $unit"
    fi
}

# pause SECONDS: waits without starting a process (a sleep a poll costs a tenth of a second or more
# on a small VM, and the switchover's fence polls inside the write outage): a timed read of a pipe
# only this shell holds open, so nothing ever arrives on it.
pause() {
    [[ -n ${CROSSCLOUD_IDLE_FD:-} ]] || exec {CROSSCLOUD_IDLE_FD}<> <(:)
    read -r -t "$1" -u "$CROSSCLOUD_IDLE_FD" || true
}
# wait_until SECONDS COMMAND... : polls COMMAND every POLL_SECONDS (default 1); returns 1 when the time is up.
wait_until() {
    local deadline=$((EPOCHSECONDS + $1))
    shift
    until "$@"; do
        ((EPOCHSECONDS >= deadline)) && return 1
        pause "${POLL_SECONDS:-1}"
    done
}
