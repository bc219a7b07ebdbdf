// The lab run: index.ts under the mock runtime with the lab stack, every remote command executed for
// real against the lab's hosts, then the original's "environment validation", with a summary.
// Runs on the machine inside the crosscloud-lab netns (lab/run.sh starts it there).
import { randomUUID } from "crypto";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { utils as sshUtils } from "ssh2";
import { cloudCalls } from "../../tests/cloudMocks";
import { runProgram } from "../../tests/programRunner";
import { LAB_DIR, LAB_PUBLIC_IPS, LabCloud, labctl } from "./labCloud";

const started = Date.now();
const stamp = () => `[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s]`;
const log = (line: string) => console.log(`${stamp()} ${line}`);

/** The admin key pair of the lab stack, made once per lab. */
function adminKey(): { private: string; public: string } {
    const file = path.join(LAB_DIR, "admin_key");
    if (!fs.existsSync(file)) {
        const pair = sshUtils.generateKeyPairSync("ed25519", { comment: "crosscloud-lab-admin" });
        fs.writeFileSync(file, pair.private, { mode: 0o600 });
        fs.writeFileSync(`${file}.pub`, `${pair.public}\n`);
    }
    return { private: fs.readFileSync(file, "utf8"), public: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

/** Polls `check` once a second until it returns true; fails with `what` after `seconds`. */
async function waitFor(what: string, seconds: number, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + seconds * 1000;
    while (!(await check().catch(() => false))) {
        if (Date.now() > deadline) {
            throw new Error(`${what}: not true within ${seconds} s`);
        }
        await new Promise((r) => setTimeout(r, 1000));
    }
}

const shell = (host: string, script: string) => labctl(["shell", host, script]);
const psql = (host: string, sql: string) =>
    shell(host, `runuser -u postgres -- psql -X -At -P pager=off -v ON_ERROR_STOP=1 -c ${JSON.stringify(sql)}`);

interface Step {
    name: string;
    seconds: number;
    detail: string;
}

async function main(): Promise<void> {
    const steps: Step[] = [];
    const step = async (name: string, body: () => Promise<string>) => {
        const t = Date.now();
        log(`${name} ...`);
        const detail = await body();
        steps.push({ name, seconds: (Date.now() - t) / 1000, detail });
        log(`${name}: ${detail}`);
    };

    const key = adminKey();
    const stack = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "stack.json"), "utf8"));
    const up = async (cloud: LabCloud, overrides: Record<string, unknown> = {}) =>
        runProgram({
            config: { ...stack, ...overrides, "crosscloud:sshPublicKey": key.public, "crosscloud:sshPrivateKey": key.private },
            secretKeys: ["crosscloud:sshPrivateKey"],
            stack: "lab",
            newResource: cloud.newResource,
            call: cloudCalls(),
        });
    const cloud = new LabCloud(log);
    let outputs: Record<string, any> = {};
    await step("pulumi up (program under mocks, commands over SSH)", async () => {
        const run = await up(cloud);
        cloud.saveState();
        outputs = run.outputs;
        return `${run.registrations.length} resources, ${cloud.commands.length} commands; tunnel ${outputs.tunnelStatus}, replication ${outputs.replicationStatus}`;
    });
    const primary = "aws-database";
    const standby = "azure-database";

    await step("IKE and Child SAs on both gateways", async () => {
        for (const gw of ["aws-gateway", "azure-gateway"]) {
            const states = await shell(gw, "ipsec whack --showstates; ipsec whack --trafficstatus");
            if (!/ESTABLISHED_IKE_SA/.test(states) || !/ESTABLISHED_CHILD_SA/.test(states)) {
                throw new Error(`${gw} lacks an IKE or Child SA:\n${states}`);
            }
        }
        return "both gateways: ESTABLISHED_IKE_SA and ESTABLISHED_CHILD_SA";
    });

    await step("TCP between the database hosts through the tunnel", async () => {
        await shell(primary, `timeout 5 bash -c '</dev/tcp/${outputs.standbyPrivateIp}/5432'`);
        await shell(standby, `timeout 5 bash -c '</dev/tcp/${outputs.primaryPrivateIp}/5432'`);
        return `${outputs.primaryPrivateIp} <-> ${outputs.standbyPrivateIp}:5432 connect both ways`;
    });

    const capture = "wan-validation.pcap";
    await labctl(["capture", "start", capture, "aws"]);
    await step("a row written on the primary is read on the standby", async () => {
        const id = randomUUID();
        await psql(
            primary,
            `CREATE TABLE IF NOT EXISTS lab_check (id text PRIMARY KEY, at timestamptz DEFAULT now()); INSERT INTO lab_check (id) VALUES ('${id}')`,
        );
        const t = Date.now();
        await waitFor(
            `row ${id} on the standby`,
            30,
            async () => (await psql(standby, `SELECT count(*) FROM lab_check WHERE id = '${id}'`)).trim() === "1",
        );
        return `row ${id.slice(0, 8)} visible on the standby after ${Date.now() - t} ms`;
    });
    await step("pg_stat_replication shows the standby streaming", async () => {
        const rows = (await psql(primary, "SELECT application_name, state, sync_state FROM pg_stat_replication")).trim();
        if (!/^azure\|streaming\|/m.test(rows)) {
            throw new Error(`pg_stat_replication on the primary: ${rows || "(empty)"}`);
        }
        return rows.replace(/\n/g, "; ");
    });
    await labctl(["capture", "stop", "aws"]);
    await step("the WAN carries only IKE/ESP-in-UDP between the two public addresses", () => {
        const file = path.join(LAB_DIR, "captures", capture);
        const read = (filter: string) =>
            execFileSync("tcpdump", ["-nn", "-r", file, filter], { stdio: ["ignore", "pipe", "ignore"] })
                .toString()
                .trim();
        const tunnel = `udp and (port 500 or port 4500) and host ${LAB_PUBLIC_IPS.aws} and host ${LAB_PUBLIC_IPS.azure}`;
        const total = read("").split("\n").filter(Boolean).length;
        const other = read(`not (${tunnel})`);
        if (total === 0) {
            throw new Error("the capture saw no packets at all");
        }
        if (other) {
            throw new Error(`the WAN carried other traffic:\n${other.split("\n").slice(0, 10).join("\n")}`);
        }
        return Promise.resolve(
            `${total} packets, all UDP 500/4500 between ${LAB_PUBLIC_IPS.aws} and ${LAB_PUBLIC_IPS.azure}; no cleartext PostgreSQL`,
        );
    });

    // `npm test` also proves idempotency; `npm run lab` stays within its time budget without it.
    if (process.argv.includes("--again"))
        await step("pulumi up again changes nothing", async () => {
            const again = new LabCloud(log);
            await up(again);
            const changed = again.commands
                .map((c) => ({ name: c.name, changes: Number(/^crosscloud: done: (\d+) changes/m.exec(c.stdout)?.[1] ?? NaN) }))
                .filter((c) => c.changes !== 0);
            if (changed.length > 0) {
                throw new Error(
                    `the second run changed hosts: ${changed.map((c) => `${c.name} (${c.changes})`).join(", ")}; see .lab/logs/commands/`,
                );
            }
            return `all ${again.commands.length} commands ran again and reported 0 changes`;
        });

    if (process.argv.includes("--switchover")) {
        await switchoverRoundTrip(step, up, outputs);
    }

    console.log("\nSummary");
    for (const c of cloud.commands) {
        console.log(`  ${(c.durationMs / 1000).toFixed(1).padStart(7)} s  command ${c.name}`);
    }
    for (const s of steps) {
        console.log(`  ${s.seconds.toFixed(1).padStart(7)} s  ${s.name}`);
    }
    console.log(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(7)} s  total (lab up not included)`);
}

type StepFn = (name: string, body: () => Promise<string>) => Promise<void>;
type UpFn = (cloud: LabCloud, overrides?: Record<string, unknown>) => Promise<{ outputs: Record<string, any> }>;

/**
 * AWS -> Azure -> AWS under a write load whose client counts its commits: after each move every
 * commit the client saw must be on the new primary, the write gap is measured, and replication must
 * stream the other way.
 */
async function switchoverRoundTrip(step: StepFn, up: UpFn, first: Record<string, any>): Promise<void> {
    const client = "aws-gateway"; // reaches both database hosts (directly and through the tunnel)
    const ips: Record<string, string> = { aws: first.primaryPrivateIp, azure: first.standbyPrivateIp };
    const password = new URL(first.primaryConnectionString).password;
    await psql(
        "aws-database",
        "CREATE TABLE IF NOT EXISTS load_check (id bigint PRIMARY KEY, at timestamptz DEFAULT now()); GRANT SELECT, INSERT ON load_check TO crosscloud_admin",
    );
    await labctl(["shell", client, "bash -c 'umask 077; cat > /run/load.env'"], `PGPASSWORD=${password}\n`);
    await labctl(
        ["shell", client, "bash -s"],
        fs
            .readFileSync(path.join(__dirname, "..", "load", "client.sh"), "utf8")
            .replace(/^/, "cat > /usr/local/bin/lab-load-client <<'LOAD'\n") + "LOAD\nchmod 755 /usr/local/bin/lab-load-client\n",
    );
    const committed = async () =>
        (await shell(client, "cat /var/log/load.committed"))
            .trim()
            .split("\n")
            .filter(Boolean)
            .map((line) => line.split(" "))
            .map(([id, at, host]) => ({ id: Number(id), at: Number(at), host }));

    for (const [round, target] of (["azure", "aws"] as const).entries()) {
        const firstId = (round + 1) * 1_000_000;
        const source = target === "azure" ? "aws" : "azure";
        await step(`switchover ${source} -> ${target} under load, zero committed transactions lost`, async () => {
            await shell(client, "rm -f /run/load.stop /var/log/load.committed");
            await shell(client, `setsid nohup lab-load-client ${ips[source]} ${ips[target]} ${firstId} >/dev/null 2>&1 < /dev/null &`);
            await waitFor("the load client's first commits", 60, async () => (await committed()).length >= 5);
            const moveStarted = Date.now() / 1000;
            const run = await up(new LabCloud(() => undefined), { "crosscloud:primary": target });
            const moveEnded = Date.now() / 1000;
            if (run.outputs.primary !== target) {
                throw new Error(`the primary output says ${run.outputs.primary}`);
            }
            await waitFor(`commits on the new primary (${target})`, 60, async () =>
                (await committed()).some((c) => c.host === ips[target]),
            );
            await shell(client, "touch /run/load.stop");
            await waitFor(
                "the load client to stop",
                30,
                async () => (await shell(client, "pgrep -f lab-load-clien[t] || true")).trim() === "",
            );
            const commits = await committed();
            const present = new Set(
                (await psql(`${target}-database`, `SELECT id FROM load_check WHERE id >= ${firstId} AND id < ${firstId + 1_000_000}`))
                    .trim()
                    .split("\n")
                    .filter(Boolean)
                    .map(Number),
            );
            const lost = commits.filter((c) => !present.has(c.id));
            if (lost.length > 0) {
                throw new Error(
                    `${lost.length} committed transactions are missing on the new primary: ids ${lost
                        .slice(0, 10)
                        .map((c) => c.id)
                        .join(", ")}`,
                );
            }
            // The write-unavailability window: the longest gap between two commits during the move.
            const during = commits.filter((c) => c.at >= moveStarted - 5 && c.at <= moveEnded + 60);
            let gap = 0;
            for (let i = 1; i < during.length; i++) {
                gap = Math.max(gap, during[i].at - during[i - 1].at);
            }
            const streaming = (await psql(`${target}-database`, "SELECT application_name, state FROM pg_stat_replication")).trim();
            if (!streaming.includes(`${source}|streaming`)) {
                throw new Error(`replication does not stream from ${target} to ${source}: ${streaming || "(no walsender)"}`);
            }
            const inDoubt = present.size - commits.length;
            return `${commits.length} commits counted by the client, all on ${target} (0 lost${inDoubt > 0 ? `, ${inDoubt} more rows in doubt at the client` : ""}); writes unavailable for ${gap.toFixed(1)} s; pulumi up took ${(moveEnded - moveStarted).toFixed(0)} s; ${source} streams from ${target}`;
        });
    }
}

main().then(
    () => process.exit(0),
    (err) => {
        console.error(`${stamp()} lab: FAILED: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
    },
);
