#!/bin/bash
# Lab load client: one INSERT per transaction, each on a fresh TLS + SCRAM connection, against
# whichever database host accepts writes (it tries the last good one first). Every commit the
# server confirmed is logged as "ID EPOCH HOST"; failed attempts are not. Stops when /run/load.stop
# appears. Reads PGPASSWORD from /run/load.env (never on a command line).
# Usage: client.sh HOST_A HOST_B FIRST_ID
set -u
# shellcheck source=/dev/null  # written on the lab host at run time
source /run/load.env
export PGPASSWORD
hosts=("$1" "$2")
log=/var/log/load.committed
: >"$log"
id=$(($3 - 1))
while [[ ! -e /run/load.stop ]]; do
    id=$((id + 1))
    for h in "${hosts[@]}"; do
        # As an application must: a server that vanishes mid-statement (its whole cloud gone, the tunnel
        # black-holing packets: no RST, no ICMP) is given up after seconds, not TCP's ~15 minutes.
        # Keepalives find a silent peer, tcp_user_timeout unacknowledged data, timeout bounds the rest.
        # A statement given up is not counted: its commit is in doubt, never claimed.
        if timeout 15 psql -X -q -At -v ON_ERROR_STOP=1 \
            "host=$h port=5432 dbname=postgres user=crosscloud_admin sslmode=require connect_timeout=2 keepalives=1 keepalives_idle=2 keepalives_interval=1 keepalives_count=3 tcp_user_timeout=5000" \
            -c "INSERT INTO load_check (id) VALUES ($id)" >/dev/null 2>&1; then
            echo "$id $(date +%s.%N) $h" >>"$log"
            [[ $h == "${hosts[0]}" ]] || hosts=("$h" "${hosts[0]}")
            continue 2
        fi
    done
    sleep 0.2 # nobody takes writes right now: don't spin on the lab's one CPU
done
