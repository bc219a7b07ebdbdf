#!/bin/bash
# archive_command: copy a finished WAL segment into the archive on the data disk, atomically and
# durably. A segment archived before (e.g. before a crash) is accepted only if identical.
set -euo pipefail
# --- values (rendered on install): ARCHIVE_DIR
src=$1 name=$2 dir=$ARCHIVE_DIR
if [[ -f $dir/$name ]]; then
    cmp -s "$src" "$dir/$name" && exit 0
    echo "archive-wal: $dir/$name exists with other content" >&2
    exit 1
fi
cp "$src" "$dir/.$name.tmp"
sync "$dir/.$name.tmp"
mv "$dir/.$name.tmp" "$dir/$name"
sync "$dir"
