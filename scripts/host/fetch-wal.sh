#!/bin/bash
# restore_command: fetch WAL file %f from the peer's archive through the tunnel into %p.
# Exits non-zero when the file is not there (PostgreSQL then switches to streaming).
set -euo pipefail
source_ip=$1 name=$2 target=$3
# A promotion is under way (postgres-lib.sh promote_now): asking a stopped or lost peer would only delay it.
[[ ! -e /run/crosscloud/promoting ]] || exit 1
ssh -q -i /var/lib/postgresql/.ssh/crosscloud_wal \
    -o BatchMode=yes -o ConnectTimeout=5 -o StrictHostKeyChecking=yes \
    -o UserKnownHostsFile=/var/lib/postgresql/.ssh/known_hosts_crosscloud \
    "postgres@${source_ip}" "$name" >"${target}.tmp" || { rm -f "${target}.tmp"; exit 1; }
mv "${target}.tmp" "$target"
