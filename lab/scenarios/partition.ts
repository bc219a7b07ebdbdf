// A network partition: the primary's site loses its WAN link while its primary keeps running and a
// client inside that site keeps writing (not a power cut). The operator follows the runbook: `npm run
// failover` promotes the other side (it cannot reach the old primary, and says so), the link comes back,
// the old primary's fence-watch stops it once it sees the newer timeline, and `pulumi up` with the new
// primary rejoins it: the rejoin stops on the divergence, having saved the old primary's transactions
// after the fork, and goes on with the one-shot consent. Every commit the client saw acknowledged is on
// the final primary or in the saved set. The primary stays on the other side: `npm test` runs
// partitionSync next, which partitions that side and so brings the primary home.
// partitionSync: the same partition with crosscloud:synchronous remote_apply and standby loss `block`: the
// isolated old primary acknowledges nothing after the cut (its commits wait for the standby), every
// acknowledged commit is on the final primary, the rejoin `up` completes (no step waits on the standby that
// a later step rejoins), and what the old primary committed locally without acknowledging is saved.
import * as fs from "fs";
import * as path from "path";
import { LAB_DIR, labctl } from "../harness/labCloud";
import { Lab, peerOf, psql, shell, waitFor } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { rejoinUp } from "../harness/rejoin";
import { tunnelUp, waitHealthy } from "../harness/faults";
import { runFailover } from "./failover";

/** Commits the isolated old primary must acknowledge after the promotion: the divergence to save. */
const COMMITS_AFTER_PROMOTION = 10;
/** The bound on "stops taking writes" once the tunnel is back (the fence-watch polls every second). */
const FENCE_BOUND_SECONDS = 5;
const SYNC_CONFIG = { "crosscloud:synchronous": "remote_apply", "crosscloud:synchronousStandbyLoss": "block" };
const ASYNC_CONFIG = { "crosscloud:synchronous": "off", "crosscloud:synchronousStandbyLoss": "" };
/** Commits the isolated old primary must hold, committed locally and never acknowledged (synchronous mode). */
const SYNC_WAITING_COMMITS = 2;

export const partition = (lab: Lab): Promise<void> => partitionUnderLoad(lab, false);
export const partitionSync = (lab: Lab): Promise<void> => partitionUnderLoad(lab, true);

async function partitionUnderLoad(lab: Lab, synchronous: boolean): Promise<void> {
    await waitHealthy(lab, 120);
    if (synchronous) {
        await lab.step("pulumi up with crosscloud:synchronous remote_apply, standby loss block", async () => {
            const { outputs } = await lab.up(SYNC_CONFIG, () => undefined, { onlyChanged: true });
            const names = (await psql(`${lab.primary}-database`, "SHOW synchronous_standby_names")).trim();
            if (names !== `"${peerOf(lab.primary)}"` || !/standby loss: block/.test(String(outputs.synchronousMode))) {
                throw new Error(`synchronous_standby_names = ${names}, synchronousMode output: ${outputs.synchronousMode}`);
            }
            return `synchronous_standby_names = ${names}; synchronousMode: ${outputs.synchronousMode}`;
        });
    }
    const old = lab.primary;
    const survivor = peerOf(old);
    const ips = lab.databaseIps;
    const version = Number(lab.outputs.databaseHosts[old].postgresVersion);
    // The client inside the old primary's site: it reaches the old primary throughout the partition.
    const load = new LoadClient(lab, `${old}-gateway`);
    let cutAt = 0;
    let promotedAt = 0;
    try {
        await lab.step(`partition: the ${old} site's WAN link cut under load, npm run failover promotes ${survivor}`, async () => {
            await load.start();
            await labctl(["wan", "cut", "on", old]);
            cutAt = Date.now() / 1000;
            if (synchronous) {
                // The old primary's commits wait for the standby it can no longer reach: none is acknowledged.
                await waitFor(
                    `a commit on the isolated ${old} primary waiting for its standby`,
                    60,
                    async () =>
                        Number(await psql(`${old}-database`, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")) > 0,
                );
            } else {
                // The old primary goes on committing for its own site's client, cut off from its standby.
                await waitFor(`commits on the isolated ${old} primary after the cut`, 60, async () =>
                    (await load.commits()).some((c) => c.host === ips[old] && c.at > cutAt + 3),
                );
            }
            const hostsFile = path.join(LAB_DIR, "failover-hosts.json");
            fs.writeFileSync(hostsFile, JSON.stringify(lab.outputs.databaseHosts, null, 2));
            const report = await runFailover(survivor, hostsFile, path.join(LAB_DIR, "admin_key"));
            promotedAt = Date.now() / 1000;
            const notFenced = /^crosscloud: warning: the old primary on \S+ was NOT fenced: (.*)$/m.exec(report)?.[1];
            if (!notFenced || !/--fence-only/.test(report) || !/^crosscloud: status: promoted at /m.test(report)) {
                throw new Error(`the failover did not promote and say that it could not fence the cut-off old primary:\n${report}`);
            }
            if (synchronous) {
                // The client gives a statement up after 15 s and tries the next id: the backend it left still waits,
                // its commit local only. Two such waits: what the rejoin must save, never acknowledged.
                const waitingCommits = async () =>
                    Number(await psql(`${old}-database`, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'"));
                await waitFor(
                    `${SYNC_WAITING_COMMITS} commits waiting for the standby on the old primary`,
                    60,
                    async () => (await waitingCommits()) >= SYNC_WAITING_COMMITS,
                );
                const waiting = await waitingCommits();
                const acknowledged = (await load.commits()).filter((c) => c.host === ips[old] && c.at > cutAt + 1);
                if (acknowledged.length > 0) {
                    throw new Error(
                        `the isolated old primary acknowledged ${acknowledged.length} commits after the cut in synchronous mode`,
                    );
                }
                return `npm run failover returned ${(promotedAt - cutAt).toFixed(1)} s after the cut; said: NOT fenced (${notFenced}); the isolated old primary acknowledged 0 commits after the cut, ${waiting} commits wait there for the standby`;
            }
            await waitFor(
                `${COMMITS_AFTER_PROMOTION} commits on the isolated old primary after the promotion`,
                90,
                async () =>
                    (await load.commits()).filter((c) => c.host === ips[old] && c.at > promotedAt).length >= COMMITS_AFTER_PROMOTION,
            );
            const commits = await load.commits();
            const after = commits.filter((c) => c.host === ips[old] && c.at > promotedAt).length;
            return `npm run failover returned ${(promotedAt - cutAt).toFixed(1)} s after the cut; said: NOT fenced (${notFenced}); then ${after} commits acknowledged by the isolated old primary (two primaries)`;
        });

        await lab.step(
            `the link comes back: the old primary ${old} stops taking writes within ${FENCE_BOUND_SECONDS} s of the tunnel`,
            async () => {
                // From the request on: the fence-watch may stop the old primary before labctl has returned.
                const linkAt = Date.now() / 1000;
                await labctl(["wan", "cut", "off", old]);
                await waitFor("the tunnel back", 180, tunnelUp, 500);
                const tunnelAt = Date.now() / 1000;
                const unit = `postgresql@${version}-main`;
                await waitFor(
                    `PostgreSQL stopped on ${old}-database (fence-watch)`,
                    60,
                    async () => (await shell(`${old}-database`, `systemctl is-active ${unit} || true`)).trim() !== "active",
                    500,
                );
                const journal = await shell(
                    `${old}-database`,
                    "journalctl -u crosscloud-fence-watch -o short-unix --no-pager | grep 'crosscloud fence-watch: ' | tail -n 2",
                );
                // Writes stop when PostgreSQL receives the fast shutdown request: new sessions are refused from
                // then on and the others end. Its own log line says when (the hosts' clock is the machine's).
                const shutdown = (
                    await shell(
                        `${old}-database`,
                        `line=$(grep 'received fast shutdown request' /var/log/postgresql/postgresql-${version}-main.log | tail -n 1); date -d "$(cut -d' ' -f1-3 <<<"$line")" +%s.%N`,
                    )
                ).trim();
                const fencedAt = Number(shutdown);
                if (!(fencedAt > linkAt)) {
                    throw new Error(`no fast shutdown request on ${old} after the link came back (${shutdown}): ${journal.trim()}`);
                }
                if (!/newer than this primary's/.test(journal)) {
                    throw new Error(`PostgreSQL on ${old}-database stopped, but not by its fence-watch: ${journal.trim()}`);
                }
                const write = await shell(
                    `${old}-database`,
                    `runuser -u postgres -- psql -X -At -c "INSERT INTO load_check (id) VALUES (-1)" 2>&1 || true`,
                );
                if (/^INSERT/m.test(write)) {
                    throw new Error(`the fenced old primary still took a write: ${write.trim()}`);
                }
                const lastOnOld = (await load.commits()).filter((c) => c.host === ips[old]).pop()!;
                if (lastOnOld.at > fencedAt + 0.5) {
                    throw new Error(`the client saw a commit on ${old} ${(lastOnOld.at - fencedAt).toFixed(1)} s after it was fenced`);
                }
                const fence = fencedAt - tunnelAt;
                if (fence > FENCE_BOUND_SECONDS) {
                    throw new Error(
                        `the old primary was fenced ${fence.toFixed(1)} s after the tunnel was back (bound ${FENCE_BOUND_SECONDS} s)`,
                    );
                }
                return `link back → tunnel up ${(tunnelAt - linkAt).toFixed(1)} s → old primary fenced ${fence.toFixed(1)} s later (bound ${FENCE_BOUND_SECONDS} s; PostgreSQL's "received fast shutdown request"); its last acknowledged commit ${(fencedAt - lastOnOld.at).toFixed(1)} s before that; a write now: ${write.trim().split("\n").pop()}; ${journal.trim().split("\n").pop()}`;
            },
        );

        await lab.step(
            `pulumi up with primary=${survivor}: the rejoin saves the old primary's transactions after the fork, then discards them with consent`,
            async () => {
                const divergence = await rejoinUp(lab, survivor, { onlyChanged: true });
                if (!divergence) {
                    throw new Error(
                        "the rejoin found nothing after the fork, but the isolated old primary acknowledged commits after the promotion",
                    );
                }
                const streaming = (await psql(`${survivor}-database`, "SELECT application_name, state FROM pg_stat_replication")).trim();
                if (!streaming.includes(`${old}|streaming`)) {
                    throw new Error(`replication does not stream from ${survivor} to ${old}: ${streaming || "(no walsender)"}`);
                }
                const commits = await load.stop();
                const present = await load.rowsOn(survivor);
                if (synchronous) {
                    // Zero loss: every acknowledged commit on the final primary; the saved set holds only what the
                    // old primary committed locally and never acknowledged. The client tries an id it gave up on
                    // the old primary on the other host next, so a saved id may also be a commit acknowledged by
                    // the new primary (and on it): not one the old primary acknowledged.
                    const lost = commits.filter((c) => !present.has(c.id));
                    const acknowledgedSaved = commits.filter((c) => c.host === ips[old] && divergence.savedIds.has(c.id));
                    const retried = commits.filter((c) => c.host !== ips[old] && divergence.savedIds.has(c.id));
                    if (lost.length > 0 || acknowledgedSaved.length > 0 || divergence.savedIds.size === 0) {
                        throw new Error(
                            `synchronous mode: ${lost.length} acknowledged commits missing on ${survivor} (ids ${lost
                                .slice(0, 10)
                                .map((c) => c.id)
                                .join(
                                    ", ",
                                )}), ${acknowledgedSaved.length} acknowledged by the old primary among the saved rows, ${divergence.savedIds.size} saved rows (expected the old primary's unacknowledged local commits)`,
                        );
                    }
                    return `${commits.length} commits acknowledged, 0 lost: all on ${survivor}; the old primary's ${divergence.transactions} transactions after the fork ${divergence.key} were committed there locally and never acknowledged by it (${divergence.savedIds.size} rows, ids ${[...divergence.savedIds].join(", ")}; ${retried.length} of these ids the client then committed on ${survivor}), saved in ${divergence.dir}; the rejoin up completed; ${old} streams from ${survivor}`;
                }
                const missing = commits.filter((c) => !present.has(c.id) && !divergence.savedIds.has(c.id));
                if (missing.length > 0) {
                    throw new Error(
                        `${missing.length} acknowledged commits are neither on ${survivor} nor in the saved set ${divergence.dir}: ids ${missing
                            .slice(0, 10)
                            .map((c) => c.id)
                            .join(", ")}`,
                    );
                }
                const diverged = commits.filter((c) => c.host === ips[old] && !present.has(c.id));
                if (diverged.length === 0 || divergence.savedIds.size < diverged.length) {
                    throw new Error(
                        `expected the old primary's ${diverged.length} commits missing on ${survivor} among the saved rows (${divergence.savedIds.size})`,
                    );
                }
                if (!divergence.output.includes(divergence.dir)) {
                    throw new Error(`the stack output rejoinDivergence does not name the saved set: ${divergence.output}`);
                }
                return `${commits.length} commits acknowledged; ${diverged.length} of them only on the old primary (after the fork), all among the ${divergence.savedIds.size} saved rows; ${divergence.transactions} transactions after the fork ${divergence.key}; rejoinDivergence: ${divergence.output}; ${old} streams from ${survivor}`;
            },
        );
    } finally {
        await labctl(["wan", "cut", "off", old]);
        await load.stop().catch(() => undefined);
    }
    if (synchronous) {
        await lab.step("pulumi up with crosscloud:synchronous off again", async () => {
            const { outputs } = await lab.up(ASYNC_CONFIG, () => undefined, { onlyChanged: true });
            const primary = `${lab.primary}-database`;
            const names = (await psql(primary, "SHOW synchronous_standby_names")).trim();
            const watch = (await shell(primary, "systemctl is-enabled crosscloud-sync-watch || true")).trim();
            if (names !== "" || watch !== "disabled") {
                throw new Error(`synchronous_standby_names = ${names}, crosscloud-sync-watch ${watch}`);
            }
            return `synchronous_standby_names empty, sync-watch ${watch}; synchronousMode: ${String(outputs.synchronousMode)}`;
        });
    }
}
