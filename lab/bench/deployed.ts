// npm run bench -- --stack-outputs OUTPUTS.json --key KEY: the plan for a deployed stack. It reads
// `pulumi stack output --json --show-secrets=false`, reaches the hosts as npm run failover does (pinned
// host keys, the gateway as jump host), and lists the runs the lab does, per instance type. The plain
// link baseline needs a temporary rule the user opts in to (--allow-plain-baseline).
import type { SshHostOutput } from "../../components/postgresReplicaPair";
import { ConnectionLike } from "../../scripts/ssh";
import { connectionFor } from "../../scripts/failover";

export interface DeployedPlan {
    primary: string;
    gateways: { aws: string; azure: string };
    databases: Record<string, SshHostOutput>;
    instanceTypes: Record<string, string>;
    runs: string[];
    plainBaseline: boolean;
}

/** Checks the stack's outputs and plans the runs; throws naming what is missing. */
export function planDeployed(
    outputs: Record<string, any>,
    opts: { allowPlainBaseline: boolean; instanceTypes?: Record<string, string> },
): DeployedPlan {
    const missing = [
        "awsGatewayPublicIp",
        "azureGatewayPublicIp",
        "primary",
        "primaryPrivateIp",
        "standbyPrivateIp",
        "databaseHosts",
    ].filter((k) => outputs[k] === undefined);
    if (missing.length > 0) {
        throw new Error(`the stack outputs lack ${missing.join(", ")}: pass \`pulumi stack output --json\` of a crosscloud stack`);
    }
    const databases = outputs.databaseHosts as Record<string, SshHostOutput>;
    for (const [site, host] of Object.entries(databases)) {
        if (!host.address || !host.hostKey || !host.via?.hostKey) {
            throw new Error(`databaseHosts.${site} has no pinned host key or jump host: refusing to connect without them`);
        }
    }
    const types = opts.instanceTypes ?? {};
    const suffix = Object.keys(types).length
        ? ` on ${Object.entries(types)
              .map(([k, t]) => `${k}=${t}`)
              .join(", ")}`
        : "";
    return {
        primary: outputs.primary,
        gateways: { aws: outputs.awsGatewayPublicIp, azure: outputs.azureGatewayPublicIp },
        databases,
        instanceTypes: types,
        plainBaseline: opts.allowPlainBaseline,
        runs: [
            `iperf3 TCP 1/4 streams both ways through the tunnel (database host to database host)${suffix}`,
            ...(opts.allowPlainBaseline
                ? [
                      `iperf3 over the plain link between the gateways' public addresses (temporary rule: TCP 5201 from the peer gateway only)${suffix}`,
                  ]
                : ["plain-link baseline skipped: not opted in (--allow-plain-baseline); the report shows tunnel figures only"]),
            `pgbench on the primary: no standby, async, remote_write, on, remote_apply${suffix}`,
            `replay lag at 10 Hz under the default load${suffix}`,
        ],
    };
}

/** SSH connection for each database host (through its gateway), as npm run failover builds it. */
export function connections(plan: DeployedPlan, privateKey: string): Record<string, ConnectionLike> {
    return Object.fromEntries(Object.entries(plan.databases).map(([site, host]) => [site, connectionFor(host, privateKey)]));
}
