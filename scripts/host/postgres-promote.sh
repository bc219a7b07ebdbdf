# Unplanned failover, run on the standby while its primary's side is unreachable: replay what was
# received, promote at once, and report how far this copy got (the RPO).
# Reads: PG_VERSION, REPLAY_TIMEOUT.
install_files
running || die "${UNIT} is not running on this host"
# One query a question: each psql costs a user switch and a connection (about a second on a small VM
# under load), and the writes stay down until the promotion.
# No answer (read fails on empty input) is said below, not by set -e.
IFS='|' read -r in_recovery received < <(psql_admin -c "SELECT pg_is_in_recovery(), coalesce(pg_last_wal_receive_lsn()::text, 'none')") || true
[[ -n $in_recovery ]] || die "PostgreSQL on this host does not answer queries: see journalctl -u ${UNIT}"
[[ $in_recovery == t ]] || die "this host is already a primary: nothing to fail over"
replayed_all() { [[ $(psql_admin -c "SELECT pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn() OR pg_last_wal_receive_lsn() IS NULL") == t ]]; }
POLL_SECONDS=0.2 wait_until "$REPLAY_TIMEOUT" replayed_all || log "not all received WAL was replayed within ${REPLAY_TIMEOUT} s: promoting anyway"
IFS='|' read -r replayed last_commit behind < <(psql_admin -c "SELECT pg_last_wal_replay_lsn(), coalesce(pg_last_xact_replay_timestamp()::text, 'none'), coalesce(round(extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::text, 'unknown')")
promote_now
changed "promoted to primary without the old primary"
log "last received WAL ${received}, last replayed ${replayed}; last replayed commit at ${last_commit} (${behind} s before the promotion)"
log "RPO: transactions the old primary committed after ${last_commit} and never sent here are lost; with crosscloud:synchronous on or remote_apply there are none"
log "status: promoted at ${replayed}"
