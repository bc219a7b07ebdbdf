// sync-watch (scripts/host/sync-watch.sh), crosscloud:synchronousStandbyLoss degrade on each database host,
// driven with a stand-in psql answering how many standbys named like the peer stream. What users rely on:
// a primary stops waiting for a standby that has not streamed for SYNC_DEGRADE_AFTER_SECONDS (and says so),
// waits for it again once it streams, and a standby's watch does nothing.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { SYNC_DEGRADED_CONF, SYNC_DEGRADE_AFTER_SECONDS } from "../scripts/postgres";
import { renderHelper } from "../scripts/postgresSteps";

interface Watch {
    /** The override's content at the end, or undefined when there is none. */
    override?: string;
    reloads: number;
    stdout: string;
}

/** Runs the watch for `seconds` with `streaming` standbys named "azure" streaming ("0" or "1"). */
function watch(streaming: string, seconds: number, opts: { standby?: boolean; degraded?: boolean } = {}): Watch {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-sync-watch-"));
    try {
        const stubs = path.join(state, "bin");
        const pgdata = path.join(state, "home", "16", "main");
        const confD = path.join(state, "etc", "16", "main", "conf.d");
        fs.mkdirSync(stubs);
        fs.mkdirSync(pgdata, { recursive: true });
        fs.mkdirSync(confD, { recursive: true });
        fs.writeFileSync(path.join(pgdata, "postmaster.pid"), "1\n");
        if (opts.standby) {
            fs.writeFileSync(path.join(pgdata, "standby.signal"), "");
        }
        const override = path.join(confD, SYNC_DEGRADED_CONF);
        if (opts.degraded) {
            fs.writeFileSync(override, "synchronous_standby_names = ''\n");
        }
        fs.writeFileSync(
            path.join(state, "postgres.env"),
            "PG_VERSION=16\nPEER_IP=10.20.1.10\nPEER_NAME=azure\nPEER_SLOT=crosscloud_azure\n",
        );
        const stub = (name: string, body: string) => fs.writeFileSync(path.join(stubs, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
        stub("runuser", `shift 3; exec "$@"`);
        // The kept session: one query per line, then "\\echo ." for the end of the answer.
        stub(
            "psql",
            `while IFS= read -r line; do
    case $line in
    '\\echo .') echo . ;;
    *pg_reload_conf*) echo reload >>"$STATE/calls"; echo t ;;
    *"application_name = 'azure' AND state = 'streaming'"*) echo "$STREAMING" ;;
    *) echo "unexpected query: $line" >&2; exit 1 ;;
    esac
done`,
        );
        stub("install", `cat >"\${*: -1}"`);
        const script = renderHelper("sync-watch")
            .replace("readonly POSTGRES_ENV='/etc/crosscloud/postgres.env'", `readonly POSTGRES_ENV='${state}/postgres.env'`)
            .replace("readonly POSTGRES_HOME='/var/lib/postgresql'", `readonly POSTGRES_HOME='${state}/home'`)
            .replace("degraded=/etc/postgresql/", `degraded=${state}/etc/`);
        assert.ok(script.includes(`degraded=${state}/etc/`), "the test could not point sync-watch at its conf.d");
        const r = spawnSync("timeout", [String(seconds), "bash", "-c", script], {
            encoding: "utf8",
            env: { ...process.env, PATH: `${stubs}:${process.env.PATH}`, STATE: state, STREAMING: streaming },
        });
        const calls = fs.existsSync(path.join(state, "calls")) ? fs.readFileSync(path.join(state, "calls"), "utf8") : "";
        return {
            ...(fs.existsSync(override) ? { override: fs.readFileSync(override, "utf8") } : {}),
            reloads: calls.split("\n").filter((l) => l === "reload").length,
            stdout: r.stdout,
        };
    } finally {
        fs.rmSync(state, { recursive: true, force: true });
    }
}

describe("sync-watch (synchronousStandbyLoss degrade): asynchronous while the standby is gone, synchronous once it streams", function () {
    this.timeout(30000);

    it(`turns synchronous replication off once the standby has not streamed for ${SYNC_DEGRADE_AFTER_SECONDS} s, reloads, and says so`, function () {
        const w = watch("0", SYNC_DEGRADE_AFTER_SECONDS + 3);
        assert.match(w.override ?? "", /^synchronous_standby_names = ''$/m);
        assert.strictEqual(w.reloads, 1);
        assert.match(
            w.stdout,
            /^crosscloud sync-watch: the standby azure has not been streaming for [5-7] s: synchronous replication is off, commits go on asynchronously until it is back \(crosscloud:synchronousStandbyLoss degrade\)$/m,
        );
    });

    it(`keeps commits waiting for the first ${SYNC_DEGRADE_AFTER_SECONDS} s without the standby`, function () {
        assert.deepStrictEqual(watch("0", SYNC_DEGRADE_AFTER_SECONDS - 2), { reloads: 0, stdout: "" });
    });

    it("turns synchronous replication back on when the standby streams again", function () {
        const w = watch("1", 3, { degraded: true });
        assert.deepStrictEqual(w, {
            reloads: 1,
            stdout: "crosscloud sync-watch: the standby azure streams again: synchronous replication is back on (commits wait for it)\n",
        });
    });

    it("leaves a primary whose standby streams alone", function () {
        assert.deepStrictEqual(watch("1", 3), { reloads: 0, stdout: "" });
    });

    it("does nothing on a standby", function () {
        assert.deepStrictEqual(watch("0", SYNC_DEGRADE_AFTER_SECONDS + 2, { standby: true }), { reloads: 0, stdout: "" });
    });
});
