# The rejoin of an old primary as the new primary's standby, without losing in silence what it wrote
# after the fork. PostgreSQL decides the divergence: pg_rewind --dry-run compares the two timeline
# histories (the new primary's history file gives the fork point on our timeline) with where this
# cluster's WAL ends. Nothing after the fork: rewind. Transactions after it: they are saved on the data
# disk (the diverged WAL, the list of its transactions, and the row versions they wrote as CSV, read
# from a read-only start of this cluster on a local socket), reported, and discarded only with the
# one-shot consent crosscloud:discardDiverged = SYSTEM_ID:TIMELINE:FORK_LSN of exactly this divergence.
# pg_rewind reads missing WAL from this host's own archive: the old primary's WAL after the fork exists
# nowhere else. When WAL it needs is in neither place, the rewind is impossible: the step names the file
# and both places, and with the same consent the node step rebuilds this host by a fresh base backup
# instead (what was written after the fork is saved first all the same).
# Reads: DISCARD_DIVERGED, and the host constants ARCHIVE_DIR POSTGRES_HOME.

readonly DIVERGED_ROOT="${POSTGRES_HOME}/crosscloud-diverged"
# pg_rewind's config and logs, and the read-only start's socket: gone at the next boot.
readonly REJOIN_RUN=/run/crosscloud

# rewind_config: a config file for pg_rewind (-c): the cluster's own, with restore_command reading this
# host's archive (the cluster's own restore_command reads the peer's, which lacks our diverged WAL).
rewind_config() {
    local file=$REJOIN_RUN/rewind.conf
    install -d -m 755 "$REJOIN_RUN"
    printf "include '/etc/postgresql/%s/main/postgresql.conf'\nrestore_command = 'cp %s/%%f %%p'\n" "$PG_VERSION" "$ARCHIVE_DIR" |
        install -o postgres -g postgres -m 600 /dev/stdin "$file"
    printf '%s' "$file"
}

# run_rewind SOURCE_CONNINFO LOG [--dry-run]: pg_rewind into LOG (all its output, never piped away).
# Returns 3 when WAL it needs is missing, with rewind_missing set to the sentence naming the file and
# where it was looked for; any other failure stops the step with the cause from pg_rewind's own lines.
run_rewind() {
    local source=$1 out=$2 status=0 missing
    shift 2
    runuser -u postgres -- "$BIN/pg_rewind" --target-pgdata="$PGDATA" --source-server="$source" \
        --restore-target-wal --config-file="$(rewind_config)" "$@" >"$out" 2>&1 || status=$?
    ((status == 0)) && return 0
    missing=$(sed -n -e 's/.*could not restore file "\([0-9A-F]*\)" from archive.*/\1/;t found' \
        -e 's/.*could not open file ".*\/\([0-9A-F]\{24\}\)".*/\1/;t found' -e 'd;:found' -e 'p;q' "$out")
    if [[ -n $missing ]]; then
        rewind_missing="pg_rewind needs WAL file ${missing}, which is in neither ${PGDATA}/pg_wal nor this host's archive ${ARCHIVE_DIR}: $(tail -n 3 "$out" | tr '\n' ' ')(full output: ${out})"
        return 3
    fi
    die "pg_rewind failed (exit ${status}): $(tail -n 3 "$out" | tr '\n' ' ')(full output: ${out})"
}

# wal_segment_name TIMELINE LSN: the WAL file that holds LSN (segment size from pg_control).
wal_segment_name() {
    local tli=$1 hi=${2%/*} lo=${2#*/} size per segno
    size=$(control "Bytes per WAL segment")
    per=$((0x100000000 / size))
    segno=$(((16#$hi * 0x100000000 + 16#$lo) / size))
    printf '%08X%08X%08X' "$tli" $((segno / per)) $((segno % per))
}

# save_divergence DIR TIMELINE FORK_LSN: the diverged WAL (files of this timeline from the fork's
# segment on, from pg_wal or else the archive), its transactions (pg_waldump), and the row versions
# they wrote (CSV per table). Sets diverged_count, diverged_first, diverged_last, diverged_rows.
# Bounded: it stops, saving nothing, when the data disk lacks room for the WAL twice over.
save_divergence() {
    local dir=$1 tli=$2 fork=$3 first name bytes=0 avail
    first=$(wal_segment_name "$tli" "$fork")
    local -a files=()
    local -A seen=()
    local path prefix
    prefix=$(printf '%08X' "$tli")
    # pg_wal first: a segment there is this cluster's own; the archive fills in what was recycled.
    for path in "$PGDATA/pg_wal/$prefix"???????????????? "$ARCHIVE_DIR/$prefix"????????????????; do
        name=${path##*/}
        [[ -f $path && $name =~ ^[0-9A-F]{24}$ && ! $name < $first && -z ${seen[$name]:-} ]] || continue
        seen[$name]=1
        files+=("$path")
    done
    ((${#files[@]} > 0)) || die "found no WAL of timeline ${tli} from ${first} on in ${PGDATA}/pg_wal or ${ARCHIVE_DIR}: the transactions after the fork at ${fork} cannot be saved"
    bytes=$(du -cb "${files[@]}" | tail -n1 | cut -f1)
    avail=$(df --output=avail -B1 "$POSTGRES_HOME" | tail -n1 | tr -d ' ')
    ((avail > 2 * bytes)) ||
        die "the data disk has $((avail / 1048576)) MB free, too little to save the diverged WAL ($((bytes / 1048576)) MB, twice that needed): free space on ${POSTGRES_HOME}, then run pulumi up again"
    install -d -o postgres -g postgres -m 700 "$DIVERGED_ROOT" "$dir" "$dir/wal" "$dir/rows"
    cp -p "${files[@]}" "$dir/wal/"
    chown -R postgres:postgres "$dir/wal"
    # pg_waldump stops at the end of the WAL with an error; what it printed up to there is the record.
    runuser -u postgres -- "$BIN/pg_waldump" --path="$dir/wal" --timeline="$tli" --start="$fork" >"$dir/waldump.txt" 2>"$dir/waldump.err" || true
    grep -E 'rmgr: Transaction .*desc: (COMMIT|ABORT|PREPARE)' "$dir/waldump.txt" >"$dir/transactions.txt" || true
    # Committed, or prepared (two-phase: a COMMIT PREPARED may still follow): what a client may have seen.
    diverged_count=$(grep -cE 'desc: (COMMIT|PREPARE)' "$dir/transactions.txt" || true)
    # The first match, then quit: sed read by head -n1 under pipefail failed the step once the list outgrew a
    # pipe's buffer (sed killed by SIGPIPE), as a busy old primary's divergence does.
    diverged_first=$(sed -n 's/.*desc: COMMIT \([0-9-]* [0-9:.]* [A-Z]*\).*/\1/;T;p;q' "$dir/transactions.txt")
    diverged_last=$(sed -n 's/.*desc: COMMIT \([0-9-]* [0-9:.]* [A-Z]*\).*/\1/p' "$dir/transactions.txt" | tail -n1)
    local xids
    xids=$(sed -n 's/.*tx: *\([0-9]*\),.*desc: COMMIT.*/\1/p' "$dir/transactions.txt" | paste -sd, -)
    diverged_rows=0
    [[ -n $xids ]] && save_diverged_rows "$dir" "$xids"
    return 0
}

# save_diverged_rows DIR XIDS: starts this cluster read-only (a standby with nowhere to stream from, on
# a socket in /run alone, no TCP) and writes, for each table the diverged WAL touched, the row versions
# those transactions created (inserted or updated) to DIR/rows/DB.SCHEMA.TABLE.csv. Deleted rows are
# in waldump.txt only. Leaves the cluster stopped ("shut down in recovery": pg_rewind accepts it).
save_diverged_rows() {
    local dir=$1 xids=$2 sock=$REJOIN_RUN/diverged-socket db rel file count
    install -d -o postgres -g postgres -m 700 "$sock"
    mark standby.signal
    runuser -u postgres -- "$BIN/pg_ctl" start -w -t 120 -D "$PGDATA" -l "$dir/readonly-start.log" \
        -o "-c config_file=/etc/postgresql/${PG_VERSION}/main/postgresql.conf -c listen_addresses='' -c port=5499 -c unix_socket_directories=${sock} -c primary_conninfo='' -c restore_command='' -c recovery_target_timeline=current -c hot_standby=on -c archive_mode=off" >/dev/null ||
        die "could not start this cluster read-only to save the diverged rows: see ${dir}/readonly-start.log"
    local q=(runuser -u postgres -- psql -X -q -At -v ON_ERROR_STOP=1 -h "$sock" -p 5499)
    # Tables the diverged records touched: rel SPC/DB/FILENODE in waldump.txt.
    while read -r dboid spc node; do
        db=$("${q[@]}" -d postgres -c "SELECT datname FROM pg_database WHERE oid = ${dboid} AND datallowconn") || continue
        [[ -n $db ]] || continue
        rel=$("${q[@]}" -d "$db" -c "SELECT c.oid::regclass FROM pg_class c WHERE c.oid = pg_filenode_relation(CASE ${spc} WHEN 1663 THEN 0 ELSE ${spc} END, ${node}) AND c.relkind = 'r'") || continue
        [[ -n $rel ]] || continue
        file="$dir/rows/${db}.${rel//\"/}.csv"
        "${q[@]}" -d "$db" -c "\\copy (SELECT * FROM ${rel} WHERE xmin::text = ANY (string_to_array('${xids}', ','))) TO '${file}' WITH (FORMAT csv, HEADER)"
        count=$(($(wc -l <"$file") - 1))
        if ((count > 0)); then diverged_rows=$((diverged_rows + count)); else rm -f "$file"; fi
    done < <(sed -n 's/.*rel \([0-9]*\)\/\([0-9]*\)\/\([0-9]*\).*/\2 \1 \3/p' "$dir/waldump.txt" | sort -u)
    runuser -u postgres -- "$BIN/pg_ctl" stop -w -t 120 -m fast -D "$PGDATA" >/dev/null ||
        die "could not stop the read-only start of this cluster: see ${dir}/readonly-start.log"
}

# shutdown_only_after TIMELINE FORK: whether all this stopped cluster wrote after FORK is its own clean
# shutdown: pg_waldump reads this host's pg_wal from the fork to the end of its WAL and finds only a
# segment switch and the shutdown checkpoint that pg_control names as the last record. A switchover's
# fence promotes the peer without waiting for these two (postgres-fence.sh); they carry no transaction,
# so rewinding them away discards nothing and there is nothing to save. Unread WAL, any other record,
# or another last record: no.
shutdown_only_after() {
    local tli=$1 fork=$2 checkpoint records line last=""
    [[ $(control "Database cluster state") == "shut down" ]] || return 1
    checkpoint=$(lsn_number "$(control "Latest checkpoint location")")
    # pg_waldump ends at the end of the WAL with an error; what it printed up to there is the record.
    records=$(runuser -u postgres -- "$BIN/pg_waldump" --path="$PGDATA/pg_wal" --timeline="$tli" --start="$fork" 2>/dev/null || true)
    [[ -n $records ]] || return 1
    while IFS= read -r line; do
        # A fork on a page boundary: pg_waldump first says where the first record after it is.
        [[ $line != "first record is after "* ]] || continue
        [[ $line =~ \ lsn:\ ([0-9A-F]+/[0-9A-F]+),\ prev\ [0-9A-F]+/[0-9A-F]+,\ desc:\ (SWITCH|CHECKPOINT_SHUTDOWN)( |$) ]] || return 1
        last="${BASH_REMATCH[2]} $(lsn_number "${BASH_REMATCH[1]}")"
    done <<<"$records"
    [[ $last == "CHECKPOINT_SHUTDOWN ${checkpoint}" ]]
}

# rejoin_old_primary SOURCE_CONNINFO SYSTEM_ID: the old primary (stopped) becomes the new primary's standby.
# Sets rejoin_how: pg_rewind, nothing to rewind, or base backup (WAL for a rewind missing, with consent:
# the caller then replaces the data directory with a base backup of the new primary).
rejoin_old_primary() {
    local source=$1 sysid=$2 dry=$REJOIN_RUN/rewind-dry-run.log fork tli key dir wal=0
    rejoin_how="pg_rewind"
    rewind_missing=""
    run_rewind "$source" "$dry" --dry-run || wal=$?
    if ((wal == 0)) && grep 'no rewind required' "$dry" >/dev/null; then
        rejoin_how="nothing to rewind"
        log "nothing to rewind: this host wrote nothing after $(sed -n 's/.*servers diverged at WAL location \([0-9A-F/]*\).*/\1/;T;p;q' "$dry") (the new primary has all of it)"
        return 0
    fi
    read -r fork tli < <(sed -n 's/.*servers diverged at WAL location \([0-9A-F]*\/[0-9A-F]*\) on timeline \([0-9]*\).*/\1 \2/;T;p;q' "$dry") ||
        die "${rewind_missing:-pg_rewind --dry-run said neither where the servers diverged nor 'no rewind required': $(tail -n 3 "$dry" | tr '\n' ' ')}"
    key="${sysid}:${tli}:${fork}"
    dir="${DIVERGED_ROOT}/${sysid}-tl${tli}-${fork/\//-}"
    if ((wal == 0)) && shutdown_only_after "$tli" "$fork"; then
        run_rewind "$source" "$REJOIN_RUN/rewind.log" || die "$rewind_missing"
        rejoin_how="pg_rewind of the shutdown's own WAL"
        changed "rewound: after the fork at ${fork} on timeline ${tli} this host wrote only its own shutdown (a segment switch and the shutdown checkpoint), no transaction: nothing to save"
        return 0
    fi
    if [[ ! -f $dir/summary.txt ]]; then
        save_divergence "$dir" "$tli" "$fork"
        {
            echo "fork: ${fork} on timeline ${tli} (system identifier ${sysid})"
            echo "transactions: ${diverged_count}"
            echo "first commit: ${diverged_first:-none}"
            echo "last commit: ${diverged_last:-none}"
            echo "rows: ${diverged_rows} row versions they wrote, in rows/*.csv (deleted rows: see waldump.txt)"
            echo "wal: wal/, this host's WAL from the fork on (pg_waldump --path=wal --timeline=${tli} --start=${fork})"
            echo "consent: crosscloud:discardDiverged = ${key}"
        } >"$dir/summary.txt"
        chown postgres:postgres "$dir/summary.txt"
    fi
    local count first last rows summary
    count=$(sed -n 's/^transactions: //p' "$dir/summary.txt")
    first=$(sed -n 's/^first commit: //p' "$dir/summary.txt")
    last=$(sed -n 's/^last commit: //p' "$dir/summary.txt")
    rows=$(sed -n 's/^rows: \([0-9]*\).*/\1/p' "$dir/summary.txt")
    summary="${count} transactions committed ${first:-} to ${last:-} after the fork at ${fork} on timeline ${tli}, saved in ${dir}"
    if ((wal == 3)); then
        # No rewind possible. A fresh base backup replaces every file here: only with the consent, even
        # when no transaction committed after the fork (what was written after it is saved all the same).
        log "divergence: ${summary}"
        [[ $DISCARD_DIVERGED == "$key" ]] ||
            die "${rewind_missing}. This host (the old primary) cannot be rewound; it stays stopped read-only with ${summary}. Set crosscloud:discardDiverged to ${key} and run pulumi up again to replace its data directory with a fresh base backup of the new primary (the consent holds for this divergence only)"
        rejoin_how="base backup, with consent (crosscloud:discardDiverged): the rewind was impossible"
        rejoin_discarded=$summary
        return 0
    fi
    if ((count == 0)); then
        # WAL after the fork, but no transaction committed in it: nothing a client was told is lost.
        run_rewind "$source" "$REJOIN_RUN/rewind.log" || die "$rewind_missing"
        changed "rewound: no transaction committed here after the fork at ${fork} on timeline ${tli} (that WAL is saved in ${dir})"
        return 0
    fi
    log "divergence: ${summary}"
    [[ $DISCARD_DIVERGED == "$key" ]] ||
        die "this host (the old primary) has ${summary} (${rows} row versions in rows/*.csv; the WAL in wal/): nothing was discarded and it stays stopped read-only. Recover what you need from there, then set crosscloud:discardDiverged to ${key} and run pulumi up again to rejoin it as a standby (the consent holds for this divergence only)"
    run_rewind "$source" "$REJOIN_RUN/rewind.log" || die "$rewind_missing"
    changed "discarded here, with consent (crosscloud:discardDiverged), ${summary}"
}
