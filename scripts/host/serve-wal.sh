#!/bin/bash
# Forced command of the archive-pull key (authorized_keys of postgres): prints one archived WAL file
# named by the peer, nothing else.
set -euo pipefail
# --- values (rendered on install): ARCHIVE_DIR
name=${SSH_ORIGINAL_COMMAND:-}
if [[ ! $name =~ ^[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?$|^[0-9A-F]{8}\.history$ ]]; then
    echo "serve-wal: not a WAL file name" >&2
    exit 2
fi
[[ -f $ARCHIVE_DIR/$name ]] || exit 1
exec cat "$ARCHIVE_DIR/$name"
