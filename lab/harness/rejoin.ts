// The rejoin of an old primary, as an operator does it: `pulumi up` with primary set to the survivor.
// When the old primary committed transactions after the survivor's promotion, the rejoin stops and
// names where it saved them and the one-shot consent (crosscloud:discardDiverged); the operator reads
// the saved rows, then runs `pulumi up` again with the consent. Shared by the failover scenarios.
import { Lab, Site, peerOf, shell } from "./lab";

export interface Divergence {
    /** SYSTEM_ID:TIMELINE:FORK_LSN, as the step reported it. */
    key: string;
    /** Where the old primary's host saved what it wrote after the fork. */
    dir: string;
    /** The transactions it committed after the fork, by the saved summary. */
    transactions: number;
    /** load_check ids among the saved row versions. */
    savedIds: Set<number>;
    /** The stack output after the consenting `up`. */
    output: string;
}

/**
 * `pulumi up` with crosscloud:primary = `survivor`. Returns undefined when the old primary rejoined
 * at once (nothing after the fork), or the divergence it stopped on and that was then discarded with
 * consent. Either way the consent is removed afterwards (`pulumi config rm`). `onlyChanged`: each `up`
 * re-runs only the commands whose inputs changed (or that failed), as the engine does.
 */
export async function rejoinUp(lab: Lab, survivor: Site, opts: { onlyChanged?: boolean } = {}): Promise<Divergence | undefined> {
    const old = peerOf(survivor);
    let key: string | undefined;
    try {
        await lab.up({ "crosscloud:primary": survivor }, () => undefined, opts);
        return undefined;
    } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        key = /set crosscloud:discardDiverged to (\d+:\d+:[0-9A-F]+\/[0-9A-F]+)/.exec(message)?.[1];
        if (!key) {
            throw err;
        }
    }
    const dir = (
        await shell(
            `${old}-database`,
            `ls -d /var/lib/postgresql/crosscloud-diverged/*-tl${key.split(":")[1]}-${key.split(":")[2].replace("/", "-")}`,
        )
    ).trim();
    const summary = await shell(`${old}-database`, `cat ${dir}/summary.txt`);
    const transactions = Number(/^transactions: (\d+)$/m.exec(summary)?.[1] ?? NaN);
    const csv = await shell(`${old}-database`, `cat ${dir}/rows/postgres.load_check.csv 2>/dev/null || true`);
    const savedIds = new Set(
        csv
            .trim()
            .split("\n")
            .slice(1)
            .filter(Boolean)
            .map((line) => Number(line.split(",")[0])),
    );
    // The step stopped before discarding anything: the old primary is still down, fenced.
    const version = Number(lab.outputs.databaseHosts[old].postgresVersion);
    const state = (await shell(`${old}-database`, `systemctl is-active postgresql@${version}-main || true`)).trim();
    if (state === "active") {
        throw new Error(`the rejoin stopped on divergence ${key} but PostgreSQL runs on ${old}-database (${state})`);
    }
    try {
        const { outputs } = await lab.up({ "crosscloud:discardDiverged": key }, () => undefined, opts);
        return { key, dir, transactions, savedIds, output: String(outputs.rejoinDivergence) };
    } finally {
        lab.unset("crosscloud:discardDiverged");
    }
}
