// npm run bench, short: one repetition of every measurement with short runs and the default cipher
// only, the report written to .lab/bench-smoke/ and its structure checked. Figures are not results.
import * as fs from "fs";
import * as path from "path";
import { SMOKE, runBench } from "../../bench/bench";
import { writeReport } from "../../bench/report";
import { LAB_DIR } from "../labCloud";
import { Lab } from "../lab";

export async function benchSmoke(lab: Lab): Promise<void> {
    const out = path.join(LAB_DIR, "bench-smoke");
    fs.rmSync(out, { recursive: true, force: true });
    const result = await runBench(lab, { ...SMOKE, out });
    await lab.step("bench-smoke: the report and its charts", () => {
        const files = writeReport(result, out);
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
        const need: [string, boolean][] = [
            ["tunnel TCP", result.tcp.some((t) => t.path === "tunnel" && t.mbits.median > 0)],
            ["plain TCP", result.tcp.some((t) => t.path === "plain" && t.mbits.median > 0)],
            ["ESP ceiling", result.tcp.some((t) => t.path === "ceiling" && t.mbits.median > 0)],
            ["UDP rate", result.udp.length >= 2],
            ["path MTU", result.pmtu.largestIpPacket > 1000],
            ["pgbench", result.pgbench.length >= 2 && result.pgbench.every((p) => p.tps.median > 0)],
            ["lag at >= 10 Hz", result.lag.some((l) => l.path === "tunnel" && l.hz >= 9)],
            ["catch-up after the cut", !Number.isNaN(result.cut.catchUpSeconds)],
        ];
        const missing = need.filter(([, ok]) => !ok).map(([what]) => what);
        if (missing.length > 0) {
            throw new Error(`the smoke report lacks: ${missing.join(", ")}`);
        }
        return Promise.resolve(`${files.join(", ")} in ${out}; ${result.tcp.length} TCP figures, ${result.lag.length} lag series`);
    });
}
