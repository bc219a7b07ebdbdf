#!/bin/bash
# Lab load client: one INSERT per transaction, as an application's connection pool configured with both
# database hosts. It keeps a TLS + SCRAM session to each host, sends each write to the host that took
# the last one, and on failure to the other. A session whose write was refused but which still stands
# (a hot standby: "cannot execute INSERT in a read-only transaction") is kept, as a pool keeps a
# connection after an SQL error: its server takes writes on it the moment it is promoted. A session
# that broke (server gone or stopped, a statement given up) is dropped and dialed again, at most once
# a second per host. Every commit the server confirmed is logged as "ID EPOCH HOST"; failed attempts
# are not. Stops when /run/load.stop appears. Reads PGPASSWORD from /run/load.env (never on a command
# line).
# A new connection per INSERT (TLS handshake, SCRAM, a backend fork and a psql process each time) kept
# one lab CPU busy for under one commit a second and doubled the length of a `pulumi up` beside it.
# Usage: client.sh HOST_A HOST_B FIRST_ID
set -u
# shellcheck source=/dev/null  # written on the lab host at run time
source /run/load.env
export PGPASSWORD
hosts=("$1" "$2")
log=/var/log/load.committed
: >"$log"
id=$(($3 - 1))
sessions=/run/load-sessions
mkdir -p "$sessions"
# A write to a session whose psql is gone fails instead of ending the client.
trap '' PIPE
# A pipe nobody writes to: `read -t` on it waits without starting a process.
exec {idle}<> <(:)
pause() { read -r -t "$1" -u "$idle" || true; }

# A session is dialing until psql has connected and answered (it then is up), so that a host that is
# down (refusing, or shutting down) never holds up a write to the other: its psql fails on its own.
declare -A session_pid=() session_rd=() session_wr=() session_state=() dialed_ms=()
close_session() { # HOST
    local fd
    [[ -n ${session_pid[$1]:-} ]] || return 0
    fd=${session_wr[$1]}
    exec {fd}>&-
    fd=${session_rd[$1]}
    exec {fd}<&-
    kill "${session_pid[$1]}" 2>/dev/null || true
    wait "${session_pid[$1]}" 2>/dev/null || true
    rm -f "$sessions/$1.in" "$sessions/$1.out"
    unset "session_pid[$1]" "session_state[$1]"
}
open_session() { # HOST
    local dir=$sessions/$1 rd wr
    dialed_ms[$1]=$((${EPOCHREALTIME/./} / 1000))
    rm -f "$dir.in" "$dir.out"
    mkfifo -m 600 "$dir.in" "$dir.out"
    # As an application must: a server that vanishes mid-statement (its whole cloud gone, the tunnel
    # black-holing packets: no RST, no ICMP) is given up after seconds, not TCP's ~15 minutes.
    # Keepalives find a silent peer, tcp_user_timeout unacknowledged data, commit_on's read bounds the rest.
    # No ON_ERROR_STOP: a refused statement leaves the session standing; a lost connection ends psql.
    psql -X -q -At \
        "host=$1 port=5432 dbname=postgres user=crosscloud_admin sslmode=require connect_timeout=2 keepalives=1 keepalives_idle=2 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=5000" \
        <"$dir.in" >"$dir.out" 2>/dev/null &
    session_pid[$1]=$!
    exec {wr}>"$dir.in" {rd}<"$dir.out"
    session_wr[$1]=$wr
    session_rd[$1]=$rd
    session_state[$1]=dialing
    printf '\\echo up\n' 1>&"$wr" 2>/dev/null || true
}
# settle HOST: a dialing session that answered is up; one whose psql ended (connection refused or
# failed) is dropped. Never waits for a session that has not answered yet.
settle() {
    local line
    [[ ${session_state[$1]:-} == dialing ]] || return 0
    read -r -t 0 -u "${session_rd[$1]}" || return 0
    if read -r -t 1 -u "${session_rd[$1]}" line && [[ $line == up ]]; then
        session_state[$1]=up
    else
        close_session "$1"
    fi
}
# dial_due HOST: no session, and none dialed in the last second.
dial_due() { [[ -z ${session_pid[$1]:-} ]] && ((${EPOCHREALTIME/./} / 1000 - ${dialed_ms[$1]:-0} >= 1000)); }
# commit_on HOST ID: 0 when the server acknowledged the commit of ID (autocommit: psql prints the RETURNING
# row once the server reported the statement complete, then the \echo mark); 1 when it refused it on a
# session that stands (kept); 2 when the session broke (dropped). A statement given up after 15 s is not
# counted: its commit is in doubt, never claimed.
commit_on() {
    local got="" line
    if printf 'INSERT INTO load_check (id) VALUES (%s) RETURNING id;\n\\echo .\n' "$2" 1>&"${session_wr[$1]}" 2>/dev/null; then
        while read -r -t 15 -u "${session_rd[$1]}" line; do
            if [[ $line == . ]]; then
                [[ $got == "$2" ]] && return 0
                return 1
            fi
            got=$line
        done
    fi
    close_session "$1"
    return 2
}

while [[ ! -e /run/load.stop ]]; do
    id=$((id + 1))
    written=""
    for h in "${hosts[@]}"; do settle "$h"; done
    # The sessions that are up, the last good host's first.
    for h in "${hosts[@]}"; do
        [[ ${session_state[$h]:-} == up ]] || continue
        if commit_on "$h" "$id"; then
            written=$h
            break
        fi
    done
    if [[ -n $written ]]; then
        echo "$id $EPOCHREALTIME $written" >>"$log"
        [[ $written == "${hosts[0]}" ]] || hosts=("$written" "${hosts[0]}")
    fi
    # A session to every host, so that the one promoted next is already up.
    for h in "${hosts[@]}"; do
        ! dial_due "$h" || open_session "$h"
    done
    pause 0.2 # a steady few commits a second, not a busy loop on a small VM
done
for h in "${hosts[@]}"; do close_session "$h"; done
