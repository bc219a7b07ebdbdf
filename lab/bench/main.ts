// npm run bench [-- --out DIR] [--reps N]            in the lab (lab/bench/run.sh starts one if none runs)
// npm run bench -- --stack-outputs FILE --key KEY [--allow-plain-baseline]   a deployed stack (plan only)
// npm run bench -- --report-from DIR [--analysis FILE.md]   the report again from DIR/results.json
import * as fs from "fs";
import * as path from "path";
import { Lab } from "../harness/lab";
import { BenchResult, FULL, runBench } from "./bench";
import { planDeployed } from "./deployed";
import { writeReport } from "./report";

async function main(argv: string[]): Promise<void> {
    const option = (name: string) => {
        const i = argv.indexOf(name);
        return i >= 0 ? argv[i + 1] : undefined;
    };
    const outputsFile = option("--stack-outputs");
    if (outputsFile) {
        if (!option("--key")) {
            throw new Error("usage: npm run bench -- --stack-outputs OUTPUTS.json --key PRIVATE_KEY [--allow-plain-baseline]");
        }
        const plan = planDeployed(JSON.parse(fs.readFileSync(outputsFile, "utf8")), {
            allowPlainBaseline: argv.includes("--allow-plain-baseline"),
        });
        console.log(JSON.stringify({ ...plan, databases: Object.keys(plan.databases) }, null, 2));
        throw new Error(
            "running against a deployed stack is planned only in this version (no cloud was available to test it); the plan is above",
        );
    }
    const analysisFile = option("--analysis");
    const analysis = analysisFile ? fs.readFileSync(analysisFile, "utf8") : "";
    const from = option("--report-from");
    if (from) {
        writeReport(JSON.parse(fs.readFileSync(path.join(from, "results.json"), "utf8")) as BenchResult, from, analysis);
        console.log(`bench: report in ${path.join(from, "REPORT.md")}`);
        return;
    }
    const out = path.resolve(option("--out") ?? path.join(__dirname, "..", "..", ".lab", "bench"));
    const reps = Number(option("--reps") ?? FULL.reps);
    const lab = new Lab();
    if (!lab.outputs.primary) {
        throw new Error("no provisioned lab: npm run lab -- up");
    }
    const result = await runBench(lab, { ...FULL, reps, out });
    writeReport(result, out, analysis);
    lab.printSummary();
    console.log(`bench: report in ${path.join(out, "REPORT.md")}`);
}

main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
        console.error(`bench: FAILED: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
    },
);
