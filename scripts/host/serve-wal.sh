#!/bin/bash
# Forced command of the archive-pull key (authorized_keys of postgres): prints one archived WAL file
# named by the peer, nothing else.
set -euo pipefail
name=${SSH_ORIGINAL_COMMAND:-}
if [[ ! $name =~ ^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$|^[0-9A-F]{8}\.history$ ]]; then
    echo "serve-wal: not a WAL file name" >&2
    exit 2
fi
[[ -f /var/lib/postgresql/wal-archive/$name ]] || exit 1
exec cat "/var/lib/postgresql/wal-archive/$name"
