// npm run bench, in the lab: tunnel throughput per cipher against the plain WAN link and the kernel's
// own ESP ceiling, path MTU and retransmissions, then PostgreSQL (pgbench per synchronous level,
// replay lag through the tunnel and over the plain link, catch-up after a link cut). Every figure
// is measured in this run; results go to OUT/results.json and the report to OUT/REPORT.md.
import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { LAB_DIR, LAB_PUBLIC_IPS, labctl } from "../harness/labCloud";
import { Lab, peerOf, psql, shell, waitFor } from "../harness/lab";
import { IPSEC_CIPHERS, IpsecCipher } from "../../scripts/ipsec";
import { Spread, percentile, spread } from "./stats";

export const CIPHERS = Object.keys(IPSEC_CIPHERS) as IpsecCipher[];
export const SYNC_LEVELS = ["remote_write", "on", "remote_apply"] as const;

export interface BenchOptions {
    out: string;
    reps: number;
    /** iperf3 seconds per run. */
    iperfSeconds: number;
    /** pgbench seconds per run. */
    pgbenchSeconds: number;
    /** Seconds of lag sampling under the default load, per path. */
    lagSeconds: number;
    /** Seconds the WAN is cut. */
    cutSeconds: number;
    ciphers: IpsecCipher[];
    syncLevels: readonly string[];
    smoke: boolean;
}

export const FULL: Omit<BenchOptions, "out"> = {
    reps: 3,
    iperfSeconds: 4,
    pgbenchSeconds: 10,
    lagSeconds: 30,
    cutSeconds: 30,
    ciphers: CIPHERS,
    syncLevels: SYNC_LEVELS,
    smoke: false,
};

export const SMOKE: Omit<BenchOptions, "out"> = {
    reps: 1,
    iperfSeconds: 2,
    pgbenchSeconds: 3,
    lagSeconds: 5,
    cutSeconds: 5,
    ciphers: ["aes-gcm-256"],
    syncLevels: [],
    smoke: true,
};

/** pgbench: scale, clients, threads; the default load is the same at a fixed rate. */
export const PGBENCH = { scale: 10, clients: 4, threads: 2, defaultLoadTps: 100 };

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
export interface BenchResult {
    startedAt: string;
    finishedAt: string;
    options: Omit<BenchOptions, "out">;
    machine: Record<string, string>;
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
    /** catchUpSeconds: polled through the control channel; the series (10 Hz on the standby) is finer. */
    cut: { seconds: number; restoredAt?: number; catchUpSeconds: number; series: { t: number; lagSeconds: number }[] };
    upSeconds: Record<string, number>;
    notes: string[];
}

const GW = { aws: "aws-gateway", azure: "azure-gateway" } as const;
const GW_PRIVATE = { aws: "10.10.0.10", azure: "10.20.0.10" } as const;
const CEILING = fs.readFileSync(path.join(__dirname, "esp-ceiling.sh"), "utf8");

const ceiling = (...args: string[]) => labctl(["exec-ns", "root", "bash", "-s", "--", ...args], CEILING);

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

export async function runBench(lab: Lab, opts: BenchOptions): Promise<BenchResult> {
    fs.mkdirSync(opts.out, { recursive: true });
    // The full run keeps going past a failed part (noted in the report); the smoke fails on it.
    const realStep = lab.step;
    const step = async (name: string, body: () => Promise<string>): Promise<void> => {
        try {
            await realStep(name, body);
        } catch (err) {
            if (opts.smoke) {
                throw err;
            }
            const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
            result.notes.push(`${name}: FAILED: ${message}`);
            lab.log(`${name}: FAILED (continuing): ${message}`);
        }
    };
    const result: BenchResult = {
        startedAt: new Date().toISOString(),
        finishedAt: "",
        options: { ...opts, out: undefined } as Omit<BenchOptions, "out">,
        machine: await machineFacts(),
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
    const save = () => fs.writeFileSync(path.join(opts.out, "results.json"), JSON.stringify(result, null, 2));
    const iperfFlags = (streams: number, reverse: boolean, udp: boolean) =>
        [
            "-J",
            "-t",
            String(opts.iperfSeconds),
            "-P",
            String(streams),
            ...(reverse ? ["-R"] : []),
            ...(udp ? ["-u", "-b", "0", "-l", "64"] : []),
        ].join(" ");

    // iperf3 servers on both gateways (they answer on private and public addresses alike).
    for (const gw of Object.values(GW)) {
        await shell(
            gw,
            "[ -s /run/bench-iperf.pid ] && kill $(cat /run/bench-iperf.pid) 2>/dev/null; iperf3 -s -D -I /run/bench-iperf.pid",
        );
    }
    await shell(
        "azure-database",
        "[ -s /run/bench-iperf.pid ] && kill $(cat /run/bench-iperf.pid) 2>/dev/null; iperf3 -s -D -I /run/bench-iperf.pid",
    );

    /** iperf3 from the AWS gateway to `target`, `reps` times; -R measures azure→aws. */
    const gatewayRuns = async (target: string, streams: number, reverse: boolean, udp: boolean): Promise<IperfRun[]> => {
        const runs: IperfRun[] = [];
        for (let i = 0; i < opts.reps; i++) {
            runs.push(parseIperf(await shell(GW.aws, `iperf3 -c ${target} ${iperfFlags(streams, reverse, udp)}`), udp));
        }
        return runs;
    };
    const measurePath = async (pathName: string, cipher: string, target: string) => {
        for (const streams of [1, 4]) {
            for (const reverse of [false, true]) {
                const runs = await gatewayRuns(target, streams, reverse, false);
                result.tcp.push({
                    path: pathName,
                    cipher,
                    streams,
                    direction: reverse ? "azure→aws" : "aws→azure",
                    mbits: spread(runs.map((r) => r.mbits)),
                    retransmits: spread(runs.map((r) => r.retransmits)),
                });
                lab.log(
                    `  ${pathName} ${cipher} ${streams} stream(s) ${reverse ? "azure→aws" : "aws→azure"}: ${runs.map((r) => r.mbits.toFixed(0)).join(", ")} Mbit/s`,
                );
            }
        }
        const udp = await gatewayRuns(target, 1, false, true);
        result.udp.push({ path: pathName, cipher, kpps: spread(udp.map((r) => r.kpps)) });
        save();
    };
    const measureCeiling = async (cipher: string) => {
        // ESN and a 128-packet replay window, as Libreswan's SAs have (they cost AES-GCM 10-20 % here).
        result.ceilingCipher[cipher] = (await ceiling("setup", cipher, "esn")).trim();
        result.ceilingEsn = true;
        try {
            for (const streams of [1, 4]) {
                const runs: IperfRun[] = [];
                for (let i = 0; i < opts.reps; i++) {
                    runs.push(parseIperf(await ceiling("iperf", ...iperfFlags(streams, false, false).split(" ")), false));
                }
                result.tcp.push({
                    path: cipher === "plain" ? "veth" : "ceiling",
                    cipher,
                    streams,
                    direction: "aws→azure",
                    mbits: spread(runs.map((r) => r.mbits)),
                    retransmits: spread(runs.map((r) => r.retransmits)),
                });
                lab.log(`  ceiling ${cipher} ${streams} stream(s): ${runs.map((r) => r.mbits.toFixed(0)).join(", ")} Mbit/s`);
            }
        } finally {
            await ceiling("teardown");
        }
        save();
    };

    // --- Network, per cipher suite -------------------------------------------------------------
    await step("bench: plain WAN link between the gateways' public addresses", async () => {
        await measurePath("plain", "none", LAB_PUBLIC_IPS.azure);
        return "done";
    });
    await step("bench: plain veth pair inside UML (no ESP)", async () => {
        await measureCeiling("plain");
        return "done";
    });
    for (const cipher of opts.ciphers) {
        await step(`bench: tunnel with ${cipher}`, async () => {
            await switchCipher(lab, cipher, result);
            await measurePath("tunnel", cipher, GW_PRIVATE.azure);
            await measureCeiling(cipher);
            return `tunnel xfrm ${result.tunnelCipher[cipher]}; ceiling ${result.ceilingCipher[cipher]}`;
        });
        if (cipher === opts.ciphers[0]) {
            await step("bench: path MTU, fragments and retransmissions, database host to database host", async () => {
                await pathChecks(lab, opts, result);
                save();
                return `largest IP packet ${result.pmtu.largestIpPacket} B; ${result.pmtu.wanFragments} fragments of ${result.pmtu.wanPackets} WAN packets`;
            });
        }
    }
    if (opts.ciphers[opts.ciphers.length - 1] !== "aes-gcm-256") {
        await step("bench: back to the default cipher", async () => {
            await switchCipher(lab, "aes-gcm-256", result);
            return "aes-gcm-256";
        });
    }
    for (const host of [...Object.values(GW), "azure-database"]) {
        await shell(host, "[ -s /run/bench-iperf.pid ] && kill $(cat /run/bench-iperf.pid) 2>/dev/null; rm -f /run/bench-iperf.pid; true");
    }

    // --- PostgreSQL -------------------------------------------------------------------------------
    await postgresBench(lab, opts, result, save, step);

    result.finishedAt = new Date().toISOString();
    save();
    return result;
}

/** Runs the program with another cipher suite (only the changed steps re-run) and waits for its SAs. */
async function switchCipher(lab: Lab, cipher: IpsecCipher, result: BenchResult): Promise<void> {
    const current = (lab.overrides["crosscloud:ipsecCipher"] as string | undefined) ?? "aes-gcm-256";
    if (current !== cipher || !result.tunnelCipher[cipher]) {
        if (current !== cipher) {
            const t = Date.now();
            await lab.up({ "crosscloud:ipsecCipher": cipher }, () => undefined, { onlyChanged: true });
            result.upSeconds[cipher] = (Date.now() - t) / 1000;
        }
        const want = CIPHER_XFRM[cipher];
        await waitFor(`a Child SA with ${cipher} on both gateways`, 120, async () => {
            for (const gw of Object.values(GW)) {
                const status = await shell(gw, "ipsec whack --showstates");
                const algos = await xfrmAlgorithms(gw);
                if (!/ESTABLISHED_CHILD_SA/.test(status) || algos.length === 0 || !algos.every((a) => want.test(a))) {
                    return false;
                }
            }
            return true;
        });
        // Traffic through the tunnel both ways before measuring (the SA is installed on both ends).
        await waitFor(`TCP through the ${cipher} tunnel`, 60, async () => {
            await shell(GW.aws, `timeout 3 bash -c '</dev/tcp/${GW_PRIVATE.azure}/5201'`);
            return true;
        });
        result.tunnelCipher[cipher] = [...new Set(await xfrmAlgorithms(GW.aws))].join("; ");
    }
}

/** What `ip xfrm state` shows for each SA's algorithms, keys replaced by their length. */
const CIPHER_XFRM: Record<IpsecCipher, RegExp> = {
    "aes-gcm-256": /^aead rfc4106\(gcm\(aes\)\) 288-bit key 128$/,
    "aes-gcm-128": /^aead rfc4106\(gcm\(aes\)\) 160-bit key 128$/,
    "chacha20-poly1305": /^aead rfc7539esp\(chacha20,poly1305\) 288-bit key 128$/,
    "aes-cbc-sha1": /^auth-trunc hmac\(sha1\) 160-bit key 96 \+ enc cbc\(aes\) 128-bit key$/,
};
async function xfrmAlgorithms(host: string): Promise<string[]> {
    const out = await shell(host, "ip xfrm state");
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

/** Largest unfragmented packet db→db, WAN fragments and TCP retransmissions on the product's path. */
async function pathChecks(lab: Lab, opts: BenchOptions, result: BenchResult): Promise<void> {
    const standbyIp = "10.20.1.10";
    const probe = await shell(
        "aws-database",
        `lo=500; hi=1472; while [ $lo -lt $hi ]; do mid=$(( (lo + hi + 1) / 2 )); if ping -M do -c 1 -W 2 -s $mid ${standbyIp} >/dev/null 2>&1; then lo=$mid; else hi=$(( mid - 1 )); fi; done; echo $lo`,
    );
    const payload = Number(probe.trim());
    result.pmtu.largestIpPacket = payload + 28;
    result.pmtu.dfProbeOk = payload > 500;
    await labctl(["capture", "start", "bench-pmtu.pcap", "aws"]);
    const mbits: number[] = [];
    const retrans: number[] = [];
    const segs: number[] = [];
    try {
        for (let i = 0; i < opts.reps; i++) {
            // nstat deltas around the run: retransmitted vs sent segments of the whole host.
            await shell("aws-database", "nstat -n >/dev/null");
            const r = parseIperf(await shell("aws-database", `iperf3 -c ${standbyIp} -J -t ${opts.iperfSeconds}`), false);
            const counters = await shell("aws-database", "nstat -z TcpOutSegs TcpRetransSegs | awk '/Tcp/ {print $1, $2}'");
            const get = (k: string) => Number(new RegExp(`${k} (\\d+)`).exec(counters)?.[1] ?? NaN);
            mbits.push(r.mbits);
            retrans.push(get("TcpRetransSegs"));
            segs.push(get("TcpOutSegs"));
        }
    } finally {
        await labctl(["capture", "stop", "aws"]);
    }
    result.dbRetransmits = { mbits: spread(mbits), retransmits: spread(retrans), segmentsSent: spread(segs) };
    const pcap = path.join(LAB_DIR, "captures", "bench-pmtu.pcap");
    const count = (filter: string) =>
        execFileSync("tcpdump", ["-nn", "-r", pcap, filter], { stdio: ["ignore", "pipe", "ignore"], maxBuffer: 1 << 28 })
            .toString()
            .split("\n")
            .filter(Boolean).length;
    result.pmtu.wanPackets = count("");
    result.pmtu.wanFragments = count("ip[6:2] & 0x3fff != 0");
    fs.rmSync(pcap, { force: true });
}

type Step = (name: string, body: () => Promise<string>) => Promise<void>;

async function postgresBench(lab: Lab, opts: BenchOptions, result: BenchResult, save: () => void, step: Step): Promise<void> {
    const primaryHost = `${lab.primary}-database`;
    const standbyHost = `${peerOf(lab.primary)}-database`;
    const standbyName = peerOf(lab.primary);
    const pg = PGBENCH;

    await step("bench: pgbench database (fixed scale)", async () => {
        await psql(primaryHost, "DROP DATABASE IF EXISTS bench");
        await psql(primaryHost, "CREATE DATABASE bench");
        await shell(primaryHost, `runuser -u postgres -- pgbench -q -i -s ${pg.scale} bench 2>&1 | tail -1`);
        await waitForCaughtUp(primaryHost, 120);
        return `scale ${pg.scale}, ${pg.clients} clients, ${pg.threads} threads, ${opts.pgbenchSeconds} s per run`;
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

    await step("bench: pgbench, primary without a standby", async () => {
        // With a synchronous standby named, commits would wait for it forever.
        if ((await psql(primaryHost, "SHOW synchronous_standby_names")).trim() !== "") {
            throw new Error("the lab stack runs with crosscloud:synchronous set: run the program with it off first");
        }
        await shell(standbyHost, "systemctl stop postgresql");
        try {
            return await pgbench("no standby");
        } finally {
            await shell(standbyHost, "systemctl start postgresql");
            await waitForStreaming(primaryHost, standbyName, 120);
        }
    });
    await step("bench: pgbench, asynchronous standby", () => pgbench("async"));

    await step("bench: replay lag under the default load, through the tunnel", async () => {
        result.lag.push(await lagUnderLoad(primaryHost, "tunnel", opts.lagSeconds));
        save();
        const l = result.lag[result.lag.length - 1];
        return `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, ${l.samples} samples at ${l.hz.toFixed(1)} Hz`;
    });
    await step("bench: replay lag under the default load, over the plain link", async () => {
        try {
            await plainReplication(primaryHost, standbyHost, true);
            result.lag.push(await lagUnderLoad(primaryHost, "plain", opts.lagSeconds));
            const l = result.lag[result.lag.length - 1];
            return `p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms`;
        } catch (err) {
            result.plainLagError = (err instanceof Error ? err.message : String(err)).split("\n")[0];
            return `not measured: ${result.plainLagError}`;
        } finally {
            await plainReplication(primaryHost, standbyHost, false);
            await waitForStreaming(primaryHost, standbyName, 120, "10.20.1.10");
            save();
        }
    });

    await step(`bench: catch-up after a ${opts.cutSeconds} s WAN cut under the default load`, async () => {
        result.cut = await linkCut(lab, primaryHost, standbyHost, opts);
        save();
        return `caught up ${result.cut.catchUpSeconds.toFixed(1)} s after the link came back`;
    });

    for (const level of opts.syncLevels) {
        await step(`bench: pgbench, synchronous_commit = ${level}`, async () => {
            const t = Date.now();
            await lab.up({ "crosscloud:synchronous": level }, () => undefined, { onlyChanged: true });
            result.upSeconds[`synchronous=${level}`] = (Date.now() - t) / 1000;
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
    if (opts.syncLevels.length > 0) {
        await step("bench: back to crosscloud:synchronous = off", async () => {
            const t = Date.now();
            await lab.up({ "crosscloud:synchronous": "off" }, () => undefined, { onlyChanged: true });
            result.upSeconds["synchronous=off"] = (Date.now() - t) / 1000;
            return (await psql(primaryHost, "SHOW synchronous_commit")).trim();
        });
    }
}

async function waitForStreaming(primaryHost: string, standbyName: string, seconds: number, clientAddr?: string): Promise<void> {
    await waitFor(
        `${standbyName} streaming${clientAddr ? ` from ${clientAddr}` : ""}`,
        seconds,
        async () => {
            const rows = await psql(primaryHost, "SELECT application_name, state, client_addr FROM pg_stat_replication");
            return new RegExp(`^${standbyName}\\|streaming\\|${clientAddr ?? ""}`, "m").test(rows);
        },
        500,
    );
}

async function waitForCaughtUp(primaryHost: string, seconds: number): Promise<number> {
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
async function startSampler(host: string, name: string, sql: string, seconds: number): Promise<void> {
    const file = `/run/bench-${name}.csv`;
    await shell(
        host,
        `rm -f ${file}; (printf '%s\\n\\\\watch 0.08\\n' ${JSON.stringify(sql)} | setsid timeout ${seconds} runuser -u postgres -- psql -X -At -F ' ' -d postgres > ${file} 2>/dev/null & echo $! > /run/bench-${name}.pid)`,
    );
}
async function stopSampler(host: string, name: string): Promise<void> {
    await shell(
        host,
        `[ -s /run/bench-${name}.pid ] && kill $(cat /run/bench-${name}.pid) 2>/dev/null; rm -f /run/bench-${name}.pid; true`,
    );
}
async function readSamples(host: string, name: string): Promise<number[][]> {
    const out = await shell(host, `cat /run/bench-${name}.csv`);
    return out
        .split("\n")
        .map((l) => l.trim().split(" ").map(Number))
        .filter((f) => f.length >= 2 && f.every((x) => !Number.isNaN(x)));
}

/** The default load (pgbench at a fixed rate) while replay_lag is sampled on the primary at 10 Hz. */
async function lagUnderLoad(primaryHost: string, pathName: string, seconds: number): Promise<LagFigure> {
    const sql = "SELECT extract(epoch from clock_timestamp()), coalesce(extract(epoch from replay_lag) * 1000, 0) FROM pg_stat_replication";
    await startSampler(primaryHost, "lag", sql, seconds + 1);
    const pg = PGBENCH;
    await shell(
        primaryHost,
        `runuser -u postgres -- pgbench -n -c ${pg.clients} -j ${pg.threads} -R ${pg.defaultLoadTps} -T ${seconds} bench >/dev/null 2>&1`,
    );
    await stopSampler(primaryHost, "lag");
    const samples = await readSamples(primaryHost, "lag");
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
async function plainReplication(primaryHost: string, standbyHost: string, on: boolean): Promise<void> {
    const gw = "aws-gateway";
    const hba = "/etc/postgresql/15/main/pg_hba.conf";
    if (on) {
        await shell(
            gw,
            `iptables-legacy -t nat -I PREROUTING -p tcp --dport 15432 -j DNAT --to-destination 10.10.1.10:5432 -m comment --comment bench-plain
iptables-legacy -t nat -I POSTROUTING -p tcp -d 10.10.1.10 --dport 5432 ! -s 10.10.0.0/16 -j MASQUERADE -m comment --comment bench-plain`,
        );
        await shell(
            primaryHost,
            `sed -i '1i hostssl replication replicator ${GW_PRIVATE.aws}/32 scram-sha-256 # bench-plain' ${hba} && runuser -u postgres -- psql -X -At -c 'SELECT pg_reload_conf()'`,
        );
        await shell(
            standbyHost,
            `f=/var/lib/postgresql/.pgpass; grep -q '^${LAB_PUBLIC_IPS.aws}:15432:' $f || awk -F: '$1=="10.10.1.10" {OFS=":"; $1="${LAB_PUBLIC_IPS.aws}"; $2="15432"; print}' $f | head -1 >> $f`,
        );
        const conninfo = (await psql(standbyHost, "SHOW primary_conninfo")).trim();
        const plain = conninfo
            .replace(/host=\S+/, `host=${LAB_PUBLIC_IPS.aws}`)
            .replace(/port=\S+/, "port=15432")
            .replace(/'/g, "''");
        await psql(standbyHost, `ALTER SYSTEM SET primary_conninfo = '${plain}'`);
        await psql(standbyHost, "SELECT pg_reload_conf()");
        await waitForStreaming(primaryHost, standbyHost.replace("-database", ""), 60, GW_PRIVATE.aws);
    } else {
        await psql(standbyHost, "ALTER SYSTEM RESET primary_conninfo").catch(() => "");
        await psql(standbyHost, "SELECT pg_reload_conf()").catch(() => "");
        await shell(standbyHost, `sed -i '/^${LAB_PUBLIC_IPS.aws}:15432:/d' /var/lib/postgresql/.pgpass`).catch(() => "");
        await shell(
            primaryHost,
            `sed -i '/# bench-plain$/d' ${hba} && runuser -u postgres -- psql -X -At -c 'SELECT pg_reload_conf()'`,
        ).catch(() => "");
        await shell(
            gw,
            `for t in PREROUTING POSTROUTING; do while n=$(iptables-legacy -t nat -L $t --line-numbers -n | awk '/bench-plain/ {print $1; exit}'); [ -n "$n" ]; do iptables-legacy -t nat -D $t $n; done; done`,
        ).catch(() => "");
        // The walreceiver keeps its plain connection until it breaks: end it on the primary.
        await psql(primaryHost, `SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE client_addr = '${GW_PRIVATE.aws}'`).catch(
            () => "",
        );
    }
}

/** Cuts the WAN under the default load, samples the standby's replay delay at 10 Hz, times the catch-up. */
async function linkCut(lab: Lab, primaryHost: string, standbyHost: string, opts: BenchOptions): Promise<BenchResult["cut"]> {
    const pg = PGBENCH;
    const before = 5;
    const total = before + opts.cutSeconds + 60;
    // On the standby: how far its replay is behind now (WAL from a busy primary makes this the lag).
    await startSampler(
        standbyHost,
        "cut",
        "SELECT extract(epoch from clock_timestamp()), coalesce(extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()), 0)",
        total,
    );
    await shell(
        primaryHost,
        `(setsid runuser -u postgres -- pgbench -n -c ${pg.clients} -j ${pg.threads} -R ${pg.defaultLoadTps} -T ${total} bench >/run/bench-cut-load.log 2>&1 & echo $! > /run/bench-cut-load.pid)`,
    );
    const t0 = Date.now() / 1000;
    await new Promise((r) => setTimeout(r, before * 1000));
    await labctl(["wan", "cut", "on"]);
    const cutAt = Date.now() / 1000;
    lab.log(`  WAN cut for ${opts.cutSeconds} s`);
    await new Promise((r) => setTimeout(r, opts.cutSeconds * 1000));
    await labctl(["wan", "cut", "off"]);
    const restoredAt = Date.now() / 1000;
    let catchUp = NaN;
    try {
        const target = (await psql(primaryHost, "SELECT pg_current_wal_lsn()")).trim();
        await waitFor(
            "the standby to replay what was written during the cut",
            120,
            async () =>
                (await psql(primaryHost, `SELECT coalesce(bool_and(replay_lsn >= '${target}'), false) FROM pg_stat_replication`)).trim() ===
                "t",
            200,
        );
        catchUp = Date.now() / 1000 - restoredAt;
    } finally {
        await shell(primaryHost, "kill $(cat /run/bench-cut-load.pid) 2>/dev/null; rm -f /run/bench-cut-load.pid; true");
    }
    await new Promise((r) => setTimeout(r, 2000));
    const samples = await readSamples(standbyHost, "cut");
    await stopSampler(standbyHost, "cut");
    void t0;
    return {
        seconds: opts.cutSeconds,
        restoredAt: restoredAt - cutAt,
        catchUpSeconds: catchUp,
        series: samples.map(([t, lag]) => ({ t: t - cutAt, lagSeconds: lag })),
    };
}

async function machineFacts(): Promise<Record<string, string>> {
    const run = (cmd: string) => {
        try {
            return execFileSync("bash", ["-c", cmd], { stdio: ["ignore", "pipe", "ignore"] })
                .toString()
                .trim();
        } catch {
            return "unknown";
        }
    };
    const inLab = async (cmd: string) => (await shell("aws-gateway", cmd).catch(() => "unknown")).trim();
    return {
        cpu: run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'"),
        cores: run("nproc"),
        memory: run("free -g | awk '/Mem:/ {print $2 \" GiB\"}'"),
        aesNi: run("grep -qw aes /proc/cpuinfo && echo 'yes (host); not used inside UML' || echo no"),
        kernel: run("uname -sr"),
        os: run(". /etc/os-release; echo $PRETTY_NAME"),
        umlKernel: await inLab("uname -sr"),
        libreswan: await inLab("ipsec --version 2>/dev/null | head -1"),
        postgresql: await inLab("/usr/lib/postgresql/15/bin/postgres --version"),
        iperf3: await inLab("iperf3 --version | head -1"),
        node: process.version,
        otherLoad: run("cat /proc/loadavg"),
    };
}
