# The old primary's side of `npm run failover`, run first when it can be reached: stop it before its
# standby is promoted, so that it takes no more writes, and mark it a fenced standby so that it comes
# back read-only. The next `pulumi up` rejoins it. Reads: PG_VERSION.
install_files
if running && [[ $(psql_admin -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; then
    mark standby.signal crosscloud.fenced
    systemctl stop "$UNIT"
    ! running || die "${UNIT} still runs after systemctl stop: see journalctl -u ${UNIT}"
    changed "fenced: stopped the primary ${UNIT}; its WAL ends at $(control "Latest checkpoint location")"
else
    log "no running primary here: nothing to fence"
fi
log "status: fenced"
