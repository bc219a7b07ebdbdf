// npm run bench [-- --out DIR] [--reps N]            in the lab (lab/bench/run.sh starts one if none runs)
// npm run bench -- --stack-outputs FILE|- --key KEY [--allow-plain-baseline [--plain-rule azure|gateway]] [--out DIR] [--reps N] [--smoke]
//                                                     a deployed stack over SSH (lab/bench/README.md)
// npm run bench -- --switchover-only [--moves N] [--wans clean,40ms,80ms-1%,150ms-2%] [--out DIR]
//                                                     in the lab: only the switchovers per WAN (SWITCHOVER.md)
// npm run bench -- --report-from DIR [--analysis FILE.md]   the report again from DIR/results.json
// npm run bench -- --combine A.json B.json ... [--out DIR]  one table per VM type from several runs
import * as fs from "fs";
import * as path from "path";
import { Lab, StepRecord } from "../harness/lab";
import { BenchOptions, BenchResult, FULL, SMOKE, runBench, runSwitchoverBench, switchoverWansNamed } from "./bench";
import { azureNsgRule, deployedHosts, gatewayFirewallRule, planDeployed, prepareDeployed } from "./deployed";
import { labHosts } from "./labHosts";
import { combineResults, writeReport, writeSwitchoverReport } from "./report";

const USAGE =
    "usage: npm run bench -- --stack-outputs OUTPUTS.json|- --key PRIVATE_KEY [--allow-plain-baseline [--plain-rule azure|gateway]] [--out DIR] [--reps N]";

export async function benchDeployed(
    outputsJson: string,
    privateKey: string,
    opts: BenchOptions,
    plain: { allow: boolean; rule: "azure" | "gateway" },
): Promise<{ result: BenchResult; steps: StepRecord[] }> {
    const plan = planDeployed(JSON.parse(outputsJson), { allowPlainBaseline: plain.allow });
    const started = Date.now();
    const steps: StepRecord[] = [];
    const hosts = deployedHosts(plan, {
        privateKey,
        plainRule: plain.allow ? (shell) => (plain.rule === "gateway" ? gatewayFirewallRule(plan, shell) : azureNsgRule(plan)) : undefined,
        ceilingScript: fs.readFileSync(path.join(__dirname, "esp-ceiling.sh"), "utf8"),
        log: (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`),
        steps,
    });
    try {
        await prepareDeployed(hosts);
        return { result: await runBench(hosts, opts), steps };
    } finally {
        hosts.close();
    }
}

async function main(argv: string[]): Promise<void> {
    const option = (name: string) => {
        const i = argv.indexOf(name);
        return i >= 0 ? argv[i + 1] : undefined;
    };
    const analysisFile = option("--analysis");
    const analysis = analysisFile ? fs.readFileSync(analysisFile, "utf8") : "";
    const defaultOut = path.join(__dirname, "..", "..", ".lab", "bench");
    const out = path.resolve(option("--out") ?? defaultOut);
    // --smoke: one repetition of short runs with the default cipher (what CI runs), not a result.
    const base = argv.includes("--smoke") ? SMOKE : FULL;
    const reps = Number(option("--reps") ?? base.reps);

    const combine = argv.indexOf("--combine");
    if (combine >= 0) {
        const files = argv.slice(combine + 1).filter((a, i, all) => !a.startsWith("--") && all[i - 1] !== "--out");
        const runs = files.map((f) => ({ file: f, result: JSON.parse(fs.readFileSync(f, "utf8")) as BenchResult }));
        fs.mkdirSync(out, { recursive: true });
        fs.writeFileSync(path.join(out, "COMBINED.md"), combineResults(runs));
        console.log(`bench: ${runs.length} runs combined in ${path.join(out, "COMBINED.md")}`);
        return;
    }
    const outputsFile = option("--stack-outputs");
    if (outputsFile) {
        const keyFile = option("--key");
        const rule = option("--plain-rule") ?? "azure";
        if (!keyFile || (rule !== "azure" && rule !== "gateway")) {
            throw new Error(USAGE);
        }
        // The outputs hold secrets (--show-secrets): read from the file or stdin, never from argv.
        const outputsJson = fs.readFileSync(outputsFile === "-" ? 0 : outputsFile, "utf8");
        const { result, steps } = await benchDeployed(
            outputsJson,
            fs.readFileSync(keyFile, "utf8"),
            { ...base, reps, out },
            {
                allow: argv.includes("--allow-plain-baseline"),
                rule,
            },
        );
        writeReport(result, out, analysis);
        console.log("\nSummary");
        for (const s of steps) {
            console.log(`  ${s.seconds.toFixed(1).padStart(7)} s  ${s.name}: ${s.detail}`);
        }
        console.log(`bench: report in ${path.join(out, "REPORT.md")}`);
        return;
    }
    const from = option("--report-from");
    if (from) {
        const result = JSON.parse(fs.readFileSync(path.join(from, "results.json"), "utf8")) as BenchResult;
        // A switchover-only run has no network figures: its own report.
        const report =
            result.tcp.length === 0 && result.switchover ? writeSwitchoverReport(result, from)[0] : writeReport(result, from, analysis)[0];
        console.log(`bench: report in ${path.join(from, report)}`);
        return;
    }
    const lab = new Lab();
    if (!lab.outputs.primary) {
        throw new Error("no provisioned lab: npm run lab -- up");
    }
    if (argv.includes("--switchover-only")) {
        const moves = Number(option("--moves") ?? base.switchoverMoves);
        if (!Number.isInteger(moves) || moves < 2 || moves % 2 !== 0) {
            throw new Error(`--moves ${option("--moves")}: an even number from 2 (the primary ends where it was)`);
        }
        const switchoverWans = switchoverWansNamed(option("--wans"));
        const result = await runSwitchoverBench(labHosts(lab), { ...base, reps, out, switchoverMoves: moves, switchoverWans });
        writeSwitchoverReport(result, out);
        lab.printSummary();
        console.log(`bench: report in ${path.join(out, "SWITCHOVER.md")}`);
        return;
    }
    const result = await runBench(labHosts(lab), { ...base, reps, out });
    writeReport(result, out, analysis);
    lab.printSummary();
    console.log(`bench: report in ${path.join(out, "REPORT.md")}`);
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        () => process.exit(0),
        (err) => {
            console.error(`bench: FAILED: ${err instanceof Error ? err.message : String(err)}`);
            process.exit(1);
        },
    );
}
