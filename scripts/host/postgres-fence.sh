# The fence of a planned switchover, run on the host that is to become the standby: if PostgreSQL
# there is still a primary, stop it cleanly (its WAL senders ship everything, the shutdown checkpoint
# included, to the connected standby before they exit), report where its WAL ended, and promote the
# peer once it has replayed that far. The stopped cluster gets standby.signal, so that any restart
# before the rejoin comes up read-only.
# Reads: PG_VERSION PEER_IP CATCHUP_TIMEOUT.
install_files
fenced_at=none
if running && [[ $(psql_admin -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; then
    # Stop this primary only for a copy of it: a new primary of another cluster (a switchover asked
    # before the standby ever streamed from here) would take over with none of this data.
    ours=$(control "Database system identifier")
    theirs=$(peer_system_id 2>/dev/null) || true
    [[ $theirs == "$ours" ]] ||
        die "the database host ${PEER_IP} is not a copy of this primary (system identifier ${theirs:-unreachable}, here ${ours}): no fence, this primary keeps taking writes. Set crosscloud:primary back to this host's site and wait until replicationStatus says streaming before a switchover"
    log "this host is still a primary: stopping it so that it takes no more writes"
    systemctl stop "$UNIT"
    [[ $(control "Database cluster state") == "shut down" ]] ||
        die "the primary did not shut down cleanly (state: $(control "Database cluster state")): its last WAL is unknown, so no switchover; see journalctl -u ${UNIT}"
    runuser -u postgres -- touch "$PGDATA/standby.signal" "$PGDATA/crosscloud.fenced"
    fenced_at=$(control "Latest checkpoint location")
    changed "fenced: stopped the primary at ${fenced_at}"
    # Promote the peer from here, over the tunnel, as soon as it has replayed this primary's last WAL:
    # no second SSH connection stands between the stop and the promotion, so writes wait only for the
    # stop, the catch-up and the promotion. Whatever goes wrong here, the postgres-primary step on
    # the peer checks again and promotes, or stops with the reason.
    # One query a poll, so a poll that finds the peer caught up promotes it on the same connection.
    promote_peer() {
        local answer
        answer=$(peer_sql "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'primary' WHEN pg_last_wal_replay_lsn() > '${fenced_at}'::pg_lsn THEN pg_promote(true, 60)::text ELSE 'behind' END")
        [[ $answer == true || $answer == primary ]]
    }
    if POLL_SECONDS=0.2 wait_until "$CATCHUP_TIMEOUT" promote_peer; then
        changed "promoted ${PEER_IP}: it had replayed past ${fenced_at}"
    else
        log "${PEER_IP} was not promoted from here (not past ${fenced_at} within ${CATCHUP_TIMEOUT} s, or unreachable): its postgres-primary step checks again"
    fi
elif [[ -f $PGDATA/crosscloud.fenced ]] && ! running && [[ $(control "Database cluster state") == "shut down" ]]; then
    # A re-run after an interruption: report the same fence again.
    fenced_at=$(control "Latest checkpoint location")
fi
log "fenced-at: ${fenced_at}"
