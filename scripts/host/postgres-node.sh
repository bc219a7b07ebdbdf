# A PostgreSQL host of the replica pair, converging on its desired ROLE: data disk, packages, cluster,
# config, then the role's work. Becoming primary from standby (a switchover) promotes only once this
# host has replayed the old primary's last WAL (FENCED_LSN, from the fence step); becoming standby
# from primary rejoins the new primary with pg_rewind instead of a new base backup.
# Reads: PG_VERSION ROLE DATA_DEVICE PEER_IP SLOT REPLICATION REPLICATOR_VERIFIER ADMIN_VERIFIER
#        FENCED_LSN CATCHUP_TIMEOUT. Files: conf (CHANGED_conf), hba (CHANGED_hba), units (CHANGED_units).

readonly PGDATA="/var/lib/postgresql/${PG_VERSION}/main"
readonly CLUSTER="${PG_VERSION}-main"
readonly ARCHIVE_DIR=/var/lib/postgresql/wal-archive
readonly BIN="/usr/lib/postgresql/${PG_VERSION}/bin"
readonly UNIT="postgresql@${PG_VERSION}-main"

# --- the data disk, mounted where the packages keep PGDATA, before they create anything there
prepare_data_disk() {
    local device=$1 mountpoint=/var/lib/postgresql uuid line
    wait_until 300 test -b "$device" || die "data disk $device did not appear within 300 s: check the volume/disk attachment"
    local probe=0
    blkid -p "$device" >/dev/null 2>&1 || probe=$?
    if ((probe == 2)); then
        # blkid found no signature at all (exit 2): a new, empty disk. Anything else is never formatted.
        mkfs.ext4 -q -L pgdata "$device"
        changed "formatted $device"
    fi
    uuid=$(blkid -s UUID -o value "$device")
    line="UUID=${uuid} ${mountpoint} ext4 defaults,nofail,x-systemd.device-timeout=300 0 2"
    if ! grep -qxF "$line" /etc/fstab; then
        sed -i "\\# ${mountpoint} #d" /etc/fstab
        echo "$line" >>/etc/fstab
        changed "/etc/fstab: ${mountpoint} on ${device}"
    fi
    install -d "$mountpoint"
    if ! mountpoint -q "$mountpoint"; then
        mount "$mountpoint"
        changed "mounted ${device} on ${mountpoint}"
    fi
}
prepare_data_disk "$DATA_DEVICE"

# --- packages: Ubuntu 24.04 ships PostgreSQL 16; other versions come from the PGDG repository
if ! dpkg-query -W -f='${Status}' "postgresql-${PG_VERSION}" 2>/dev/null | grep -q 'install ok installed'; then
    if ! apt-cache policy "postgresql-${PG_VERSION}" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        ensure_packages postgresql-common
        /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y >/dev/null
        changed "added the PGDG apt repository"
    fi
fi
ensure_packages "postgresql-${PG_VERSION}" ssl-cert openssh-client
chown postgres:postgres /var/lib/postgresql
if [[ ! -s /etc/ssl/certs/ssl-cert-snakeoil.pem ]]; then
    make-ssl-cert generate-default-snakeoil
    changed "made the host's TLS certificate (ssl-cert snakeoil)"
fi

# --- never let a version change wipe data: another major version's cluster means an upgrade is due
other=$(pg_lsclusters --no-header 2>/dev/null | awk -v v="$PG_VERSION" '$1 != v {print $1 "/" $2}' | head -n1)
if [[ -n $other ]]; then
    die "this host holds PostgreSQL cluster ${other} but crosscloud:postgresVersion is ${PG_VERSION}: nothing was changed; upgrade the cluster first (see the README, 'Changing postgresVersion') or set the version back"
fi
if ! pg_lsclusters --no-header | awk '{print $1 "-" $2}' | grep -qx "$CLUSTER"; then
    pg_createcluster "$PG_VERSION" main >/dev/null
    changed "created cluster ${CLUSTER}"
fi
install -d -o postgres -g postgres -m 750 "$ARCHIVE_DIR"
install -d -o postgres -g postgres -m 700 /var/lib/postgresql/.ssh
install_files
if [[ $CHANGED_units == 1 ]]; then
    systemctl daemon-reload
fi
ensure_enabled crosscloud-wal-archive-prune.timer
ensure_running crosscloud-wal-archive-prune.timer 0
ensure_enabled postgresql

psql_admin() { runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
is_standby() { [[ -f $PGDATA/standby.signal ]]; }
running() { systemctl is-active --quiet "$UNIT"; }
ready() { runuser -u postgres -- pg_isready -q; }
in_recovery() { [[ $(psql_admin -c "SELECT pg_is_in_recovery()") == t ]]; }
peer_sql() { runuser -u postgres -- psql -w -X -q -At "host=${PEER_IP} port=5432 user=replicator passfile=/var/lib/postgresql/.pgpass sslmode=require connect_timeout=5 dbname=postgres" -c "$1" 2>/dev/null; }
control() { runuser -u postgres -- "$BIN/pg_controldata" "$PGDATA" 2>/dev/null | awk -F': *' -v k="$1" '$1 == k {print $2}'; }

# Config changes are reloaded; PostgreSQL itself says (pending_restart) when one needs a restart.
apply_config() {
    if ! running; then
        systemctl start "$UNIT"
        changed "started ${UNIT}"
    elif [[ $CHANGED_conf == 1 || $CHANGED_hba == 1 ]]; then
        local loaded
        loaded=$(psql_admin -c "SELECT pg_conf_load_time()")
        systemctl reload "$UNIT"
        reloaded() { [[ $(psql_admin -c "SELECT pg_conf_load_time()") != "$loaded" ]]; }
        wait_until 30 reloaded || die "${UNIT} did not reload its configuration within 30 s"
        changed "reloaded ${UNIT}"
    fi
    wait_until 120 ready || die "${UNIT} did not accept connections within 120 s: see journalctl -u ${UNIT}"
    if [[ $(psql_admin -c "SELECT count(*) FROM pg_settings WHERE pending_restart") != 0 ]]; then
        systemctl restart "$UNIT"
        changed "restarted ${UNIT} (a changed setting needs it)"
        wait_until 120 ready || die "${UNIT} did not accept connections within 120 s after a restart"
    fi
}

# --- primary
if [[ $ROLE == primary ]]; then
    if is_standby && [[ -f $PGDATA/crosscloud.fenced ]] && ! running && [[ $(peer_sql "SELECT pg_is_in_recovery()") == t ]]; then
        # Fenced by a switchover that then stopped before promoting the peer: the rollback. This host
        # still has the newest WAL, and the peer is a standby: take the primary role back.
        rm -f "$PGDATA/standby.signal" "$PGDATA/crosscloud.fenced"
        changed "unfenced: this host stays the primary"
    fi
    if is_standby; then
        if ! running; then
            systemctl start "$UNIT"
        fi
        wait_until 120 ready || die "${UNIT} did not accept connections within 120 s: see journalctl -u ${UNIT}"
        # A switchover: this standby becomes the primary. The config already on disk is the
        # primary's, but it is not reloaded before the promotion, so streaming goes on meanwhile.
        [[ $FENCED_LSN =~ ^[0-9A-F]+/[0-9A-F]+$ ]] ||
            die "this host is a standby and the fence step stopped no primary on ${PEER_IP}: a planned switchover needs the old primary running; for an unplanned failover use 'npm run failover'"
        caught_up() { [[ $(psql_admin -c "SELECT pg_last_wal_replay_lsn() > '${FENCED_LSN}'::pg_lsn") == t ]]; }
        if ! wait_until "$CATCHUP_TIMEOUT" caught_up; then
            die "switchover stopped before promotion: this standby replayed WAL up to $(psql_admin -c "SELECT pg_last_wal_replay_lsn()") but the old primary on ${PEER_IP} ended at ${FENCED_LSN}, so zero loss is not proven and nothing was promoted. The old primary is stopped (fenced): run pulumi up again to retry, or set crosscloud:primary back to restart it."
        fi
        [[ $(peer_sql "SELECT pg_is_in_recovery()") != f ]] ||
            die "the old primary on ${PEER_IP} runs as a primary again: no promotion (two primaries); run pulumi up again to fence it"
        log "replayed past ${FENCED_LSN}, the old primary's shutdown checkpoint: promoting"
        [[ $(psql_admin -c "SELECT pg_promote(true, 60)") == t ]] || die "pg_promote did not finish within 60 s"
        rm -f "$PGDATA/crosscloud.fenced"
        changed "promoted to primary"
    fi
    apply_config
    ensure_role() { # NAME ATTRIBUTES VERIFIER
        local count differs
        count=$(psql_admin -c "SELECT count(*) FROM pg_roles WHERE rolname = '$1'")
        if [[ $count == 0 ]]; then
            psql_admin -c "CREATE ROLE $1 WITH $2"
            changed "created role $1"
        fi
        differs=$(psql_admin <<<"SELECT rolpassword IS DISTINCT FROM '$3' FROM pg_authid WHERE rolname = '$1'")
        if [[ $differs == t ]]; then
            psql_admin <<<"ALTER ROLE $1 WITH $2 PASSWORD '$3'"
            changed "set the password of role $1"
        fi
    }
    ensure_role replicator "LOGIN REPLICATION" "$REPLICATOR_VERIFIER"
    ensure_role crosscloud_admin "LOGIN CREATEDB CREATEROLE" "$ADMIN_VERIFIER"
    # pg_rewind connects as the replication user to an ordinary database and reads files with these.
    psql_admin -d postgres <<'SQL'
GRANT EXECUTE ON FUNCTION pg_catalog.pg_ls_dir(text, boolean, boolean) TO replicator;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_stat_file(text, boolean) TO replicator;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text) TO replicator;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean) TO replicator;
SQL
    if [[ $REPLICATION == streaming && $(psql_admin -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '${SLOT}'") == 0 ]]; then
        # Reserve WAL from the moment the slot exists, not from the standby's first connection.
        psql_admin -c "SELECT pg_create_physical_replication_slot('${SLOT}', true)" >/dev/null
        changed "created replication slot ${SLOT}"
    fi
fi

# --- standby: a copy of the primary, made once through the tunnel, then kept by replication
if [[ $ROLE == standby ]]; then
    conn="host=${PEER_IP} port=5432 user=replicator passfile=/var/lib/postgresql/.pgpass sslmode=require connect_timeout=10"
    # dbname=replication: the name .pgpass matches for replication connections (pg_basebackup and the
    # walreceiver set it themselves).
    primary_id=$(runuser -u postgres -- psql -w -X -At "${conn} dbname=replication replication=true" -c IDENTIFY_SYSTEM | cut -d'|' -f1) ||
        die "cannot reach the primary ${PEER_IP}:5432 as replicator over TLS: check the tunnel, pg_hba.conf and the password"
    local_id=$(control "Database system identifier" || true) # empty after an interrupted base backup
    if [[ $local_id == "$primary_id" ]] && { ! is_standby || [[ -f $PGDATA/crosscloud.fenced ]]; }; then
        # The old primary of this same cluster (fenced by a switchover, or left behind by a failover):
        # rewind whatever it wrote after the new primary's fork, then follow the new primary.
        if running; then
            systemctl stop "$UNIT"
            changed "stopped the old primary"
        fi
        rm -f "$PGDATA/standby.signal"
        runuser -u postgres -- "$BIN/pg_rewind" --target-pgdata="$PGDATA" --source-server="${conn} dbname=postgres" \
            --restore-target-wal --config-file="/etc/postgresql/${PG_VERSION}/main/postgresql.conf" 2>&1 | tail -n 2
        runuser -u postgres -- touch "$PGDATA/standby.signal"
        rm -f "$PGDATA/crosscloud.fenced"
        changed "rejoined ${PEER_IP} as its standby (pg_rewind)"
    elif [[ $local_id != "$primary_id" ]] || ! is_standby; then
        log "making ${PGDATA} a copy of the primary ${PEER_IP} (pg_basebackup)"
        systemctl stop "$UNIT"
        find "$PGDATA" -mindepth 1 -delete
        slot_arg=()
        [[ $REPLICATION == streaming ]] && slot_arg=(--slot="$SLOT")
        runuser -u postgres -- pg_basebackup -d "$conn" -D "$PGDATA" -X stream --checkpoint=fast "${slot_arg[@]}"
        runuser -u postgres -- touch "$PGDATA/standby.signal"
        changed "pg_basebackup from ${PEER_IP}"
    fi
    apply_config
    # Slots this host kept from its time as primary would hold WAL for nobody.
    stale=$(psql_admin -c "SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'crosscloud\_%' AND NOT active")
    for slot in $stale; do
        psql_admin -c "SELECT pg_drop_replication_slot('${slot}')" >/dev/null
        changed "dropped stale slot ${slot}"
    done
fi
log "status: ${ROLE} ready"
