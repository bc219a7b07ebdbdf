// Parts of the host scripts run as a host runs them, with the commands they call (apt, dpkg) stubbed
// on PATH: each stub records its call, so the tests see what the host would have done, in order.
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { fenceScript } from "../scripts/postgresSteps";
import { renderHostScript } from "../scripts/render";

const HOST = path.join(__dirname, "..", "scripts", "host");

/** A shell function of a host script, as written there. */
function hostFunction(file: string, name: string): string {
    const found = new RegExp(`^${name}\\(\\) \\{\\n[\\s\\S]*?^\\}$`, "m").exec(fs.readFileSync(path.join(HOST, file), "utf8"))?.[0];
    assert.ok(found, `${name} not found in ${file}`);
    return found;
}

describe("postgres-node.sh ensure_postgres_source: where postgresql-N comes from", function () {
    // A host's apt, in files: what the mirror has (Ubuntu's archive), what the package lists know
    // (empty on a fresh image until apt-get update), what dpkg has installed.
    const stubs: Record<string, string> = {
        // -W -f='\${Status}' PKG (one), or -W -f='\${Package} \${Status}\\n' -- PKG... (ensure_packages).
        "dpkg-query": `echo "dpkg-query $*" >>"$STATE/calls"
if [[ $2 == *Package* ]]; then
    status=0
    for p in "\${@:4}"; do grep -qx -- "$p" "$STATE/installed" && echo "$p install ok installed" || status=1; done
    exit $status
fi
grep -qx -- "\${@: -1}" "$STATE/installed" && printf 'install ok installed' || exit 1`,
        "apt-cache": `echo "apt-cache $*" >>"$STATE/calls"
if grep -qx -- "$2" "$STATE/lists"; then candidate=1.0; else candidate='(none)'; fi
printf '%s:\\n  Installed: (none)\\n  Candidate: %s\\n' "$2" "$candidate"`,
        "apt-get": `echo "apt-get $*" >>"$STATE/calls"
case " $* " in
    *" update "*) cp "$STATE/mirror" "$STATE/lists" ;;
    *" install "*) for p in "$@"; do [[ $p == -* || $p == install || $p == DPkg* ]] || echo "$p" >>"$STATE/installed"; done ;;
esac`,
        // postgresql-common's pgdg/apt.postgresql.org.sh adds the repository and runs apt-get update.
        "apt.postgresql.org.sh": `echo "apt.postgresql.org.sh $*" >>"$STATE/calls"
echo postgresql-17 >>"$STATE/mirror"
cp "$STATE/mirror" "$STATE/lists"`,
    };

    function run(version: number, host: { mirror: string[]; lists: string[]; installed: string[] }): { calls: string[]; stdout: string } {
        const state = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-apt-"));
        try {
            for (const [name, body] of Object.entries(stubs)) {
                fs.writeFileSync(path.join(state, name), `#!/bin/bash\n${body}\n`, { mode: 0o755 });
            }
            for (const file of ["mirror", "lists", "installed", "calls"] as const) {
                const lines = file === "calls" ? [] : host[file];
                fs.writeFileSync(path.join(state, file), lines.map((l) => `${l}\n`).join(""));
            }
            const fn = hostFunction("postgres-node.sh", "ensure_postgres_source").replace(
                "/usr/share/postgresql-common/pgdg/apt.postgresql.org.sh",
                "apt.postgresql.org.sh",
            );
            const script = `${fs.readFileSync(path.join(HOST, "lib.sh"), "utf8")}\nPG_VERSION=${version}\n${fn}\nensure_postgres_source\n`;
            const stdout = execFileSync("bash", ["-euo", "pipefail", "-c", script], {
                encoding: "utf8",
                env: { ...process.env, PATH: `${state}:${process.env.PATH}`, STATE: state },
            });
            return { calls: fs.readFileSync(path.join(state, "calls"), "utf8").split("\n").filter(Boolean), stdout };
        } finally {
            fs.rmSync(state, { recursive: true, force: true });
        }
    }
    const UBUNTU = ["postgresql-16", "postgresql-common", "ssl-cert", "openssh-client"];
    const LOOKUP = (v: number) => [`dpkg-query -W -f=\${Status} postgresql-${v}`, `apt-cache policy postgresql-${v}`];
    const UPDATE = "apt-get -q -o DPkg::Lock::Timeout=300 update";

    it("refreshes empty package lists before asking apt-cache, and then needs no PGDG for 16; a converged host asks dpkg alone", function () {
        const fresh = run(16, { mirror: UBUNTU, lists: [], installed: [] });
        assert.deepStrictEqual(fresh.calls, [...LOOKUP(16), UPDATE, "apt-cache policy postgresql-16"]);
        assert.doesNotMatch(fresh.stdout, /PGDG/);
        const converged = run(16, { mirror: UBUNTU, lists: [], installed: ["postgresql-16"] });
        assert.deepStrictEqual(converged.calls, ["dpkg-query -W -f=${Status} postgresql-16"]);
        assert.strictEqual(converged.stdout, "");
    });

    it("adds PGDG for a version Ubuntu lacks only after the refreshed lists still have no candidate", function () {
        const r = run(17, { mirror: UBUNTU, lists: [], installed: [] });
        assert.deepStrictEqual(r.calls, [
            ...LOOKUP(17),
            UPDATE,
            "apt-cache policy postgresql-17",
            "dpkg-query -W -f=${Package} ${Status}\\n -- postgresql-common",
            UPDATE,
            "apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends postgresql-common",
            "apt.postgresql.org.sh -y",
        ]);
        assert.match(r.stdout, /^crosscloud: changed: added the PGDG apt repository \(at \+[0-9.]+ s\)$/m);
    });
});

describe("postgres-node.sh find_data_disk: the first candidate path that appears, waited for, bounded", function () {
    // The function as the host runs it, with lib.sh's own wait_until (polling every 0.1 s). Block devices
    // cannot be made here: `test -b` is stubbed to take any existing path for one.
    function run(timeout: number, candidates: string[], appear: { path: string; afterSeconds: number }[] = []) {
        const script = `${fs.readFileSync(path.join(HOST, "lib.sh"), "utf8")}
POLL_SECONDS=0.1
test() { if [[ $1 == -b ]]; then [[ -e $2 ]]; else builtin test "$@"; fi; }
${appear.map((a) => `(sleep ${a.afterSeconds}; touch '${a.path}') &`).join("\n")}
${hostFunction("postgres-node.sh", "find_data_disk")}
find_data_disk ${timeout} ${candidates.map((c) => `'${c}'`).join(" ")}
echo "found $data_disk"
`;
        const started = Date.now();
        try {
            const stdout = execFileSync("bash", ["-euo", "pipefail", "-c", script], {
                encoding: "utf8",
                stdio: ["ignore", "pipe", "pipe"],
            });
            return { status: 0, stdout, stderr: "", seconds: (Date.now() - started) / 1000 };
        } catch (err) {
            const e = err as { status: number; stdout: string; stderr: string };
            return { status: e.status, stdout: e.stdout, stderr: e.stderr, seconds: (Date.now() - started) / 1000 };
        }
    }
    let dir: string;
    let disks: string[];
    beforeEach(function () {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-disk-"));
        // As the AWS site lists them: NVMe by volume id (Nitro), then the Xen names.
        disks = ["nvme-Amazon_Elastic_Block_Store_vol0123", "xvdf", "sdf"].map((d) => path.join(dir, d));
    });
    afterEach(function () {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("takes the candidate that exists (a Xen type's /dev/xvdf), and the first one listed when several do", function () {
        fs.writeFileSync(disks[1], "");
        assert.deepStrictEqual(run(5, disks).stdout, `found ${disks[1]}\n`);
        fs.writeFileSync(disks[2], "");
        fs.writeFileSync(disks[0], "");
        assert.deepStrictEqual(run(5, disks).stdout, `found ${disks[0]}\n`);
    });

    it("waits for a disk that is still being attached", function () {
        const r = run(10, disks, [{ path: disks[0], afterSeconds: 0.5 }]);
        assert.deepStrictEqual([r.status, r.stdout], [0, `found ${disks[0]}\n`]);
    });

    it("gives up after its bound, naming every path it waited for", function () {
        // wait_until counts whole seconds (EPOCHSECONDS): a bound of 2 s waits from just over 1 s to 2 s.
        const r = run(2, disks);
        assert.deepStrictEqual(
            [r.status, r.stdout, r.stderr],
            [
                1,
                "",
                `crosscloud: error: the data disk did not appear within 2 s at any of ${disks.join(", ")}: check that the volume or disk is attached to this host (crosscloud:awsDbType / crosscloud:azureDbSize decide how it is named)\n`,
            ],
        );
        assert.ok(r.seconds >= 1 && r.seconds < 4, `took ${r.seconds} s`);
    });
});

describe("lib.sh wait_until: polls every POLL_SECONDS without starting a process", function () {
    // The switchover's fence polls every 0.05 s inside the write outage: a sleep process a poll cost a tenth
    // of a second or more on the lab's hosts. PATH is empty here, so a poll that started one would fail.
    it("asks its condition about once per POLL_SECONDS until the bound, under set -Eeuo pipefail and the ERR trap", function () {
        const script = `${fs.readFileSync(path.join(HOST, "lib.sh"), "utf8")}
asked=0
never() { asked=$((asked + 1)); false; }
PATH=/nonexistent
if POLL_SECONDS=0.1 wait_until 2 never; then echo "met"; else echo "asked $asked"; fi
`;
        const started = Date.now();
        const out = execFileSync("bash", ["-Eeuo", "pipefail", "-c", script], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
        const seconds = (Date.now() - started) / 1000;
        const asked = Number(/^asked (\d+)$/m.exec(out)?.[1]);
        // A bound of 2 s waits from just over 1 s to 2 s (whole seconds, EPOCHSECONDS): 10 to 21 polls.
        // A pause that returned at once would poll thousands of times; a sleep would find no command.
        assert.ok(asked >= 9 && asked <= 22, `asked ${asked} times in ${seconds} s: ${out}`);
        assert.ok(seconds >= 1 && seconds < 4, `took ${seconds} s`);
    });
});

describe("every host step: a command that ends it says which on stderr, pipelines included", function () {
    // The header and library of a real step (the fence), cut before its own steps, then `body`.
    const run = (body: string) => {
        const script = renderHostScript(fenceScript(15, "aws", "10.0.0.1"));
        const head = script.slice(0, script.indexOf("# --- steps"));
        return spawnSync("bash", ["-c", `${head}${body}\nfinish\n`], { encoding: "utf8" });
    };

    it("names a failing pipeline's last command and every status (pipefail: grep failed, tail did not)", function () {
        const r = run("grep no-such-line /dev/null | tail -n 1");
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /^crosscloud: error: line \d+: "tail -n 1" exited 1 \(pipeline statuses: 1 0\)\n$/);
        assert.strictEqual(r.stdout, "");
    });

    it("names a failing command inside a function, and says nothing of a failure a condition handles", function () {
        const r = run("check() { false || true; if false; then :; fi; test -d /no/such/dir; }\ncheck");
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /^crosscloud: error: line \d+: "test -d \/no\/such\/dir" exited 1 \(pipeline statuses: 1\)\n/);
    });

    it("leaves die's own message alone", function () {
        const r = run('die "the cause, and the fix"');
        assert.deepStrictEqual([r.status, r.stderr], [1, "crosscloud: error: the cause, and the fix\n"]);
    });
});

describe("install_files: a file is written only when its content, mode or owner differ", function () {
    // Real files in a temporary directory, run as the test runs (root in CI and the lab machine; the
    // owner is whoever runs it, so the comparison of owners is exercised either way).
    const owner = `${os.userInfo().username}:${execFileSync("id", ["-gn"], { encoding: "utf8" }).trim()}`;
    let dir: string;
    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-files-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const run = () => {
        const script = renderHostScript({
            title: "files test",
            body: "tunnel-check.sh",
            vars: {},
            files: [
                { path: `${dir}/etc/a.conf`, mode: "644", owner, content: "a = 1\n\n", flag: "a" },
                { path: `${dir}/etc/sub/b 2.conf`, mode: "600", owner, content: "b = 'ü' \\ $x\n" },
            ],
        });
        const head = script.slice(0, script.indexOf("# --- steps"));
        return spawnSync("bash", ["-c", `${head}install_files\nlog "a: $CHANGED_a"\nfinish\n`], { encoding: "utf8" });
    };
    const changes = (r: ReturnType<typeof run>) => {
        assert.strictEqual(r.status, 0, r.stderr);
        return r.stdout
            .split("\n")
            .filter((l) => /^crosscloud: (changed|a):/.test(l))
            .map((l) => l.replace(/ \(at \+[0-9.]+ s\)$/, "").replace(dir, "DIR"));
    };

    it("writes both on the first run with their bytes and modes, nothing on the second", function () {
        assert.deepStrictEqual(changes(run()), [
            "crosscloud: changed: DIR/etc/a.conf",
            "crosscloud: changed: DIR/etc/sub/b 2.conf",
            "crosscloud: a: 1",
        ]);
        assert.strictEqual(fs.readFileSync(`${dir}/etc/a.conf`, "utf8"), "a = 1\n\n");
        assert.strictEqual(fs.readFileSync(`${dir}/etc/sub/b 2.conf`, "utf8"), "b = 'ü' \\ $x\n");
        assert.strictEqual(fs.statSync(`${dir}/etc/sub/b 2.conf`).mode & 0o777, 0o600);
        assert.deepStrictEqual(changes(run()), ["crosscloud: a: 0"]);
    });

    it("rewrites a file whose content changed at the same size, lost a trailing line, or whose mode changed", function () {
        run();
        fs.writeFileSync(`${dir}/etc/a.conf`, "a = 2\n\n");
        assert.deepStrictEqual(changes(run()), ["crosscloud: changed: DIR/etc/a.conf", "crosscloud: a: 1"]);
        fs.writeFileSync(`${dir}/etc/a.conf`, "a = 1\n");
        assert.deepStrictEqual(changes(run()), ["crosscloud: changed: DIR/etc/a.conf", "crosscloud: a: 1"]);
        fs.chmodSync(`${dir}/etc/sub/b 2.conf`, 0o644);
        assert.deepStrictEqual(changes(run()), ["crosscloud: changed: DIR/etc/sub/b 2.conf", "crosscloud: a: 0"]);
        assert.strictEqual(fs.statSync(`${dir}/etc/sub/b 2.conf`).mode & 0o777, 0o600);
    });

    it("rewrites a file with the right text followed by a NUL byte and more", function () {
        run();
        fs.writeFileSync(`${dir}/etc/a.conf`, Buffer.concat([Buffer.from("a = 1\n\n"), Buffer.from([0]), Buffer.from("x")]));
        assert.deepStrictEqual(changes(run()), ["crosscloud: changed: DIR/etc/a.conf", "crosscloud: a: 1"]);
        assert.strictEqual(fs.readFileSync(`${dir}/etc/a.conf`, "utf8"), "a = 1\n\n");
    });
});
