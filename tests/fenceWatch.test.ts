// fence-watch (scripts/host/fence-watch.sh), the partition fence on each database host, driven with a
// stand-in psql: the peer's answer to the watch query over the kept session, and this server's own
// timeline. What users rely on: a primary that finds its peer a primary on a newer timeline stops (and is
// marked a fenced standby, so no restart makes it a primary again); nothing else stops it.
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderHelper } from "../scripts/postgresSteps";

interface Watch {
    stopped: boolean;
    marks: string[];
    stdout: string;
}

/** `script` with `from` replaced once; throws when the rendered text no longer has it. */
function substitute(script: string, from: string, to: string): string {
    assert.ok(script.includes(from), `the rendered fence-watch no longer has: ${from}`);
    return script.replace(from, to);
}

/** The probe fence-watch runs before a new session to the peer, as rendered (the peer's PostgreSQL port). */
const PEER_PROBE = `SESSION_PROBE=(timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$PEER_IP" 5432)`;

/** Runs the watch for `seconds` with the peer answering `peer` ("f|2": a primary on timeline 2) and this server on timeline `ours`. */
function watch(
    peer: string,
    ours: string,
    opts: { standby?: boolean; seconds?: number; connectSeconds?: number; postmasterPid?: number; peerPortCloses?: boolean } = {},
): Watch & { sessions: number } {
    const state = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-fence-watch-"));
    try {
        const stubs = path.join(state, "bin");
        const pgdata = path.join(state, "home", "15", "main");
        fs.mkdirSync(stubs);
        fs.mkdirSync(pgdata, { recursive: true });
        fs.writeFileSync(path.join(pgdata, "postmaster.pid"), `${opts.postmasterPid ?? 1}\n`);
        if (opts.standby) {
            fs.writeFileSync(path.join(pgdata, "standby.signal"), "");
        }
        fs.writeFileSync(path.join(state, "postgres.env"), "PG_VERSION=15\nPEER_IP=10.20.1.10\nPEER_SLOT=crosscloud_azure\n");
        const stub = (name: string, body: string) => fs.writeFileSync(path.join(stubs, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
        stub("runuser", `shift 3; exec "$@"`);
        // psql -c: this server's own question; without -c: the kept session to the peer, answering each query.
        stub(
            "psql",
            `if [[ " $* " == *" -c "* ]]; then echo "$OURS"; exit 0; fi
echo session >>"$STATE/sessions"
sleep "$CONNECT_SECONDS" # psql's start and its connection to the peer
while IFS= read -r line; do
    case $line in
    '\\echo .') echo . ;;
    SELECT*) echo "$PEER" ;;
    esac
done`,
        );
        // install -o postgres -g postgres -m 600 /dev/null FILE: the marker, owner and mode aside.
        stub("install", `: >"\${*: -1}"`);
        stub("systemctl", `echo "systemctl $*" >>"$STATE/calls"; [[ $1 == stop ]] && rm -f "$PGDATA/postmaster.pid"`);
        // The peer's port, probed before a session: a stand-in, so that no packet leaves for 10.20.1.10.
        stub("peer-port", `[[ $1 == 10.20.1.10 && $2 == 5432 && $PEER_PORT == open ]]`);
        let script = renderHelper("fence-watch");
        script = substitute(
            script,
            "readonly POSTGRES_ENV='/etc/crosscloud/postgres.env'",
            `readonly POSTGRES_ENV='${state}/postgres.env'`,
        );
        script = substitute(script, "readonly POSTGRES_HOME='/var/lib/postgresql'", `readonly POSTGRES_HOME='${state}/home'`);
        script = substitute(script, PEER_PROBE, `SESSION_PROBE=(peer-port "$PEER_IP" 5432)`);
        const r = spawnSync("timeout", [String(opts.seconds ?? 3), "bash", "-c", script], {
            encoding: "utf8",
            env: {
                ...process.env,
                PATH: `${stubs}:${process.env.PATH}`,
                STATE: state,
                PGDATA: pgdata,
                PEER: peer,
                OURS: ours,
                CONNECT_SECONDS: String(opts.connectSeconds ?? 0),
                PEER_PORT: opts.peerPortCloses ? "closed" : "open",
            },
        });
        const calls = fs.existsSync(path.join(state, "calls")) ? fs.readFileSync(path.join(state, "calls"), "utf8") : "";
        return {
            stopped: calls.includes("systemctl stop postgresql@15-main"),
            marks: ["standby.signal", "crosscloud.fenced"].filter((f) => fs.existsSync(path.join(pgdata, f))),
            stdout: r.stdout,
            sessions: fs.existsSync(path.join(state, "sessions"))
                ? fs.readFileSync(path.join(state, "sessions"), "utf8").split("\n").length - 1
                : 0,
        };
    } finally {
        fs.rmSync(state, { recursive: true, force: true });
    }
}

describe("fence-watch: a primary whose peer was promoted on a newer timeline stops taking writes", function () {
    this.timeout(20000);

    it("stops this primary, marked a fenced standby, and says why, when the peer is a primary on a newer timeline", function () {
        const w = watch("f|2", "1");
        assert.deepStrictEqual([w.stopped, w.marks], [true, ["standby.signal", "crosscloud.fenced"]]);
        assert.match(
            w.stdout,
            /^crosscloud fence-watch: the peer 10\.20\.1\.10 is a primary on timeline 2, newer than this primary's 1: it was promoted while this side was cut off; stopping PostgreSQL here/m,
        );
        assert.match(w.stdout, /^crosscloud fence-watch: stopped postgresql@15-main: fenced$/m);
    });

    it("waits longer for a new session's first answer than for a round trip (its connection comes first)", function () {
        // 3 s to connect is past the 2 s a round trip may take: a session killed at 2 s never answered.
        const w = watch("f|2", "1", { seconds: 8, connectSeconds: 3 });
        assert.deepStrictEqual([w.stopped, w.marks], [true, ["standby.signal", "crosscloud.fenced"]]);
    });

    it("leaves this primary alone when the peer is its standby", function () {
        assert.deepStrictEqual(watch("t|0", "1"), { stopped: false, marks: [], stdout: "", sessions: 1 });
    });

    it("leaves this primary alone when it is the newer one (the old primary is the peer)", function () {
        assert.deepStrictEqual(watch("f|1", "2"), { stopped: false, marks: [], stdout: "", sessions: 1 });
    });

    it("watches nothing on a standby", function () {
        assert.deepStrictEqual(watch("f|2", "1", { standby: true }), {
            stopped: false,
            marks: ["standby.signal"],
            stdout: "",
            sessions: 0,
        });
    });

    it("leaves this primary alone while the peer answers nothing", function () {
        const w = watch("", "1");
        assert.deepStrictEqual([w.stopped, w.marks, w.stdout], [false, [], ""]);
    });

    it("starts no session while the peer's PostgreSQL port does not answer (a psql started then would wait on SYN retries)", function () {
        assert.deepStrictEqual(watch("f|2", "1", { peerPortCloses: true }), { stopped: false, marks: [], stdout: "", sessions: 0 });
    });

    it("sends the postmaster SIGINT (PostgreSQL's fast shutdown) itself, then stops the unit", async function () {
        // A process named postgres in this server's postmaster.pid: a copy of sleep.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-postmaster-"));
        const postgres = path.join(dir, "postgres");
        fs.copyFileSync("/bin/sleep", postgres);
        fs.chmodSync(postgres, 0o755);
        const postmaster = spawn(postgres, ["60"], { stdio: "ignore" });
        const exited = new Promise<NodeJS.Signals | null>((resolve) => postmaster.once("exit", (_code, signal) => resolve(signal)));
        try {
            const w = watch("f|2", "1", { postmasterPid: postmaster.pid });
            assert.strictEqual(w.stopped, true);
            const signal = await Promise.race([
                exited,
                new Promise<string>((resolve) => setTimeout(() => resolve("still running after 5 s"), 5000)),
            ]);
            assert.strictEqual(signal, "SIGINT");
        } finally {
            postmaster.kill("SIGKILL");
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("signals no process that is not PostgreSQL (a stale pid file's number)", async function () {
        const other = spawn("sleep", ["60"], { stdio: "ignore" });
        const exited = new Promise<NodeJS.Signals | null>((resolve) => other.once("exit", (_code, signal) => resolve(signal)));
        try {
            assert.strictEqual(watch("f|2", "1", { postmasterPid: other.pid }).stopped, true);
            other.kill("SIGTERM");
            assert.strictEqual(await exited, "SIGTERM");
        } finally {
            other.kill("SIGKILL");
        }
    });
});
