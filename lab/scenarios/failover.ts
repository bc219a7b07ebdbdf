// Unplanned failovers: the primary's host loses power (failover), or its whole cloud disappears at once,
// gateway and router with it (siteCrash), under write load; `npm run failover` promotes the standby
// without it and reports the RPO; the old primary comes back on its disks read-only (boot fence), and the
// next `pulumi up` with `primary` set to the survivor rejoins it as a standby. Then a planned
// switchover takes the primary home, so later scenarios find the lab as provisioning left it; npm test
// runs the two back to back instead (failovers), the second failing over the first one's survivor,
// which brings the primary home without a switchover.
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { LAB_DIR, labctl } from "../harness/labCloud";
import { Lab, peerOf, psql, shell, waitFor } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { rejoinUp } from "../harness/rejoin";
import { switchoverTo } from "./switchover";

const REPO = path.resolve(__dirname, "../..");

/** `npm run failover -- SITE --hosts FILE --key FILE`, as a user would run it (here inside the lab's netns). */
export function runFailover(site: string, hostsFile: string, keyFile: string): Promise<string> {
    return new Promise((resolve, reject) =>
        execFile(
            "node",
            ["-r", "ts-node/register/transpile-only", "operator/failover.ts", site, "--hosts", hostsFile, "--key", keyFile],
            { cwd: REPO, timeout: 180_000 },
            (err, stdout, stderr) => (err ? reject(new Error(`npm run failover failed: ${stderr || err.message}`)) : resolve(stdout)),
        ),
    );
}

/** What is lost, and how it comes back. */
interface Outage {
    /** "aws-database loses power", for the step names. */
    what: string;
    /** The gateway the load client runs on: one the outage spares. */
    loadHost: string;
    /** Returns once every process of what is lost is gone. */
    lose(): Promise<void>;
    /** Powers it on again; returns once the old primary's host is booting. */
    restore(): Promise<string>;
}

/** `home`: a planned switchover back to the first primary at the end (the default). */
interface FailoverOptions {
    home?: boolean;
}

/** The primary's database host loses power; its gateway and the rest of its cloud stay. */
export async function unplannedFailover(lab: Lab, opts: FailoverOptions = {}): Promise<void> {
    const lost = lab.primary;
    await failoverThrough(lab, opts, {
        what: `${lost}-database loses power`,
        loadHost: `${lost}-gateway`,
        lose: async () => {
            await labctl(["host-crash", `${lost}-database`]);
        },
        restore: () => labctl(["host-start", `${lost}-database`]),
    });
}

/**
 * The primary's whole cloud disappears at once (its kernel ends: gateway, database host and router with
 * it). Its disks stay, as a VM's OS and data disks survive a power loss; when the site comes back its
 * network is rebuilt from the cloud's records and its hosts boot on their disks.
 */
export async function siteCrash(lab: Lab, opts: FailoverOptions = {}): Promise<void> {
    const lost = lab.primary;
    await failoverThrough(lab, opts, {
        what: `the ${lost} cloud disappears`,
        loadHost: `${peerOf(lost)}-gateway`,
        lose: async () => {
            await labctl(["site-crash", lost]);
        },
        restore: async () => {
            const restored = (await labctl(["site-start", lost])).trim().split("\n").pop() ?? "";
            await labctl(["host-wait", `${lost}-gateway`, "240"]);
            return restored;
        },
    });
}

/**
 * npm test's pair: the primary's database host loses power (aws: azure takes over), then the new
 * primary's whole cloud disappears (azure: aws takes over). Each old primary is rejoined by `pulumi up`;
 * the second failover brings the primary home, two switchovers fewer than running them one by one.
 */
export async function failovers(lab: Lab): Promise<void> {
    await unplannedFailover(lab, { home: false });
    await siteCrash(lab, { home: false });
}

async function failoverThrough(lab: Lab, opts: FailoverOptions, outage: Outage): Promise<void> {
    const lost = lab.primary;
    const survivor = peerOf(lost);
    const load = new LoadClient(lab, outage.loadHost);
    let lastReplayedCommit = 0;
    let crashedAt = 0;

    await lab.step(`unplanned failover: ${outage.what} under load, npm run failover promotes ${survivor}`, async () => {
        await load.start();
        await outage.lose();
        crashedAt = Date.now() / 1000; // every process of what was lost is gone by now
        const hostsFile = path.join(LAB_DIR, "failover-hosts.json");
        fs.writeFileSync(hostsFile, JSON.stringify(lab.outputs.databaseHosts, null, 2));
        const report = await runFailover(survivor, hostsFile, path.join(LAB_DIR, "admin_key"));
        const promotedAfter = Date.now() / 1000 - crashedAt;
        const lastCommit = /last replayed commit at (\S+ \S+)/.exec(report)?.[1];
        if (!/^crosscloud: status: promoted at [0-9A-F]+\/[0-9A-F]+$/m.test(report) || !lastCommit || !/^crosscloud: RPO: /m.test(report)) {
            throw new Error(`the failover did not report the promotion, the last replayed commit and the RPO:\n${report}`);
        }
        // The old primary is gone: the failover must say it could not fence it, and how to later.
        const notFenced = /^crosscloud: warning: the old primary on \S+ was NOT fenced: (.*)$/m.exec(report)?.[1];
        if (!notFenced || !/--fence-only/.test(report)) {
            throw new Error(`the failover did not say that it could not fence the lost old primary, nor how to later:\n${report}`);
        }
        lastReplayedCommit = Date.parse(lastCommit.replace(" ", "T").replace(/\+00$/, "Z")) / 1000;
        const ips = lab.databaseIps;
        await waitFor(`commits on the promoted ${survivor}`, 60, async () =>
            (await load.commits()).some((c) => c.host === ips[survivor] && c.at > crashedAt),
        );
        const commits = await load.commits();
        const before = commits.filter((c) => c.host === ips[lost]);
        const resumed = commits.find((c) => c.host === ips[survivor] && c.at > crashedAt)!;
        const present = await load.rowsOn(survivor);
        const lostRows = before.filter((c) => !present.has(c.id));
        // Asynchronous replication loses at most what the standby had not replayed: every commit the
        // client saw before the last replayed commit time must be there.
        const wronglyLost = lostRows.filter((c) => c.at <= lastReplayedCommit);
        if (wronglyLost.length > 0) {
            throw new Error(
                `${wronglyLost.length} commits seen before the last replayed commit (${lastCommit}) are missing on ${survivor}: ids ${wronglyLost
                    .slice(0, 10)
                    .map((c) => c.id)
                    .join(", ")}`,
            );
        }
        const line = report
            .split("\n")
            .filter((l) => /^crosscloud: (last received WAL|changed: promoted)/.test(l))
            .map((l) => l.replace("crosscloud: ", ""))
            .join("; ");
        return `${before.length} commits before the power cut, ${lostRows.length} lost (RPO; all after the last replayed commit); npm run failover returned ${promotedAfter.toFixed(1)} s after the cut (old primary not fenced: ${notFenced}); first write on ${survivor} ${(resumed.at - crashedAt).toFixed(1)} s after it; reported: ${line}`;
    });

    await lab.step(`the old primary ${lost}-database powers on read-only (boot fence)`, async () => {
        const restored = await outage.restore();
        const seconds = await waitFor(`PostgreSQL on ${lost}-database after its power-on`, 240, async () => {
            await psql(`${lost}-database`, "SELECT 1");
            return true;
        });
        const inRecovery = (await psql(`${lost}-database`, "SELECT pg_is_in_recovery()")).trim();
        const write = await shell(
            `${lost}-database`,
            `runuser -u postgres -- psql -X -At -c "INSERT INTO load_check (id) VALUES (-1)" 2>&1 || true`,
        );
        if (inRecovery !== "t" || !/read-only transaction/.test(write)) {
            throw new Error(
                `${lost}-database came back as a second primary: pg_is_in_recovery=${inRecovery}; an INSERT said: ${write.trim()}`,
            );
        }
        const fenceLog = await shell(`${lost}-database`, "journalctl -b -o cat | grep -m1 'crosscloud boot-fence' || true");
        return `${restored.trim()}; up ${seconds.toFixed(0)} s after power-on, read-only (INSERT refused: cannot execute INSERT in a read-only transaction); ${fenceLog.trim()}`;
    });

    await lab.step(`pulumi up with primary=${survivor} rejoins ${lost} as a standby; no commit lost since the failover`, async () => {
        // As the engine would: the steps of the hosts that came back are not run again unless their inputs
        // changed, so the tunnel must come back by itself.
        const divergence = await rejoinUp(lab, survivor, { onlyChanged: true });
        const streaming = (await psql(`${survivor}-database`, "SELECT application_name, state FROM pg_stat_replication")).trim();
        if (!streaming.includes(`${lost}|streaming`)) {
            throw new Error(`replication does not stream from ${survivor} to ${lost}: ${streaming || "(no walsender)"}`);
        }
        const commits = await load.stop();
        const since = commits.filter((c) => c.at > crashedAt);
        await load.assertNoneLost(survivor, since);
        // Every commit the client saw on the old primary is on the survivor, or saved by the rejoin.
        const present = await load.rowsOn(survivor);
        const missing = commits.filter((c) => !present.has(c.id) && !divergence?.savedIds.has(c.id));
        if (missing.length > 0) {
            throw new Error(
                `${missing.length} acknowledged commits are neither on ${survivor} nor in the rejoin's saved set: ids ${missing
                    .slice(0, 10)
                    .map((c) => c.id)
                    .join(", ")}`,
            );
        }
        const rewind = fs.readFileSync(path.join(LAB_DIR, "logs", "commands", `postgres-${lost}-node.log`), "utf8");
        const how = /rejoined \S+ as its standby \(([^)]+)\)/.exec(rewind)?.[1] ?? "?";
        const saved = divergence
            ? `the rejoin stopped on divergence ${divergence.key} (${divergence.transactions} transactions saved in ${divergence.dir}, ${divergence.savedIds.size} of the client's rows among them) and went on with crosscloud:discardDiverged; rejoinDivergence: ${divergence.output}`
            : "nothing after the fork to save";
        return `${lost} streams from ${survivor} (rejoined with ${how}); ${since.length} commits since the failover, all on ${survivor}; every acknowledged commit on ${survivor} or saved; ${saved}`;
    });

    if (opts.home ?? true) {
        await switchoverTo(lab, lost);
    }
}
