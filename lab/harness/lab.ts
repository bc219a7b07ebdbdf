// What every lab scenario works with: the lab stack, a way to run the program against the lab
// (`up`), shells and psql on the lab's hosts, the load client, and bounded waits.
import * as fs from "fs";
import * as path from "path";
import { generateEd25519KeyPair } from "../../scripts/ssh";
import { cloudCalls } from "../../mockcloud/cloudMocks";
import { runProgram } from "../../mockcloud/programRunner";
import { LAB_DIR, LabCloud, labctl, loadGeneratedKeys } from "./labCloud";

export type Site = "aws" | "azure";
export const SITES: readonly Site[] = ["aws", "azure"];
export const peerOf = (site: Site): Site => (site === "aws" ? "azure" : "aws");

/** Polls `check` every `intervalMs` until it returns true; fails naming `what` after `seconds`. */
export async function waitFor(what: string, seconds: number, check: () => Promise<boolean>, intervalMs = 1000): Promise<number> {
    const started = Date.now();
    const deadline = started + seconds * 1000;
    let lastError = "";
    for (;;) {
        try {
            if (await check()) {
                return (Date.now() - started) / 1000;
            }
            lastError = "";
        } catch (err) {
            lastError = err instanceof Error ? err.message : String(err);
        }
        if (Date.now() > deadline) {
            throw new Error(`${what}: not true within ${seconds} s${lastError ? ` (last error: ${lastError})` : ""}`);
        }
        await new Promise((r) => setTimeout(r, intervalMs));
    }
}

/** Runs a shell command on a lab host as root; rejects on a non-zero exit. */
export const shell = (host: string, script: string, input?: string) => labctl(["shell", host, script], input);

/** Runs SQL with psql as the postgres superuser on a lab host, unaligned, tuples only. */
export const psql = (host: string, sql: string) =>
    shell(host, `runuser -u postgres -- psql -X -At -P pager=off -v ON_ERROR_STOP=1 -c ${JSON.stringify(sql)}`);

export interface UpResult {
    outputs: Record<string, any>;
    cloud: LabCloud;
}

/** Runs the program (index.ts under mocks) against the lab, optionally with config overrides. */
export type Up = (overrides?: Record<string, unknown>, log?: (line: string) => void, opts?: { onlyChanged?: boolean }) => Promise<UpResult>;

export interface StepRecord {
    name: string;
    seconds: number;
    detail: string;
}

const ADMIN_KEY_FILE = path.join(LAB_DIR, "admin_key");

/** Keeps `pair` as the lab's admin key (the stack's `sshPublicKey`/`sshPrivateKey`) for later runs. */
function saveAdminKey(pair: { private: string; public: string }): void {
    fs.writeFileSync(ADMIN_KEY_FILE, pair.private, { mode: 0o600 });
    fs.writeFileSync(`${ADMIN_KEY_FILE}.pub`, `${pair.public.trim()}\n`);
}

/** The lab's admin key pair, made once per lab and replaced only by a rotation. */
function adminKey(): { private: string; public: string } {
    if (!fs.existsSync(ADMIN_KEY_FILE)) {
        saveAdminKey(generateEd25519KeyPair("crosscloud-lab-admin"));
    }
    return { private: fs.readFileSync(ADMIN_KEY_FILE, "utf8"), public: fs.readFileSync(`${ADMIN_KEY_FILE}.pub`, "utf8").trim() };
}

const OUTPUTS_FILE = path.join(LAB_DIR, "outputs.json");

export class Lab {
    public readonly steps: StepRecord[] = [];
    /** The stack's outputs after the latest `up` (also kept in .lab/outputs.json for later attaches). */
    public outputs: Record<string, any> = {};
    /** Config of the latest `up` beyond lab/stack.json (e.g. the current primary): later runs keep it. */
    public overrides: Record<string, unknown> = {};
    public readonly stack: Record<string, unknown> = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "stack.json"), "utf8"));
    /** The admin key the stack is configured with now (`sshPublicKey`/`sshPrivateKey`). */
    public adminKey = adminKey();
    private readonly started = Date.now();
    /** The keys the program generated in this lab: every `up` uses and extends them. */
    private readonly generatedKeys = loadGeneratedKeys();

    constructor() {
        if (fs.existsSync(OUTPUTS_FILE)) {
            const saved = JSON.parse(fs.readFileSync(OUTPUTS_FILE, "utf8"));
            this.outputs = saved.outputs;
            this.overrides = saved.overrides;
        }
    }

    readonly log = (line: string): void => console.log(`[${((Date.now() - this.started) / 1000).toFixed(1).padStart(6)} s] ${line}`);

    /** Runs a named step, records how long it took and what it found. */
    readonly step = async (name: string, body: () => Promise<string>): Promise<void> => {
        const t = Date.now();
        this.log(`${name} ...`);
        const detail = await body();
        this.steps.push({ name, seconds: (Date.now() - t) / 1000, detail });
        this.log(`${name}: ${detail}`);
    };

    /**
     * `pulumi up` against the lab: the program under mocks with the lab stack, every remote command run
     * over SSH. Overrides stick for later runs (as `pulumi config set` would). `onlyChanged`: commands
     * whose script and triggers did not change since their last run here are not run again.
     */
    readonly up: Up = async (overrides = {}, log = this.log, opts = {}) => {
        this.overrides = { ...this.overrides, ...overrides };
        const cloud = new LabCloud(log, this.generatedKeys, opts.onlyChanged ?? false);
        const run = await runProgram({
            config: {
                ...this.stack,
                ...this.overrides,
                "crosscloud:sshPublicKey": this.adminKey.public,
                "crosscloud:sshPrivateKey": this.adminKey.private,
            },
            secretKeys: ["crosscloud:sshPrivateKey", "crosscloud:previousSshPrivateKey"],
            stack: "lab",
            newResource: cloud.newResource,
            call: cloudCalls(),
        });
        cloud.saveState();
        this.outputs = run.outputs;
        fs.writeFileSync(OUTPUTS_FILE, JSON.stringify({ outputs: this.outputs, overrides: this.overrides }), { mode: 0o600 });
        return { outputs: run.outputs, cloud };
    };

    /**
     * `pulumi config set crosscloud:sshPublicKey/sshPrivateKey` to `pair`: later runs use it. The caller
     * sets crosscloud:previousSshPrivateKey for the rotating `up` (an override) and removes it after.
     */
    setAdminKey(pair: { private: string; public: string }): void {
        saveAdminKey(pair);
        this.adminKey = { private: pair.private, public: pair.public.trim() };
    }

    /** `pulumi config rm KEY`: an override no later run keeps. */
    unset(key: string): void {
        delete this.overrides[key];
    }

    /** The site whose database is the primary now. */
    get primary(): Site {
        return (this.outputs.primary as Site | undefined) ?? "aws";
    }

    /** Private address of each site's database host. */
    get databaseIps(): Record<Site, string> {
        const primary = this.primary;
        return { [primary]: this.outputs.primaryPrivateIp, [peerOf(primary)]: this.outputs.standbyPrivateIp } as Record<Site, string>;
    }

    printSummary(): void {
        console.log("\nSummary");
        for (const s of this.steps) {
            console.log(`  ${s.seconds.toFixed(1).padStart(7)} s  ${s.name}: ${s.detail}`);
        }
        console.log(`  ${((Date.now() - this.started) / 1000).toFixed(1).padStart(7)} s  total (lab up not included)`);
    }
}
