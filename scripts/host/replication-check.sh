# Waits, bounded, until this standby replicates from its primary, and says how.
# Reads: REPLICATION TIMEOUT PEER_IP
psql_admin() { runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
install_files
streaming() { [[ $(psql_admin -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null) == streaming ]]; }
replaying() { [[ $(psql_admin -c "SELECT pg_is_in_recovery() AND pg_last_wal_replay_lsn() IS NOT NULL" 2>/dev/null) == t ]]; }
if [[ $REPLICATION == streaming ]]; then
    wait_until "$TIMEOUT" streaming || die "the standby is not streaming from ${PEER_IP} after ${TIMEOUT} s: see journalctl -u postgresql@* and the primary's pg_stat_replication"
    log "status: streaming from ${PEER_IP}"
else
    wait_until "$TIMEOUT" replaying || die "the standby replays no WAL from the archive on ${PEER_IP} after ${TIMEOUT} s: see its log (restore_command)"
    log "status: log-shipping from ${PEER_IP}"
fi
