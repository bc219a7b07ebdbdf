// The lab run: index.ts under the mock runtime with the lab stack, every remote command executed for
// real against the lab's hosts, then the scenarios asked for (lab/scenarios), with a summary.
// Runs on the machine inside the lab's netns (lab/run.sh starts it there).
//   main.ts [SCENARIO...]            provision (pulumi up), then the scenarios (default: validation)
//   main.ts --attach SCENARIO...     the scenarios only, against a lab already provisioned
import { GATEWAYS } from "./harness/faults";
import { Lab, shell } from "./harness/lab";
import { SCENARIOS } from "./scenarios";

/**
 * What the gateways' plutos held when the run failed, on stderr: a tunnel failure in CI can then be
 * told from the log alone. Bounded: a host that is down must not hold the exit.
 */
async function dumpGateways(): Promise<void> {
    const script = "ipsec whack --showstates; ipsec whack --trafficstatus; journalctl -u ipsec -n 40 --no-pager -o short-unix";
    for (const gw of GATEWAYS) {
        const state = await Promise.race([
            shell(gw, `${script} 2>&1 || true`).catch((err: Error) => `(could not read: ${err.message})`),
            new Promise<string>((resolve) => setTimeout(() => resolve("(no answer within 30 s)"), 30_000).unref()),
        ]);
        console.error(`lab: ${gw} at the failure:\n${state.trimEnd()}`);
    }
}

/**
 * LAB_CONFIG: config beyond lab/stack.json for this lab's first `up`, as `pulumi config set` would add
 * it (it sticks for the lab's later runs), e.g. '{"crosscloud:walSegmentSizeMb": "16"}' for the
 * product's default segment size (the lab stack sets 4).
 */
function labConfig(): Record<string, string> {
    const raw = process.env.LAB_CONFIG;
    if (!raw) {
        return {};
    }
    let parsed: unknown;
    try {
        parsed = JSON.parse(raw);
    } catch (err) {
        throw new Error(
            `LAB_CONFIG is not JSON (${(err as Error).message}): give an object of config keys, e.g. '{"crosscloud:walSegmentSizeMb": "16"}'`,
        );
    }
    if (
        typeof parsed !== "object" ||
        parsed === null ||
        Array.isArray(parsed) ||
        Object.values(parsed).some((v) => typeof v !== "string")
    ) {
        throw new Error(`LAB_CONFIG must be an object of config keys to string values, e.g. '{"crosscloud:walSegmentSizeMb": "16"}'`);
    }
    return parsed as Record<string, string>;
}

async function main(): Promise<void> {
    const attach = process.argv.includes("--attach");
    const names = process.argv.slice(2).filter((a) => !a.startsWith("--"));
    const unknown = names.filter((n) => !(n in SCENARIOS));
    if (unknown.length > 0) {
        throw new Error(`unknown scenario ${unknown.join(", ")}; known: ${Object.keys(SCENARIOS).join(", ")}`);
    }
    const lab = new Lab();
    if (attach) {
        if (!lab.outputs.primary) {
            throw new Error("no provisioned lab to attach to: run `npm run lab -- up` first");
        }
    } else {
        await lab.step("pulumi up (program under mocks, commands over SSH)", async () => {
            const { outputs, cloud } = await lab.up(labConfig());
            for (const c of cloud.commands) {
                lab.log(`  ${(c.durationMs / 1000).toFixed(1).padStart(7)} s  command ${c.name}`);
            }
            return `${cloud.commands.length} commands; tunnel ${outputs.tunnelStatus}, replication ${outputs.replicationStatus}`;
        });
    }
    for (const name of names.length > 0 ? names : ["validation"]) {
        await SCENARIOS[name](lab);
    }
    lab.printSummary();
}

main().then(
    () => process.exit(0),
    async (err) => {
        console.error(`lab: FAILED: ${err instanceof Error ? err.message : String(err)}`);
        await dumpGateways();
        process.exit(1);
    },
);
