# A PostgreSQL host of the replica pair, converging on its desired ROLE: data disk, packages, cluster,
# config, then the role's local work. A host that is to become primary while still a standby (a
# switchover) is only prepared here, with the old primary still taking writes: the postgres-primary
# step promotes it after the fence. A host that is to become standby while it was the primary
# rejoins the new primary with pg_rewind instead of a new base backup.
# Reads: PG_VERSION ROLE WAL_SEGMENT_MB DATA_DEVICES PEER_IP SLOT REPLICATION RESTART_POLICY (restart|report)
# DISCARD_DIVERGED (postgres-rejoin.sh), SYNCHRONOUS SYNC_STANDBY_LOSS (block|degrade|"") PEER_NAME
# SYNC_DEGRADED_CONF SYNC_DEGRADE_AFTER_SECONDS,
# and the host constants POSTGRES_HOME ARCHIVE_DIR REPLICATION_USER REPLICATION_CONNINFO.
# Files: conf (CHANGED_conf), hba (CHANGED_hba), units (CHANGED_units), sysctl (CHANGED_sysctl).

# --- the data disk, mounted where the packages keep PGDATA, before they create anything there
# find_data_disk SECONDS PATH... : sets data_disk to the first PATH that is a block device, waiting up to
# SECONDS for one to appear. How the disk is named depends on the size's disk interface (EBS on Nitro:
# NVMe by volume id; on Xen: xvdf or sdf; Azure SCSI: scsi1/lun0; Azure NVMe: data/by-lun/0), so the
# site lists every name it may have, in order.
find_data_disk() {
    local timeout=$1 list
    shift
    data_disk=""
    first_present() {
        local candidate
        for candidate in "$@"; do
            if test -b "$candidate"; then
                data_disk=$candidate
                return 0
            fi
        done
        return 1
    }
    list=$(printf ', %s' "$@")
    wait_until "$timeout" first_present "$@" ||
        die "the data disk did not appear within ${timeout} s at any of ${list:2}: check that the volume or disk is attached to this host (crosscloud:awsDbType / crosscloud:azureDbSize decide how it is named)"
}
prepare_data_disk() {
    local device mountpoint=$POSTGRES_HOME uuid line
    find_data_disk 300 "$@"
    device=$data_disk
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
# An existing host keeps PGDATA where it is: no program-managed data disk (DATA_DEVICES empty).
read -ra data_devices <<<"$DATA_DEVICES"
if ((${#data_devices[@]} > 0)); then
    prepare_data_disk "${data_devices[@]}"
fi

# --- packages: Ubuntu 24.04 ships PostgreSQL 16; other versions come from the PGDG repository
ensure_postgres_source() {
    postgres_candidate() { apt-cache policy "postgresql-${PG_VERSION}" 2>/dev/null | grep 'Candidate: [0-9]' >/dev/null; }
    # Installed: nothing to ask apt (a converged host needs no network here).
    dpkg-query -W -f='${Status}' "postgresql-${PG_VERSION}" 2>/dev/null | grep 'install ok installed' >/dev/null && return 0
    # A fresh image may boot with empty package lists, where nothing has a candidate: refresh them
    # before concluding that only PGDG has this version.
    if ! postgres_candidate; then
        DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300 update >/dev/null
    fi
    if ! postgres_candidate; then
        ensure_packages postgresql-common
        /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y >/dev/null
        changed "added the PGDG apt repository"
    fi
}
ensure_postgres_source
# The server package would create a "main" cluster on install, with the package's defaults (16 MB WAL
# segments) and without the marker that tells a standby's empty cluster from one holding data: this
# step creates the cluster itself, below.
ensure_packages postgresql-common
if [[ $(pg_conftool /etc/postgresql-common/createcluster.conf show -bs create_main_cluster 2>/dev/null) != off ]]; then
    pg_conftool /etc/postgresql-common/createcluster.conf set create_main_cluster false
    changed "set create_main_cluster = false in /etc/postgresql-common/createcluster.conf"
fi
ensure_packages "postgresql-${PG_VERSION}" ssl-cert openssh-client
chown postgres:postgres "$POSTGRES_HOME"
if [[ ! -s /etc/ssl/certs/ssl-cert-snakeoil.pem ]]; then
    make-ssl-cert generate-default-snakeoil
    changed "made the host's TLS certificate (ssl-cert snakeoil)"
fi

# --- never let a version change wipe data: another major version's cluster means an upgrade is due
other=$(pg_lsclusters --no-header 2>/dev/null | awk -v v="$PG_VERSION" '$1 != v && !found {print $1 "/" $2; found = 1}')
if [[ -n $other ]]; then
    die "this host holds PostgreSQL cluster ${other} but crosscloud:postgresVersion is ${PG_VERSION}: nothing was changed; upgrade the cluster first (see the README, 'Changing postgresVersion') or set the version back"
fi
if ! pg_lsclusters --no-header | awk '{print $1 "-" $2}' | grep -x "$CLUSTER" >/dev/null; then
    pg_createcluster "$PG_VERSION" main -- --wal-segsize="$WAL_SEGMENT_MB" >/dev/null
    # An empty cluster: a base backup may replace it until the primary role has used it.
    runuser -u postgres -- touch "$PGDATA/crosscloud.fresh"
    changed "created cluster ${CLUSTER} (WAL segments of ${WAL_SEGMENT_MB} MB)"
fi
# initdb fixes the segment size; a standby's base backup brings its primary's. Said, not changed.
segment_bytes=$(control "Bytes per WAL segment")
segment_mb=$((${segment_bytes:-0} / 1048576))
if [[ -n $segment_bytes && $segment_mb != "$WAL_SEGMENT_MB" && ! -f $PGDATA/crosscloud.fresh ]]; then
    log "note: this cluster's WAL segments are ${segment_mb} MB, crosscloud:walSegmentSizeMb is ${WAL_SEGMENT_MB}: the size is fixed when a cluster is created, so this one keeps ${segment_mb} MB"
fi
install -d -o postgres -g postgres -m 750 "$ARCHIVE_DIR"
install -d -o postgres -g postgres -m 700 "${POSTGRES_HOME}/.ssh"
install_files
# TCP: BBR for what crosses the WAN (60-crosscloud-database.conf says why)
if [[ $CHANGED_sysctl == 1 || $(sysctl -n net.ipv4.tcp_congestion_control) != bbr ]]; then
    sysctl -q -p /etc/sysctl.d/60-crosscloud-database.conf ||
        die "could not set net.ipv4.tcp_congestion_control = bbr from /etc/sysctl.d/60-crosscloud-database.conf (sysctl said why above): a kernel without the tcp_bbr module refuses it (modprobe tcp_bbr)"
    changed "TCP congestion control: bbr"
fi
units=(crosscloud-wal-archive-prune.timer crosscloud-slot-heal.timer crosscloud-fence-watch.service postgresql)
[[ $SYNC_STANDBY_LOSS != degrade ]] || units+=(crosscloud-sync-watch.service)
ensure_enabled "${units[@]}"
if [[ $CHANGED_units == 1 && $RELOADED == 0 ]]; then
    systemctl daemon-reload
fi
ensure_running crosscloud-wal-archive-prune.timer 0
ensure_running crosscloud-slot-heal.timer "$CHANGED_units"
ensure_running crosscloud-fence-watch.service "$CHANGED_units"
if [[ $SYNC_STANDBY_LOSS == degrade ]]; then
    ensure_running crosscloud-sync-watch.service "$CHANGED_units"
elif [[ -f /etc/systemd/system/crosscloud-sync-watch.service ]] && systemctl is-enabled --quiet crosscloud-sync-watch.service; then
    systemctl disable --now --quiet crosscloud-sync-watch.service
    changed "stopped crosscloud-sync-watch (crosscloud:synchronousStandbyLoss is no longer degrade)"
fi

# Config changes are reloaded; a setting that needs a restart restarts the server.
apply_config() {
    if ! running; then
        systemctl start "$UNIT"
        changed "started ${UNIT}"
    elif [[ $CHANGED_conf == 1 || $CHANGED_hba == 1 ]] || config_pending; then
        reload_config
    fi
    wait_ready
    if [[ $RESTART_POLICY == report ]]; then
        # A running primary this program did not create: restarted only with crosscloud:allowPrimaryRestart.
        local pending
        pending=$(psql_admin -c "SELECT string_agg(name, ',' ORDER BY name) FROM pg_settings WHERE pending_restart")
        if [[ -n $pending ]]; then
            log "restart-needed: ${pending}"
            log "not restarted ${UNIT}: set crosscloud:allowPrimaryRestart to true and run pulumi up again to apply these settings"
        fi
    else
        restart_if_pending
    fi
}

# --- synchronous mode: what a primary does while its standby is gone. `degrade` starts asynchronous
# until the standby streams (sync-watch then turns synchronous on, and off again after
# SYNC_DEGRADE_AFTER_SECONDS without it), so that no commit of this `up` waits on the standby that a
# later step makes or rejoins; `block` and a standby carry no override.
degraded_conf=/etc/postgresql/${PG_VERSION}/main/conf.d/${SYNC_DEGRADED_CONF}
standby_streaming() {
    running && ! is_standby &&
        [[ $(psql_admin -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = '${PEER_NAME}' AND state = 'streaming'") == 1 ]]
}
if [[ $ROLE == primary && $SYNC_STANDBY_LOSS == degrade ]]; then
    if [[ ! -f $degraded_conf ]] && ! standby_streaming; then
        write_degraded_conf "$degraded_conf" "$PEER_NAME"
        CHANGED_conf=1
        changed "asynchronous until the standby ${PEER_NAME} streams (crosscloud:synchronousStandbyLoss degrade; sync-watch turns synchronous on then)"
    fi
elif [[ -f $degraded_conf ]]; then
    rm -f "$degraded_conf"
    CHANGED_conf=1
    changed "removed ${SYNC_DEGRADED_CONF}"
fi
if [[ $ROLE == primary ]]; then
    case $SYNC_STANDBY_LOSS in
    block) log "synchronous: ${SYNCHRONOUS} with standby ${PEER_NAME}; standby loss: block (while it is gone, commits wait for it: no commit is acknowledged without it)" ;;
    degrade) log "synchronous: ${SYNCHRONOUS} with standby ${PEER_NAME}; standby loss: degrade (after ${SYNC_DEGRADE_AFTER_SECONDS} s without it, commits go on asynchronously until it streams again)" ;;
    *) log "synchronous: off (asynchronous: a failover loses the commits the standby had not received)" ;;
    esac
fi

# --- primary
if [[ $ROLE == primary ]]; then
    if is_standby && [[ -f $PGDATA/crosscloud.fenced ]] && ! running && [[ $(peer_sql "SELECT pg_is_in_recovery()") == t ]]; then
        # Fenced by a switchover that then stopped before promoting the peer: the rollback. This host
        # still has the newest WAL, and the peer is a standby: take the primary role back.
        rm -f "$PGDATA/standby.signal" "$PGDATA/crosscloud.fenced"
        changed "unfenced: this host stays the primary"
    fi
    if is_standby; then
        # A switchover is under way: this standby keeps streaming, and its new primary configuration
        # (already on disk) is loaded by the postgres-primary step when it promotes, after the fence.
        if ! running; then
            systemctl start "$UNIT"
            changed "started ${UNIT} (a standby until the switchover promotes it)"
        fi
        wait_ready
        log "prepared: a standby until the postgres-primary step promotes it"
    else
        apply_config
    fi
fi

# --- standby: a copy of the primary, made once through the tunnel, then kept by replication
# base_backup CONNINFO: replaces PGDATA with a copy of the primary (pg_basebackup), a standby of it.
base_backup() {
    local slot_arg=()
    log "making ${PGDATA} a copy of the primary ${PEER_IP} (pg_basebackup)"
    systemctl stop "$UNIT"
    find "$PGDATA" -mindepth 1 -delete
    [[ $REPLICATION == streaming ]] && slot_arg=(--slot="$SLOT")
    runuser -u postgres -- pg_basebackup -d "$1" -D "$PGDATA" -X stream --checkpoint=fast "${slot_arg[@]}"
    mark standby.signal
}
if [[ $ROLE == standby ]]; then
    conn="host=${PEER_IP} ${REPLICATION_CONNINFO} connect_timeout=10"
    primary_id=$(peer_system_id) ||
        die "cannot reach the primary ${PEER_IP}:5432 as ${REPLICATION_USER} over TLS: check the tunnel, pg_hba.conf and the password"
    local_id=$(control "Database system identifier" || true) # empty after an interrupted base backup
    if [[ $local_id == "$primary_id" ]] && { ! is_standby || [[ -f $PGDATA/crosscloud.fenced ]]; }; then
        # The old primary of this same cluster (fenced by a switchover, or left behind by a failover):
        # follow the new primary, rewinding what it wrote after the fork only once that is saved and
        # discarded with consent (postgres-rejoin.sh). It stays a stopped standby until then: standby.signal
        # is kept, so that no restart in between makes it a primary again.
        if running; then
            systemctl stop "$UNIT"
            changed "stopped the old primary"
        fi
        mark standby.signal
        rejoin_old_primary "${conn} dbname=postgres" "$local_id"
        if [[ $rejoin_how == base\ backup* ]]; then
            base_backup "$conn"
            changed "discarded here, with consent (crosscloud:discardDiverged), ${rejoin_discarded}; rebuilt by a base backup: ${rewind_missing}"
        fi
        mark standby.signal
        rm -f "$PGDATA/crosscloud.fenced"
        changed "rejoined ${PEER_IP} as its standby (${rejoin_how})"
    elif [[ $local_id != "$primary_id" ]] || ! is_standby; then
        # Never replace a database with a copy of the peer: only an empty cluster this step made, a
        # standby (a copy of something) or an interrupted base backup (no identifier) may go.
        if [[ -n $local_id && ! -f $PGDATA/crosscloud.fresh ]] && ! is_standby; then
            die "this host holds a PostgreSQL cluster (system identifier ${local_id}) that is neither a copy of the primary on ${PEER_IP} (${primary_id}) nor a standby: refusing to replace it with a base backup. If it holds your data, set crosscloud:primary to this host's site; if it may be discarded, move ${PGDATA} away and run pulumi up again"
        fi
        base_backup "$conn"
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
