// Rekeying under load: the same window of write load and iperf3 through the tunnel, once with the
// product's lifetimes (no rekey in the window), once with short ones set through the program's own
// knob (crosscloud:ipsecLifetimes), so that Child SAs and the IKE SA rekey several times. Replication
// must not see an error; throughput and retransmits of both runs are printed side by side.
import { Lab, peerOf, shell } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { GATEWAYS, compareAfterLoad, databaseOf, sleep, streaming, waitHealthy } from "../harness/faults";
import { rekeyCount } from "../harness/plutoLog";

export const SHORT_LIFETIMES = { ike: "2m", sa: "1m" };

interface Run {
    mbits: number;
    retransmits: number;
    commits: number;
    rekeys: number;
    notStreaming: number;
    samples: number;
    walErrors: string[];
    /** Packets the gateways dropped for want of a usable outbound SA (XfrmAcquireError) in the window. */
    acquireErrors: number;
}

/** XfrmAcquireError of both gateways, summed: where the rekeys' retransmits were seen to come from. */
async function acquireErrors(): Promise<number> {
    let sum = 0;
    for (const gw of GATEWAYS) {
        sum += Number((await shell(gw, "awk '$1 == \"XfrmAcquireError\" {print $2}' /proc/net/xfrm_stat")).trim() || 0);
    }
    return sum;
}

/** Child SA and IKE SA rekeys pluto logged on the AWS gateway since `since` (epoch s), either side initiating. */
async function rekeys(since: number): Promise<number> {
    return rekeyCount(await shell("aws-gateway", `journalctl -u ipsec --since @${since} --no-pager -o short-unix`));
}

async function window(lab: Lab, label: string, seconds: number): Promise<Run> {
    const primary = databaseOf(lab.primary);
    const standby = databaseOf(peerOf(lab.primary));
    const server = lab.databaseIps[lab.primary];
    await waitHealthy(lab, 180);
    const load = new LoadClient(lab);
    await load.start();
    const since = Math.floor(Date.now() / 1000);
    const acquireBefore = await acquireErrors();
    await shell(primary, "pkill -x iperf3 || true; iperf3 -s -1 -D -p 5201 --logfile /run/iperf3-server.log");
    const iperf = shell(standby, `iperf3 -c ${server} -p 5201 -t ${seconds} -J`);
    let notStreaming = 0;
    let samples = 0;
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until) {
        samples++;
        if (!(await streaming(lab).catch(() => false))) {
            notStreaming++;
        }
        await sleep(2000);
    }
    const result = JSON.parse(await iperf);
    const commits = await load.stop();
    const walErrors = (
        await shell(
            standby,
            `journalctl --since @${since} --no-pager -o cat -u 'postgresql*' | grep -E 'FATAL|ERROR|could not receive|terminating walreceiver' || true`,
        )
    )
        .trim()
        .split("\n")
        .filter(Boolean);
    const compared = await compareAfterLoad(lab, load, commits);
    lab.log(`${label}: ${compared}`);
    return {
        mbits: result.end.sum_received.bits_per_second / 1e6,
        retransmits: result.end.sum_sent.retransmits,
        commits: commits.length,
        rekeys: await rekeys(since),
        acquireErrors: (await acquireErrors()) - acquireBefore,
        notStreaming,
        samples,
        walErrors,
    };
}

const describe = (r: Run) =>
    `iperf3 ${r.mbits.toFixed(0)} Mbit/s, ${r.retransmits} retransmits, ${r.acquireErrors} packets dropped by a gateway without a usable outbound SA (XfrmAcquireError); ${r.commits} commits; ${r.rekeys} rekeys (Child and IKE SAs, either gateway initiating); not streaming in ${r.notStreaming}/${r.samples} samples; ${r.walErrors.length} replication errors`;

/**
 * Both windows, the short lifetimes set through the program between them, and the product's restored
 * after. `onlyChanged`: `pulumi up` re-runs only the steps whose triggers changed (the two gateway steps),
 * as the real engine does; otherwise the whole program runs again.
 */
function rekeyScenario(windowSeconds: number, onlyChanged: boolean) {
    return async (lab: Lab): Promise<void> => {
        let base: Run | undefined;
        await lab.step(`${windowSeconds} s of load + iperf3 with the product's lifetimes (8h/1h)`, async () => {
            base = await window(lab, "no rekey", windowSeconds);
            return describe(base);
        });
        try {
            await lab.step(`pulumi up with crosscloud:ipsecLifetimes ${JSON.stringify(SHORT_LIFETIMES)}`, async () => {
                await lab.up({ "crosscloud:ipsecLifetimes": SHORT_LIFETIMES }, lab.log, { onlyChanged });
                const conf = await shell("aws-gateway", "grep -E '^ *(ike|sa)lifetime=' /etc/ipsec.conf");
                return conf.trim().replace(/\s+/g, " ");
            });
            await lab.step(`the same ${windowSeconds} s with rekeys`, async () => {
                const r = await window(lab, "rekeys", windowSeconds);
                if (r.rekeys < 2) {
                    throw new Error(`expected at least 2 rekeys in the window: ${describe(r)}`);
                }
                if (r.walErrors.length > 0 || r.notStreaming > 0) {
                    throw new Error(`replication was disturbed by rekeys: ${describe(r)}\n${r.walErrors.join("\n")}`);
                }
                return `${describe(r)}; throughput ${((r.mbits / base!.mbits) * 100).toFixed(0)} % of the run without rekeys`;
            });
        } finally {
            await lab.step("pulumi up with the product's lifetimes again", async () => {
                delete lab.overrides["crosscloud:ipsecLifetimes"];
                await lab.up({}, lab.log, { onlyChanged });
                await waitHealthy(lab, 180);
                return (await shell("aws-gateway", "grep -E '^ *(ike|sa)lifetime=' /etc/ipsec.conf")).trim().replace(/\s+/g, " ");
            });
        }
    };
}

/** CI's variant: 45 s windows; only the gateway steps re-run for each lifetime change. */
export const rekey = rekeyScenario(Number(process.env.LAB_REKEY_WINDOW_SECONDS ?? 45), true);

/** LONG (LAB_LONG=1): 75 s windows, and the whole program run again for each lifetime change. */
export const rekeyLong = rekeyScenario(Number(process.env.LAB_REKEY_WINDOW_SECONDS ?? 75), false);
