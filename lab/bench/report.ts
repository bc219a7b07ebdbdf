// The report: Markdown with every figure as median (min–max, n), the targets, and two charts
// rendered headless by vega-lite (SVG).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { BenchResult, TcpFigure } from "./bench";
import { PGBENCH } from "./bench";
import { Spread, fmt, ratio } from "./stats";

/** SVG of each vega-lite spec, rendered by charts.mjs in a child node process. */
function svgs(specs: Record<string, Record<string, unknown>>): Record<string, string> {
    const out = execFileSync(process.execPath, [path.join(__dirname, "charts.mjs")], { input: JSON.stringify(specs), maxBuffer: 1 << 26 });
    return JSON.parse(out.toString());
}

export const TARGETS = { ceilingRatio: 0.9, lagRatio: 1.5 };

export interface Verdicts {
    ceiling: { cipher: string; ratio: number; met: boolean }[];
    lag?: { ratio: number; met: boolean };
    fragments: { count: number; met: boolean };
}

const find = (r: BenchResult, p: string, cipher: string, streams: number, dir = "aws→azure"): TcpFigure | undefined =>
    r.tcp.find((t) => t.path === p && t.cipher === cipher && t.streams === streams && t.direction === dir);

/**
 * Catch-up from the 10 Hz series: seconds from the link's return until the standby's replay delay is
 * back under 1 s (the restore time is taken as recorded, or the nominal cut length).
 */
export function catchUpFromSeries(cut: BenchResult["cut"]): number {
    const restored = cut.restoredAt ?? cut.seconds;
    const back = cut.series.find((p) => p.t >= restored && p.lagSeconds < 1);
    return back ? back.t - restored : NaN;
}

export function verdicts(r: BenchResult): Verdicts {
    const ciphers = [...new Set(r.tcp.filter((t) => t.path === "tunnel").map((t) => t.cipher))];
    const tunnelLag = r.lag.find((l) => l.path === "tunnel");
    const plainLag = r.lag.find((l) => l.path === "plain");
    return {
        ceiling: ciphers.map((c) => {
            const x = ratio(find(r, "tunnel", c, 1)?.mbits, find(r, "ceiling", c, 1)?.mbits);
            return { cipher: c, ratio: x, met: x >= TARGETS.ceilingRatio };
        }),
        ...(tunnelLag && plainLag && plainLag.p99 > 0
            ? { lag: { ratio: tunnelLag.p99 / plainLag.p99, met: tunnelLag.p99 / plainLag.p99 <= TARGETS.lagRatio } }
            : {}),
        fragments: { count: r.pmtu.wanFragments, met: r.pmtu.wanFragments === 0 },
    };
}

const pct = (x: number) => (Number.isNaN(x) ? "–" : `${(x * 100).toFixed(1)} %`);

/** Writes REPORT.md, throughput-per-cipher.svg and lag-across-cut.svg into `dir`. */
export function writeReport(r: BenchResult, dir: string, analysis = ""): string[] {
    fs.mkdirSync(dir, { recursive: true });
    const v = verdicts(r);
    const ciphers = [...new Set(r.tcp.filter((t) => t.path === "tunnel").map((t) => t.cipher))];

    const bars = r.tcp
        .filter((t) => t.streams === 1 && t.direction === "aws→azure" && (t.path === "tunnel" || t.path === "ceiling"))
        .map((t) => ({
            cipher: t.cipher,
            path: t.path === "tunnel" ? "Libreswan tunnel" : "kernel ESP ceiling (static xfrm)",
            mbits: t.mbits.median,
            min: t.mbits.min,
            max: t.mbits.max,
        }));
    const plain = find(r, "plain", "none", 1);
    const throughputSpec = {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: `TCP throughput per cipher, 1 stream aws→azure (median, bars min–max; plain WAN ${plain ? plain.mbits.median.toFixed(0) : "?"} Mbit/s)`,
        width: 480,
        height: 260,
        data: { values: bars },
        encoding: { x: { field: "cipher", type: "nominal", title: null }, xOffset: { field: "path" } },
        layer: [
            {
                mark: "bar",
                encoding: {
                    y: { field: "mbits", type: "quantitative", title: "Mbit/s" },
                    color: { field: "path", type: "nominal", title: null, legend: { orient: "bottom", labelLimit: 400 } },
                },
            },
            { mark: { type: "rule", color: "black" }, encoding: { y: { field: "min", type: "quantitative" }, y2: { field: "max" } } },
        ],
    };
    const lagSpec = {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: `Standby replay delay across a ${r.cut.seconds} s WAN cut (default load, sampled at 10 Hz)`,
        width: 560,
        height: 260,
        layer: [
            {
                data: { values: r.cut.series },
                mark: { type: "line", interpolate: "step-after" },
                encoding: {
                    x: { field: "t", type: "quantitative", title: "seconds since the cut" },
                    y: { field: "lagSeconds", type: "quantitative", title: "now() − last replayed commit (s)" },
                },
            },
            {
                data: {
                    values: [
                        { t: 0, label: "cut" },
                        { t: r.cut.seconds, label: "restored" },
                    ],
                },
                mark: { type: "rule", strokeDash: [4, 4], color: "firebrick" },
                encoding: { x: { field: "t", type: "quantitative" } },
            },
        ],
    };
    const charts = svgs({ throughput: throughputSpec, lag: lagSpec });
    fs.writeFileSync(path.join(dir, "throughput-per-cipher.svg"), charts.throughput);
    fs.writeFileSync(path.join(dir, "lag-across-cut.svg"), charts.lag);

    const m = r.machine;
    const o = r.options;
    const tcpRow = (label: string, p: string, c: string) =>
        `| ${label} | ${[1, 4]
            .flatMap((s) => ["aws→azure", "azure→aws"].map((d) => fmt(find(r, p, c, s, d)?.mbits)))
            .join(" | ")} | ${fmt(find(r, p, c, 1)?.retransmits)} |`;
    const udp = (p: string, c: string) => r.udp.find((u) => u.path === p && u.cipher === c)?.kpps;
    const lines: string[] = [
        `# crosscloud benchmark${o.smoke ? " (smoke: one repetition, short runs — not a result)" : ""}`,
        "",
        `Run ${r.startedAt} → ${r.finishedAt} with \`npm run bench\` in the lab. Every figure is the median of ${o.reps} repetition(s) with its spread (min–max, n) and was measured in this same run.`,
        "",
        "## Machine and versions",
        "",
        "| | |",
        "|---|---|",
        ...Object.entries(m).map(([k, x]) => `| ${k} | ${x} |`),
        "",
        "Everything in the lab shares one UML CPU (user-mode Linux, generic C crypto, no AES-NI inside), on a machine shared with other labs: absolute figures say little about a cloud VM, ratios measured side by side do. For the same reason the lab reports **no VM-type figures**: every lab host is the same process on the same CPU. Against a deployed stack the bench would repeat these runs per configured instance type (see lab/bench/README.md).",
        "",
        "## Network",
        "",
        `iperf3 TCP, ${o.iperfSeconds} s per run, from the AWS gateway. *plain*: to the Azure gateway's public address over the same WAN link, no tunnel. *tunnel*: to its private address through the Libreswan tunnel (ESP in UDP 4500, as deployed). *ceiling*: a static-key \`ip xfrm\` tunnel with the same cipher and \`encap espinudp 4500 4500\`${r.ceilingEsn ? " and, like Libreswan's SAs, ESN with a 128-packet replay window" : " but without ESN or a replay window (Libreswan's SAs have both)"}, no IKE, between two namespaces on a veth inside the same UML. *veth*: that pair without ESP.`,
        "",
        "| path / cipher | 1 stream aws→azure (Mbit/s) | 1 stream azure→aws | 4 streams aws→azure | 4 streams azure→aws | retransmits, 1 stream |",
        "|---|---|---|---|---|---|",
        tcpRow("plain WAN", "plain", "none"),
        tcpRow("veth, no ESP", "veth", "plain"),
        ...ciphers.flatMap((c) => [tcpRow(`tunnel ${c}`, "tunnel", c), tcpRow(`ceiling ${c}`, "ceiling", c)]),
        "",
        "| cipher | tunnel ÷ plain WAN (1 stream) | tunnel ÷ kernel ESP ceiling (1 stream) | target ≥ 90 % | UDP 64 B received, kpps (plain: " +
            fmt(udp("plain", "none"), 1) +
            ") | xfrm algorithm seen on the gateway |",
        "|---|---|---|---|---|---|",
        ...ciphers.map((c) => {
            const ce = v.ceiling.find((x) => x.cipher === c)!;
            return `| ${c}${c === "aes-gcm-256" ? " (default)" : c === "aes-cbc-sha1" ? " (Openswan-era baseline)" : ""} | ${pct(ratio(find(r, "tunnel", c, 1)?.mbits, plain?.mbits))} | ${pct(ce.ratio)} | ${ce.met ? "met" : "**missed**"} | ${fmt(udp("tunnel", c), 1)} | \`${r.tunnelCipher[c] ?? "?"}\` |`;
        }),
        "",
        "![TCP throughput per cipher](throughput-per-cipher.svg)",
        "",
        "### Path MTU, fragmentation, retransmissions (database host → database host, through the tunnel, default cipher)",
        "",
        `- Largest unfragmented IP packet (ping with DF set, binary search): **${r.pmtu.largestIpPacket} bytes**.`,
        `- WAN capture during ${o.reps} iperf3 run(s) of ${o.iperfSeconds} s: ${r.pmtu.wanPackets} packets, **${r.pmtu.wanFragments} IP fragments** (target 0: ${v.fragments.met ? "met" : "**missed**"}).`,
        `- TCP with the gateways' MSS clamp: ${fmt(r.dbRetransmits.mbits)} Mbit/s; retransmitted segments ${fmt(r.dbRetransmits.retransmits)} of ${fmt(r.dbRetransmits.segmentsSent)} sent (nstat on the sender).`,
        "",
        "## PostgreSQL",
        "",
        `pgbench on the primary (TPC-B-like, scale ${PGBENCH.scale}, ${PGBENCH.clients} clients, ${PGBENCH.threads} threads, ${o.pgbenchSeconds} s per run). The synchronous levels were set by running the program with \`crosscloud:synchronous\` (the standby named in \`synchronous_standby_names\`).`,
        "",
        "| mode | TPS | latency average (ms) | TPS ÷ no standby |",
        "|---|---|---|---|",
        ...r.pgbench.map(
            (p) =>
                `| ${p.mode} | ${fmt(p.tps)} | ${fmt(p.latencyMs, 2)} | ${pct(ratio(p.tps, r.pgbench.find((x) => x.mode === "no standby")?.tps))} |`,
        ),
        "",
        `Replay lag under the default load (pgbench at ${PGBENCH.defaultLoadTps} TPS, ${PGBENCH.clients} clients, ${o.lagSeconds} s), \`pg_stat_replication.replay_lag\` sampled on the primary by one psql session with \`\\watch\` (the rate column is what was achieved):`,
        "",
        "| path | samples | rate | p50 (ms) | p95 (ms) | p99 (ms) | max (ms) |",
        "|---|---|---|---|---|---|---|",
        ...r.lag.map(
            (l) =>
                `| ${l.path} | ${l.samples} | ${l.hz.toFixed(1)} Hz | ${l.p50.toFixed(1)} | ${l.p95.toFixed(1)} | ${l.p99.toFixed(1)} | ${l.max.toFixed(1)} |`,
        ),
        "",
        v.lag
            ? `p99 through the tunnel ÷ p99 over the plain link: **${v.lag.ratio.toFixed(2)}×** (target ≤ ${TARGETS.lagRatio}×: ${v.lag.met ? "met" : "**missed**"}).`
            : `Plain-link lag not measured${r.plainLagError ? `: ${r.plainLagError}` : ""}.`,
        "",
        "The plain-link baseline: the standby's `primary_conninfo` temporarily points at the AWS gateway's public address, port 15432, which the gateway forwards (DNAT + masquerade) to the primary; a temporary `pg_hba.conf` line admits the gateway's address. So the stream crosses the same WAN outside the tunnel. Everything is removed afterwards and the standby streams through the tunnel again.",
        "",
        `After a ${r.cut.seconds} s WAN cut (\`labctl wan cut on\`) under the default load (one run): the standby's replay delay, sampled at 10 Hz on the standby, was back under 1 s **${catchUpFromSeries(r.cut).toFixed(1)} s** after the link came back; the primary's LSN at that moment was confirmed replayed after ${Number.isNaN(r.cut.catchUpSeconds) ? "–" : r.cut.catchUpSeconds.toFixed(1)} s (polled through the lab's control channel, which is slow under load, so an upper bound).`,
        "",
        "![Replay delay across a link cut](lag-across-cut.svg)",
        "",
        "## Targets",
        "",
        "| target | result |",
        "|---|---|",
        ...v.ceiling.map(
            (c) => `| tunnel ≥ 90 % of the kernel ESP ceiling, ${c.cipher} | ${pct(c.ratio)}: ${c.met ? "met" : "**missed**"} |`,
        ),
        `| replication p99 lag ≤ 1.5× the plain link | ${v.lag ? `${v.lag.ratio.toFixed(2)}×: ${v.lag.met ? "met" : "**missed**"}` : "not measured"} |`,
        `| no fragmentation | ${v.fragments.count} fragments: ${v.fragments.met ? "met" : "**missed**"} |`,
        "",
        analysis,
        "",
        "Provisioning runs of the program during the bench (only the changed steps ran): " +
            Object.entries(r.upSeconds)
                .map(([k, s]) => `${k} ${s.toFixed(0)} s`)
                .join(", "),
        "",
        ...r.notes.map((n) => `- ${n}`),
    ];
    fs.writeFileSync(path.join(dir, "REPORT.md"), lines.join("\n") + "\n");
    return ["REPORT.md", "throughput-per-cipher.svg", "lag-across-cut.svg"];
}

export type { Spread };
