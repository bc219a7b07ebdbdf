# The primary role on this host, run after the fence. In a switchover the fence has normally promoted
# this host already (over the tunnel, right after stopping the old primary); if it has not, this step
# promotes it once it has replayed the fenced old primary's WAL up to its shutdown (FENCED_LSN: the
# shutdown's own segment switch and checkpoint carry no transaction), or stops saying why.
# Then, on any run: the roles, the grants pg_rewind needs, and the standby's replication slot.
# Reads: PG_VERSION PEER_IP SLOT REPLICATION REPLICATOR_VERIFIER ADMIN_VERIFIER FENCED_LSN CATCHUP_TIMEOUT,
# and the host constants REPLICATION_USER ADMIN_USER HELPER_DIR.
running || die "${UNIT} is not running on this host: the node step starts it; see journalctl -u ${UNIT}"
wait_ready
# One query a poll: every process started before the promotion adds to the switchover's write outage.
if [[ $(psql_admin -c "SELECT pg_is_in_recovery()") == t ]]; then
    [[ $FENCED_LSN =~ ^[0-9A-F]+/[0-9A-F]+$ ]] ||
        die "this host is a standby and the fence step stopped no primary on ${PEER_IP}: a planned switchover needs the old primary running; for an unplanned failover use 'npm run failover'"
    caught_up() { [[ $(psql_admin -c "SELECT pg_last_wal_replay_lsn() >= '${FENCED_LSN}'::pg_lsn") == t ]]; }
    if ! POLL_SECONDS=0.2 wait_until "$CATCHUP_TIMEOUT" caught_up; then
        die "switchover stopped before promotion: this standby replayed WAL up to $(psql_admin -c "SELECT pg_last_wal_replay_lsn()") but the old primary on ${PEER_IP} wrote up to ${FENCED_LSN} before its shutdown, so zero loss is not proven and nothing was promoted. The old primary is stopped (fenced): run pulumi up again to retry, or set crosscloud:primary back to restart it."
    fi
    [[ $(peer_sql "SELECT pg_is_in_recovery()") != f ]] ||
        die "the old primary on ${PEER_IP} runs as a primary again: no promotion (two primaries); run pulumi up again to fence it"
    log "replayed up to ${FENCED_LSN}, all the old primary wrote before its shutdown: promoting"
    promote_now
    rm -f "$PGDATA/crosscloud.fenced"
    changed "promoted to primary"
fi
# PostgreSQL 15's pg_rewind takes a server's timeline from pg_control, which a promotion updates only at
# its first checkpoint after it (requested in the background, spread over minutes): until then the old
# primary's rejoin, later in this same up, would hear "no rewind required" from a server it forked from.
# PostgreSQL's pg_rewind documentation asks for a CHECKPOINT after a promotion.
if [[ $(psql_admin -c "SELECT timeline_id <> ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int FROM pg_control_checkpoint()") == t ]]; then
    psql_admin -c CHECKPOINT
    changed "checkpoint on the new timeline (pg_rewind reads a server's timeline from pg_control)"
fi
# The primary's settings, installed by the node step while this host was a standby, take effect now
# (also after an interruption between the promotion and this reload).
if config_pending; then
    reload_config
fi

ensure_role() { # NAME ATTRIBUTES VERIFIER
    local state
    # One question (each psql costs about a second on a small VM): "0|f" when the role is missing,
    # "1|t" when its password differs, "1|f" when it is right. The verifier goes on stdin, never argv.
    state=$(psql_admin <<<"SELECT count(*) || CASE WHEN bool_or(rolpassword IS DISTINCT FROM '$3') THEN '|t' ELSE '|f' END FROM pg_authid WHERE rolname = '$1'")
    case $state in
    0\|*)
        psql_admin <<<"CREATE ROLE $1 WITH $2 PASSWORD '$3'"
        changed "created role $1"
        ;;
    1\|t)
        psql_admin <<<"ALTER ROLE $1 WITH $2 PASSWORD '$3'"
        changed "set the password of role $1"
        ;;
    1\|f) ;;
    *) die "could not tell whether role $1 exists with its password: PostgreSQL answered '${state}'" ;;
    esac
}
# From here on this cluster may hold data: no base backup may replace it (postgres-node.sh).
rm -f "$PGDATA/crosscloud.fresh"
ensure_role "$REPLICATION_USER" "LOGIN REPLICATION" "$REPLICATOR_VERIFIER"
ensure_role "$ADMIN_USER" "LOGIN CREATEDB CREATEROLE" "$ADMIN_VERIFIER"
# pg_rewind connects as the replication user to an ordinary database and reads files with these.
# Unquoted: the role's name comes from REPLICATION_USER (a plain identifier); the SQL has no other $.
psql_admin -d postgres <<SQL
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO ${REPLICATION_USER};
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO ${REPLICATION_USER};
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO ${REPLICATION_USER};
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO ${REPLICATION_USER};
-- The fence of a switchover promotes this host's standby over the tunnel, right after the stop.
GRANT EXECUTE ON FUNCTION pg_catalog.pg_promote(boolean, integer) TO ${REPLICATION_USER};
SQL
# A slot invalidated by max_slot_wal_keep_size (an outage longer than it keeps) holds nothing any more:
# the node step's slot-heal helper (also run every 30 s by its timer) replaces it. The standby catches up
# from the WAL archive (restore_command) up to where the new slot reserves, then streams; no pg_basebackup.
if [[ $REPLICATION == streaming ]]; then
    healed=$(runuser -u postgres -- "${HELPER_DIR}/slot-heal") ||
        die "could not replace the invalidated replication slot ${SLOT}: ${healed:-see the output above}"
    [[ -z $healed ]] || changed "${healed#crosscloud slot-heal: }"
fi
if [[ $REPLICATION == streaming && $(psql_admin -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '${SLOT}'") == 0 ]]; then
    # Reserve WAL from the moment the slot exists, not from the standby's first connection.
    psql_admin -c "SELECT pg_create_physical_replication_slot('${SLOT}', true)" >/dev/null
    changed "created replication slot ${SLOT}"
fi
log "status: primary ready"
