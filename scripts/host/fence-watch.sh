#!/bin/bash
# A primary that finds its peer promoted on a newer timeline stops taking writes at once. That is the
# old primary of a partition: `npm run failover` promoted the other side while this one, cut off with
# its own clients, kept committing. When the tunnel is back and the peer answers as a primary on a
# newer timeline, PostgreSQL here is stopped (fast shutdown: every session ends, nothing can override
# it), marked a fenced standby so that no restart makes it a primary again, and the journal says why.
# The next `pulumi up` rejoins it, saving what it wrote after the fork before anything is discarded.
# Runs as root (crosscloud-fence-watch.service, restarted if it ends); asks the peer twice a second over
# one kept session, and only while this host is a primary. The fence is on a clock (a bound of 5 s from
# the tunnel's return, measured in the lab): this primary's timeline is asked once per postmaster (a
# primary's timeline changes only through a restart as a standby), and PostgreSQL gets its fast shutdown
# signal directly, before systemd's stop (whose pg_ctlcluster start costs seconds on a small VM).
set -u
# --- values (rendered on install): POSTGRES_ENV POSTGRES_HOME REPLICATION_CONNINFO
conf=$POSTGRES_ENV
# shellcheck source=/dev/null
source "$conf" # PG_VERSION, PEER_IP
pgdata=${POSTGRES_HOME}/${PG_VERSION}/main
unit=postgresql@${PG_VERSION}-main
say() { echo "crosscloud fence-watch: $*"; }
# keepalives: a session through a cut tunnel is given up within seconds, not the kernel's minutes.
peer_conninfo="host=${PEER_IP} ${REPLICATION_CONNINFO} connect_timeout=5 dbname=postgres keepalives=1 keepalives_idle=2 keepalives_interval=1 keepalives_count=2"
# A primary's WAL insert timeline, 0 on a standby.
TIMELINE_SQL="CASE WHEN pg_is_in_recovery() THEN 0 ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END"
# The peer's answer: "f|TIMELINE" from a primary, "t|0" from a standby.
PEER_QUERY="SELECT pg_is_in_recovery(), ${TIMELINE_SQL}"
# --- include: kept-session.sh
# Read by session_sql (checked on the installed script, where it is written in); it sets $answer.
# shellcheck disable=SC2034
SESSION_PSQL=(runuser -u postgres -- psql -w -X -q -At "$peer_conninfo") SESSION_READ_TIMEOUT=2 SESSION_OPEN_TIMEOUT=10
# shellcheck disable=SC2016,SC2034 # $0 and $1 are the inner shell's: the peer's address and port
SESSION_PROBE=(timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$PEER_IP" 5432)
answer=""
# This primary's timeline, and the postmaster it was asked of.
ours="" ours_pid=""
trap '' PIPE
while sleep 0.5; do
    # A standby, or no server: nothing to watch (and no session kept open).
    if [[ ! -f $pgdata/postmaster.pid || -f $pgdata/standby.signal ]]; then
        ours=""
        close_session
        continue
    fi
    pid=""
    read -r pid <"$pgdata/postmaster.pid" 2>/dev/null
    if [[ -z $ours || $pid != "$ours_pid" ]]; then
        ours=$(runuser -u postgres -- psql -X -At -c "SELECT ${TIMELINE_SQL}" 2>/dev/null) || ours=""
        [[ $ours =~ ^[1-9][0-9]*$ ]] || {
            ours=""
            continue
        }
        ours_pid=$pid
    fi
    session_sql "$PEER_QUERY" || continue
    [[ $answer == f\|* ]] || continue
    theirs=${answer#f|}
    if ! [[ $theirs =~ ^[0-9]+$ ]] || ((theirs <= ours)); then
        continue
    fi
    install -o postgres -g postgres -m 600 /dev/null "$pgdata/standby.signal"
    install -o postgres -g postgres -m 600 /dev/null "$pgdata/crosscloud.fenced"
    # SIGINT is PostgreSQL's fast shutdown: new sessions refused, the others ended. Only to a process that
    # is PostgreSQL (a stale pid file's number may belong to another process by now).
    comm=""
    [[ $pid =~ ^[1-9][0-9]*$ ]] && read -r comm <"/proc/$pid/comm" 2>/dev/null
    if [[ $comm == postgres ]]; then
        kill -INT "$pid" 2>/dev/null
    fi
    say "the peer ${PEER_IP} is a primary on timeline ${theirs}, newer than this primary's ${ours}: it was promoted while this side was cut off; stopping PostgreSQL here so that it takes no more writes (fenced, read-only at its next start; pulumi up rejoins it and saves what it wrote after the fork)"
    systemctl stop "$unit"
    say "stopped ${unit}: fenced"
    close_session
done
