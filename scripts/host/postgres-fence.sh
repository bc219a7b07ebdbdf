# The fence of a planned switchover, run on the host that is to become the standby: if PostgreSQL
# there is still a primary, stop it cleanly, report where its last transaction WAL ended, and promote
# the peer once it has replayed that far. The stopped cluster gets standby.signal, so that any restart
# before the rejoin comes up read-only.
# The peer is promoted without waiting for the shutdown's own WAL: with archive_mode on, a shutdown
# switches to a new segment before its checkpoint (ShutdownXLOG: RequestXLogSwitch, then the shutdown
# checkpoint), and the WAL senders stream the switched segment's padding, up to a whole segment of
# zeros, before the checkpoint: on a lossy, high-latency link that took longer than everything else in
# the outage. Neither record carries a transaction; the rejoin rewinds them away (postgres-rejoin.sh).
# Reads: PG_VERSION PEER_IP CATCHUP_TIMEOUT.
install_files

# read_control: pg_controldata's fields into CONTROL, in one process (the fence reads pg_control inside
# the write outage, where each process start costs a tenth of a second or more on a small VM). A read
# that caught PostgreSQL writing the file fails: pg_controldata then prints a CRC warning and still exits 0
# (PostgreSQL 15 pg_controldata.c), and such a read may pair the new state with the old checkpoint.
declare -A CONTROL=()
read_control() {
    local out line
    CONTROL=()
    out=$(LC_ALL=C "$BIN/pg_controldata" "$PGDATA" 2>/dev/null) || return 1
    [[ $out != *WARNING:* ]] || return 1
    while IFS= read -r line; do
        [[ ! $line =~ ^([^:]+):\ *(.*)$ ]] || CONTROL[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
    done <<<"$out"
}
# The long page header that starts every WAL segment (XLogLongPageHeaderData, SizeOfXLogLongPHD):
# a record at this offset is the segment's first, and no record of the segment before reaches into it.
readonly LONG_PAGE_HEADER_BYTES=40
# shutdown_tail_start: how far the peer must have replayed (pg_last_wal_replay_lsn, the end of the last
# record it replayed) before it may be promoted: everything this stopped cluster wrote before its shutdown
# checkpoint, but not the checkpoint, which is read from pg_control (read_control) without a process.
# With archive_mode on, a shutdown switches segments before its checkpoint (ShutdownXLOG:
# RequestXLogSwitch, then the checkpoint), so the checkpoint is the first record of a new segment and
# every record before it ends at that segment's start; a standby's replay reaches the start as soon as it
# has replayed the switch, whose padding it does not wait for (xlogreader.c: "Pretend it extends to end
# of segment"). Otherwise (a record before it reaches into its segment) the checkpoint's own LSN: a longer
# wait, never a shorter one. Empty when pg_control has no shutdown checkpoint.
shutdown_tail_start() {
    local checkpoint=${CONTROL["Latest checkpoint location"]:-} segment=${CONTROL["Bytes per WAL segment"]:-0} at
    [[ $checkpoint =~ ^[0-9A-F]+/[0-9A-F]+$ ]] || return 0
    at=$((16#${checkpoint%/*} * 4294967296 + 16#${checkpoint#*/}))
    if [[ $segment =~ ^[1-9][0-9]*$ ]] && ((at % segment == LONG_PAGE_HEADER_BYTES)); then
        at=$((at - LONG_PAGE_HEADER_BYTES))
    fi
    printf '%X/%X' $((at >> 32)) $((at & 0xFFFFFFFF))
}
fenced_at=none
if running && [[ $(psql_admin -c "SELECT pg_is_in_recovery()" 2>/dev/null) == f ]]; then
    # Stop this primary only for a copy of it: a new primary of another cluster (a switchover asked
    # before the standby ever streamed from here) would take over with none of this data.
    ours=$(control "Database system identifier")
    theirs=$(peer_system_id 2>/dev/null) || true
    [[ $theirs == "$ours" ]] ||
        die "the database host ${PEER_IP} is not a copy of this primary (system identifier ${theirs:-unreachable}, here ${ours}): no fence, this primary keeps taking writes. Set crosscloud:primary back to this host's site and wait until replicationStatus says streaming before a switchover"
    # Ahead of the stop, so that the outage holds neither a new connection to the peer nor most of
    # the shutdown checkpoint: the session is open, and this checkpoint (writes still flowing)
    # leaves the shutdown checkpoint little to flush.
    trap '' PIPE # a write to a lost peer session fails (peer_ask falls back) instead of ending the script
    # From the stop to the promotion this script is the outage's critical path; the stopping server's
    # last work (the archiver's copy of the switched segment, the WAL sender's padding) is not, and on
    # a one-CPU VM it held the fence's few processes back by seconds: the fence goes first, and its
    # peer session (started after this) with it.
    renice -n -10 -p $$ >/dev/null
    open_peer_session
    psql_admin -c CHECKPOINT
    # The control file says "shut down" once the shutdown checkpoint, the last WAL record this primary
    # writes, is on disk: from then on nothing more is written, and where the shutdown began is known
    # (shutdown_tail_start). Polling for it (rather than waiting for systemctl) lets the peer be
    # promoted as soon as it has replayed up to there, while this host's stop finishes.
    # pg_controldata runs only when pg_control was written since the last read: the poll itself is
    # shell builtins, leaving a small VM's CPU to the shutdown, the WAL sender and the tunnel during the
    # outage. The mark is written before each read, so a write during a read is seen by the next poll.
    marks=/run/crosscloud/fence-marks
    install -d -m 755 /run/crosscloud "$marks"
    control_read_mark=/run/crosscloud/fence-control-read
    rm -f "$control_read_mark"
    checkpointed() { [[ ${CONTROL["Database cluster state"]:-} == "shut down" ]]; }
    checkpointed_or_stop_ended() {
        if [[ ! $control_read_mark -nt $PGDATA/global/pg_control ]]; then
            echo >"$control_read_mark"
            if read_control; then
                checkpointed && return 0
            else
                rm -f "$control_read_mark" # unread or torn: read again at the next poll
            fi
        fi
        ! kill -0 "$stopping" 2>/dev/null
    }
    # The marks the stopped cluster gets, made now so that one process puts both in place after the stop.
    : >"$marks/standby.signal"
    : >"$marks/crosscloud.fenced"
    log "this host is still a primary: stopping it so that it takes no more writes (at +$(elapsed) s)"
    systemctl stop "$UNIT" &
    stopping=$!
    POLL_SECONDS=0.05 wait_until 600 checkpointed_or_stop_ended || true
    checkpointed || read_control || true
    if ! checkpointed; then
        wait "$stopping" || true
        die "the primary did not shut down cleanly (state: ${CONTROL["Database cluster state"]:-unreadable}): its last WAL is unknown, so no switchover; see journalctl -u ${UNIT}"
    fi
    # Written before the peer is promoted: a restart of this host from now on comes up read-only.
    install -o postgres -g postgres -m 600 -t "$PGDATA" "$marks/standby.signal" "$marks/crosscloud.fenced"
    fenced_at=$(shutdown_tail_start)
    [[ -n $fenced_at ]] || die "pg_control names no shutdown checkpoint after the stop (latest checkpoint location: ${CONTROL["Latest checkpoint location"]:-none}): no switchover; see journalctl -u ${UNIT}"
    changed "fenced: the primary wrote its shutdown checkpoint at ${CONTROL["Latest checkpoint location"]:-}; its WAL before the shutdown ends at ${fenced_at}"
    # Promote the peer from here, over the tunnel, as soon as it has replayed this primary's last WAL:
    # no second SSH connection stands between the stop and the promotion, so writes wait only for the
    # stop, the catch-up and the promotion. Whatever goes wrong here, the postgres-primary step on
    # the peer checks again and promotes, or stops with the reason.
    # One query a poll, so a poll that finds the peer caught up promotes it in the same round trip.
    # A peer that is a primary already was promoted by someone else (npm run failover): whether it has
    # everything is told by its timeline history (where it left our timeline), not by it being a primary.
    our_timeline=${CONTROL["Latest checkpoint's TimeLineID"]:-}
    peer_state=""
    promote_peer() {
        local answer
        answer=$(peer_ask "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'primary' WHEN pg_last_wal_replay_lsn() >= '${fenced_at}'::pg_lsn THEN pg_promote(true, 60)::text ELSE 'behind' END")
        case $answer in
        true) peer_state=promoted ;;
        primary) peer_state=primary ;;
        *) return 1 ;;
        esac
    }
    if POLL_SECONDS=0.2 wait_until "$CATCHUP_TIMEOUT" promote_peer; then
        if [[ $peer_state == promoted ]]; then
            changed "promoted ${PEER_IP}: it had replayed up to ${fenced_at}, all this primary wrote before its shutdown (the shutdown's segment switch and checkpoint carry no transaction: the rejoin rewinds them)"
        elif fork=$(peer_fork_point "$our_timeline") && (($(lsn_number "$fork") >= $(lsn_number "$fenced_at"))); then
            log "${PEER_IP} was already a primary, promoted at ${fork} on timeline ${our_timeline}, at or past the end of this primary's WAL before its shutdown (${fenced_at}): it has all of it"
        elif [[ -n $fork ]]; then
            log "${PEER_IP} was already a primary, promoted at ${fork} on timeline ${our_timeline}, before the end of this primary's WAL before its shutdown (${fenced_at}): this host holds WAL the new primary lacks; it stays here, stopped, and the rejoin saves and reports it before anything is discarded"
        else
            log "${PEER_IP} was already a primary, and its timeline history does not show where it left timeline ${our_timeline}: whether it has this primary's WAL up to its shutdown (${fenced_at}) is not proven; this host stays stopped, and the rejoin decides with pg_rewind"
        fi
    else
        log "${PEER_IP} was not promoted from here (not at ${fenced_at} within ${CATCHUP_TIMEOUT} s, or unreachable): its postgres-primary step checks again"
    fi
    wait "$stopping" || die "systemctl stop ${UNIT} failed after the shutdown checkpoint: see journalctl -u ${UNIT}"
    ! running || die "${UNIT} still runs after systemctl stop: see journalctl -u ${UNIT}"
    changed "stopped ${UNIT}"
elif [[ -f $PGDATA/crosscloud.fenced ]] && ! running && read_control && [[ ${CONTROL["Database cluster state"]:-} == "shut down" ]]; then
    # A re-run after an interruption: report the same fence again.
    fenced_at=$(shutdown_tail_start)
fi
log "fenced-at: ${fenced_at}"
