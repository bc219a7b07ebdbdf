#!/bin/bash
# ExecStartPre of postgresql@ on both database hosts: a host that believes it is a primary, whose peer
# has been promoted meanwhile (an unplanned failover while this side was away), starts as a read-only
# standby instead of a second primary. The next `pulumi up` rejoins it (pg_rewind) or keeps it.
set -u
# --- values (rendered on install): POSTGRES_ENV POSTGRES_HOME REPLICATION_CONNINFO
conf=$POSTGRES_ENV
[[ -r $conf ]] || exit 0
# shellcheck source=/dev/null
source "$conf" # PG_VERSION, PEER_IP
pgdata=${POSTGRES_HOME}/${PG_VERSION}/main
[[ -f $pgdata/PG_VERSION && ! -f $pgdata/standby.signal ]] || exit 0
ours=$("/usr/lib/postgresql/${PG_VERSION}/bin/pg_controldata" "$pgdata" | awk -F': *' '$1 == "Latest checkpoint'"'"'s TimeLineID" {print $2}')
theirs=""
# Bounded: the peer may be coming back with this side (the tunnel too). A refused connection means
# no PostgreSQL runs there, so no promoted primary either: no need to wait.
for _ in $(seq 10); do
    if answer=$(psql -w -X -At "host=${PEER_IP} ${REPLICATION_CONNINFO} connect_timeout=3 dbname=replication replication=true" \
        -c IDENTIFY_SYSTEM 2>&1); then
        theirs=$(cut -d'|' -f2 <<<"$answer")
        break
    fi
    grep -q "Connection refused" <<<"$answer" && break
    sleep 2
done
# The checkpoint's timeline lags a promotion until the next checkpoint: also require that the peer
# really is a primary now, or a freshly promoted primary could fence itself against its standby.
peer_is_primary() {
    [[ $(psql -w -X -At "host=${PEER_IP} ${REPLICATION_CONNINFO} connect_timeout=3 dbname=postgres" \
        -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]
}
if [[ -n $theirs && -n $ours && $theirs -gt $ours ]] && peer_is_primary; then
    echo "crosscloud boot-fence: the peer ${PEER_IP} was promoted (timeline ${theirs} > ${ours}): starting as a read-only standby" >&2
    # Owned by postgres, as PostgreSQL's own files are (this runs as root before pg_ctlcluster).
    install -o postgres -g postgres -m 600 /dev/null "$pgdata/standby.signal"
    install -o postgres -g postgres -m 600 /dev/null "$pgdata/crosscloud.fenced"
fi
exit 0
