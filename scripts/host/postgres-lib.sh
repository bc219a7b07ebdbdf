# Shared by the PostgreSQL host steps (node, fence, primary, failover): where the cluster lives and
# how to ask it where it stands. Reads: PG_VERSION (PEER_IP for peer_sql) and the host constants
# (postgresSteps.ts POSTGRES_LIB_VARS): POSTGRES_HOME PROMOTING_FLAG REPLICATION_CONNINFO.
readonly PGDATA="${POSTGRES_HOME}/${PG_VERSION}/main"
readonly CLUSTER="${PG_VERSION}-main"
readonly BIN="/usr/lib/postgresql/${PG_VERSION}/bin"
readonly UNIT="postgresql@${PG_VERSION}-main"

# crosscloud's own statements commit locally: with crosscloud:synchronous on, a primary whose standby is
# made or rejoined by a later step of the same `up` would otherwise wait on it forever (CREATE ROLE, GRANT).
psql_admin() { runuser -u postgres -- env PGOPTIONS="-c synchronous_commit=local" psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
is_standby() { [[ -f $PGDATA/standby.signal ]]; }
# mark FILE...: empty marker files in PGDATA (standby.signal, crosscloud.fenced), owned by postgres even
# when root made them before (boot-fence runs in postgresql@'s ExecStartPre, as root): a postgres-side
# touch of a root-owned file is refused.
mark() {
    local f
    for f in "$@"; do install -o postgres -g postgres -m 600 /dev/null "$PGDATA/$f"; done
}
running() { systemctl is-active --quiet "$UNIT"; }
ready() { runuser -u postgres -- pg_isready -q; }
in_recovery() { [[ $(psql_admin -c "SELECT pg_is_in_recovery()") == t ]]; }
# The peer's database system identifier, asked over a TLS replication connection (fails when unreachable).
# dbname=replication: the name .pgpass matches for replication connections (pg_basebackup and the
# walreceiver set it themselves).
# A replication command (IDENTIFY_SYSTEM, TIMELINE_HISTORY N) on the peer; fails when unreachable.
peer_replication_sql() { runuser -u postgres -- psql -w -X -At "host=${PEER_IP} ${REPLICATION_CONNINFO} connect_timeout=10 dbname=replication replication=true" -c "$1"; }
peer_system_id() { peer_replication_sql IDENTIFY_SYSTEM | cut -d'|' -f1; }
# lsn_number X/Y: an LSN as a number, to compare two.
lsn_number() { echo $((16#${1%/*} * 4294967296 + 16#${1#*/})); }
# peer_fork_point OUR_TIMELINE: where the peer's current timeline left OUR_TIMELINE, from its timeline
# history file, as PostgreSQL itself decides it; empty (and status 1) when that cannot be told: the
# peer unreachable, on our timeline or an older one, or OUR_TIMELINE not in its history.
peer_fork_point() {
    local ours=$1 identity theirs history fork
    identity=$(peer_replication_sql IDENTIFY_SYSTEM 2>/dev/null) || return 1
    theirs=$(cut -d'|' -f2 <<<"$identity")
    [[ $theirs =~ ^[0-9]+$ ]] && ((theirs > ours)) || return 1
    history=$(peer_replication_sql "TIMELINE_HISTORY ${theirs}" 2>/dev/null) || return 1
    # Lines "TLI<tab>SWITCHPOINT<tab>reason"; psql puts the file name and a | before the first.
    fork=$(awk -F'\t' -v t="$ours" '{ sub(/^[^|]*\|/, "") } $1 == t { print $2 }' <<<"$history")
    [[ $fork =~ ^[0-9A-F]+/[0-9A-F]+$ ]] || return 1
    printf '%s\n' "$fork"
}
# The replication user's ordinary connection to the peer's postgres database (peer_sql, the fence's session).
peer_db_conninfo() { printf '%s' "host=${PEER_IP} ${REPLICATION_CONNINFO} connect_timeout=5 dbname=postgres"; }
peer_sql() { runuser -u postgres -- psql -w -X -q -At "$(peer_db_conninfo)" -c "$1" 2>/dev/null; }
# pg_controldata only reads a file: as root it needs no user switch (runuser's PAM session costs about
# 0.3 s on a small VM, and the fence reads it inside the switchover's write outage).
control() { "$BIN/pg_controldata" "$PGDATA" 2>/dev/null | awk -F': *' -v k="$1" '$1 == k {print $2}'; }
# A psql session to the peer, opened ahead of a moment that counts (the fence opens it before the
# stop): each question is then one round trip over the tunnel instead of a new psql process, TLS
# handshake and SCRAM exchange (over a second on a small VM). peer_ask falls back to peer_sql when the
# session is gone.
open_peer_session() {
    coproc PEER_SESSION { runuser -u postgres -- "$BIN/psql" -w -X -q -At "$(peer_db_conninfo)" 2>/dev/null; }
}
# peer_ask QUERY: its one-line answer; empty when the query failed. The \echo line ends every answer,
# so an error (which prints nothing on stdout) does not leave the reader waiting. TIMEOUT bounds each
# line (default 75 s: pg_promote may wait 60 s).
peer_ask() {
    local line answer=""
    if [[ -n ${PEER_SESSION_PID:-} ]] && printf '%s;\n\\echo .\n' "$1" 1>&"${PEER_SESSION[1]}" 2>/dev/null; then
        while IFS= read -r -t "${TIMEOUT:-75}" line <&"${PEER_SESSION[0]}"; do
            [[ $line == . ]] && { printf '%s\n' "$answer"; return 0; }
            answer=$line
        done
    fi
    peer_sql "$1"
}
wait_ready() { wait_until 120 ready || die "${UNIT} did not accept connections within 120 s: see journalctl -u ${UNIT}"; }

# pg_promote, waiting for it. Meanwhile fetch-wal gives up at once: the promotion's own archive
# lookups (timeline history files) must not wait on a peer that is stopped or lost. The flag lives
# in /run (gone at boot) and is removed as soon as the promotion returns.
promote_now() {
    local promoted
    install -d -m 755 "${PROMOTING_FLAG%/*}"
    touch "$PROMOTING_FLAG"
    promoted=$(psql_admin -c "SELECT pg_promote(true, 60)" || true)
    rm -f "$PROMOTING_FLAG"
    [[ $promoted == t ]] || die "pg_promote did not finish within 60 s: see the PostgreSQL log"
}

# Whether the config files on disk are newer than what the server has loaded: a step that wrote them
# and was interrupted before its reload, or a standby prepared for promotion, gets its reload later.
config_pending() {
    local newest
    newest=$(stat -c %.6Y "/etc/postgresql/${PG_VERSION}/main/conf.d/90-crosscloud.conf" "/etc/postgresql/${PG_VERSION}/main/pg_hba.conf" 2>/dev/null | sort -n | tail -n1)
    [[ -n $newest && $(psql_admin -c "SELECT pg_conf_load_time() < to_timestamp(${newest})") == t ]]
}

# Reloads the configuration and waits (bounded) until the server has read it.
reload_config() {
    local loaded
    loaded=$(psql_admin -c "SELECT pg_conf_load_time()")
    systemctl reload "$UNIT"
    reloaded() { [[ $(psql_admin -c "SELECT pg_conf_load_time()") != "$loaded" ]]; }
    POLL_SECONDS=0.2 wait_until 30 reloaded || die "${UNIT} did not reload its configuration within 30 s"
    changed "reloaded ${UNIT}"
}

# PostgreSQL itself says (pending_restart) when a changed setting needs a restart.
restart_if_pending() {
    if [[ $(psql_admin -c "SELECT count(*) FROM pg_settings WHERE pending_restart") != 0 ]]; then
        systemctl restart "$UNIT"
        changed "restarted ${UNIT} (a changed setting needs it)"
        wait_ready
    fi
}
