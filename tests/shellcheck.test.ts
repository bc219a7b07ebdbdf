// shellcheck over every shell file in the repository and over every script the program renders for
// hosts (the libraries, values and step bodies of scripts/host/ as a host receives them on stdin).
// Severity: shellcheck's default (style and up): every finding is fixed or disabled in place with a
// reason, so none is left to be read past. .shellcheckrc makes it follow sourced files.
import * as assert from "assert";
import { SpawnSyncReturns, execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { failoverFenceScript, promoteScript } from "../scripts/postgresSteps";
import { hostTemplate, renderHostScript } from "../scripts/render";
import { cloudCalls, cloudResources } from "../mockcloud/cloudMocks";
import { runProgram } from "../mockcloud/programRunner";
import { ofType } from "./inspect";
import { DEV_STACK, GENERATED_KEYS, SECRET_KEYS } from "./stacks";

const REPO = path.join(__dirname, "..");
/** Parts every step of a kind shares: a constant or function there need not be used by each step. */
const LIBRARIES = ["lib.sh", "postgres-lib.sh"];
/** Findings that mean "not used by this script": in a library they count only when no step uses the thing. */
const UNUSED = new Set([2034, 2317]);

interface Finding {
    file: string;
    line: number;
    column: number;
    level: string;
    code: number;
    message: string;
}

function run(args: string[], cwd: string): SpawnSyncReturns<string> {
    const r = spawnSync("shellcheck", args, { cwd, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
    if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new Error(
            "shellcheck is not installed: run `sudo bash lab/install-packages.sh` (installs it with the lab's packages) or `sudo apt-get install shellcheck`",
        );
    }
    return r;
}

function shellcheck(files: string[], cwd: string): Finding[] {
    const r = run(["-f", "json1", ...files], cwd);
    assert.ok(r.status === 0 || r.status === 1, `shellcheck failed to run (exit ${r.status}): ${r.stderr}`);
    return (JSON.parse(r.stdout) as { comments: Finding[] }).comments;
}

function show(findings: Finding[]): string {
    return findings.map((f) => `${f.file}:${f.line}:${f.column}: ${f.level} SC${f.code}: ${f.message}`).join("\n");
}

/** Tracked shell files: *.sh and files with a sh/bash shebang; scripts/host/ parts without one are checked rendered. */
function shellFiles(): string[] {
    const tracked = execFileSync("git", ["ls-files", "-z"], { cwd: REPO, encoding: "utf8" }).split("\0").filter(Boolean);
    return tracked.filter((file) => {
        const full = path.join(REPO, file);
        if (!fs.existsSync(full) || !fs.statSync(full).isFile()) {
            return false;
        }
        const first = fs.readFileSync(full, "utf8").split("\n", 1)[0];
        const shebang = /^#!.*\b(ba)?sh\b/.test(first);
        return shebang || (file.endsWith(".sh") && !file.startsWith("scripts/host/"));
    });
}

describe("shellcheck", function () {
    this.timeout(120000);

    it("is installed", function () {
        assert.strictEqual(run(["--version"], REPO).status, 0); // throws the install hint when missing
    });

    it("passes on every shell file in the repository", function () {
        const files = shellFiles();
        for (const expected of ["lab/run.sh", "lab/infra/uml/labctl", ".ci/run", "scripts/host/archive-wal.sh"]) {
            assert.ok(files.includes(expected), `${expected} is not among the checked files`);
        }
        const findings = shellcheck(files, REPO);
        assert.strictEqual(findings.length, 0, `shellcheck:\n${show(findings)}`);
    });

    it("passes on every script the program renders for hosts", async function () {
        const run = await runProgram({
            config: DEV_STACK,
            secretKeys: SECRET_KEYS,
            newResource: cloudResources(GENERATED_KEYS),
            call: cloudCalls(),
        });
        const scripts: Record<string, string> = {
            "failover-promote": renderHostScript(promoteScript(16)),
            "failover-fence": renderHostScript(failoverFenceScript(16)),
        };
        for (const cmd of ofType(run, "command:remote:Command")) {
            scripts[cmd.name] = cmd.inputs.stdin;
        }
        // Every part of scripts/host/ without a shebang (those with one are checked above) is in some script.
        const hostDir = path.join(REPO, "scripts", "host");
        for (const name of fs.readdirSync(hostDir).filter((n) => n.endsWith(".sh"))) {
            const text = hostTemplate(name).trimEnd();
            if (!text.startsWith("#!")) {
                assert.ok(
                    Object.values(scripts).some((s) => s.includes(text)),
                    `scripts/host/${name} is in no rendered script`,
                );
            }
        }

        // The scripts are written to a directory kept when shellcheck finds something, to read them there.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-shellcheck-"));
        {
            /** Where each library and the values block lie in each script (1-based line ranges). */
            const ranges: Record<string, Record<string, [number, number]>> = {};
            for (const [name, text] of Object.entries(scripts)) {
                fs.writeFileSync(path.join(dir, `${name}.sh`), text);
                const lineOf = (index: number) => text.slice(0, index).split("\n").length;
                ranges[`${name}.sh`] = {};
                for (const lib of LIBRARIES) {
                    const libText = hostTemplate(lib).trimEnd();
                    const at = text.indexOf(libText);
                    if (at >= 0) {
                        ranges[`${name}.sh`][lib] = [lineOf(at), lineOf(at + libText.length)];
                    }
                }
                const values = text.indexOf("# --- values\n");
                ranges[`${name}.sh`].values = [lineOf(values), lineOf(text.indexOf("# --- files\n"))];
            }
            const where = (f: Finding): [string, number] | undefined => {
                for (const [part, [from, to]] of Object.entries(ranges[f.file])) {
                    if (f.line >= from && f.line <= to) {
                        return [part, f.line - from];
                    }
                }
                return undefined;
            };
            const all = shellcheck(Object.keys(ranges), dir);
            // A library's constant or function unused by one step is fine; unused by every step, it is not.
            const reportedIn = new Map<string, Set<string>>();
            for (const f of all) {
                const at = where(f);
                if (at && LIBRARIES.includes(at[0]) && UNUSED.has(f.code)) {
                    const key = `${at[0]}:${at[1]}:${f.code}`;
                    reportedIn.set(key, (reportedIn.get(key) ?? new Set()).add(f.file));
                }
            }
            const findings = all.filter((f) => {
                const at = where(f);
                if (at?.[0] === "values" && f.code === 2016) {
                    return false; // values are single-quoted literals on purpose (a SCRAM verifier has `$`)
                }
                if (at && LIBRARIES.includes(at[0]) && UNUSED.has(f.code)) {
                    const including = Object.keys(ranges).filter((file) => ranges[file][at[0]]);
                    return reportedIn.get(`${at[0]}:${at[1]}:${f.code}`)!.size === including.length;
                }
                return true;
            });
            assert.strictEqual(findings.length, 0, `shellcheck on rendered host scripts (kept in ${dir}):\n${show(findings)}`);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
