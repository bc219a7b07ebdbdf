#!/bin/bash
# Replaces the standby's replication slot on the primary once max_slot_wal_keep_size invalidated it (an
# outage longer than the slot keeps): such a slot holds no WAL any more, and PostgreSQL 16+ keeps it
# invalidated even while the standby streams through it. The new slot reserves WAL from now; the standby
# restores what it misses from the archive (restore_command) and streams under the slot's bound again.
# Run by crosscloud-slot-heal.timer on both database hosts (a `pulumi up` with unchanged triggers re-runs
# no step, so the program's step alone would leave the slot lost) and by the postgres-primary step.
# Does nothing on a standby, without the slot, or while the slot is healthy. Runs as postgres.
set -euo pipefail
# --- values (rendered on install): POSTGRES_ENV POSTGRES_HOME
conf=$POSTGRES_ENV
[[ -r $conf ]] || exit 0
# shellcheck source=/dev/null
source "$conf" # PG_VERSION; PEER_SLOT: the slot the peer's standby uses on this host
[[ -n ${PEER_SLOT:-} ]] || exit 0
pgdata=${POSTGRES_HOME}/${PG_VERSION}/main
# A standby, or a server not running (booting, stopped for a switchover): nothing to check, and no
# process started. This runs every 30 s, also while a standby is being promoted, whose CPU a small VM
# should spend on the promotion.
[[ -f $pgdata/postmaster.pid && ! -f $pgdata/standby.signal ]] || exit 0
sql() { psql -X -At -v ON_ERROR_STOP=1 -d postgres -c "$1"; }
lost() { [[ $(sql "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '${PEER_SLOT}' AND wal_status = 'lost' AND NOT pg_is_in_recovery()" 2>/dev/null) == 1 ]]; }
# One query in the common case (a healthy slot); a server still starting or stopping answers nothing.
lost || exit 0
# The timer and the step may run at once: one replaces, the other then finds a healthy slot.
exec 9>/run/postgresql/crosscloud-slot-heal.lock
flock -w 30 9 || { echo "crosscloud slot-heal: another run holds the lock" >&2; exit 1; }
lost || exit 0
# A walsender may still hold it (the standby streaming through a lost slot, or a dead connection not yet
# timed out): end it, then drop and create in one statement so the standby's retry finds no gap.
for attempt in 1 2 3 4 5; do
    sql "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '${PEER_SLOT}' AND active_pid IS NOT NULL" >/dev/null
    if sql "SELECT pg_drop_replication_slot('${PEER_SLOT}'); SELECT pg_create_physical_replication_slot('${PEER_SLOT}', true)" >/dev/null 2>&1; then
        echo "crosscloud slot-heal: replaced invalidated (wal_status lost) replication slot ${PEER_SLOT}, now reserving from $(sql "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = '${PEER_SLOT}'")"
        exit 0
    fi
    lost || exit 0
    sleep "$attempt"
done
echo "crosscloud slot-heal: replication slot ${PEER_SLOT} is lost but stayed in use by a walsender; the next run retries" >&2
exit 1
