# The fence of a planned switchover, run on the host that is to become the standby: if PostgreSQL
# there is still a primary, stop it cleanly (its WAL senders ship everything, the shutdown checkpoint
# included, to the connected standby before they exit) and report where its WAL ended.
# Reads: PG_VERSION.
readonly PGDATA="/var/lib/postgresql/${PG_VERSION}/main"
readonly CLUSTER="${PG_VERSION}-main"
install_files
fenced_at=none
if systemctl is-active --quiet "postgresql@${CLUSTER}" &&
    [[ $(runuser -u postgres -- psql -X -q -At -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; then
    log "this host is still a primary: stopping it so that it takes no more writes"
    systemctl stop "postgresql@${CLUSTER}"
    fenced_at=$(runuser -u postgres -- "/usr/lib/postgresql/${PG_VERSION}/bin/pg_controldata" "$PGDATA" | awk -F': *' '$1 == "Latest checkpoint location" {print $2}')
    changed "fenced: stopped the primary at ${fenced_at}"
fi
log "fenced-at: ${fenced_at}"
