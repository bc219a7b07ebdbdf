// What the fault scenarios share: health conditions of the tunnel and the replica, the wait until the
// standby has replayed everything the primary wrote, and the data comparison of both sides.
import { Lab, Site, peerOf, psql, shell, waitFor } from "./lab";
import { LoadClient } from "./load";
import { ConnectionLike, connectionFor } from "../../scripts/ssh";
import { spread } from "./stats";

export const GATEWAYS = ["aws-gateway", "azure-gateway"] as const;

export const databaseOf = (site: Site): string => `${site}-database`;

/** Both gateways hold an established IKE SA and Child SA of the tunnel. */
export async function tunnelUp(): Promise<boolean> {
    for (const gw of GATEWAYS) {
        const states = await shell(gw, "ipsec whack --showstates 2>/dev/null; ipsec whack --trafficstatus 2>/dev/null || true");
        if (!/ESTABLISHED_IKE_SA/.test(states) || !/ESTABLISHED_CHILD_SA/.test(states)) {
            return false;
        }
    }
    return true;
}

/** The primary sees the standby's WAL receiver streaming. */
export async function streaming(lab: Lab): Promise<boolean> {
    const rows = await psql(databaseOf(lab.primary), "SELECT application_name || '|' || state FROM pg_stat_replication");
    return new RegExp(`^${peerOf(lab.primary)}\\|streaming$`, "m").test(rows.trim());
}

/** The primary's current WAL position. */
export async function primaryLsn(lab: Lab): Promise<string> {
    return (await psql(databaseOf(lab.primary), "SELECT pg_current_wal_lsn()")).trim();
}

/** The standby has replayed at least up to `lsn`. */
export async function replayedPast(lab: Lab, lsn: string): Promise<boolean> {
    const out = await psql(
        databaseOf(peerOf(lab.primary)),
        `SELECT coalesce(pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '${lsn}') >= 0, false)`,
    );
    return out.trim() === "t";
}

/** Waits (bounded) until the standby has replayed what the primary has written now; returns seconds. */
export async function waitCaughtUp(
    lab: Lab,
    seconds: number,
    what = "the standby to replay up to the primary's current WAL position",
): Promise<number> {
    const lsn = await primaryLsn(lab);
    return waitFor(`${what} (${lsn})`, seconds, () => replayedPast(lab, lsn), 500);
}

/** Waits until the tunnel is up on both gateways and the standby streams; returns seconds. */
export async function waitHealthy(lab: Lab, seconds: number): Promise<number> {
    const t = Date.now();
    await waitFor("the tunnel (IKE + Child SA on both gateways)", seconds, tunnelUp, 1000);
    await waitFor(
        "the standby streaming (pg_stat_replication)",
        Math.max(10, seconds - (Date.now() - t) / 1000),
        () => streaming(lab),
        1000,
    );
    return (Date.now() - t) / 1000;
}

/** md5 and count of load_check on one side. */
export async function checksum(site: Site): Promise<string> {
    return (
        await psql(
            databaseOf(site),
            "SELECT count(*) || ' rows, md5 ' || coalesce(md5(string_agg(id::text, ',' ORDER BY id)), '-') FROM load_check",
        )
    ).trim();
}

/**
 * After the load stopped: waits until the standby replayed everything, then compares both sides'
 * checksums and checks every commit the client counted is on the standby. Returns a summary.
 */
export async function compareAfterLoad(lab: Lab, load: LoadClient, commits: { id: number }[], seconds = 120): Promise<string> {
    const caughtUp = await waitCaughtUp(lab, seconds);
    const primary = await checksum(lab.primary);
    const standby = await checksum(peerOf(lab.primary));
    if (primary !== standby) {
        throw new Error(`primary and standby differ after catch-up: primary ${primary}, standby ${standby}`);
    }
    const onStandby = await load.assertNoneLost(peerOf(lab.primary), commits as never);
    return `${commits.length} commits counted, all on the standby (0 lost, ${onStandby.inDoubt} in doubt); both sides ${primary}; final catch-up ${caughtUp.toFixed(1)} s`;
}

/** One number per line of psql output. */
export const numbers = (out: string): number[] => out.trim().split("\n").filter(Boolean).map(Number);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** median, max of a list (the bench's own statistics). */
export function stats(values: number[]): string {
    if (values.length === 0) {
        return "no samples";
    }
    const { median, max, n } = spread(values);
    return `median ${median.toFixed(3)}, max ${max.toFixed(3)} (${n} samples)`;
}

/**
 * The program's SSH connection to a site's database host through its gateway, both host keys pinned,
 * built from the stack's outputs as `npm run failover` builds it.
 */
export function databaseConnection(lab: Lab, site: Site): ConnectionLike {
    const host = lab.outputs.databaseHosts?.[site];
    if (!host?.via) {
        throw new Error(`the stack outputs hold no gateway coordinates for ${site} (databaseHosts.${site}.via)`);
    }
    return connectionFor(host, lab.adminKey.private);
}

/** The program's SSH connection to a site's gateway (pinned host key): the database connection's jump host. */
export function gatewayConnection(lab: Lab, site: Site): ConnectionLike {
    return databaseConnection(lab, site).proxy!;
}
