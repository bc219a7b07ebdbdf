// postgres-rejoin.sh, the old primary's rejoin, driven with stand-ins for PostgreSQL's tools that print
// what PostgreSQL 15's print (pg_rewind.c: "servers diverged at WAL location %X/%X on timeline %u",
// "no rewind required"; fe_archive.c: "could not restore file \"%s\" from archive"; pg_waldump's
// Transaction records). What users rely on: nothing after the fork is discarded without the one-shot
// consent for exactly that divergence, it is saved first, and every failure names its cause on stderr.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHostScript } from "../scripts/render";

const SYSID = "7301234567890123456";
const FORK = "0/3000060";
const KEY = `${SYSID}:1:${FORK}`;

const STUBS: Record<string, string> = {
    // runuser -u postgres -- CMD...: run CMD as we are.
    runuser: `shift 3; exec "$@"`,
    install: `# install [-d] [-o U] [-g G] [-m M] ARGS: owners and modes are not what is tested.
dirs=0; args=()
while (($#)); do case $1 in -d) dirs=1 ;; -o|-g|-m) shift ;; *) args+=("$1") ;; esac; shift; done
if ((dirs)); then mkdir -p "\${args[@]}"; else cat "\${args[0]}" >"\${args[1]}"; fi`,
    chown: ":",
    df: `printf 'Avail\\n%s\\n' "\${FREE_BYTES:-10737418240}"`,
    pg_controldata: `echo "Bytes per WAL segment:                16777216"
if [[ -n \${CONTROL_STATE:-} ]]; then echo "Database cluster state:               $CONTROL_STATE"; fi
if [[ -n \${CONTROL_CHECKPOINT:-} ]]; then echo "Latest checkpoint location:           $CONTROL_CHECKPOINT"; fi`,
    pg_rewind: `echo "pg_rewind $*" >>"$STATE/calls"
case $REWIND in
none) echo "pg_rewind: servers diverged at WAL location ${FORK} on timeline 1"; echo "pg_rewind: no rewind required" ;;
diverged) echo "pg_rewind: servers diverged at WAL location ${FORK} on timeline 1"; echo "pg_rewind: rewinding from last common checkpoint at 0/2000060 on timeline 1"; echo "pg_rewind: Done!" ;;
missing) echo "pg_rewind: servers diverged at WAL location ${FORK} on timeline 1" >&2; echo 'pg_rewind: error: could not restore file "000000010000000000000002" from archive' >&2; exit 1 ;;
esac`,
    pg_waldump: `echo "pg_waldump $*" >>"$STATE/calls"
if [[ \${WALDUMP:-} == many ]]; then
    # A busy old primary: 3000 commits after the fork, a listing far longer than a pipe holds.
    for ((x = 1000; x < 4000; x++)); do
        echo "rmgr: Heap        len (rec/tot):     59/    59, tx:       $x, lsn: 0/03000098, prev 0/03000060, desc: INSERT off 9 flags 0x00, blkref #0: rel 1663/5/16390 blk 12"
        echo "rmgr: Transaction len (rec/tot):     34/    34, tx:       $x, lsn: 0/03000118, prev 0/030000D8, desc: COMMIT 2026-12-06 07:40:01.$x UTC"
    done
    exit 1
fi
if [[ \${WALDUMP:-} == shutdown* ]]; then
    # A switchover's fenced primary: after the fork only the shutdown's segment switch and checkpoint
    # (PostgreSQL 15's pg_waldump: "lsn: %X/%08X, prev %X/%08X, desc: SWITCH" / "CHECKPOINT_SHUTDOWN ...").
    if [[ $WALDUMP == shutdown-page ]]; then
        # A fork on a page boundary: pg_waldump says first where the first record after it is (pg_waldump.c).
        echo "first record is after 0/03000060, at 0/03000078, skipping over 24 bytes"
    fi
    echo "rmgr: XLOG        len (rec/tot):     24/    24, tx:          0, lsn: 0/03000060, prev 0/03000028, desc: SWITCH "
    if [[ $WALDUMP == shutdown-and-insert ]]; then
        echo "rmgr: Heap        len (rec/tot):     59/    59, tx:        751, lsn: 0/04000028, prev 0/03000060, desc: INSERT off 9 flags 0x00, blkref #0: rel 1663/5/16390 blk 12"
    fi
    echo "rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: 0/04000068, prev 0/04000028, desc: CHECKPOINT_SHUTDOWN redo 0/4000068; tli 1; prev tli 1; fpw true; xid 0:760; oid 16396; multi 1; offset 0; oldest xid 716 in DB 1; oldest multi 1 in DB 1; oldest/newest commit timestamp xid: 0/0; oldest running xid 0; shutdown"
    echo "pg_waldump: error: error in WAL record at 0/40000E0: invalid record length at 0/40000E0: wanted 24, got 0" >&2
    exit 1
fi
if [[ \${WALDUMP:-} == uncommitted ]]; then
    echo "rmgr: Heap        len (rec/tot):     59/    59, tx:        751, lsn: 0/03000098, prev 0/03000060, desc: INSERT off 9 flags 0x00, blkref #0: rel 1663/5/16390 blk 12"
    exit 1
fi
echo "rmgr: Heap        len (rec/tot):     59/    59, tx:        751, lsn: 0/03000098, prev 0/03000060, desc: INSERT off 9 flags 0x00, blkref #0: rel 1663/5/16390 blk 12"
echo "rmgr: Btree       len (rec/tot):     64/    64, tx:        751, lsn: 0/030000D8, prev 0/03000098, desc: INSERT_LEAF off 9, blkref #0: rel 1663/5/16393 blk 1"
echo "rmgr: Transaction len (rec/tot):     34/    34, tx:        751, lsn: 0/03000118, prev 0/030000D8, desc: COMMIT 2026-12-06 07:40:01.123456 UTC"
echo "rmgr: Heap        len (rec/tot):     59/    59, tx:        752, lsn: 0/03000140, prev 0/03000118, desc: INSERT off 10 flags 0x00, blkref #0: rel 1663/5/16390 blk 12"
echo "rmgr: Transaction len (rec/tot):     34/    34, tx:        752, lsn: 0/03000180, prev 0/03000140, desc: COMMIT 2026-12-06 07:40:02.5 UTC"
echo "pg_waldump: error: error in WAL record at 0/30001A8: invalid record length at 0/30001A8: wanted 24, got 0" >&2
exit 1`,
    pg_ctl: `echo "pg_ctl $1" >>"$STATE/calls"`,
    // The read-only start's answers: database 5 is postgres, filenode 16390 is load_check (16393 an index).
    psql: `sql=\${*: -1}
case $sql in
*"FROM pg_database WHERE oid = 5 "*) echo postgres ;;
*"pg_filenode_relation(CASE 1663 WHEN 1663 THEN 0 ELSE 1663 END, 16390)"*) echo load_check ;;
*"pg_filenode_relation"*) ;;
*copy*) [[ $sql == *"string_to_array('751,752', ',')"* || ( \${WALDUMP:-} == many && $sql == *"string_to_array('1000,1001,"*",3999', ',')"* ) ]] ||
  { echo "unexpected xids: $sql" >&2; exit 3; }
  file=\${sql##*TO \\'}; file=\${file%%\\'*}; printf 'id,at\\n1000001,2026-12-06 07:40:01+00\\n1000002,2026-12-06 07:40:02+00\\n' >"$file" ;;
*) echo "unexpected psql $*" >&2; exit 2 ;;
esac`,
};

interface Run {
    status: number | null;
    stdout: string;
    stderr: string;
    calls: string[];
    home: string;
}

/** Runs rejoin_old_primary as the node step would, with pg_wal holding the fork's segment and one after. */
function rejoin(rewind: "none" | "diverged" | "missing", consent: string, env: Record<string, string> = {}): Run {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-rejoin-"));
    const stubs = path.join(state, "bin");
    const home = path.join(state, "home");
    fs.mkdirSync(stubs);
    for (const [name, body] of Object.entries(STUBS)) {
        fs.writeFileSync(path.join(stubs, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
    }
    const pgWal = path.join(home, "15", "main", "pg_wal");
    fs.mkdirSync(pgWal, { recursive: true });
    fs.mkdirSync(path.join(home, "wal-archive"));
    // Before the fork's segment (not saved), the fork's, and the next one (in the archive only).
    fs.writeFileSync(path.join(pgWal, "000000010000000000000002"), "older");
    fs.writeFileSync(path.join(pgWal, "000000010000000000000003"), "fork segment");
    fs.writeFileSync(path.join(home, "wal-archive", "000000010000000000000004"), "after");
    const script = renderHostScript({
        title: "rejoin test",
        body: ["postgres-lib.sh", "postgres-rejoin.sh"],
        vars: {
            PG_VERSION: 15,
            PEER_IP: "10.20.1.10",
            DISCARD_DIVERGED: consent,
            POSTGRES_HOME: home,
            ARCHIVE_DIR: path.join(home, "wal-archive"),
            PROMOTING_FLAG: path.join(state, "promoting"),
            REPLICATION_CONNINFO: "port=5432",
        },
    })
        .replace('readonly BIN="/usr/lib/postgresql/${PG_VERSION}/bin"', `readonly BIN="${stubs}"`)
        .replace("readonly REJOIN_RUN=/run/crosscloud", `readonly REJOIN_RUN="${state}/run"`)
        .replace(/\nfinish\n$/, `\nrejoin_old_primary "host=10.20.1.10 dbname=postgres" ${SYSID}\nlog "rejoin: \${rejoin_how}"\nfinish\n`);
    try {
        const r = spawnSync("bash", ["-c", script], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${stubs}:${process.env.PATH}`, STATE: state, REWIND: rewind, ...env },
        });
        const calls = fs.existsSync(path.join(state, "calls")) ? fs.readFileSync(path.join(state, "calls"), "utf8") : "";
        const saved = path.join(home, "crosscloud-diverged");
        const listing = fs.existsSync(saved)
            ? fs
                  .readdirSync(saved, { recursive: true })
                  .map(String)
                  .sort()
                  .map((f) => `saved ${f}`)
            : [];
        return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: [...calls.split("\n").filter(Boolean), ...listing], home };
    } finally {
        fs.rmSync(state, { recursive: true, force: true });
    }
}

const DIR = `crosscloud-diverged/${SYSID}-tl1-0-3000060`;
const SUMMARY = `2 transactions committed 2026-12-06 07:40:01.123456 UTC to 2026-12-06 07:40:02.5 UTC after the fork at ${FORK} on timeline 1, saved in`;
const SAVED = [
    `saved ${SYSID}-tl1-0-3000060`,
    `saved ${SYSID}-tl1-0-3000060/rows`,
    `saved ${SYSID}-tl1-0-3000060/rows/postgres.load_check.csv`,
    `saved ${SYSID}-tl1-0-3000060/summary.txt`,
    `saved ${SYSID}-tl1-0-3000060/transactions.txt`,
    `saved ${SYSID}-tl1-0-3000060/wal`,
    `saved ${SYSID}-tl1-0-3000060/wal/000000010000000000000003`,
    `saved ${SYSID}-tl1-0-3000060/wal/000000010000000000000004`,
    `saved ${SYSID}-tl1-0-3000060/waldump.err`,
    `saved ${SYSID}-tl1-0-3000060/waldump.txt`,
];

describe("postgres-rejoin.sh: an old primary's rejoin never discards in silence", function () {
    it("rewinds at once when pg_rewind finds nothing after the fork (a switchover's fenced primary)", function () {
        const r = rejoin("none", "");
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(
            r.stdout,
            /^crosscloud: nothing to rewind: this host wrote nothing after 0\/3000060 \(the new primary has all of it\)$/m,
        );
        assert.deepStrictEqual(
            r.calls.map((c) => c.replace(/\/tmp\/crosscloud-rejoin-\w+/g, "T")),
            [
                "pg_rewind --target-pgdata=T/home/15/main --source-server=host=10.20.1.10 dbname=postgres --restore-target-wal --config-file=T/run/rewind.conf --dry-run",
            ],
        );
    });

    it("saves the transactions after the fork, then stops without consent, naming where and the key", function () {
        const r = rejoin("diverged", "");
        assert.strictEqual(r.status, 1);
        const dir = `${r.home}/${DIR}`;
        assert.strictEqual(
            r.stderr,
            `crosscloud: error: this host (the old primary) has ${SUMMARY} ${dir} (2 row versions in rows/*.csv; the WAL in wal/): nothing was discarded and it stays stopped read-only. Recover what you need from there, then set crosscloud:discardDiverged to ${KEY} and run pulumi up again to rejoin it as a standby (the consent holds for this divergence only)\n`,
        );
        assert.match(r.stdout, new RegExp(`^crosscloud: divergence: ${SUMMARY} ${dir.replace(/[/.]/g, "\\$&")}$`, "m"));
        // Only the dry run: nothing was rewound. The read-only start and stop around the row dump.
        assert.deepStrictEqual(
            r.calls.filter((c) => !c.startsWith("saved")).map((c) => c.split(" ")[0] + (c.includes("--dry-run") ? " --dry-run" : "")),
            ["pg_rewind --dry-run", "pg_waldump", "pg_ctl", "pg_ctl"],
        );
        assert.deepStrictEqual(
            r.calls.filter((c) => c.startsWith("saved")),
            SAVED,
        );
    });

    // Seen in the lab: with 3000 commits after the fork, `sed | head -n1` under pipefail killed sed with
    // SIGPIPE and the step died on "head -n1 exited 141" instead of saving and naming the divergence.
    it("saves and names a divergence of thousands of transactions (no early-exit reader under pipefail)", function () {
        const r = rejoin("diverged", "", { WALDUMP: "many" });
        assert.strictEqual(r.status, 1, r.stderr);
        assert.strictEqual(
            r.stderr.split(" saved in ")[0],
            "crosscloud: error: this host (the old primary) has 3000 transactions committed 2026-12-06 07:40:01.1000 UTC to 2026-12-06 07:40:01.3999 UTC after the fork at 0/3000060 on timeline 1,",
        );
        assert.match(r.stderr, /set crosscloud:discardDiverged to 7301234567890123456:1:0\/3000060 and run pulumi up again/);
    });

    it("discards with the consent for exactly this divergence, saying what and where", function () {
        const r = rejoin("diverged", KEY);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(
            r.stdout,
            new RegExp(
                `^crosscloud: changed: discarded here, with consent \\(crosscloud:discardDiverged\\), ${SUMMARY} \\S+/${DIR} \\(at \\+[0-9.]+ s\\)$`,
                "m",
            ),
        );
        assert.strictEqual(r.calls.filter((c) => c.startsWith("pg_rewind") && !c.includes("--dry-run")).length, 1);
    });

    it("does not take the consent for another divergence", function () {
        const r = rejoin("diverged", `${SYSID}:1:0/2000000`);
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, new RegExp(`set crosscloud:discardDiverged to ${KEY} and run pulumi up again`));
        assert.strictEqual(r.calls.filter((c) => c.startsWith("pg_rewind") && !c.includes("--dry-run")).length, 0);
    });

    it("rewinds without consent when no transaction committed after the fork, its WAL saved all the same", function () {
        const r = rejoin("diverged", "", { WALDUMP: "uncommitted" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(
            r.stdout,
            new RegExp(
                `^crosscloud: changed: rewound: no transaction committed here after the fork at 0/3000060 on timeline 1 \\(that WAL is saved in \\S+/${DIR}\\) \\(at \\+[0-9.]+ s\\)$`,
                "m",
            ),
        );
        assert.strictEqual(r.calls.filter((c) => c.startsWith("pg_rewind") && !c.includes("--dry-run")).length, 1);
        assert.ok(r.calls.includes(`saved ${SYSID}-tl1-0-3000060/wal/000000010000000000000003`), r.calls.join("\n"));
    });

    // The switchover's fence promotes the peer without waiting for the shutdown's padded segment
    // (postgres-fence.sh): the old primary then holds exactly a SWITCH and its CHECKPOINT_SHUTDOWN past the fork.
    const SHUTDOWN = { WALDUMP: "shutdown", CONTROL_STATE: "shut down", CONTROL_CHECKPOINT: "0/4000068" };

    it("rewinds without saving when all after the fork is its own shutdown (a segment switch and the checkpoint pg_control names)", function () {
        const r = rejoin("diverged", "", SHUTDOWN);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(
            r.stdout,
            /^crosscloud: changed: rewound: after the fork at 0\/3000060 on timeline 1 this host wrote only its own shutdown \(a segment switch and the shutdown checkpoint\), no transaction: nothing to save \(at \+[0-9.]+ s\)$/m,
        );
        assert.match(r.stdout, /^crosscloud: rejoin: pg_rewind of the shutdown's own WAL$/m);
        assert.deepStrictEqual(
            r.calls.map((c) => c.replace(/\/tmp\/crosscloud-rejoin-\w+/g, "T")),
            [
                "pg_rewind --target-pgdata=T/home/15/main --source-server=host=10.20.1.10 dbname=postgres --restore-target-wal --config-file=T/run/rewind.conf --dry-run",
                "pg_waldump --path=T/home/15/main/pg_wal --timeline=1 --start=0/3000060",
                "pg_rewind --target-pgdata=T/home/15/main --source-server=host=10.20.1.10 dbname=postgres --restore-target-wal --config-file=T/run/rewind.conf",
            ],
        );
    });

    it("reads past pg_waldump's note on a fork at a page boundary", function () {
        const r = rejoin("diverged", "", { ...SHUTDOWN, WALDUMP: "shutdown-page" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /this host wrote only its own shutdown/);
        assert.ok(!r.calls.some((c) => c.startsWith("saved")), r.calls.join("\n"));
    });

    it("saves as for any divergence when the last record is not the checkpoint pg_control names (the end of the WAL not proven)", function () {
        const r = rejoin("diverged", "", { ...SHUTDOWN, CONTROL_CHECKPOINT: "0/5000028" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /rewound: no transaction committed here after the fork at 0\/3000060 on timeline 1 \(that WAL is saved in /);
        assert.ok(r.calls.includes(`saved ${SYSID}-tl1-0-3000060/waldump.txt`), r.calls.join("\n"));
    });

    it("saves as for any divergence when the cluster did not shut down cleanly", function () {
        const r = rejoin("diverged", "", { ...SHUTDOWN, CONTROL_STATE: "in production" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /that WAL is saved in /);
    });

    it("saves as for any divergence when anything but the shutdown follows the fork", function () {
        const r = rejoin("diverged", "", { ...SHUTDOWN, WALDUMP: "shutdown-and-insert" });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /that WAL is saved in /);
        assert.ok(r.calls.includes(`saved ${SYSID}-tl1-0-3000060/waldump.txt`), r.calls.join("\n"));
    });

    it("names the WAL file pg_rewind could not find and both places it looked, saves, and stops without consent", function () {
        const r = rejoin("missing", "");
        assert.strictEqual(r.status, 1);
        assert.match(
            r.stderr,
            /^crosscloud: error: pg_rewind needs WAL file 000000010000000000000002, which is in neither \S+\/15\/main\/pg_wal nor this host's archive \S+\/wal-archive: .*could not restore file "000000010000000000000002" from archive/,
        );
        assert.match(
            r.stderr,
            new RegExp(
                `This host \\(the old primary\\) cannot be rewound; it stays stopped read-only with ${SUMMARY} \\S+/${DIR}\\. Set crosscloud:discardDiverged to ${KEY} and run pulumi up again to replace its data directory with a fresh base backup of the new primary \\(the consent holds for this divergence only\\)\n$`,
            ),
        );
        assert.deepStrictEqual(
            r.calls.filter((c) => c.startsWith("saved")),
            SAVED,
        );
    });

    it("with the consent, leaves the rebuild to a base backup when the rewind is impossible (the WAL it needs is gone)", function () {
        const r = rejoin("missing", KEY);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(
            r.stdout,
            /^crosscloud: rejoin: base backup, with consent \(crosscloud:discardDiverged\): the rewind was impossible$/m,
        );
        assert.strictEqual(r.calls.filter((c) => c.startsWith("pg_rewind") && !c.includes("--dry-run")).length, 0);
        assert.deepStrictEqual(
            r.calls.filter((c) => c.startsWith("saved")),
            SAVED,
        );
    });

    it("saves nothing and says so when the data disk lacks room for the diverged WAL", function () {
        const r = rejoin("diverged", KEY, { FREE_BYTES: "20" });
        assert.strictEqual(r.status, 1);
        assert.match(
            r.stderr,
            /^crosscloud: error: the data disk has 0 MB free, too little to save the diverged WAL \(0 MB, twice that needed\): free space on \S+, then run pulumi up again\n$/,
        );
        assert.deepStrictEqual(
            r.calls.filter((c) => c.startsWith("pg_rewind") && !c.includes("--dry-run")),
            [],
        );
    });
});
