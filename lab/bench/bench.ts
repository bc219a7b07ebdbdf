// npm run bench: tunnel throughput per cipher against the plain WAN link and the kernel's own ESP
// ceiling, path MTU and retransmissions, then PostgreSQL (pgbench per synchronous level, replay lag
// through the tunnel and over the plain link, catch-up after a link cut). Every figure is measured in
// this run; results go to OUT/results.json and the report to OUT/REPORT.md. The hosts are reached
// through a BenchHosts layer (hosts.ts): the lab's shell, or SSH to a deployed stack.
import * as fs from "fs";
import * as path from "path";
import { peerOf, waitFor } from "../harness/lab";
import { DEFAULT_IPSEC_CIPHER, IPSEC_CIPHERS, IpsecCipher } from "../../scripts/ipsec";
import { BenchHost, BenchHosts, Step } from "./hosts";
import { Spread, percentile, spread } from "../harness/stats";
import { BehindSample, LsnSample, findCatchUp, requireCatchUp } from "./catchUp";
import type { Switchover } from "../harness/switchover";

export const CIPHERS = Object.keys(IPSEC_CIPHERS) as IpsecCipher[];
export const SYNC_LEVELS = ["remote_write", "on", "remote_apply"] as const;

export interface BenchOptions {
    out: string;
    reps: number;
    /** iperf3 seconds per run. */
    iperfSeconds: number;
    /** pgbench seconds per run. */
    pgbenchSeconds: number;
    /** pgbench's scale factor (100,000 accounts each): the smoke's 1 initialises in seconds, 10 took ~70 s in UML. */
    pgbenchScale: number;
    /** Seconds of lag sampling under the default load, per path. */
    lagSeconds: number;
    /** Seconds the WAN is cut. */
    cutSeconds: number;
    ciphers: IpsecCipher[];
    syncLevels: readonly string[];
    /** Planned switchovers under load per WAN below (lab only: a stack needs `pulumi up`); 0: none. */
    switchoverMoves: number;
    switchoverWans: readonly SwitchoverWan[];
    smoke: boolean;
}

/** A WAN a switchover section runs over: netem on each site's WAN egress, so each way gets it once. */
export interface SwitchoverWan {
    /** Its name on the command line (`--wans`). */
    key: string;
    name: string;
    netem?: string;
}

/** The issue's RTT and loss grid: clean; 40 ms; 80 ms and 1 %; 150 ms and 2 % (loss each way). */
export const SWITCHOVER_WANS: readonly SwitchoverWan[] = [
    { key: "clean", name: "clean" },
    { key: "40ms", name: "40 ms RTT", netem: "delay 20ms" },
    { key: "80ms-1%", name: "80 ms RTT, 1 % loss", netem: "delay 40ms loss 1%" },
    { key: "150ms-2%", name: "150 ms RTT, 2 % loss", netem: "delay 75ms loss 2%" },
];

/** `--wans clean,80ms-1%`: those WANs of SWITCHOVER_WANS, in its order; all of them when undefined. */
export function switchoverWansNamed(keys: string | undefined): readonly SwitchoverWan[] {
    if (keys === undefined) {
        return SWITCHOVER_WANS;
    }
    const asked = keys.split(",");
    const unknown = asked.filter((k) => !SWITCHOVER_WANS.some((w) => w.key === k));
    if (unknown.length > 0) {
        throw new Error(
            `--wans ${keys}: not a WAN (${unknown.join(", ")}); from ${SWITCHOVER_WANS.map((w) => w.key).join(", ")}, comma-separated`,
        );
    }
    return SWITCHOVER_WANS.filter((w) => asked.includes(w.key));
}

export const FULL: Omit<BenchOptions, "out"> = {
    reps: 3,
    iperfSeconds: 4,
    pgbenchSeconds: 10,
    pgbenchScale: 10,
    lagSeconds: 30,
    cutSeconds: 30,
    ciphers: CIPHERS,
    syncLevels: SYNC_LEVELS,
    switchoverMoves: 10,
    switchoverWans: SWITCHOVER_WANS,
    smoke: false,
};

export const SMOKE: Omit<BenchOptions, "out"> = {
    reps: 1,
    iperfSeconds: 2,
    pgbenchSeconds: 3,
    pgbenchScale: 1,
    lagSeconds: 5,
    cutSeconds: 5,
    ciphers: [DEFAULT_IPSEC_CIPHER],
    syncLevels: [],
    switchoverMoves: 2,
    switchoverWans: [SWITCHOVER_WANS[0]],
    smoke: true,
};

/** pgbench: clients, threads; the default load is the same at a fixed rate. */
export const PGBENCH = { clients: 4, threads: 2, defaultLoadTps: 100 };

export interface TcpFigure {
    path: string;
    cipher: string;
    streams: number;
    direction: "aws→azure" | "azure→aws";
    mbits: Spread;
    retransmits: Spread;
}
export interface UdpFigure {
    path: string;
    cipher: string;
    kpps: Spread;
}
export interface PgbenchFigure {
    mode: string;
    tps: Spread;
    latencyMs: Spread;
}
export interface LagFigure {
    path: string;
    samples: number;
    hz: number;
    p50: number;
    p95: number;
    p99: number;
    max: number;
}
/** One WAN of the switchover section: its netem, the gateways' measured RTT and loss, every move. */
export interface SwitchoverFigure {
    wan: string;
    netem: string;
    rttMs: number;
    lossPercent: number;
    /** Packets both WAN qdiscs sent and dropped during the moves (netem's own count of the loss it applied). */
    wanPackets?: { sent: number; dropped: number };
    moves: Omit<Switchover, "steps">[];
}
export interface BenchResult {
    /** Where it ran (results before 2026-11-26 have none: the lab). */
    mode?: "lab" | "deployed";
    startedAt: string;
    finishedAt: string;
    options: Omit<BenchOptions, "out">;
    machine: Record<string, string>;
    /** Each host's instance type as read from the host (lab: one note for all). */
    instanceTypes?: Record<string, string>;
    /** Parts not measured in this run, and why (e.g. the plain baseline without opt-in). */
    skipped?: string[];
    /** What the path checks ran between, and where the ESP ceiling ran. */
    paths?: { pathCheck: string; ceiling: string; plainRule?: string };
    tcp: TcpFigure[];
    udp: UdpFigure[];
    ceilingCipher: Record<string, string>;
    /** The static ceiling SAs had ESN and a replay window like Libreswan's (runs before 2026-11-26: no). */
    ceilingEsn?: boolean;
    tunnelCipher: Record<string, string>;
    pmtu: { largestIpPacket: number; dfProbeOk: boolean; wanFragments: number; wanPackets: number };
    dbRetransmits: { mbits: Spread; retransmits: Spread; segmentsSent: Spread };
    pgbench: PgbenchFigure[];
    lag: LagFigure[];
    plainLagError?: string;
    /**
     * The link cut, t in seconds since the cut call returned: catch-up from the link's return until the
     * standby was back under 1 s behind (catchUp.ts), the WAL it replayed meanwhile, bytes behind at
     * each 10 Hz standby sample. Results before 2026-12 have no walReplayedBytes, and their series
     * held the replay delay (lagSeconds) instead of bytesBehind.
     */
    cut: {
        seconds: number;
        restoredAt?: number;
        catchUpSeconds: number;
        walReplayedBytes?: number;
        bytesBehindAtRestore?: number;
        series: BehindSample[];
    };
    upSeconds: Record<string, number>;
    /** Planned switchovers under load per WAN (lab only; runs before 2026-12-07 have none). */
    switchover?: SwitchoverFigure[];
    notes: string[];
}

const GW = { aws: "aws-gateway", azure: "azure-gateway" } as const;
const IPERF_SERVER = "[ -s /run/bench-iperf.pid ] && kill $(cat /run/bench-iperf.pid) 2>/dev/null; iperf3 -s -D -I /run/bench-iperf.pid";
const IPERF_SERVER_STOP = "[ -s /run/bench-iperf.pid ] && kill $(cat /run/bench-iperf.pid) 2>/dev/null; rm -f /run/bench-iperf.pid; true";

/** psql as the postgres superuser on a host, unaligned, tuples only (as the lab's psql helper). */
export const psqlOn = (hosts: BenchHosts, host: BenchHost, sql: string) =>
    hosts.shell(host, `runuser -u postgres -- psql -X -At -P pager=off -v ON_ERROR_STOP=1 -c ${JSON.stringify(sql)}`);

/** The address `host` uses toward `peerAddress` (on a gateway: its private address in the site). */
async function sourceAddressToward(hosts: BenchHosts, host: BenchHost, peerAddress: string): Promise<string> {
    const route = await hosts.shell(host, `ip -4 -o route get ${peerAddress}`);
    const src = / src (\S+)/.exec(route)?.[1];
    if (!src) {
        throw new Error(`${host}: no source address toward ${peerAddress} in: ${route.trim()}`);
    }
    return src;
}

interface IperfRun {
    mbits: number;
    retransmits: number;
    kpps: number;
}

function parseIperf(json: string, udp: boolean): IperfRun {
    const r = JSON.parse(json);
    if (r.error) {
        throw new Error(`iperf3: ${r.error}`);
    }
    if (udp) {
        const s = r.end.sum;
        return { mbits: s.bits_per_second / 1e6, retransmits: 0, kpps: (s.packets - s.lost_packets) / s.seconds / 1000 };
    }
    return { mbits: r.end.sum_received.bits_per_second / 1e6, retransmits: r.end.sum_sent.retransmits ?? 0, kpps: 0 };
}

/** What a run's phases share: the hosts, the options, the result they fill in, and how they save and step. */
export interface BenchRun {
    hosts: BenchHosts;
    opts: BenchOptions;
    result: BenchResult;
    /** Writes the result so far to OUT/results.json. */
    save: () => void;
    /** The hosts' step, except that a full run notes a failed part in the result and goes on. */
    step: Step;
}

/**
 * The benchmark: the network per cipher suite (networkBench), then PostgreSQL (postgresBench). The
 * result is saved to OUT/results.json as it grows and returned at the end.
 */
export async function runBench(hosts: BenchHosts, opts: BenchOptions): Promise<BenchResult> {
    fs.mkdirSync(opts.out, { recursive: true });
    const run = await startRun(hosts, opts);
    await networkBench(run);
    await postgresBench(hosts, opts, run.result, run.save, run.step);
    await switchoverBench(run);
    run.result.finishedAt = new Date().toISOString();
    run.save();
    return run.result;
}

/** Only the switchover section (`npm run bench -- --switchover-only`): its moves are long, the rest is not needed for them. */
export async function runSwitchoverBench(hosts: BenchHosts, opts: BenchOptions): Promise<BenchResult> {
    fs.mkdirSync(opts.out, { recursive: true });
    const run = await startRun(hosts, opts);
    await switchoverBench(run);
    run.result.finishedAt = new Date().toISOString();
    run.save();
    return run.result;
}

/**
 * Planned switchovers under the lab's load, `switchoverMoves` per WAN (an even number: the primary
 * ends where it was), each checked for zero loss with its outage broken down (harness/switchover.ts).
 * A failed move ends the section: the primary may be on either side, the lab is left as it is.
 */
async function switchoverBench(run: BenchRun): Promise<void> {
    const { hosts, opts, result } = run;
    if (opts.switchoverMoves === 0) {
        return;
    }
    if (!hosts.switchover || !hosts.shapeWan) {
        result.skipped?.push(
            "switchovers: a switchover is a `pulumi up` with `crosscloud:primary` set to the other site, which the bench does not run on a stack; the lab's bench measures them",
        );
        return;
    }
    const { switchover, shapeWan } = hosts;
    result.switchover = [];
    let primary = hosts.primary;
    for (const wan of opts.switchoverWans) {
        const figure: SwitchoverFigure = { wan: wan.name, netem: wan.netem ?? "none", rttMs: NaN, lossPercent: NaN, moves: [] };
        result.switchover.push(figure);
        let failed = false;
        await run.step(`bench: ${opts.switchoverMoves} switchovers under load, WAN ${wan.name}`, async () => {
            try {
                const link = await shapeWan(wan.netem);
                [figure.rttMs, figure.lossPercent] = [link.rttMs, link.lossPercent];
                for (let i = 0; i < opts.switchoverMoves; i++) {
                    const target = peerOf(primary);
                    let move: Switchover;
                    try {
                        move = await switchover(target);
                    } catch (err) {
                        failed = true;
                        throw err;
                    }
                    primary = target;
                    figure.moves.push({
                        source: move.source,
                        target: move.target,
                        commits: move.commits,
                        inDoubt: move.inDoubt,
                        outage: move.outage,
                        phases: move.phases,
                        phasesMissing: move.phasesMissing,
                        longestStall: move.longestStall,
                        upSeconds: move.upSeconds,
                    });
                    run.save();
                    hosts.log(
                        `  ${move.source} → ${move.target}: writes unavailable ${move.outage.toFixed(1)} s, ${move.commits} commits, 0 lost`,
                    );
                }
                if (wan.netem !== undefined && hosts.wanStats) {
                    figure.wanPackets = await hosts.wanStats();
                }
            } finally {
                await shapeWan(undefined);
            }
            const outages = spread(figure.moves.map((m) => m.outage));
            return `RTT ${figure.rttMs.toFixed(1)} ms, loss ${figure.lossPercent.toFixed(1)} %: writes unavailable ${outages.median.toFixed(1)} s median, ${outages.max.toFixed(1)} s worst of ${outages.n} moves, 0 lost in each`;
        });
        if (failed) {
            result.notes.push("switchovers: the section stopped at the failed move; the WANs after it were not measured");
            break;
        }
    }
}

/** The run's shared state, with the hosts' facts read and an empty result. */
async function startRun(hosts: BenchHosts, opts: BenchOptions): Promise<BenchRun> {
    const facts = await hosts.facts();
    const result: BenchResult = {
        mode: hosts.kind,
        startedAt: new Date().toISOString(),
        finishedAt: "",
        options: { ...opts, out: undefined } as Omit<BenchOptions, "out">,
        machine: facts.machine,
        instanceTypes: facts.instanceTypes,
        skipped: [],
        paths: { pathCheck: hosts.pathCheck.description, ceiling: hosts.ceilingWhere, plainRule: hosts.plainBaseline.rule?.description },
        tcp: [],
        udp: [],
        ceilingCipher: {},
        tunnelCipher: {},
        pmtu: { largestIpPacket: 0, dfProbeOk: false, wanFragments: -1, wanPackets: 0 },
        dbRetransmits: { mbits: spread([]), retransmits: spread([]), segmentsSent: spread([]) },
        pgbench: [],
        lag: [],
        cut: { seconds: opts.cutSeconds, catchUpSeconds: NaN, series: [] },
        upSeconds: {},
        notes: [],
    };
    return {
        hosts,
        opts,
        result,
        save: () => fs.writeFileSync(path.join(opts.out, "results.json"), JSON.stringify(result, null, 2)),
        step: tolerantStep(hosts, opts, result),
    };
}

/** The full run keeps going past a failed part (noted in the report); the smoke fails on it. */
function tolerantStep(hosts: BenchHosts, opts: BenchOptions, result: BenchResult): Step {
    const realStep = hosts.step;
    return async (name: string, body: () => Promise<string>): Promise<void> => {
        try {
            await realStep(name, body);
        } catch (err) {
            if (opts.smoke) {
                throw err;
            }
            const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
            result.notes.push(`${name}: FAILED: ${message}`);
            hosts.log(`${name}: FAILED (continuing): ${message}`);
        }
    };
}

/**
 * Network, per cipher suite: iperf3 servers up, the plain baselines, each suite's tunnel and ceiling
 * (with the path checks after the first), back to the default suite, iperf3 servers down.
 */
async function networkBench(run: BenchRun): Promise<void> {
    const { hosts } = run;
    // iperf3 servers on both gateways (they answer on private and public addresses alike) and where
    // the path checks send to.
    const iperfServers = [...new Set<BenchHost>([...Object.values(GW), hosts.pathCheck.server])];
    for (const host of iperfServers) {
        await hosts.shell(host, IPERF_SERVER);
    }
    // The Azure gateway's private address: the tunnel's far end for iperf3 from the AWS gateway.
    const azureGatewayPrivate = await sourceAddressToward(hosts, GW.azure, hosts.databasePrivate.azure);

    await plainBaselines(run);
    await cipherSuites(run, azureGatewayPrivate);
    for (const host of iperfServers) {
        await hosts.shell(host, IPERF_SERVER_STOP);
    }
}

/** The plain WAN link between the gateways' public addresses (where a rule can open it) and, deployed, the plain veth pair. */
async function plainBaselines(run: BenchRun): Promise<void> {
    const { hosts, result, step } = run;
    const { rule, skipped } = hosts.plainBaseline;
    if (rule) {
        await step(`bench: plain WAN link between the gateways' public addresses (temporary rule: ${rule.description})`, async () => {
            await rule.open();
            try {
                await measurePath(run, "plain", "none", hosts.gatewayPublic.azure);
            } finally {
                await rule.close();
            }
            return "done; the rule is removed";
        });
    } else {
        result.skipped!.push(`plain WAN link iperf3 baseline: ${skipped ?? "not available"}`);
    }
    if (hosts.ceilingWithoutEsp) {
        await step(`bench: plain veth pair, no ESP (${hosts.ceilingWhere})`, async () => {
            await measureCeiling(run, "plain");
            return "done";
        });
    }
}

/**
 * Each cipher suite in turn: the tunnel and the ceiling with it (the path checks after the first), then
 * back to the default suite. Without a way to re-run the program (a deployed stack needs `pulumi up`),
 * only the suite the stack runs with is measured.
 */
async function cipherSuites(run: BenchRun, azureGatewayPrivate: string): Promise<void> {
    const { hosts, opts, result, save, step } = run;
    const ciphers = hosts.reconfigure ? opts.ciphers : [await hosts.configuredCipher()];
    if (!hosts.reconfigure) {
        const others = CIPHERS.filter((c) => !ciphers.includes(c));
        result.skipped!.push(
            `cipher suites other than the configured ${ciphers[0]} (${others.join(", ")}): switching one needs \`pulumi config set crosscloud:ipsecCipher SUITE && pulumi up\`, then another bench run; combine the runs' results.json with \`npm run bench -- --combine\``,
        );
    }
    for (const cipher of ciphers) {
        await step(`bench: tunnel with ${cipher}`, async () => {
            await switchCipher(hosts, cipher, result, azureGatewayPrivate);
            await measurePath(run, "tunnel", cipher, azureGatewayPrivate);
            await measureCeiling(run, cipher);
            await measureCeiling(run, cipher, false);
            return `tunnel xfrm ${result.tunnelCipher[cipher]}; ceiling ${result.ceilingCipher[cipher]}`;
        });
        if (cipher === ciphers[0]) {
            await step(`bench: path MTU, fragments and retransmissions, ${hosts.pathCheck.description}`, async () => {
                await pathChecks(hosts, opts, result);
                save();
                return `largest IP packet ${result.pmtu.largestIpPacket} B; ${result.pmtu.wanFragments} fragments of ${result.pmtu.wanPackets} WAN packets`;
            });
        }
    }
    if (ciphers[ciphers.length - 1] !== DEFAULT_IPSEC_CIPHER && hosts.reconfigure) {
        await step("bench: back to the default cipher", async () => {
            await switchCipher(hosts, DEFAULT_IPSEC_CIPHER, result, azureGatewayPrivate);
            return DEFAULT_IPSEC_CIPHER;
        });
    }
}

/** iperf3's client flags for the run's duration: `streams` parallel, -R for the reverse direction, UDP of 64-byte datagrams. */
function iperfFlags(opts: BenchOptions, streams: number, reverse: boolean, udp: boolean): string {
    return [
        "-J",
        "-t",
        String(opts.iperfSeconds),
        "-P",
        String(streams),
        ...(reverse ? ["-R"] : []),
        ...(udp ? ["-u", "-b", "0", "-l", "64"] : []),
    ].join(" ");
}

/** iperf3 from the AWS gateway to `target`, `reps` times; -R measures azure→aws. */
async function gatewayRuns(run: BenchRun, target: string, streams: number, reverse: boolean, udp: boolean): Promise<IperfRun[]> {
    const runs: IperfRun[] = [];
    for (let i = 0; i < run.opts.reps; i++) {
        runs.push(parseIperf(await run.hosts.shell(GW.aws, `iperf3 -c ${target} ${iperfFlags(run.opts, streams, reverse, udp)}`), udp));
    }
    return runs;
}

/** TCP (1 and 4 streams, both directions) and UDP packet rate from the AWS gateway to `target`, as path `pathName`. */
async function measurePath(run: BenchRun, pathName: string, cipher: string, target: string): Promise<void> {
    const { hosts, result } = run;
    for (const streams of [1, 4]) {
        for (const reverse of [false, true]) {
            const runs = await gatewayRuns(run, target, streams, reverse, false);
            result.tcp.push({
                path: pathName,
                cipher,
                streams,
                direction: reverse ? "azure→aws" : "aws→azure",
                mbits: spread(runs.map((r) => r.mbits)),
                retransmits: spread(runs.map((r) => r.retransmits)),
            });
            hosts.log(
                `  ${pathName} ${cipher} ${streams} stream(s) ${reverse ? "azure→aws" : "aws→azure"}: ${runs.map((r) => r.mbits.toFixed(0)).join(", ")} Mbit/s`,
            );
        }
    }
    const udp = await gatewayRuns(run, target, 1, false, true);
    result.udp.push({ path: pathName, cipher, kpps: spread(udp.map((r) => r.kpps)) });
    run.save();
}

/**
 * The static-key ceiling. With `esn` (the default): ESN and a 128-packet replay window, as
 * Libreswan's SAs have; without: the same SA minus both, 1 stream only, to show what they cost.
 */
export async function measureCeiling(run: BenchRun, cipher: string, esn = true): Promise<void> {
    const { hosts, opts, result } = run;
    const ceiling = (...args: string[]) => hosts.espCeiling(args);
    // Setup inside the try: a setup failing half way (one side's SAs in) is torn down too.
    try {
        const said = (await ceiling("setup", cipher, ...(esn ? ["esn"] : []))).trim();
        if (esn) {
            result.ceilingCipher[cipher] = said;
            result.ceilingEsn = true;
        }
        for (const streams of esn ? [1, 4] : [1]) {
            const runs: IperfRun[] = [];
            for (let i = 0; i < opts.reps; i++) {
                runs.push(parseIperf(await ceiling("iperf", ...iperfFlags(opts, streams, false, false).split(" ")), false));
            }
            result.tcp.push({
                path: cipher === "plain" ? "veth" : esn ? "ceiling" : "ceiling-no-esn",
                cipher,
                streams,
                direction: "aws→azure",
                mbits: spread(runs.map((r) => r.mbits)),
                retransmits: spread(runs.map((r) => r.retransmits)),
            });
            hosts.log(
                `  ceiling${esn ? "" : " without ESN"} ${cipher} ${streams} stream(s): ${runs.map((r) => r.mbits.toFixed(0)).join(", ")} Mbit/s`,
            );
        }
    } finally {
        await ceiling("teardown");
    }
    run.save();
}

/**
 * Runs the program with another cipher suite (lab: only the changed steps re-run) and waits for its
 * SAs; on a deployed stack `cipher` is the configured one and this only checks the SAs.
 */
async function switchCipher(hosts: BenchHosts, cipher: IpsecCipher, result: BenchResult, azureGatewayPrivate: string): Promise<void> {
    const current = await hosts.configuredCipher();
    if (current !== cipher || !result.tunnelCipher[cipher]) {
        if (current !== cipher) {
            if (!hosts.reconfigure) {
                throw new Error(
                    `the stack runs ${current}, not ${cipher}: pulumi config set crosscloud:ipsecCipher ${cipher} && pulumi up`,
                );
            }
            result.upSeconds[cipher] = await hosts.reconfigure({ "crosscloud:ipsecCipher": cipher });
        }
        const want = CIPHER_XFRM[cipher];
        await waitFor(`a Child SA with ${cipher} on both gateways`, 120, async () => {
            for (const gw of Object.values(GW)) {
                const status = await hosts.shell(gw, "ipsec whack --showstates");
                const algos = await xfrmAlgorithms(hosts, gw);
                if (!/ESTABLISHED_CHILD_SA/.test(status) || algos.length === 0 || !algos.every((a) => want.test(a))) {
                    return false;
                }
            }
            return true;
        });
        // Traffic through the tunnel both ways before measuring (the SA is installed on both ends).
        await waitFor(`TCP through the ${cipher} tunnel`, 60, async () => {
            await hosts.shell(GW.aws, `timeout 3 bash -c '</dev/tcp/${azureGatewayPrivate}/5201'`);
            return true;
        });
        result.tunnelCipher[cipher] = [...new Set(await xfrmAlgorithms(hosts, GW.aws))].join("; ");
    }
}

/** What `ip xfrm state` shows for each SA's algorithms, keys replaced by their length. */
export const CIPHER_XFRM: Record<IpsecCipher, RegExp> = {
    "aes-gcm-256": /^aead rfc4106\(gcm\(aes\)\) 288-bit key 128$/,
    "aes-gcm-128": /^aead rfc4106\(gcm\(aes\)\) 160-bit key 128$/,
    "chacha20-poly1305": /^aead rfc7539esp\(chacha20,poly1305\) 288-bit key 128$/,
    "aes-cbc-sha1": /^auth-trunc hmac\(sha1\) 160-bit key 96 \+ enc cbc\(aes\) 128-bit key$/,
};
export async function xfrmAlgorithms(hosts: BenchHosts, host: BenchHost): Promise<string[]> {
    const out = await hosts.shell(host, "ip xfrm state");
    // One entry per SA: its algorithm lines joined, e.g. "auth-trunc hmac(sha1) 160-bit key 96 + enc cbc(aes) 128-bit key".
    return out
        .split(/^src /m)
        .slice(1)
        .map((sa) =>
            sa
                .split("\n")
                .map((l) => l.trim())
                .filter((l) => /^(aead|enc|auth|auth-trunc) /.test(l))
                .map((l) => l.replace(/0x([0-9a-f]+)/, (_, hex: string) => `${hex.length * 4}-bit key`))
                .sort()
                .join(" + "),
        );
}

/** Largest unfragmented packet, WAN fragments and TCP retransmissions on the product's path. */
async function pathChecks(hosts: BenchHosts, opts: BenchOptions, result: BenchResult): Promise<void> {
    const { from } = hosts.pathCheck;
    const to = await hosts.pathCheck.to();
    const probe = await hosts.shell(
        from,
        `lo=500; hi=1472; while [ $lo -lt $hi ]; do mid=$(( (lo + hi + 1) / 2 )); if ping -M do -c 1 -W 2 -s $mid ${to} >/dev/null 2>&1; then lo=$mid; else hi=$(( mid - 1 )); fi; done; echo $lo`,
    );
    const payload = Number(probe.trim());
    result.pmtu.largestIpPacket = payload + 28;
    result.pmtu.dfProbeOk = payload > 500;
    const mbits: number[] = [];
    const retrans: number[] = [];
    const segs: number[] = [];
    const captured = await hosts.captureWan(async () => {
        for (let i = 0; i < opts.reps; i++) {
            // nstat deltas around the run: retransmitted vs sent segments of the whole host.
            await hosts.shell(from, "nstat -n >/dev/null");
            const r = parseIperf(await hosts.shell(from, `iperf3 -c ${to} -J -t ${opts.iperfSeconds}`), false);
            const counters = await hosts.shell(from, "nstat -z TcpOutSegs TcpRetransSegs | awk '/Tcp/ {print $1, $2}'");
            const get = (k: string) => Number(new RegExp(`${k} (\\d+)`).exec(counters)?.[1] ?? NaN);
            mbits.push(r.mbits);
            retrans.push(get("TcpRetransSegs"));
            segs.push(get("TcpOutSegs"));
        }
    });
    result.dbRetransmits = { mbits: spread(mbits), retransmits: spread(retrans), segmentsSent: spread(segs) };
    result.pmtu.wanPackets = captured.packets;
    result.pmtu.wanFragments = captured.fragments;
}

async function postgresBench(hosts: BenchHosts, opts: BenchOptions, result: BenchResult, save: () => void, step: Step): Promise<void> {
    const primaryHost: BenchHost = `${hosts.primary}-database`;
    const standbyHost: BenchHost = `${peerOf(hosts.primary)}-database`;
    const standbyName = peerOf(hosts.primary);
    const standbyIp = hosts.databasePrivate[standbyName];
    const pg = PGBENCH;
    const shell = hosts.shell.bind(hosts);
    const psql = (host: BenchHost, sql: string) => psqlOn(hosts, host, sql);
    const waitForStreaming = (seconds: number, clientAddr?: string) => waitForStandby(hosts, primaryHost, standbyName, seconds, clientAddr);

    await step("bench: pgbench database (fixed scale)", async () => {
        await psql(primaryHost, "DROP DATABASE IF EXISTS bench");
        await psql(primaryHost, "CREATE DATABASE bench");
        await shell(primaryHost, `runuser -u postgres -- pgbench -q -i -s ${opts.pgbenchScale} bench 2>&1 | tail -1`);
        await waitForCaughtUp(hosts, primaryHost, 120);
        return `scale ${opts.pgbenchScale}, ${pg.clients} clients, ${pg.threads} threads, ${opts.pgbenchSeconds} s per run`;
    });
    const pgbench = async (mode: string) => {
        const tps: number[] = [];
        const lat: number[] = [];
        for (let i = 0; i < opts.reps; i++) {
            const out = await shell(
                primaryHost,
                `runuser -u postgres -- pgbench -n -c ${pg.clients} -j ${pg.threads} -T ${opts.pgbenchSeconds} bench 2>&1`,
            );
            tps.push(Number(/tps = ([\d.]+)/.exec(out)?.[1]));
            lat.push(Number(/latency average = ([\d.]+) ms/.exec(out)?.[1]));
        }
        result.pgbench.push({ mode, tps: spread(tps), latencyMs: spread(lat) });
        save();
        return `${tps.map((t) => t.toFixed(0)).join(", ")} TPS`;
    };

    // A deployed stack is measured as configured: with a synchronous standby named, there is no
    // asynchronous run, and no run without the standby (commits would wait for it forever).
    const configuredSync = (await psql(primaryHost, "SHOW synchronous_standby_names")).trim();
    const configuredCommit = (await psql(primaryHost, "SHOW synchronous_commit")).trim();
    if (configuredSync !== "" && !hosts.reconfigure) {
        result.skipped!.push(
            `pgbench without a standby and asynchronous: the stack runs synchronous_commit = ${configuredCommit} with synchronous_standby_names = ${configuredSync} (set crosscloud:synchronous off and pulumi up to measure them)`,
        );
        await step(`bench: pgbench, synchronous_commit = ${configuredCommit} (as configured)`, () => pgbench(`sync ${configuredCommit}`));
    } else {
        await step("bench: pgbench, primary without a standby", async () => {
            if (configuredSync !== "") {
                throw new Error("the lab stack runs with crosscloud:synchronous set: run the program with it off first");
            }
            await shell(standbyHost, "systemctl stop postgresql");
            try {
                return await pgbench("no standby");
            } finally {
                await shell(standbyHost, "systemctl start postgresql");
                await waitForStreaming(120);
            }
        });
        await step("bench: pgbench, asynchronous standby", () => pgbench("async"));
    }

    await step("bench: replay lag under the default load, through the tunnel", async () => {
        result.lag.push(await lagUnderLoad(hosts, primaryHost, "tunnel", opts.lagSeconds));
        save();
        const l = result.lag[result.lag.length - 1];
        return `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, ${l.samples} samples at ${l.hz.toFixed(1)} Hz`;
    });
    if (hosts.plainReplicationSkipped) {
        result.plainLagError = hosts.plainReplicationSkipped;
        result.skipped!.push(`replay lag over the plain link: ${hosts.plainReplicationSkipped}`);
    } else {
        await step("bench: replay lag under the default load, over the plain link", async () => {
            try {
                await plainReplication(hosts, primaryHost, standbyHost, true);
                result.lag.push(await lagUnderLoad(hosts, primaryHost, "plain", opts.lagSeconds));
                const l = result.lag[result.lag.length - 1];
                return `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms`;
            } catch (err) {
                result.plainLagError = (err instanceof Error ? err.message : String(err)).split("\n")[0];
                return `not measured: ${result.plainLagError}`;
            } finally {
                await plainReplication(hosts, primaryHost, standbyHost, false);
                await waitForStreaming(120, standbyIp);
                save();
            }
        });
    }

    await step(`bench: catch-up after a ${opts.cutSeconds} s WAN cut under the default load`, async () => {
        result.cut = await linkCut(hosts, primaryHost, standbyHost, opts);
        save();
        return `back under 1 s behind ${result.cut.catchUpSeconds.toFixed(1)} s after the link came back, ${((result.cut.walReplayedBytes ?? NaN) / 1e6).toFixed(1)} MB of WAL replayed meanwhile`;
    });

    const reconfigure = hosts.reconfigure;
    if (!reconfigure && opts.syncLevels.length > 0) {
        result.skipped!.push(
            `pgbench per synchronous level (${opts.syncLevels.join(", ")}): switching needs \`pulumi config set crosscloud:synchronous LEVEL && pulumi up\`, then another bench run`,
        );
    }
    for (const level of reconfigure ? opts.syncLevels : []) {
        await step(`bench: pgbench, synchronous_commit = ${level}`, async () => {
            result.upSeconds[`synchronous=${level}`] = await reconfigure!({
                "crosscloud:synchronous": level,
                "crosscloud:synchronousStandbyLoss": "block",
            });
            const names = (await psql(primaryHost, "SHOW synchronous_standby_names")).trim();
            const commit = (await psql(primaryHost, "SHOW synchronous_commit")).trim();
            if (commit !== level || !names.includes(standbyName)) {
                throw new Error(`after up: synchronous_commit=${commit}, synchronous_standby_names=${names}`);
            }
            await waitFor("the standby as sync in pg_stat_replication", 120, async () =>
                /sync/.test(await psql(primaryHost, "SELECT sync_state FROM pg_stat_replication")),
            );
            return `${await pgbench(`sync ${level}`)} (synchronous_standby_names = ${names})`;
        });
    }
    if (reconfigure && opts.syncLevels.length > 0) {
        await step("bench: back to crosscloud:synchronous = off", async () => {
            result.upSeconds["synchronous=off"] = await reconfigure({
                "crosscloud:synchronous": "off",
                "crosscloud:synchronousStandbyLoss": "",
            });
            return (await psql(primaryHost, "SHOW synchronous_commit")).trim();
        });
    }
}

async function waitForStandby(
    hosts: BenchHosts,
    primaryHost: BenchHost,
    standbyName: string,
    seconds: number,
    clientAddr?: string,
): Promise<void> {
    await waitFor(
        `${standbyName} streaming${clientAddr ? ` from ${clientAddr}` : ""}`,
        seconds,
        async () => {
            const rows = await psqlOn(hosts, primaryHost, "SELECT application_name, state, client_addr FROM pg_stat_replication");
            return new RegExp(`^${standbyName}\\|streaming\\|${clientAddr ?? ""}`, "m").test(rows);
        },
        500,
    );
}

async function waitForCaughtUp(hosts: BenchHosts, primaryHost: BenchHost, seconds: number): Promise<number> {
    const psql = (host: BenchHost, sql: string) => psqlOn(hosts, host, sql);
    const target = (await psql(primaryHost, "SELECT pg_current_wal_lsn()")).trim();
    return waitFor(
        "the standby to replay the primary's WAL",
        seconds,
        async () =>
            (await psql(primaryHost, `SELECT coalesce(bool_and(replay_lsn >= '${target}'), false) FROM pg_stat_replication`)).trim() ===
            "t",
        200,
    );
}

/** Samples a query at 10 Hz on a host in the background (one psql session, \watch 0.1). */
const samplerScript = (name: string, sql: string, seconds: number) =>
    `rm -f /run/bench-${name}.csv; (printf '%s\\n\\\\watch 0.08\\n' ${JSON.stringify(sql)} | setsid timeout ${seconds} runuser -u postgres -- psql -X -At -F ' ' -d postgres > /run/bench-${name}.csv 2>/dev/null & echo $! > /run/bench-${name}.pid)`;
const stopSamplerScript = (name: string) =>
    `[ -s /run/bench-${name}.pid ] && kill $(cat /run/bench-${name}.pid) 2>/dev/null; rm -f /run/bench-${name}.pid; true`;
async function startSampler(hosts: BenchHosts, host: BenchHost, name: string, sql: string, seconds: number): Promise<void> {
    await hosts.shell(host, samplerScript(name, sql, seconds));
}
async function stopSampler(hosts: BenchHosts, host: BenchHost, name: string): Promise<void> {
    await hosts.shell(host, stopSamplerScript(name));
}
/** The sampler's rows as numbers; `tail`: only the last that many lines. */
async function readSamples(hosts: BenchHosts, host: BenchHost, name: string, tail?: number): Promise<number[][]> {
    const out = await hosts.shell(host, `${tail ? `tail -n ${tail}` : "cat"} /run/bench-${name}.csv`);
    return out
        .split("\n")
        .map((l) => l.trim().split(" ").map(Number))
        .filter((f) => f.length >= 2 && f.every((x) => !Number.isNaN(x)));
}

/** The default load (pgbench at a fixed rate) while replay_lag is sampled on the primary at 10 Hz. */
async function lagUnderLoad(hosts: BenchHosts, primaryHost: BenchHost, pathName: string, seconds: number): Promise<LagFigure> {
    const sql = "SELECT extract(epoch from clock_timestamp()), coalesce(extract(epoch from replay_lag) * 1000, 0) FROM pg_stat_replication";
    const pg = PGBENCH;
    // Sampler, load and stop in one call: a dial between them (SSH) would leave samples outside the load.
    await hosts.shell(
        primaryHost,
        `${samplerScript("lag", sql, seconds + 1)}
runuser -u postgres -- pgbench -n -c ${pg.clients} -j ${pg.threads} -R ${pg.defaultLoadTps} -T ${seconds} bench >/dev/null 2>&1
${stopSamplerScript("lag")}`,
    );
    const samples = await readSamples(hosts, primaryHost, "lag");
    if (samples.length < 10) {
        throw new Error(`only ${samples.length} lag samples`);
    }
    const lags = samples.map((s) => s[1]);
    const span = samples[samples.length - 1][0] - samples[0][0];
    return {
        path: pathName,
        samples: samples.length,
        hz: (samples.length - 1) / span,
        p50: percentile(lags, 50),
        p95: percentile(lags, 95),
        p99: percentile(lags, 99),
        max: Math.max(...lags),
    };
}

/**
 * The plain-link baseline for replication: the standby dials the AWS gateway's public address, whose
 * port 15432 forwards (DNAT + masquerade) to the primary, so the stream crosses the WAN outside the
 * tunnel. Temporary: a pg_hba line for the gateway's address on the primary, a copy of the .pgpass
 * line for the public address on the standby (the password never leaves the host), ALTER SYSTEM on
 * the standby. `on=false` removes all of it.
 */
async function plainReplication(hosts: BenchHosts, primaryHost: BenchHost, standbyHost: BenchHost, on: boolean): Promise<void> {
    const gw: BenchHost = `${hosts.primary}-gateway`;
    const shell = hosts.shell.bind(hosts);
    const psql = (host: BenchHost, sql: string) => psqlOn(hosts, host, sql);
    const hba = `/etc/postgresql/${hosts.postgresVersion}/main/pg_hba.conf`;
    const primaryIp = hosts.databasePrivate[hosts.primary];
    const gatewayPublic = hosts.gatewayPublic[hosts.primary];
    // The gateway's private address: what the primary sees as the stream's source after masquerade.
    const gatewayPrivate = await sourceAddressToward(hosts, gw, primaryIp);
    const standbyName = standbyHost.replace("-database", "");
    // Only what comes from outside the site (the standby over the WAN) is masqueraded.
    const siteCidr = hosts.siteCidr[hosts.primary];
    if (on) {
        // iptables is the legacy backend on the lab's hosts (labctl sets the alternative).
        await shell(
            gw,
            `iptables -t nat -I PREROUTING -p tcp --dport 15432 -j DNAT --to-destination ${primaryIp}:5432 -m comment --comment bench-plain
iptables -t nat -I POSTROUTING -p tcp -d ${primaryIp} --dport 5432 ! -s ${siteCidr} -j MASQUERADE -m comment --comment bench-plain`,
        );
        await shell(
            primaryHost,
            `sed -i '1i hostssl replication replicator ${gatewayPrivate}/32 scram-sha-256 # bench-plain' ${hba} && runuser -u postgres -- psql -X -At -c 'SELECT pg_reload_conf()'`,
        );
        await shell(
            standbyHost,
            `f=/var/lib/postgresql/.pgpass; grep -q '^${gatewayPublic}:15432:' $f || awk -F: '$1=="${primaryIp}" {OFS=":"; $1="${gatewayPublic}"; $2="15432"; print}' $f | head -1 >> $f`,
        );
        const conninfo = (await psql(standbyHost, "SHOW primary_conninfo")).trim();
        const plain = conninfo
            .replace(/host=\S+/, `host=${gatewayPublic}`)
            .replace(/port=\S+/, "port=15432")
            .replace(/'/g, "''");
        await psql(standbyHost, `ALTER SYSTEM SET primary_conninfo = '${plain}'`);
        await psql(standbyHost, "SELECT pg_reload_conf()");
        await waitForStandby(hosts, primaryHost, standbyName, 60, gatewayPrivate);
    } else {
        await psql(standbyHost, "ALTER SYSTEM RESET primary_conninfo").catch(() => "");
        await psql(standbyHost, "SELECT pg_reload_conf()").catch(() => "");
        await shell(standbyHost, `sed -i '/^${gatewayPublic}:15432:/d' /var/lib/postgresql/.pgpass`).catch(() => "");
        await shell(
            primaryHost,
            `sed -i '/# bench-plain$/d' ${hba} && runuser -u postgres -- psql -X -At -c 'SELECT pg_reload_conf()'`,
        ).catch(() => "");
        await shell(
            gw,
            `for t in PREROUTING POSTROUTING; do while n=$(iptables -t nat -L $t --line-numbers -n | awk '/bench-plain/ {print $1; exit}'); [ -n "$n" ]; do iptables -t nat -D $t $n; done; done`,
        ).catch(() => "");
        // The walreceiver keeps its plain connection until it breaks: end it on the primary.
        await psql(primaryHost, `SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE client_addr = '${gatewayPrivate}'`).catch(
            () => "",
        );
    }
}

/** How long after the link's return the standby must be back under 1 s behind, and the chart's tail after it. */
export const CATCH_UP = { boundSeconds: 300, tailSeconds: 5 };

/**
 * Cuts the WAN under the default load and measures the catch-up: the primary's WAL position and the
 * standby's replay position sampled at 10 Hz on each (the standby cannot ask the primary during the
 * cut), joined by time (catchUp.ts); run until the standby is back under 1 s behind, at most
 * CATCH_UP.boundSeconds after the link's return.
 */
async function linkCut(hosts: BenchHosts, primaryHost: BenchHost, standbyHost: BenchHost, opts: BenchOptions): Promise<BenchResult["cut"]> {
    const pg = PGBENCH;
    const before = 5;
    // Samplers and load outlast everything (a slow restore call included) and are stopped once caught
    // up: the load must not end or pause inside the window, or "behind" would stop growing for that.
    const window = before + opts.cutSeconds + 120 + CATCH_UP.boundSeconds + CATCH_UP.tailSeconds;
    await startSampler(
        hosts,
        primaryHost,
        "cut-primary",
        "SELECT extract(epoch from clock_timestamp()), pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')",
        window,
    );
    await startSampler(
        hosts,
        standbyHost,
        "cut-standby",
        "SELECT extract(epoch from clock_timestamp()), pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')",
        window,
    );
    await hosts.shell(
        primaryHost,
        `(setsid runuser -u postgres -- pgbench -n -c ${pg.clients} -j ${pg.threads} -R ${pg.defaultLoadTps} -T ${window} bench >/run/bench-cut-load.log 2>&1 & echo $! > /run/bench-cut-load.pid)`,
    );
    const sleep = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000));
    let cutAt = NaN;
    let restoredAt = NaN;
    // Both series on one axis: seconds since the cut call returned (host clocks: see catchUp.ts).
    const read = async (tail?: number) => {
        const lsns = async (host: BenchHost, name: string) =>
            (await readSamples(hosts, host, name, tail)).map(([t, lsn]): LsnSample => ({ t: t - cutAt, lsn }));
        return { primary: await lsns(primaryHost, "cut-primary"), standby: await lsns(standbyHost, "cut-standby") };
    };
    try {
        await sleep(before);
        await hosts.cutWan(true);
        cutAt = Date.now() / 1000;
        try {
            hosts.log(`  WAN cut for ${opts.cutSeconds} s`);
            await sleep(opts.cutSeconds);
        } finally {
            await hosts.cutWan(false);
        }
        restoredAt = Date.now() / 1000;
        // Polls the series' last seconds until the standby is back under 1 s behind (or the bound ends).
        while (Date.now() / 1000 < restoredAt + CATCH_UP.boundSeconds) {
            const recent = await read(40);
            if (findCatchUp(recent.primary, recent.standby, restoredAt - cutAt)) {
                break;
            }
            await sleep(1);
        }
        await sleep(CATCH_UP.tailSeconds);
    } finally {
        await hosts.shell(primaryHost, "kill $(cat /run/bench-cut-load.pid) 2>/dev/null; rm -f /run/bench-cut-load.pid; true");
        await stopSampler(hosts, primaryHost, "cut-primary");
        await stopSampler(hosts, standbyHost, "cut-standby");
    }
    const { primary, standby } = await read();
    const c = requireCatchUp(primary, standby, restoredAt - cutAt, CATCH_UP.boundSeconds);
    return {
        seconds: opts.cutSeconds,
        restoredAt: restoredAt - cutAt,
        catchUpSeconds: c.catchUpSeconds,
        walReplayedBytes: c.walReplayedBytes,
        bytesBehindAtRestore: c.bytesBehindAtRestore,
        series: c.series,
    };
}
