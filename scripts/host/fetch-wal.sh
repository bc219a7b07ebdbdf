#!/bin/bash
# restore_command: fetch WAL file %f from the peer's archive through the tunnel into %p.
# Exits non-zero when the file is not there (PostgreSQL then switches to streaming). Fetches in a row
# (catch-up, or the timeline lookups of a promotion) share one SSH connection for up to 60 s; a peer
# that stops answering ends it within about 10 s (ServerAlive), so a fetch never hangs on a lost peer.
set -euo pipefail
source_ip=$1 name=$2 target=$3
# A promotion is under way (postgres-lib.sh promote_now): asking a stopped or lost peer would only delay it.
[[ ! -e /run/crosscloud/promoting ]] || exit 1
ssh -q -i /var/lib/postgresql/.ssh/crosscloud_wal \
    -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes \
    -o ControlMaster=auto -o ControlPath=/var/run/postgresql/crosscloud-wal-%C -o ControlPersist=60 \
    -o ServerAliveInterval=5 -o ServerAliveCountMax=2 \
    -o UserKnownHostsFile=/var/lib/postgresql/.ssh/known_hosts_crosscloud \
    "postgres@${source_ip}" "$name" >"${target}.tmp" || { rm -f "${target}.tmp"; exit 1; }
mv "${target}.tmp" "$target"
