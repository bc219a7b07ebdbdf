// npm run bench -- --stack-outputs OUTPUTS.json --key KEY: the bench against a deployed stack. The
// same measurements as in the lab (bench.ts), over SSH: hosts from `pulumi stack output --json
// --show-secrets`, pinned host keys, the gateway as jump host to its database host (as npm run
// failover connects). What only `pulumi up` can change (cipher suite, synchronous level) is measured
// as configured; the report says how to measure the others. The plain-link baseline needs a
// temporary cloud firewall rule the user opts in to (--allow-plain-baseline).
import { execFile } from "child_process";
import { KeptConnection, SshHostOutput, connectionFor } from "../../scripts/ssh";
import { RUN_SCRIPT_FROM_STDIN } from "../../scripts/render";
import type { IpsecCipher } from "../../scripts/ipsec";
import type { Site } from "../harness/lab";
import { CIPHER_XFRM, xfrmAlgorithms } from "./bench";
import type { StepRecord } from "../harness/lab";
import { BenchHost, BenchHosts, TemporaryRule } from "./hosts";

export const IPERF_PORT = 5201;
/**
 * Below the Azure sites' deny-all priority (4000), above the program's own rules: the sites' 100 and 110
 * and the added rules' fixed 1000-1999 (components/azureSite.ts, NSG_RULE_PRIORITIES).
 */
export const BENCH_NSG_PRIORITY = 3900;
export const BENCH_NSG_RULE = "crosscloud-bench-iperf";

export interface DeployedPlan {
    primary: Site;
    gateways: { aws: string; azure: string };
    siteCidr: Record<Site, string>;
    databasePrivate: Record<Site, string>;
    databases: Record<Site, SshHostOutput & { postgresVersion?: number }>;
    postgresVersion: number;
    plainBaseline: boolean;
    /** The Azure gateway's network security group (where the opt-in rule goes), if the outputs name it. */
    azureGatewayNsg?: { resourceGroup: string; name: string };
}

/** Checks the stack's outputs (`pulumi stack output --json --show-secrets`); throws naming what is missing. */
export function planDeployed(outputs: Record<string, any>, opts: { allowPlainBaseline: boolean }): DeployedPlan {
    const missing = [
        "awsGatewayPublicIp",
        "azureGatewayPublicIp",
        "awsCidr",
        "azureCidr",
        "primary",
        "primaryPrivateIp",
        "standbyPrivateIp",
        "databaseHosts",
    ].filter((k) => outputs[k] === undefined);
    if (missing.length > 0) {
        throw new Error(
            `the stack outputs lack ${missing.join(", ")}: pass \`pulumi stack output --json --show-secrets\` of a crosscloud stack`,
        );
    }
    const databases = outputs.databaseHosts as DeployedPlan["databases"];
    for (const site of ["aws", "azure"] as const) {
        const host = databases[site];
        if (!host?.address || !host.hostKey || !host.via?.hostKey) {
            throw new Error(`databaseHosts.${site} has no pinned host key or jump host: refusing to connect without them`);
        }
    }
    const primary = outputs.primary as Site;
    const standby: Site = primary === "aws" ? "azure" : "aws";
    const nsgId: string | undefined = outputs.azureResources?.gatewayNsgId;
    const nsgName = nsgId ? /\/networkSecurityGroups\/([^/]+)$/i.exec(nsgId)?.[1] : undefined;
    const resourceGroup: string | undefined = outputs.azureResources?.resourceGroupName;
    return {
        primary,
        gateways: { aws: outputs.awsGatewayPublicIp, azure: outputs.azureGatewayPublicIp },
        siteCidr: { aws: outputs.awsCidr, azure: outputs.azureCidr },
        databasePrivate: { [primary]: outputs.primaryPrivateIp, [standby]: outputs.standbyPrivateIp } as Record<Site, string>,
        databases,
        postgresVersion: Number(databases[primary].postgresVersion ?? 16),
        plainBaseline: opts.allowPlainBaseline,
        ...(nsgName && resourceGroup ? { azureGatewayNsg: { resourceGroup, name: nsgName } } : {}),
    };
}

/**
 * The `az` commands that open and remove the plain-link rule: TCP/UDP 5201 on the Azure gateway's
 * NSG, from the AWS gateway's public address only (iperf3 runs from the AWS gateway; -R reverses the
 * data on the same connection, so no rule is needed on the AWS side).
 */
export function azureRuleCommands(plan: DeployedPlan): { open: string[]; close: string[] } {
    if (!plan.azureGatewayNsg) {
        throw new Error("the stack outputs name no azureResources.gatewayNsgId/resourceGroupName: cannot place the plain-link rule");
    }
    const where = [
        "--resource-group",
        plan.azureGatewayNsg.resourceGroup,
        "--nsg-name",
        plan.azureGatewayNsg.name,
        "--name",
        BENCH_NSG_RULE,
    ];
    return {
        open: [
            "network",
            "nsg",
            "rule",
            "create",
            ...where,
            "--priority",
            String(BENCH_NSG_PRIORITY),
            "--direction",
            "Inbound",
            "--access",
            "Allow",
            "--protocol",
            "*",
            "--source-address-prefixes",
            `${plan.gateways.aws}/32`,
            "--source-port-ranges",
            "*",
            "--destination-address-prefixes",
            "*",
            "--destination-port-ranges",
            String(IPERF_PORT),
            "--description",
            "temporary: npm run bench plain-link baseline",
        ],
        close: ["network", "nsg", "rule", "delete", ...where],
    };
}

const run = (cmd: string, args: string[]) =>
    new Promise<string>((resolve, reject) =>
        execFile(cmd, args, { timeout: 300_000 }, (err, stdout, stderr) =>
            err ? reject(new Error(`${cmd} ${args.slice(0, 4).join(" ")}: ${(stderr || err.message).trim()}`)) : resolve(stdout),
        ),
    );

/** The opt-in rule in the Azure gateway's NSG, through the Azure CLI (the user's `az login`). */
export function azureNsgRule(plan: DeployedPlan): TemporaryRule {
    const commands = azureRuleCommands(plan);
    return {
        description: `TCP/UDP ${IPERF_PORT} from ${plan.gateways.aws}/32 (the AWS gateway) on the Azure gateway's NSG ${plan.azureGatewayNsg!.name}, rule ${BENCH_NSG_RULE}`,
        open: async () => {
            await run("az", commands.open);
        },
        close: async () => {
            await run("az", commands.close);
        },
    };
}

/**
 * The same rule in the Azure gateway's own iptables instead: for a stack whose cloud firewall does not
 * stand in the way (the lab has none), so the open/remove discipline runs where it can be checked.
 */
export function gatewayFirewallRule(plan: DeployedPlan, shell: (host: BenchHost, script: string) => Promise<string>): TemporaryRule {
    const rule = (op: string, proto: string) =>
        `iptables ${op} INPUT -p ${proto} -s ${plan.gateways.aws}/32 --dport ${IPERF_PORT} -j ACCEPT -m comment --comment bench-plain-iperf`;
    return {
        description: `TCP/UDP ${IPERF_PORT} from ${plan.gateways.aws}/32 (the AWS gateway) in the Azure gateway's iptables (--plain-rule gateway)`,
        open: async () => {
            await shell("azure-gateway", `${rule("-I", "tcp")}\n${rule("-I", "udp")}`);
        },
        close: async () => {
            await shell(
                "azure-gateway",
                `while ${rule("-D", "tcp")} 2>/dev/null; do :; done; while ${rule("-D", "udp")} 2>/dev/null; do :; done; true`,
            );
        },
    };
}

/** Each host's instance type, read on the host; the metadata service is asked only where DMI names that cloud. */
export const INSTANCE_TYPE_SCRIPT = `vendor=$(cat /sys/class/dmi/id/sys_vendor 2>/dev/null || true)
asset=$(cat /sys/class/dmi/id/chassis_asset_tag 2>/dev/null || true)
if [ "$vendor" = "Amazon EC2" ]; then
  t=$(curl -s -m 3 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)
  echo "ec2 $(curl -s -m 3 -H "X-aws-ec2-metadata-token: $t" http://169.254.169.254/latest/meta-data/instance-type)"
elif [ "$asset" = "7783-7084-3265-9085-8269-3286-77" ]; then
  echo "azure $(curl -s -m 3 -H Metadata:true 'http://169.254.169.254/metadata/instance/compute/vmSize?api-version=2021-02-01&format=text')"
else
  echo "unknown (DMI names neither EC2 nor Azure: sys_vendor '$vendor'; the metadata service was not asked)"
fi`;

const FACTS_SCRIPT = `echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "cores=$(nproc)"
echo "memory=$(free -m | awk '/Mem:/ {print $2 " MiB"}')"
echo "aesNi=$(grep -qw aes /proc/cpuinfo && echo yes || echo no)"
echo "kernel=$(uname -sr)"
echo "os=$(. /etc/os-release; echo $PRETTY_NAME)"
echo "libreswan=$(ipsec --version 2>/dev/null | head -1)"
echo "postgresql=$(ls /usr/lib/postgresql 2>/dev/null | tr '\\n' ' ')"
echo "iperf3=$(iperf3 --version 2>/dev/null | head -1)"`;

/** What the bench needs on the gateways: iperf3 (both) and tcpdump (the AWS one), installed only if missing. */
const TOOLS_SCRIPT = (tools: string[]) => `missing=()
for t in ${tools.join(" ")}; do command -v $t >/dev/null || missing+=($t); done
if [ \${#missing[@]} -gt 0 ]; then
  echo 'iperf3 iperf3/start_daemon boolean false' | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "\${missing[@]}" >/dev/null
  echo "installed \${missing[*]}"
fi`;

export interface DeployedOptions {
    privateKey: string;
    /** The opt-in plain-link rule (Azure NSG, or the gateway's iptables); undefined: not opted in. */
    plainRule?: (shell: (host: BenchHost, script: string) => Promise<string>) => TemporaryRule;
    ceilingScript: string;
    log: (line: string) => void;
    steps: StepRecord[];
}

/**
 * BenchHosts over SSH for a deployed stack: one kept connection per host (each database host's through
 * its gateway), a channel per script; `close` ends them.
 */
export function deployedHosts(plan: DeployedPlan, opts: DeployedOptions): BenchHosts & { close(): void } {
    const connections: Record<BenchHost, KeptConnection> = {
        "aws-gateway": new KeptConnection(connectionFor(plan.databases.aws.via!, opts.privateKey)),
        "azure-gateway": new KeptConnection(connectionFor(plan.databases.azure.via!, opts.privateKey)),
        "aws-database": new KeptConnection(connectionFor(plan.databases.aws, opts.privateKey)),
        "azure-database": new KeptConnection(connectionFor(plan.databases.azure, opts.privateKey)),
    };
    const shell = async (host: BenchHost, script: string) =>
        (await connections[host].run(`bench on ${host}`, RUN_SCRIPT_FROM_STDIN, script)).stdout;
    const azureGatewayPrivate = async () => {
        const route = await shell("azure-gateway", `ip -4 -o route get ${plan.databasePrivate.azure}`);
        return / src (\S+)/.exec(route)?.[1] ?? "";
    };
    // One SSH dial pattern for every host; the cut and capture run on the AWS gateway, toward the
    // Azure gateway's public address (the tunnel's outer packets: ESP in UDP 4500 and IKE).
    const peer = plan.gateways.azure;
    const cutRules = (op: string) =>
        `iptables ${op} INPUT -s ${peer}/32 -j DROP -m comment --comment bench-cut; iptables ${op} OUTPUT -d ${peer}/32 -j DROP -m comment --comment bench-cut`;
    const uncut = `while iptables -D INPUT -s ${peer}/32 -j DROP -m comment --comment bench-cut 2>/dev/null; do :; done; while iptables -D OUTPUT -d ${peer}/32 -j DROP -m comment --comment bench-cut 2>/dev/null; do :; done`;
    const hosts: BenchHosts & { close(): void } = {
        kind: "deployed",
        close: () => Object.values(connections).forEach((c) => c.close()),
        primary: plan.primary,
        postgresVersion: plan.postgresVersion,
        log: opts.log,
        step: async (name, body) => {
            const t = Date.now();
            opts.log(`${name} ...`);
            const detail = await body();
            opts.steps.push({ name, seconds: (Date.now() - t) / 1000, detail });
            opts.log(`${name}: ${detail}`);
        },
        shell,
        gatewayPublic: plan.gateways,
        siteCidr: plan.siteCidr,
        databasePrivate: plan.databasePrivate,
        pathCheck: {
            from: "aws-gateway",
            server: "azure-gateway",
            to: azureGatewayPrivate,
            description:
                "AWS gateway to the Azure gateway's private address (the database hosts' firewalls admit only PostgreSQL from the peer)",
        },
        async captureWan(body) {
            const pcap = "/run/bench-wan.pcap";
            await shell(
                "aws-gateway",
                `rm -f ${pcap}; (setsid timeout 900 tcpdump -i any -nn -U -w ${pcap} host ${peer} </dev/null >/dev/null 2>&1 & echo $! > /run/bench-wan.pid); sleep 1`,
            );
            let value;
            try {
                value = await body();
            } finally {
                await shell("aws-gateway", "kill -INT $(cat /run/bench-wan.pid) 2>/dev/null; sleep 1; rm -f /run/bench-wan.pid; true");
            }
            const counts = await shell(
                "aws-gateway",
                `echo $(tcpdump -nn -r ${pcap} 2>/dev/null | wc -l) $(tcpdump -nn -r ${pcap} 'ip[6:2] & 0x3fff != 0' 2>/dev/null | wc -l); rm -f ${pcap}`,
            );
            const [packets, fragments] = counts.trim().split(/\s+/).map(Number);
            return { value, packets, fragments };
        },
        cutWan: async (on) => {
            // A failsafe removes the cut after 10 minutes even if the bench dies while it is on.
            await shell(
                "aws-gateway",
                on
                    ? `${cutRules("-I")}\n(setsid sh -c 'sleep 600; ${uncut.replace(/'/g, "'\\''")}' </dev/null >/dev/null 2>&1 &)`
                    : `${uncut}; true`,
            );
        },
        espCeiling: (args) =>
            shell("aws-gateway", `set -- ${args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ")}\n${opts.ceilingScript}`),
        ceilingWhere: "two namespaces on a veth inside the AWS gateway (one VM's CPU encrypts and decrypts)",
        ceilingWithoutEsp: true,
        configuredCipher: async () => {
            const algos = await xfrmAlgorithms(hosts, "aws-gateway");
            const found = (Object.keys(CIPHER_XFRM) as IpsecCipher[]).find(
                (c) => algos.length > 0 && algos.every((a) => CIPHER_XFRM[c].test(a)),
            );
            if (!found) {
                throw new Error(`the AWS gateway's SAs match no known cipher suite: ${algos.join("; ") || "(no SA)"}`);
            }
            return found;
        },
        plainBaseline: opts.plainRule
            ? { rule: opts.plainRule(shell) }
            : {
                  skipped: `not opted in: it needs a temporary rule admitting TCP/UDP ${IPERF_PORT} from the AWS gateway's public address on the Azure gateway (npm run bench -- ... --allow-plain-baseline)`,
              },
        plainReplicationSkipped:
            "not done on a deployed stack: it would publish the primary's PostgreSQL port on the AWS gateway's public address",
        facts: async () => {
            const machine: Record<string, string> = { node: process.version };
            const instanceTypes: Record<string, string> = {};
            for (const host of Object.keys(connections) as BenchHost[]) {
                // One call per host: the facts, then the instance type on the last line.
                const lines = (await shell(host, `${FACTS_SCRIPT}\n${INSTANCE_TYPE_SCRIPT}`)).trim().split("\n");
                instanceTypes[host] = lines.pop() ?? "";
                for (const line of lines) {
                    const i = line.indexOf("=");
                    machine[`${host} ${line.slice(0, i)}`] = line.slice(i + 1);
                }
            }
            return { machine, instanceTypes };
        },
    };
    return hosts;
}

/** Installs what the bench needs on the gateways if it is missing (iperf3; tcpdump for the WAN capture). */
export async function prepareDeployed(hosts: BenchHosts): Promise<void> {
    await hosts.step("bench: iperf3 and tcpdump on the gateways (installed only if missing)", async () => {
        const said = [
            await hosts.shell("aws-gateway", TOOLS_SCRIPT(["iperf3", "tcpdump"])),
            await hosts.shell("azure-gateway", TOOLS_SCRIPT(["iperf3"])),
        ];
        return said.join(" ").trim() || "present";
    });
}
