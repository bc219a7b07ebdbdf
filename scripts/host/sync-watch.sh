#!/bin/bash
# crosscloud:synchronousStandbyLoss degrade: a primary in synchronous mode whose standby has not been
# streaming for SYNC_DEGRADE_AFTER_SECONDS stops waiting for it (commits go on asynchronously, and a
# failover meanwhile loses what the standby did not receive); once the standby streams again (caught
# up: PostgreSQL reports "streaming" only after the catch-up), commits wait for it again. The switch is
# a conf.d file that empties synchronous_standby_names, and a reload: PostgreSQL then releases the
# commits waiting for the standby. Each switch is logged to the journal.
# Runs as root (crosscloud-sync-watch.service, restarted if it ends), only while this host is a primary.
set -u
# --- values (rendered on install): POSTGRES_ENV POSTGRES_HOME SYNC_DEGRADED_CONF SYNC_DEGRADE_AFTER_SECONDS
# shellcheck source=/dev/null
source "$POSTGRES_ENV" # PG_VERSION, PEER_NAME
pgdata=${POSTGRES_HOME}/${PG_VERSION}/main
degraded=/etc/postgresql/${PG_VERSION}/main/conf.d/${SYNC_DEGRADED_CONF}
say() { echo "crosscloud sync-watch: $*"; }
# --- include: kept-session.sh
# --- include: sync-degrade.sh
# Read by session_sql (checked on the installed script, where it is written in); it sets $answer.
# shellcheck disable=SC2034
SESSION_PSQL=(runuser -u postgres -- psql -X -q -At) SESSION_READ_TIMEOUT=5 SESSION_OPEN_TIMEOUT=10
answer=""
reload() {
    session_sql "SELECT pg_reload_conf()" || say "warning: could not reload PostgreSQL: the change applies at its next reload"
}
trap '' PIPE
gone_since=""
while sleep 1; do
    if [[ ! -f $pgdata/postmaster.pid || -f $pgdata/standby.signal ]]; then
        gone_since=""
        close_session
        continue
    fi
    session_sql "SELECT count(*) FROM pg_stat_replication WHERE application_name = '${PEER_NAME}' AND state = 'streaming'" || continue
    if [[ $answer == 1 ]]; then
        gone_since=""
        if [[ -f $degraded ]]; then
            rm -f "$degraded"
            reload
            say "the standby ${PEER_NAME} streams again: synchronous replication is back on (commits wait for it)"
        fi
        continue
    fi
    [[ -n $gone_since ]] || gone_since=$EPOCHSECONDS
    if [[ ! -f $degraded ]] && ((EPOCHSECONDS - gone_since >= SYNC_DEGRADE_AFTER_SECONDS)); then
        write_degraded_conf "$degraded" "$PEER_NAME"
        reload
        say "the standby ${PEER_NAME} has not been streaming for $((EPOCHSECONDS - gone_since)) s: synchronous replication is off, commits go on asynchronously until it is back (crosscloud:synchronousStandbyLoss degrade)"
    fi
done
