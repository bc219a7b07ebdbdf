#!/bin/bash
# restore_command: fetch WAL file %f from the peer's archive through the tunnel into %p.
# Exits non-zero when the file is not there or the peer's PostgreSQL is down (PostgreSQL then switches
# to streaming). Fetches in a row (catch-up, or the timeline lookups of a promotion) share one SSH
# connection for up to 60 s; a peer that stops answering ends it within about 10 s (ServerAlive), so
# a fetch never hangs on a lost peer.
set -euo pipefail
# --- values (rendered on install): PROMOTING_FLAG ARCHIVE_KEY ARCHIVE_KNOWN_HOSTS
source_ip=$1 name=$2 target=$3
# A promotion is under way (postgres-lib.sh promote_now), or was asked over SQL (a switchover's fence
# calls pg_promote, which leaves the signal file "promote" in PGDATA until the startup process takes
# it): asking a stopped or lost peer would only delay it, and the startup process notices the request
# only after the restore_command under way returns.
[[ ! -e $PROMOTING_FLAG ]] || exit 1
pg_wal=${target%/*} # PostgreSQL passes %p relative to the data directory, its working directory
[[ ! -e $pg_wal/../promote ]] || exit 1
# Streaming wrote to pg_wal a moment ago: the peer's WAL sender has just ended the stream, and this
# request is the standby turning to the archive (the next segment, or a newer timeline's history
# file). A clean stop (a switchover's fence) sent all its transactions first, and its PostgreSQL still listens
# for a second or so while it shuts down, so the check below would pass and an SSH dial (seconds on a
# small VM) would hold up this standby's promotion. PostgreSQL asks again every
# wal_retrieve_retry_interval (1 s), and once this no longer holds a stream cut mid-segment still gets
# its segment from the archive. Files this script restored are no newer than its mark (PostgreSQL
# renames them into pg_wal), so a catch-up from the archive is not taken for streaming.
restored_mark=$pg_wal/../crosscloud.restored
since_restore=()
[[ ! -e $restored_mark ]] || since_restore=(-newer "$restored_mark")
[[ -z $(find "$pg_wal" -maxdepth 1 -name '0*' -newermt '-3 seconds' "${since_restore[@]}" -print -quit 2>/dev/null) ]] || exit 1
# The archive is asked only while the peer's PostgreSQL listens. A peer stopped cleanly (a switchover's
# fence) has streamed all its transactions before the promotion, and a lost one cannot answer:
# either way an SSH dial (seconds on a small VM) would only hold up this standby, whose promotion
# waits for the restore_command under way. Refused is answered at once; a silent peer within 2 s.
# shellcheck disable=SC2016  # $0 is expanded by the inner bash (the address is its argument)
timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/5432"' "$source_ip" 2>/dev/null || exit 1
ssh -q -i "$ARCHIVE_KEY" \
    -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes \
    -o ControlMaster=auto -o ControlPath=/var/run/postgresql/crosscloud-wal-%C -o ControlPersist=60 \
    -o ServerAliveInterval=5 -o ServerAliveCountMax=2 \
    -o UserKnownHostsFile="$ARCHIVE_KNOWN_HOSTS" \
    "postgres@${source_ip}" "$name" >"${target}.tmp" || { rm -f "${target}.tmp"; exit 1; }
mv "${target}.tmp" "$target"
touch "$restored_mark"
