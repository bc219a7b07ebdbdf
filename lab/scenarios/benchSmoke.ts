// npm run bench, short: one repetition of every measurement with short runs and the default cipher
// only, the report written and its structure checked. Figures are not results.
//   bench-smoke (in CI): the deployed-stack mode run as a user would (`npm run bench --
//   --stack-outputs - --key KEY`), against the lab as if it were a deployed stack: SSH with pinned host
//   keys through the gateways, hosts from the lab's stack outputs; report in .lab/bench-deployed-smoke/
//   bench-lab-smoke: the lab mode (runBench through the lab's shell), report in .lab/bench-smoke/
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { BenchResult, SMOKE, runBench } from "../bench/bench";
import { labHosts } from "../bench/labHosts";
import { writeReport } from "../bench/report";
import { LAB_DIR } from "../harness/labCloud";
import { Lab, shell } from "../harness/lab";

const REPO = path.resolve(__dirname, "../..");
/** How long the deployed-mode smoke may run before it is stopped as hung. */
const BENCH_SMOKE_BOUND_SECONDS = 1800;

/** Checks the report's headings and SVGs and that every part produced a figure; returns a summary. */
function checkReport(result: BenchResult, out: string, files: string[], need: [string, boolean][]): string {
    const report = fs.readFileSync(path.join(out, "REPORT.md"), "utf8");
    for (const heading of ["## Machine and versions", "## Network", "## PostgreSQL", "## Targets"]) {
        if (!report.includes(heading)) {
            throw new Error(`REPORT.md lacks "${heading}"`);
        }
    }
    for (const f of files.filter((x) => x.endsWith(".svg"))) {
        if (!/^<svg[\s\S]*<\/svg>$/.test(fs.readFileSync(path.join(out, f), "utf8").trim())) {
            throw new Error(`${f} is not an SVG`);
        }
    }
    const common: [string, boolean][] = [
        ["tunnel TCP", result.tcp.some((t) => t.path === "tunnel" && t.mbits.median > 0)],
        ["plain TCP", result.tcp.some((t) => t.path === "plain" && t.mbits.median > 0)],
        ["ESP ceiling", result.tcp.some((t) => t.path === "ceiling" && t.mbits.median > 0)],
        ["ESP ceiling without ESN", result.tcp.some((t) => t.path === "ceiling-no-esn" && t.mbits.median > 0)],
        ["UDP rate", result.udp.length >= 2],
        ["path MTU", result.pmtu.largestIpPacket > 1000],
        ["WAN capture", result.pmtu.wanPackets > 0],
        ["pgbench", result.pgbench.length >= 2 && result.pgbench.every((p) => p.tps.median > 0)],
        ["lag at >= 10 Hz", result.lag.some((l) => l.path === "tunnel" && l.hz >= 9)],
        ["catch-up after the cut", !Number.isNaN(result.cut.catchUpSeconds)],
        ["no failed part", result.notes.every((n) => !/FAILED/.test(n))],
    ];
    const missing = [...common, ...need].filter(([, ok]) => !ok).map(([what]) => what);
    if (missing.length > 0) {
        throw new Error(`the smoke report lacks: ${missing.join(", ")}`);
    }
    return `${files.join(", ")} in ${out}; ${result.tcp.length} TCP figures, ${result.lag.length} lag series`;
}

export async function benchSmoke(lab: Lab): Promise<void> {
    const out = path.join(LAB_DIR, "bench-smoke");
    fs.rmSync(out, { recursive: true, force: true });
    const result = await runBench(labHosts(lab), { ...SMOKE, out });
    await lab.step("bench-lab-smoke: the report and its charts", () =>
        Promise.resolve(
            checkReport(result, out, writeReport(result, out), [["plain-link lag", result.lag.some((l) => l.path === "plain")]]),
        ),
    );
}

export async function benchDeployedSmoke(lab: Lab): Promise<void> {
    const out = path.join(LAB_DIR, "bench-deployed-smoke");
    fs.rmSync(out, { recursive: true, force: true });
    await lab.step("bench-smoke: npm run bench -- --stack-outputs - --key .lab/admin_key against the lab", async () => {
        const args = [
            ...[
                "-r",
                "ts-node/register/transpile-only",
                "lab/bench/main.ts",
                "--stack-outputs",
                "-",
                "--key",
                path.join(LAB_DIR, "admin_key"),
            ],
            ...["--smoke", "--allow-plain-baseline", "--plain-rule", "gateway", "--out", out],
        ];
        const stdout = await new Promise<string>((resolve, reject) => {
            // The outputs go in on stdin (they hold secrets), as `pulumi stack output --json --show-secrets | npm run bench -- --stack-outputs -`.
            // A bound for a hung run, not a speed target: the smoke took 160 s on an idle machine and
            // reached only its WAN cut at 340 s on a slow CI machine, where a 600 s bound killed it.
            const child = execFile(
                "node",
                args,
                { cwd: REPO, timeout: BENCH_SMOKE_BOUND_SECONDS * 1000, maxBuffer: 1 << 24 },
                (err, so, se) => {
                    // Its timed progress lines, kept for reading where a slow run spent its time.
                    fs.mkdirSync(out, { recursive: true });
                    fs.writeFileSync(path.join(out, "bench.log"), so);
                    return err
                        ? reject(
                              new Error(
                                  `npm run bench (deployed mode) ${err.killed ? `did not finish within ${BENCH_SMOKE_BOUND_SECONDS} s and was stopped` : "failed"}: ${se || err.message}\n${so.slice(-2000)}`,
                              ),
                          )
                        : resolve(so);
                },
            );
            child.stdin!.end(JSON.stringify(lab.outputs));
        });
        return stdout.trim().split("\n").pop() ?? "";
    });
    await lab.step("bench-smoke: the report, and no temporary rule left behind", async () => {
        const result = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8")) as BenchResult;
        const leftovers = [
            await shell("azure-gateway", "iptables -S INPUT | grep -c bench-plain-iperf || true"),
            await shell("aws-gateway", "iptables -S | grep -c bench-cut || true"),
        ].map((n) => Number(n.trim()));
        const summary = checkReport(
            result,
            out,
            ["REPORT.md", "throughput-per-cipher.svg", "lag-across-cut.svg"],
            [
                ["deployed mode", result.mode === "deployed"],
                ["instance types read on every host", Object.keys(result.instanceTypes ?? {}).length === 4],
                ["plain-link lag skipped with a reason", result.skipped?.some((s) => /^replay lag over the plain link: /.test(s)) ?? false],
                ["no plain-link rule left on the Azure gateway", leftovers[0] === 0],
                ["no WAN cut rule left on the AWS gateway", leftovers[1] === 0],
            ],
        );
        return summary;
    });
}
