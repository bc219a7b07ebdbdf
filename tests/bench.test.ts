// npm run bench: the figures' statistics, the deployed-stack plan and rule (no cloud here), the
// combined per-VM-type table and the report's host table and skipped parts.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { BenchResult, SMOKE, SWITCHOVER_WANS, switchoverWansNamed } from "../lab/bench/bench";
import { azureRuleCommands, planDeployed } from "../lab/bench/deployed";
import { combineResults, cutSentence, hostTable, switchoverLines, switchoverVerdicts, writeReport } from "../lab/bench/report";
import { percentile, spread } from "../lab/harness/stats";

const host = (address: string) => ({
    address,
    user: "ubuntu",
    hostKey: "ssh-ed25519 AAAAdb",
    via: { address: "198.51.100.10", user: "ubuntu", hostKey: "ssh-ed25519 AAAAgw" },
});
const OUTPUTS = {
    awsGatewayPublicIp: "198.51.100.10",
    azureGatewayPublicIp: "203.0.113.10",
    primary: "aws",
    primaryPrivateIp: "10.10.1.10",
    standbyPrivateIp: "10.20.1.10",
    awsCidr: "10.10.0.0/16",
    azureCidr: "10.20.0.0/16",
    databaseHosts: { aws: { ...host("10.10.1.10"), postgresVersion: 15 }, azure: { ...host("10.20.1.10"), postgresVersion: 15 } },
    azureResources: {
        resourceGroupName: "crosscloud-rg",
        gatewayNsgId: "/subscriptions/s/resourceGroups/crosscloud-rg/providers/Microsoft.Network/networkSecurityGroups/gateway-nsg",
    },
};

describe("npm run bench", function () {
    it("reports the median with its spread, and interpolated percentiles", function () {
        assert.deepStrictEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
        assert.strictEqual(percentile([1, 2, 3, 4], 50), 2.5);
        assert.strictEqual(percentile([0, 10], 99), 9.9);
    });

    it("plans a deployed stack from its outputs: addresses, sites, the Azure gateway's NSG for the opt-in rule", function () {
        const plan = planDeployed(OUTPUTS, { allowPlainBaseline: false });
        assert.deepStrictEqual(
            { ...plan, databases: Object.keys(plan.databases) },
            {
                primary: "aws",
                gateways: { aws: "198.51.100.10", azure: "203.0.113.10" },
                siteCidr: { aws: "10.10.0.0/16", azure: "10.20.0.0/16" },
                databasePrivate: { aws: "10.10.1.10", azure: "10.20.1.10" },
                databases: ["aws", "azure"],
                postgresVersion: 15,
                plainBaseline: false,
                azureGatewayNsg: { resourceGroup: "crosscloud-rg", name: "gateway-nsg" },
            },
        );
        // With the primary in Azure, the private addresses swap sites.
        assert.deepStrictEqual(planDeployed({ ...OUTPUTS, primary: "azure" }, { allowPlainBaseline: true }).databasePrivate, {
            azure: "10.10.1.10",
            aws: "10.20.1.10",
        });
    });

    it("opens the plain-link rule for TCP/UDP 5201 from the AWS gateway only, and removes that same rule", function () {
        const plan = planDeployed(OUTPUTS, { allowPlainBaseline: true });
        const where = ["--resource-group", "crosscloud-rg", "--nsg-name", "gateway-nsg", "--name", "crosscloud-bench-iperf"];
        assert.deepStrictEqual(azureRuleCommands(plan), {
            open: [
                ...["network", "nsg", "rule", "create", ...where],
                ...["--priority", "3900", "--direction", "Inbound", "--access", "Allow", "--protocol", "*"],
                ...["--source-address-prefixes", "198.51.100.10/32", "--source-port-ranges", "*"],
                ...["--destination-address-prefixes", "*", "--destination-port-ranges", "5201"],
                ...["--description", "temporary: npm run bench plain-link baseline"],
            ],
            close: ["network", "nsg", "rule", "delete", ...where],
        });
        const { azureResources: _azure, ...withoutAzure } = OUTPUTS;
        void _azure;
        assert.throws(
            () => azureRuleCommands(planDeployed(withoutAzure, { allowPlainBaseline: true })),
            /name no azureResources.gatewayNsgId\/resourceGroupName/,
        );
    });

    it("refuses outputs without pinned host keys or the stack's addresses", function () {
        const { via: _via, ...direct } = host("10.20.1.10");
        void _via;
        assert.throws(
            () => planDeployed({ ...OUTPUTS, databaseHosts: { aws: host("10.10.1.10"), azure: direct } }, { allowPlainBaseline: false }),
            /databaseHosts.azure has no pinned host key or jump host/,
        );
        assert.throws(
            () => planDeployed({ primary: "aws" }, { allowPlainBaseline: false }),
            /lack awsGatewayPublicIp, azureGatewayPublicIp, awsCidr, azureCidr, primaryPrivateIp, standbyPrivateIp, databaseHosts/,
        );
    });
});

const s = (median: number) => ({ median, min: median, max: median, n: 1 });
/** A deployed run's results.json, the parts the combined table and the report read. */
function deployedRun(instanceType: string, tunnel: number, plain?: number): BenchResult {
    const tcp = (path: string, cipher: string, mbits: number, streams = 1) => ({
        path,
        cipher,
        streams,
        direction: "aws→azure" as const,
        mbits: s(mbits),
        retransmits: s(0),
    });
    return {
        mode: "deployed",
        startedAt: "2026-11-26T01:00:00.000Z",
        finishedAt: "2026-11-26T01:30:00.000Z",
        options: { ...SMOKE, reps: 3 },
        machine: { node: "v20", "aws-gateway cpu": "Xeon", "aws-database cores": "2" },
        instanceTypes: { "aws-gateway": `ec2 ${instanceType}`, "aws-database": `ec2 ${instanceType}` },
        skipped: ["replay lag over the plain link: not done on a deployed stack"],
        tcp: [
            tcp("tunnel", "aes-gcm-256", tunnel),
            tcp("tunnel", "aes-gcm-256", tunnel * 2, 4),
            tcp("ceiling", "aes-gcm-256", tunnel * 2),
            ...(plain ? [tcp("plain", "none", plain)] : []),
        ],
        udp: [{ path: "tunnel", cipher: "aes-gcm-256", kpps: s(120.55) }],
        ceilingCipher: {},
        tunnelCipher: {},
        pmtu: { largestIpPacket: 1438, dfProbeOk: true, wanFragments: 0, wanPackets: 10 },
        dbRetransmits: { mbits: s(1), retransmits: s(0), segmentsSent: s(10) },
        pgbench: [
            { mode: "no standby", tps: s(900), latencyMs: s(4) },
            { mode: "async", tps: s(850), latencyMs: s(5) },
        ],
        lag: [{ path: "tunnel", samples: 300, hz: 10, p50: 2, p95: 5, p99: 7.25, max: 9 }],
        cut: {
            seconds: 30,
            restoredAt: 30,
            catchUpSeconds: 3,
            walReplayedBytes: 2_500_000,
            bytesBehindAtRestore: 2_000_000,
            series: [
                { t: 29, bytesBehind: 1_900_000 },
                { t: 33, bytesBehind: 20_000 },
            ],
        },
        upSeconds: {},
        notes: [],
    };
}

describe("npm run bench: combining runs and the report", function () {
    it("combines several runs' results into one row per run with its instance types", function () {
        const table = combineResults([
            { file: "/tmp/m6i/results.json", result: deployedRun("m6i.large", 900, 1800) },
            { file: "/tmp/c7g/results.json", result: deployedRun("c7g.large", 1200) },
        ]).split("\n");
        assert.deepStrictEqual(table.slice(4, 8), [
            "| run | where | instance types | cipher | tunnel 1 stream aws→azure (Mbit/s) | tunnel 4 streams | plain 1 stream | tunnel ÷ plain | tunnel ÷ ESP ceiling | tunnel UDP 64 B (kpps) | pgbench TPS | replay lag p99 (ms) | catch-up after the cut (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
            "| m6i/results.json | deployed | aws-gateway: ec2 m6i.large<br>aws-database: ec2 m6i.large | aes-gcm-256 | 900 | 1800 | 1800 | 50.0 % | 50.0 % | 120.5 | async 850 | 7.3 | 3.0 |",
            "| c7g/results.json | deployed | aws-gateway: ec2 c7g.large<br>aws-database: ec2 c7g.large | aes-gcm-256 | 1200 | 2400 | – | – | 50.0 % | 120.5 | async 850 | 7.3 | 3.0 |",
        ]);
    });

    it("tabulates facts read on each host as one row per host, with its instance type", function () {
        const r = deployedRun("m6i.large", 900);
        assert.deepStrictEqual(hostTable(r.machine, r.instanceTypes!), [
            "| | |",
            "|---|---|",
            "| node | v20 |",
            "",
            "| host | instance type (read on the host) | cpu | cores |",
            "|---|---|---|---|",
            "| aws-gateway | ec2 m6i.large | Xeon | – |",
            "| aws-database | ec2 m6i.large | – | 2 |",
        ]);
    });

    it("states the link cut's real length, the catch-up and the WAL replayed; an older result's as such", function () {
        const r = deployedRun("m6i.large", 900);
        assert.strictEqual(
            cutSentence(r, true),
            "After a 30 s WAN cut (iptables on the AWS gateway dropping everything to and from the Azure gateway's public address), under the default load throughout (pgbench at 100 TPS, one run): the standby, 2.0 MB of WAL behind the primary when the link came back, was back under 1 s behind (its replay LSN at the primary's LSN of 1 s earlier) **3.0 s** after the link came back, replaying **2.5 MB** of WAL meanwhile. Two samplers at 10 Hz, the primary's `pg_current_wal_lsn()` and the standby's `pg_last_wal_replay_lsn()` with their hosts' `clock_timestamp()`, joined by time (NTP-synced clocks assumed).",
        );
        const slow = { ...r.cut, restoredAt: 46.5 };
        assert.match(
            cutSentence({ ...r, cut: slow }, false),
            /^After a WAN cut asked for 30 s \(`labctl wan cut on`; t = 0 is when the cut call returned, t = 46.5 s when the restore call returned, .*so the link was down between 30 and about 47 s\), .*\(the lab's hosts read the same machine clock\)\.$/,
        );
        // results.json from before the bytes-behind series: said to be older, not read as bytes.
        const older = { seconds: 30, restoredAt: 30, catchUpSeconds: 56.3, series: [] };
        assert.match(
            cutSentence({ ...r, cut: older }, false),
            /an older result, whose 10 Hz series measured the replay delay .* after 56.3 s\.$/,
        );
    });

    it("--wans picks WANs of the grid by name, in the grid's order, and names what it does not know", function () {
        assert.deepStrictEqual(
            switchoverWansNamed("80ms-1%,clean").map((w) => w.name),
            ["clean", "80 ms RTT, 1 % loss"],
        );
        assert.strictEqual(switchoverWansNamed(undefined), SWITCHOVER_WANS);
        assert.throws(
            () => switchoverWansNamed("clean,80ms"),
            /^Error: --wans clean,80ms: not a WAN \(80ms\); from clean, 40ms, 80ms-1%, 150ms-2%, comma-separated$/,
        );
    });

    it("tabulates the switchovers per WAN: outage median and worst against the targets, the phases, 0 lost in each", function () {
        const move = (outage: number, stopToPromote: number, source: "aws" | "azure") => ({
            source,
            target: source === "aws" ? ("azure" as const) : ("aws" as const),
            commits: 120,
            inDoubt: 0,
            outage,
            phases: { untilStop: 0.1, stopToPromote, promotion: 0.5, reconnect: outage - 0.6 - stopToPromote },
            longestStall: outage,
            upSeconds: 60,
        });
        const r: BenchResult = {
            ...deployedRun("lab", 900),
            switchover: [
                { wan: "clean", netem: "none", rttMs: 1.04, lossPercent: 0, moves: [move(2, 1, "aws"), move(3, 1.5, "azure")] },
                {
                    wan: "80 ms RTT, 1 % loss",
                    netem: "delay 40ms loss 1%",
                    rttMs: 81.2,
                    lossPercent: 2,
                    wanPackets: { sent: 19_802, dropped: 198 },
                    moves: [move(6, 3, "aws"), move(11, 8, "azure")],
                },
                { wan: "40 ms RTT", netem: "delay 20ms", rttMs: 41, lossPercent: 0, moves: [{ ...move(4, 2, "aws"), phases: undefined }] },
            ],
        };
        const lines = switchoverLines(r, "chart.svg");
        assert.deepStrictEqual(lines.slice(4, 9), [
            "| WAN (netem, each way) | RTT, loss by ping | loss netem applied | moves | commits lost | write outage (s) | target | last commit → stop | stop → promote request | promotion | client reconnect | `pulumi up` (s) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
            "| clean (`none`) | 1.0 ms, 0 % | – | 2 | 0 in each of 2 | 2.5 (2.0–3.0, n=2) | ≤ 5 s: met | 0.1 (0.1–0.1, n=2) | 1.3 (1.0–1.5, n=2) | 0.5 (0.5–0.5, n=2) | 0.6 (0.4–0.9, n=2) | 60 (60–60, n=2) |",
            "| 80 ms RTT, 1 % loss (`delay 40ms loss 1%`) | 81.2 ms, 2 % | 198 of 20000 packets (0.99 %) | 2 | 0 in each of 2 | 8.5 (6.0–11.0, n=2) | ≤ 10 s: **missed** | 0.1 (0.1–0.1, n=2) | 5.5 (3.0–8.0, n=2) | 0.5 (0.5–0.5, n=2) | 2.4 (2.4–2.4, n=2) | 60 (60–60, n=2) |",
            "| 40 ms RTT (`delay 20ms`) | 41.0 ms, 0 % | – | 1 | 0 in each of 1 | 4.0 (4.0–4.0, n=1) | – | – | – | – | – | 60 (60–60, n=1) |",
        ]);
        // The worst move decides: a median under the target does not meet it.
        assert.deepStrictEqual(switchoverVerdicts(r), [
            { wan: "clean", target: 5, median: 2.5, worst: 3, met: true },
            { wan: "80 ms RTT, 1 % loss", target: 10, median: 8.5, worst: 11, met: false },
        ]);
        assert.deepStrictEqual(switchoverLines({ ...r, switchover: undefined }, "chart.svg"), []);
    });

    it("says in the report what a deployed run did not measure, and why", function () {
        this.timeout(30_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-report-"));
        try {
            writeReport(deployedRun("m6i.large", 900), dir);
            const report = fs.readFileSync(path.join(dir, "REPORT.md"), "utf8").split("\n");
            const at = report.indexOf("Not measured in this run:");
            assert.deepStrictEqual(report.slice(at, at + 4), [
                "Not measured in this run:",
                "",
                "- replay lag over the plain link: not done on a deployed stack",
                "",
            ]);
            assert.ok(report.includes("| replication p99 lag ≤ 1.5× the plain link | not measured |"));
            assert.ok(!report.some((l) => l.startsWith("Provisioning runs of the program")));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
