// AWS -> Azure -> AWS under a write load whose client counts its commits: after each move every
// commit the client saw must be on the new primary, the write gap is measured, and replication must
// stream the other way.
import { Lab, peerOf, psql, Site, waitFor } from "../harness/lab";
import { LoadClient } from "../harness/load";

/**
 * The write outage the issue asks of the lab. Printed, not asserted: on a shared 2-core machine a
 * neighbour's load stretches every step in the one-CPU UML (see README, "The lab").
 */
const OUTAGE_TARGET_SECONDS = 10;

export async function switchoverTo(lab: Lab, target: Site): Promise<void> {
    const source = peerOf(target);
    await lab.step(`switchover ${source} -> ${target} under load, zero committed transactions lost`, async () => {
        const load = new LoadClient(lab);
        await load.start();
        const moveStarted = Date.now() / 1000;
        // Only the steps whose inputs changed run, as in the engine (idempotency runs them all).
        const { outputs, cloud } = await lab.up({ "crosscloud:primary": target }, () => undefined, { onlyChanged: true });
        const moveEnded = Date.now() / 1000;
        if (outputs.primary !== target) {
            throw new Error(`the primary output says ${outputs.primary}`);
        }
        const ips = lab.databaseIps;
        await waitFor(`commits on the new primary (${target})`, 60, async () => (await load.commits()).some((c) => c.host === ips[target]));
        const commits = await load.stop();
        const { inDoubt } = await load.assertNoneLost(target, commits);
        const gap = LoadClient.switchGap(commits, ips[source], ips[target]);
        if (gap === undefined) {
            throw new Error(`the client never wrote to ${source} and then to ${target}`);
        }
        // Any other stall during the run: in the lab a cloud's hosts share one CPU, so a busy step on one
        // host can starve its neighbour (a cloud has no such coupling); printed so that it is not hidden.
        const longestStall = LoadClient.longestGap(commits, moveStarted - 5, moveEnded + 60);
        const streaming = (await psql(`${target}-database`, "SELECT application_name, state FROM pg_stat_replication")).trim();
        if (!streaming.includes(`${source}|streaming`)) {
            throw new Error(`replication does not stream from ${target} to ${source}: ${streaming || "(no walsender)"}`);
        }
        const timeline = cloud.commands
            .filter((c) => c.name.startsWith("postgres-"))
            .map((c) => `${c.name.replace("postgres-", "")} ${(c.startedMs / 1000).toFixed(0)}+${(c.durationMs / 1000).toFixed(0)} s`)
            .join(", ");
        return `${commits.length} commits counted by the client, all on ${target} (0 lost${inDoubt > 0 ? `, ${inDoubt} more rows in doubt at the client` : ""}); writes unavailable for ${gap.toFixed(1)} s from the last commit on ${source} to the first on ${target} (lab target ≤ ${OUTAGE_TARGET_SECONDS} s: ${gap <= OUTAGE_TARGET_SECONDS ? "met" : "MISSED"}), longest gap between any two commits during the run ${longestStall.toFixed(1)} s; pulumi up took ${(moveEnded - moveStarted).toFixed(0)} s; ${source} streams from ${target}; steps (start+duration): ${timeline}`;
    });
}

export async function switchoverRoundTrip(lab: Lab): Promise<void> {
    await switchoverTo(lab, "azure");
    await switchoverTo(lab, "aws");
}
