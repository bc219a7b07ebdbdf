# A PostgreSQL host of the replica pair: data disk, packages, cluster, config, then the role's work.
# Reads: PG_VERSION ROLE DATA_DEVICE PEER_IP SLOT REPLICATION REPLICATOR_VERIFIER ADMIN_VERIFIER
#        STANDBY_NAME. Files: conf (CHANGED_conf), hba (CHANGED_hba), units (CHANGED_units), others.

readonly PGDATA="/var/lib/postgresql/${PG_VERSION}/main"
readonly CLUSTER="${PG_VERSION}-main"
readonly ARCHIVE_DIR=/var/lib/postgresql/wal-archive

# --- the data disk, mounted where the packages keep PGDATA, before they create anything there
prepare_data_disk() {
    local device=$1 mountpoint=/var/lib/postgresql uuid line
    wait_until 300 test -b "$device" || die "data disk $device did not appear within 300 s: check the volume/disk attachment"
    if ! blkid -p "$device" >/dev/null 2>&1; then
        # blkid found no signature at all: a new, empty disk. Anything else is never formatted.
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

# --- primary: roles and the standby's slot
if [[ $ROLE == primary ]]; then
    if [[ $CHANGED_conf == 1 ]]; then
        systemctl restart "postgresql@${CLUSTER}"
        changed "restarted postgresql@${CLUSTER}"
    else
        ensure_running "postgresql@${CLUSTER}" 0
        if [[ $CHANGED_hba == 1 ]]; then systemctl reload "postgresql@${CLUSTER}"; fi
    fi
    wait_until 60 runuser -u postgres -- pg_isready -q || die "postgresql@${CLUSTER} did not accept connections within 60 s"
    ensure_role() { # NAME ATTRIBUTES VERIFIER
        if [[ $(psql_admin -c "SELECT count(*) FROM pg_roles WHERE rolname = '$1'") == 0 ]]; then
            psql_admin -c "CREATE ROLE $1 WITH $2"
            changed "created role $1"
        fi
        if [[ $(psql_admin <<<"SELECT rolpassword IS DISTINCT FROM '$3' FROM pg_authid WHERE rolname = '$1'") == t ]]; then
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
        psql_admin -c "SELECT pg_create_physical_replication_slot('${SLOT}')" >/dev/null
        changed "created replication slot ${SLOT}"
    fi
fi

# --- standby: a copy of this primary, made once through the tunnel, then kept by replication
if [[ $ROLE == standby ]]; then
    conn="host=${PEER_IP} port=5432 user=replicator passfile=/var/lib/postgresql/.pgpass sslmode=require connect_timeout=10"
    # dbname=replication: the name .pgpass matches for replication connections (pg_basebackup and the
    # walreceiver set it themselves).
    primary_id=$(runuser -u postgres -- psql -w -X -At "${conn} dbname=replication replication=true" -c IDENTIFY_SYSTEM | cut -d'|' -f1) ||
        die "cannot reach the primary ${PEER_IP}:5432 as replicator over TLS: check the tunnel, pg_hba.conf and the password"
    local_id=$(runuser -u postgres -- "/usr/lib/postgresql/${PG_VERSION}/bin/pg_controldata" "$PGDATA" 2>/dev/null | awk -F': *' '/Database system identifier/ {print $2}')
    if [[ $local_id != "$primary_id" ]] || ! is_standby; then
        log "making ${PGDATA} a copy of the primary ${PEER_IP} (pg_basebackup)"
        systemctl stop "postgresql@${CLUSTER}"
        find "$PGDATA" -mindepth 1 -delete
        slot_arg=()
        [[ $REPLICATION == streaming ]] && slot_arg=(--slot="$SLOT")
        runuser -u postgres -- pg_basebackup -d "$conn" -D "$PGDATA" -X stream --checkpoint=fast "${slot_arg[@]}"
        runuser -u postgres -- touch "$PGDATA/standby.signal"
        changed "pg_basebackup from ${PEER_IP}"
        systemctl start "postgresql@${CLUSTER}"
    elif [[ $CHANGED_conf == 1 ]]; then
        systemctl restart "postgresql@${CLUSTER}"
        changed "restarted postgresql@${CLUSTER}"
    else
        ensure_running "postgresql@${CLUSTER}" 0
        if [[ $CHANGED_hba == 1 ]]; then systemctl reload "postgresql@${CLUSTER}"; fi
    fi
fi
log "status: ${ROLE} ready"
