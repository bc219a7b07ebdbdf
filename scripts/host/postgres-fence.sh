# The fence of a planned switchover, run on the host that is to become the standby: if PostgreSQL
# there is still a primary, stop it cleanly (its WAL senders ship everything, the shutdown checkpoint
# included, to the connected standby before they exit) and report where its WAL ended. The stopped
# cluster gets standby.signal, so that any restart before the rejoin comes up read-only.
# Reads: PG_VERSION.
install_files
fenced_at=none
if running && [[ $(psql_admin -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; then
    log "this host is still a primary: stopping it so that it takes no more writes"
    systemctl stop "$UNIT"
    [[ $(control "Database cluster state") == "shut down" ]] ||
        die "the primary did not shut down cleanly (state: $(control "Database cluster state")): its last WAL is unknown, so no switchover; see journalctl -u ${UNIT}"
    runuser -u postgres -- touch "$PGDATA/standby.signal" "$PGDATA/crosscloud.fenced"
    fenced_at=$(control "Latest checkpoint location")
    changed "fenced: stopped the primary at ${fenced_at}"
elif [[ -f $PGDATA/crosscloud.fenced ]] && ! running && [[ $(control "Database cluster state") == "shut down" ]]; then
    # A re-run after an interruption: report the same fence again.
    fenced_at=$(control "Latest checkpoint location")
fi
log "fenced-at: ${fenced_at}"
