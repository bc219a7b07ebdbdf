// The report: Markdown with every figure as median (min–max, n), the targets, and two charts
// rendered headless by vega-lite (SVG).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_IPSEC_CIPHER } from "../../scripts/ipsec";
import type { BenchResult, TcpFigure } from "./bench";
import { PGBENCH } from "./bench";
import { Spread, fmt, ratio, spread } from "../harness/stats";
import type { SwitchoverPhases } from "../harness/switchover";

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

/** Whether the cut's series holds bytes behind (results before 2026-12 held the replay delay). */
const bytesSeries = (cut: BenchResult["cut"]) => cut.walReplayedBytes !== undefined;

const mb = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? "–" : `${(bytes / 1e6).toFixed(1)} MB`);

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

/**
 * Machine facts and instance types as Markdown: facts named "HOST fact" (a deployed run reads them on
 * each host) become one row per host, the rest a two-column table.
 */
export function hostTable(machine: Record<string, string>, instanceTypes: Record<string, string>): string[] {
    const perHost = new Map<string, Record<string, string>>();
    const general: [string, string][] = [];
    for (const [key, value] of Object.entries(machine)) {
        const m = /^((?:aws|azure)-(?:gateway|database)) (\w+)$/.exec(key);
        if (m) {
            perHost.set(m[1], { ...perHost.get(m[1]), [m[2]]: value });
        } else {
            general.push([key, value]);
        }
    }
    const lines = ["| | |", "|---|---|", ...general.map(([k, x]) => `| ${k} | ${x} |`), ""];
    const facts = [...new Set([...perHost.values()].flatMap((f) => Object.keys(f)))];
    const hosts = [...new Set([...perHost.keys(), ...Object.keys(instanceTypes)])];
    lines.push(
        `| host | instance type (read on the host) |${facts.map((f) => ` ${f} |`).join("")}`,
        `|---|---|${facts.map(() => "---|").join("")}`,
        ...hosts.map((h) => `| ${h} | ${instanceTypes[h] ?? "–"} |${facts.map((f) => ` ${perHost.get(h)?.[f] ?? "–"} |`).join("")}`),
    );
    return lines;
}

/** What the link cut did: its real length (the calls to cut and restore take time) and the catch-up. */
export function cutSentence(r: BenchResult, deployed: boolean): string {
    const cut = r.cut;
    const restored = cut.restoredAt ?? cut.seconds;
    const how = deployed
        ? "iptables on the AWS gateway dropping everything to and from the Azure gateway's public address"
        : "`labctl wan cut on`";
    const length =
        restored > cut.seconds + 2
            ? `a WAN cut asked for ${cut.seconds} s (${how}; t = 0 is when the cut call returned, t = ${restored.toFixed(1)} s when the restore call returned, ${deployed ? "over SSH" : "the lab's control channel being slow under load"}, so the link was down between ${cut.seconds} and about ${restored.toFixed(0)} s)`
            : `a ${cut.seconds} s WAN cut (${how})`;
    if (!bytesSeries(cut)) {
        return `After ${length}, under the default load (one run): an older result, whose 10 Hz series measured the replay delay rather than bytes behind the primary; the primary's LSN at the restore was confirmed replayed after ${Number.isNaN(cut.catchUpSeconds) ? "–" : cut.catchUpSeconds.toFixed(1)} s.`;
    }
    return `After ${length}, under the default load throughout (pgbench at ${PGBENCH.defaultLoadTps} TPS, one run): the standby, ${mb(cut.bytesBehindAtRestore)} of WAL behind the primary when the link came back, was back under 1 s behind (its replay LSN at the primary's LSN of 1 s earlier) **${cut.catchUpSeconds.toFixed(1)} s** after the link came back, replaying **${mb(cut.walReplayedBytes)}** of WAL meanwhile. Two samplers at 10 Hz, the primary's \`pg_current_wal_lsn()\` and the standby's \`pg_last_wal_replay_lsn()\` with their hosts' \`clock_timestamp()\`, joined by time (${deployed ? "NTP-synced clocks assumed" : "the lab's hosts read the same machine clock"}).`;
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
    const restored = r.cut.restoredAt ?? r.cut.seconds;
    const marks = [
        { t: 0, label: "cut" },
        { t: restored, label: "link back" },
        ...(Number.isNaN(r.cut.catchUpSeconds) ? [] : [{ t: restored + r.cut.catchUpSeconds, label: "under 1 s behind" }]),
    ];
    const lagSpec = {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: `Standby behind the primary across a ${r.cut.seconds} s WAN cut (default load throughout, 10 Hz)`,
        width: 560,
        height: 260,
        layer: [
            {
                data: { values: [{ from: 0, to: restored }] },
                mark: { type: "rect", color: "firebrick", opacity: 0.1 },
                encoding: { x: { field: "from", type: "quantitative" }, x2: { field: "to" } },
            },
            {
                // Older results' series held the replay delay: nothing to plot in MB.
                data: { values: bytesSeries(r.cut) ? r.cut.series.map((p) => ({ t: p.t, mb: p.bytesBehind / 1e6 })) : [] },
                mark: { type: "line", interpolate: "step-after" },
                encoding: {
                    x: { field: "t", type: "quantitative", title: "seconds since the cut" },
                    y: { field: "mb", type: "quantitative", title: "MB of WAL behind the primary" },
                },
            },
            {
                data: { values: marks },
                mark: { type: "rule", strokeDash: [4, 4], color: "firebrick" },
                encoding: { x: { field: "t", type: "quantitative" } },
            },
            {
                data: { values: marks },
                mark: { type: "text", align: "left", dx: 3, baseline: "top", y: 0, color: "firebrick" },
                encoding: { x: { field: "t", type: "quantitative" }, text: { field: "label" } },
            },
        ],
    };
    const withSwitchover = (r.switchover ?? []).some((f) => f.moves.length > 0);
    const charts = svgs({ throughput: throughputSpec, lag: lagSpec, ...(withSwitchover ? { switchover: switchoverChartSpec(r) } : {}) });
    fs.writeFileSync(path.join(dir, "throughput-per-cipher.svg"), charts.throughput);
    fs.writeFileSync(path.join(dir, "lag-across-cut.svg"), charts.lag);
    if (withSwitchover) {
        fs.writeFileSync(path.join(dir, "switchover-outage.svg"), charts.switchover);
    }

    const m = r.machine;
    const o = r.options;
    const tcpRow = (label: string, p: string, c: string) =>
        `| ${label} | ${[1, 4]
            .flatMap((s) => ["aws→azure", "azure→aws"].map((d) => fmt(find(r, p, c, s, d)?.mbits)))
            .join(" | ")} | ${fmt(find(r, p, c, 1)?.retransmits)} |`;
    const udp = (p: string, c: string) => r.udp.find((u) => u.path === p && u.cipher === c)?.kpps;
    const deployed = r.mode === "deployed";
    const lines: string[] = [
        `# crosscloud benchmark${o.smoke ? " (smoke: one repetition, short runs — not a result)" : ""}`,
        "",
        `Run ${r.startedAt} → ${r.finishedAt} with \`npm run bench\` ${deployed ? "against a deployed stack (over SSH, hosts from its outputs)" : "in the lab"}. Every figure is the median of ${o.reps} repetition(s) with its spread (min–max, n) and was measured in this same run.`,
        "",
        "## Machine and versions",
        "",
        ...hostTable(m, r.instanceTypes ?? { all: "not recorded (a run before instance types were read)" }),
        "",
        deployed
            ? "One run measures one deployment: to compare instance types or sizes, run the bench once per stack (or per `pulumi up` with other sizes) and combine the runs' results.json with `npm run bench -- --combine A.json B.json ...` (one row per run)."
            : "Each cloud of the lab is one user-mode Linux kernel on one CPU (its gateway and database host share it; the other cloud runs on the machine's other core; generic C crypto, no AES-NI inside): absolute figures say little about a cloud VM, ratios measured side by side do. For the same reason the lab reports **no VM-type figures**: a cloud's hosts are the same process on the same CPU. Against a deployed stack each run records every host's instance type as read on the host, and `npm run bench -- --combine` tabulates several runs per VM type (see lab/bench/README.md).",
        "",
        ...(r.skipped && r.skipped.length > 0 ? ["Not measured in this run:", "", ...r.skipped.map((x) => `- ${x}`), ""] : []),
        "## Network",
        "",
        `iperf3 TCP, ${o.iperfSeconds} s per run, from the AWS gateway. *plain*: to the Azure gateway's public address over the same WAN link, no tunnel${r.paths?.plainRule && deployed ? ` (temporary rule: ${r.paths.plainRule}, removed afterwards)` : ""}. *tunnel*: to its private address through the Libreswan tunnel (ESP in UDP 4500, as deployed). *ceiling*: a static-key \`ip xfrm\` tunnel with the same cipher and \`encap espinudp 4500 4500\`${r.ceilingEsn ? " and, like Libreswan's SAs, ESN with a 128-packet replay window" : " but without ESN or a replay window (Libreswan's SAs have both)"}, no IKE (${r.paths?.ceiling ?? "two namespaces on a veth inside the same UML"}).${find(r, "veth", "plain", 1) ? " *veth*: that pair without ESP." : ""}`,
        "",
        "| path / cipher | 1 stream aws→azure (Mbit/s) | 1 stream azure→aws | 4 streams aws→azure | 4 streams azure→aws | retransmits, 1 stream |",
        "|---|---|---|---|---|---|",
        tcpRow("plain WAN", "plain", "none"),
        // Only where the ceiling has an ESP-less twin (deployed: the veth pair); across the lab's WAN that is the plain row.
        ...(find(r, "veth", "plain", 1) ? [tcpRow("veth, no ESP", "veth", "plain")] : []),
        ...ciphers.flatMap((c) => [
            tcpRow(`tunnel ${c}`, "tunnel", c),
            tcpRow(`ceiling ${c}`, "ceiling", c),
            ...(find(r, "ceiling-no-esn", c, 1) ? [tcpRow(`ceiling ${c} without ESN and replay window`, "ceiling-no-esn", c)] : []),
        ]),
        "",
        "| cipher | tunnel ÷ plain WAN (1 stream) | tunnel ÷ kernel ESP ceiling (1 stream) | target ≥ 90 % | ceiling without ESN ÷ with (1 stream) | UDP 64 B received, kpps (plain: " +
            fmt(udp("plain", "none"), 1) +
            ") | xfrm algorithm seen on the gateway |",
        "|---|---|---|---|---|---|---|",
        ...ciphers.map((c) => {
            const ce = v.ceiling.find((x) => x.cipher === c)!;
            return `| ${c}${c === DEFAULT_IPSEC_CIPHER ? " (default)" : c === "aes-cbc-sha1" ? " (Openswan-era baseline)" : ""} | ${pct(ratio(find(r, "tunnel", c, 1)?.mbits, plain?.mbits))} | ${pct(ce.ratio)} | ${ce.met ? "met" : "**missed**"} | ${pct(ratio(find(r, "ceiling-no-esn", c, 1)?.mbits, find(r, "ceiling", c, 1)?.mbits))} | ${fmt(udp("tunnel", c), 1)} | \`${r.tunnelCipher[c] ?? "?"}\` |`;
        }),
        "",
        "![TCP throughput per cipher](throughput-per-cipher.svg)",
        "",
        `### Path MTU, fragmentation, retransmissions (${r.paths?.pathCheck ?? "database host to database host"}, through the tunnel, ${deployed ? "configured" : "default"} cipher)`,
        "",
        `- Largest unfragmented IP packet (ping with DF set, binary search): **${r.pmtu.largestIpPacket} bytes**.`,
        `- WAN capture during ${o.reps} iperf3 run(s) of ${o.iperfSeconds} s: ${r.pmtu.wanPackets} packets, **${r.pmtu.wanFragments} IP fragments** (target 0: ${v.fragments.met ? "met" : "**missed**"}).`,
        `- TCP with the gateways' MSS clamp: ${fmt(r.dbRetransmits.mbits)} Mbit/s; retransmitted segments ${fmt(r.dbRetransmits.retransmits)} of ${fmt(r.dbRetransmits.segmentsSent)} sent (nstat on the sender).`,
        "",
        "## PostgreSQL",
        "",
        // Results written before the scale was an option were all made at 10.
        `pgbench on the primary (TPC-B-like, scale ${o.pgbenchScale ?? 10}, ${PGBENCH.clients} clients, ${PGBENCH.threads} threads, ${o.pgbenchSeconds} s per run). ${deployed ? "The stack is measured with the synchronous level it is configured with." : "The synchronous levels were set by running the program with `crosscloud:synchronous` (the standby named in `synchronous_standby_names`)."}`,
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
        deployed
            ? ""
            : "The plain-link baseline: the standby's `primary_conninfo` temporarily points at the AWS gateway's public address, port 15432, which the gateway forwards (DNAT + masquerade) to the primary; a temporary `pg_hba.conf` line admits the gateway's address. So the stream crosses the same WAN outside the tunnel. Everything is removed afterwards and the standby streams through the tunnel again.",
        "",
        cutSentence(r, deployed),
        "",
        "![Bytes behind across a link cut](lag-across-cut.svg)",
        "",
        ...(withSwitchover ? switchoverLines(r, "switchover-outage.svg") : []),
        "## Targets",
        "",
        "| target | result |",
        "|---|---|",
        ...v.ceiling.map(
            (c) => `| tunnel ≥ 90 % of the kernel ESP ceiling, ${c.cipher} | ${pct(c.ratio)}: ${c.met ? "met" : "**missed**"} |`,
        ),
        `| replication p99 lag ≤ 1.5× the plain link | ${v.lag ? `${v.lag.ratio.toFixed(2)}×: ${v.lag.met ? "met" : "**missed**"}` : "not measured"} |`,
        `| no fragmentation | ${v.fragments.count} fragments: ${v.fragments.met ? "met" : "**missed**"} |`,
        ...switchoverVerdicts(r).map(
            (x) =>
                `| switchover write outage ≤ ${x.target} s, ${x.wan}, median and worst | ${x.median.toFixed(1)} s median, ${x.worst.toFixed(1)} s worst: ${x.met ? "met" : "**missed**"} |`,
        ),
        "",
        analysis,
        "",
        Object.keys(r.upSeconds).length === 0
            ? ""
            : "Provisioning runs of the program during the bench (only the changed steps ran): " +
              Object.entries(r.upSeconds)
                  .map(([k, s]) => `${k} ${s.toFixed(0)} s`)
                  .join(", "),
        "",
        ...r.notes.map((n) => `- ${n}`),
    ];
    fs.writeFileSync(path.join(dir, "REPORT.md"), lines.join("\n") + "\n");
    return ["REPORT.md", "throughput-per-cipher.svg", "lag-across-cut.svg", ...(withSwitchover ? ["switchover-outage.svg"] : [])];
}

/** The issue's outage targets per WAN (netem each way): a clean link, and 80 ms RTT with 1 % loss. */
export const SWITCHOVER_TARGETS: Record<string, number> = { none: 5, "delay 40ms loss 1%": 10 };

/** Whether every move of a WAN met its target (median and worst alike); undefined where none is set. */
export function switchoverVerdicts(r: BenchResult): { wan: string; target: number; median: number; worst: number; met: boolean }[] {
    return (r.switchover ?? [])
        .filter((f) => SWITCHOVER_TARGETS[f.netem] !== undefined && f.moves.length > 0)
        .map((f) => {
            const o = spread(f.moves.map((m) => m.outage));
            const target = SWITCHOVER_TARGETS[f.netem];
            return { wan: f.wan, target, median: o.median, worst: o.max, met: o.max <= target };
        });
}

/** The switchover section: outage per WAN with its phases, the targets, the chart. */
export function switchoverLines(r: BenchResult, chart: string): string[] {
    const figures = r.switchover ?? [];
    if (figures.length === 0) {
        return [];
    }
    const phase = (f: (typeof figures)[number], k: keyof SwitchoverPhases) => {
        const known = f.moves.flatMap((m) => (m.phases ? [m.phases[k]] : []));
        return known.length === 0 ? "–" : fmt(spread(known), 1);
    };
    const moves = Math.max(...figures.map((f) => f.moves.length));
    return [
        "## Switchover",
        "",
        `Planned switchovers under the lab's write load, ${moves} per WAN, alternately AWS → Azure and back: each a run of the program with \`crosscloud:primary\` set to the other site (only the steps whose inputs changed run, as the engine does), the product's own fence, promotion and rejoin. The load: one INSERT per transaction from the AWS gateway, as a connection pool configured with both hosts: a session kept to each, writes to the one that took the last, a session refused by a standby kept open (it writes once its server is promoted) (after a move to Azure its commits cross the WAN). **Write outage**: from the client's last commit on the old primary to its first on the new one. After every move each commit the client counted was looked up on the new primary. Phases, from PostgreSQL's own log lines on both database hosts: the last commit → the old primary's fast shutdown request (the fence's stop); → the new primary's promote request (the shutdown, the standby's catch-up, the fence's poll over the tunnel); → the new primary takes writes (the promotion: its "ready to accept connections", or the client's first commit there when that came first, as a session already open writes from the end of recovery); → the client's first commit there (its reconnect: 0 when it wrote on a session it already held). Delay and loss by netem on each site's WAN egress, so each way gets them once; RTT and loss measured by 50 pings between the gateways, and the loss netem applied by its own count over every packet of the moves (both sites' WAN qdiscs: dropped of sent + dropped).`,
        "",
        "| WAN (netem, each way) | RTT, loss by ping | loss netem applied | moves | commits lost | write outage (s) | target | last commit → stop | stop → promote request | promotion | client reconnect | `pulumi up` (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ...figures.map((f) => {
            const o = spread(f.moves.map((m) => m.outage));
            const target = SWITCHOVER_TARGETS[f.netem];
            const verdict = target === undefined ? "–" : `≤ ${target} s: ${o.n > 0 && o.max <= target ? "met" : "**missed**"}`;
            const applied = f.wanPackets
                ? `${f.wanPackets.dropped} of ${f.wanPackets.sent + f.wanPackets.dropped} packets (${((100 * f.wanPackets.dropped) / Math.max(1, f.wanPackets.sent + f.wanPackets.dropped)).toFixed(2)} %)`
                : "–";
            return `| ${f.wan} (\`${f.netem}\`) | ${Number.isNaN(f.rttMs) ? "–" : `${f.rttMs.toFixed(1)} ms, ${f.lossPercent.toFixed(0)} %`} | ${applied} | ${o.n} | 0 in each of ${o.n} | ${fmt(o, 1)} | ${verdict} | ${phase(f, "untilStop")} | ${phase(f, "stopToPromote")} | ${phase(f, "promotion")} | ${phase(f, "reconnect")} | ${fmt(spread(f.moves.map((m) => m.upSeconds)))} |`;
        }),
        "",
        `![Write outage per switchover and WAN](${chart})`,
        "",
    ];
}

function switchoverChartSpec(r: BenchResult): Record<string, unknown> {
    const order = (r.switchover ?? []).map((f) => f.wan);
    const values = (r.switchover ?? []).flatMap((f) =>
        f.moves.map((m) => ({ wan: f.wan, outage: m.outage, move: `${m.source} → ${m.target}` })),
    );
    const medians = (r.switchover ?? []).map((f) => ({ wan: f.wan, outage: spread(f.moves.map((m) => m.outage)).median }));
    const targets = (r.switchover ?? []).flatMap((f) =>
        SWITCHOVER_TARGETS[f.netem] === undefined
            ? []
            : [{ wan: f.wan, outage: SWITCHOVER_TARGETS[f.netem], label: `target ≤ ${SWITCHOVER_TARGETS[f.netem]} s` }],
    );
    const x = { field: "wan", type: "nominal", sort: order, title: "WAN (RTT, loss each way)", axis: { labelAngle: 0 } };
    return {
        $schema: "https://vega.github.io/schema/vega-lite/v5.json",
        width: 560,
        height: 300,
        title: "Write outage per planned switchover (each move a point; tick: median; red: target)",
        layer: [
            {
                data: { values },
                mark: { type: "point", filled: true, opacity: 0.6 },
                encoding: {
                    x,
                    y: { field: "outage", type: "quantitative", title: "write outage (s)" },
                    color: { field: "move", type: "nominal" },
                },
            },
            {
                data: { values: medians },
                mark: { type: "tick", thickness: 3, size: 40, color: "black" },
                encoding: { x, y: { field: "outage", type: "quantitative" } },
            },
            {
                data: { values: targets },
                mark: { type: "tick", thickness: 2, size: 60, color: "firebrick" },
                encoding: { x, y: { field: "outage", type: "quantitative" } },
            },
        ],
    };
}

/** SWITCHOVER.md and switchover-outage.svg of a `--switchover-only` run. */
export function writeSwitchoverReport(r: BenchResult, dir: string): string[] {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "switchover-outage.svg"), svgs({ chart: switchoverChartSpec(r) }).chart);
    const lines = [
        "# crosscloud benchmark: switchovers",
        "",
        `Run ${r.startedAt} → ${r.finishedAt} with \`npm run bench -- --switchover-only\` in the lab (${r.machine.cores ?? "?"} cores; the other figures: REPORT.md).`,
        "",
        ...switchoverLines(r, "switchover-outage.svg"),
        ...r.notes.map((n) => `- ${n}`),
    ];
    fs.writeFileSync(path.join(dir, "SWITCHOVER.md"), lines.join("\n") + "\n");
    return ["SWITCHOVER.md", "switchover-outage.svg"];
}

export type { Spread };

const cell = (x: Spread | undefined, digits = 0) => (x ? x.median.toFixed(digits) : "–");

/**
 * One table from several runs' results.json (e.g. one per instance type): a row per run with its
 * instance types and headline figures. Ratios within a row were measured side by side; across rows
 * the runs differ in time (and in the WAN between them).
 */
export function combineResults(runs: { file: string; result: BenchResult }[]): string {
    const rows = runs.map(({ file, result: r }) => {
        const types = Object.entries(r.instanceTypes ?? {})
            .map(([host, t]) => `${host}: ${t}`)
            .join("<br>");
        const cipher = [...new Set(r.tcp.filter((t) => t.path === "tunnel").map((t) => t.cipher))][0] ?? "–";
        const tunnel = find(r, "tunnel", cipher, 1)?.mbits;
        const plain = find(r, "plain", "none", 1)?.mbits;
        const ceiling = find(r, "ceiling", cipher, 1)?.mbits;
        const lag = r.lag.find((l) => l.path === "tunnel");
        const pg = r.pgbench.filter((p) => p.mode !== "no standby").map((p) => `${p.mode} ${cell(p.tps)}`);
        return `| ${path.basename(path.dirname(path.resolve(file)))}/${path.basename(file)} | ${r.mode ?? "lab"} | ${types || "–"} | ${cipher} | ${cell(tunnel)} | ${cell(find(r, "tunnel", cipher, 4)?.mbits)} | ${cell(plain)} | ${pct(ratio(tunnel, plain))} | ${pct(ratio(tunnel, ceiling))} | ${cell(r.udp.find((u) => u.path === "tunnel")?.kpps, 1)} | ${pg.join("<br>") || "–"} | ${lag ? lag.p99.toFixed(1) : "–"} | ${Number.isNaN(r.cut.catchUpSeconds) ? "–" : r.cut.catchUpSeconds.toFixed(1)} |`;
    });
    return [
        "# crosscloud benchmark: runs combined",
        "",
        `${runs.length} runs of \`npm run bench\`, one row each (medians; each run's REPORT.md has the spreads). Ratios within a row were measured side by side in that run; rows come from separate runs, so compare them only as far as those runs were alike (time, WAN, load).`,
        "",
        "| run | where | instance types | cipher | tunnel 1 stream aws→azure (Mbit/s) | tunnel 4 streams | plain 1 stream | tunnel ÷ plain | tunnel ÷ ESP ceiling | tunnel UDP 64 B (kpps) | pgbench TPS | replay lag p99 (ms) | catch-up after the cut (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ...rows,
        "",
    ].join("\n");
}
