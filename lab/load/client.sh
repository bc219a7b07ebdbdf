#!/bin/bash
# Lab load client: one INSERT per transaction on a kept TLS + SCRAM session, as an application's
# connection pool holds one; a session that fails (server gone, read-only, stopped, or a statement given
# up) is dropped, and the id goes to whichever database host accepts writes (the last good one first)
# on a new session. Every commit the server confirmed is logged as "ID EPOCH HOST"; failed attempts are
# not. Stops when /run/load.stop appears. Reads PGPASSWORD from /run/load.env (never on a command line).
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
# A write to a session whose psql is gone fails instead of ending the client.
trap '' PIPE
# A pipe nobody writes to: `read -t` on it waits without starting a process.
exec {idle}<> <(:)
pause() { read -r -t "$1" -u "$idle" || true; }

session_host="" session_pid="" rd="" wr=""
close_session() {
    [[ -n $session_host ]] || return 0
    exec {wr}>&- {rd}<&-
    kill "$session_pid" 2>/dev/null || true
    wait "$session_pid" 2>/dev/null || true
    session_host=""
}
open_session() { # HOST
    # As an application must: a server that vanishes mid-statement (its whole cloud gone, the tunnel
    # black-holing packets: no RST, no ICMP) is given up after seconds, not TCP's ~15 minutes.
    # Keepalives find a silent peer, tcp_user_timeout unacknowledged data, commit_on's read bounds the rest.
    coproc LOAD_SESSION {
        exec psql -X -q -At -v ON_ERROR_STOP=1 \
            "host=$1 port=5432 dbname=postgres user=crosscloud_admin sslmode=require connect_timeout=2 keepalives=1 keepalives_idle=2 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=5000" \
            2>/dev/null
    }
    session_pid=$LOAD_SESSION_PID
    exec {rd}<&"${LOAD_SESSION[0]}" {wr}>&"${LOAD_SESSION[1]}"
    session_host=$1
}
# commit_on HOST ID: succeeds when the server acknowledged the commit of ID (autocommit: psql prints the
# RETURNING row once the server reported the statement complete). Any failure drops the session; a
# statement given up after 15 s is not counted: its commit is in doubt, never claimed.
commit_on() {
    local got
    [[ $session_host == "$1" ]] || {
        close_session
        open_session "$1"
    }
    if printf 'INSERT INTO load_check (id) VALUES (%s) RETURNING id;\n' "$2" 1>&"$wr" 2>/dev/null &&
        read -r -t 15 -u "$rd" got && [[ $got == "$2" ]]; then
        return 0
    fi
    close_session
    return 1
}

while [[ ! -e /run/load.stop ]]; do
    id=$((id + 1))
    for h in "${hosts[@]}"; do
        if commit_on "$h" "$id"; then
            echo "$id $EPOCHREALTIME $h" >>"$log"
            [[ $h == "${hosts[0]}" ]] || hosts=("$h" "${hosts[0]}")
            pause 0.2 # a steady few commits a second, not a busy loop on a small VM
            continue 2
        fi
    done
    pause 0.2 # nobody takes writes right now: don't spin
done
close_session
