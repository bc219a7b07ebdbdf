// A planned switchover under the lab's write load, as the switchover scenario and the bench's switchover
// section run it: the program with crosscloud:primary set to the target (only the steps whose inputs
// changed, as the engine does), every commit the client counted looked up on the new primary, the write
// outage, and where it went by PostgreSQL's own log lines on both database hosts (the lab's kernels
// read the machine's clock, as the load client's commit times do).
import { Commit, LoadClient } from "./load";
import { Lab, peerOf, psql, shell, Site, waitFor } from "./lab";

/** Where a switchover's write outage went, in seconds, each phase from the end of the one before. */
export interface SwitchoverPhases {
    /** The client's last commit on the old primary → that primary's fast shutdown request (the fence's stop). */
    untilStop: number;
    /** → the new primary's promote request: the shutdown, the standby's catch-up, the fence's poll. */
    stopToPromote: number;
    /**
     * → the new primary takes writes: its postmaster's "ready to accept connections", or the client's first
     * commit on it when that came first (a session already open writes as soon as recovery has ended, a
     * moment before the postmaster logs it).
     */
    promotion: number;
    /** → the client's first commit on it: its reconnect (0 when its session was already open). */
    reconnect: number;
}

export interface Switchover {
    source: Site;
    target: Site;
    /** Commits the client counted during the run, every one found on the new primary. */
    commits: number;
    /** Rows on the new primary the client never saw confirmed (a statement given up). */
    inDoubt: number;
    /** Last commit on the old primary → first on the new one. */
    outage: number;
    /** Undefined when a log line was missing (said in `phasesMissing`). */
    phases?: SwitchoverPhases;
    phasesMissing?: string;
    /** The longest gap between any two commits from 5 s before the move to 60 s after it. */
    longestStall: number;
    /** How long the `pulumi up` took. */
    upSeconds: number;
    /** The PostgreSQL steps that ran, "name start+duration s". */
    steps: string;
}

const LOG = "/var/log/postgresql/postgresql-15-main.log";

/** Epoch seconds of the first line matching `pattern` at or after `since` in a database host's log. */
async function logTime(site: Site, pattern: string, since: number): Promise<number | undefined> {
    const lines = await shell(`${site}-database`, `grep -E '${pattern}' ${LOG} | tail -n 50 || true`);
    for (const line of lines.split("\n")) {
        const stamp = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) UTC /.exec(line);
        const at = stamp ? Date.parse(`${stamp[1]}T${stamp[2]}Z`) / 1000 : NaN;
        if (at >= since) {
            return at;
        }
    }
    return undefined;
}

async function phasesOf(
    source: Site,
    target: Site,
    since: number,
    lastOnOld: Commit,
    firstOnNew: Commit,
): Promise<{ phases?: SwitchoverPhases; missing?: string }> {
    const stop = await logTime(source, "received fast shutdown request", since);
    const promote = await logTime(target, "received promote request", since);
    const ready = promote === undefined ? undefined : await logTime(target, "database system is ready to accept connections", promote);
    const missing = [
        stop === undefined ? `"received fast shutdown request" on ${source}` : "",
        promote === undefined ? `"received promote request" on ${target}` : "",
        ready === undefined ? `"database system is ready to accept connections" on ${target}` : "",
    ].filter(Boolean);
    if (stop === undefined || promote === undefined || ready === undefined) {
        return { missing: `not in PostgreSQL's log: ${missing.join(", ")}` };
    }
    return {
        phases: {
            untilStop: stop - lastOnOld.at,
            stopToPromote: promote - stop,
            promotion: Math.min(ready, firstOnNew.at) - promote,
            reconnect: firstOnNew.at - Math.min(ready, firstOnNew.at),
        },
    };
}

/** Moves the primary to `target` under load; throws when a counted commit is missing or replication does not stream back. */
export async function switchoverUnderLoad(lab: Lab, target: Site): Promise<Switchover> {
    const source = peerOf(target);
    const load = new LoadClient(lab);
    await load.start();
    const moveStarted = Date.now() / 1000;
    const ips = lab.databaseIps;
    let commits: Commit[];
    let up: Awaited<ReturnType<Lab["up"]>>;
    let moveEnded: number;
    try {
        // Only the steps whose inputs changed run, as in the engine (idempotency runs them all).
        up = await lab.up({ "crosscloud:primary": target }, () => undefined, { onlyChanged: true });
        moveEnded = Date.now() / 1000;
        if (up.outputs.primary !== target) {
            throw new Error(`the primary output says ${up.outputs.primary}`);
        }
        await waitFor(`commits on the new primary (${target})`, 60, async () => (await load.commits()).some((c) => c.host === ips[target]));
    } finally {
        commits = await load.stop();
    }
    const { cloud } = up;
    const { inDoubt } = await load.assertNoneLost(target, commits);
    const firstOnNew = commits.find((c) => c.host === ips[target]);
    const lastOnOld = commits.filter((c) => c.host === ips[source] && firstOnNew !== undefined && c.at < firstOnNew.at).pop();
    if (!firstOnNew || !lastOnOld) {
        throw new Error(`the client never wrote to ${source} and then to ${target}`);
    }
    const streaming = (await psql(`${target}-database`, "SELECT application_name, state FROM pg_stat_replication")).trim();
    if (!streaming.includes(`${source}|streaming`)) {
        throw new Error(`replication does not stream from ${target} to ${source}: ${streaming || "(no walsender)"}`);
    }
    const { phases, missing } = await phasesOf(source, target, moveStarted, lastOnOld, firstOnNew);
    return {
        source,
        target,
        commits: commits.length,
        inDoubt,
        outage: firstOnNew.at - lastOnOld.at,
        phases,
        phasesMissing: missing,
        // Any other stall during the run, printed so that it is not hidden.
        longestStall: LoadClient.longestGap(commits, moveStarted - 5, moveEnded + 60),
        upSeconds: moveEnded - moveStarted,
        steps: cloud.commands
            .filter((c) => c.name.startsWith("postgres-"))
            .map((c) => `${c.name.replace("postgres-", "")} ${(c.startedMs / 1000).toFixed(0)}+${(c.durationMs / 1000).toFixed(0)} s`)
            .join(", "),
    };
}

/** "stop 0.4 s, shutdown to promotion 1.2 s, promotion 0.6 s, client reconnect 0.3 s". */
export function describePhases(move: Switchover): string {
    const p = move.phases;
    if (!p) {
        return `phases unknown (${move.phasesMissing})`;
    }
    return `last commit to stop ${p.untilStop.toFixed(1)} s, stop to promote request ${p.stopToPromote.toFixed(1)} s, promotion ${p.promotion.toFixed(1)} s, client reconnect ${p.reconnect.toFixed(1)} s`;
}
