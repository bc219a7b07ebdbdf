// The lab as a cloud: the program's AWS and Azure resources resolve to the lab's sites, subnets,
// routes and hosts (through labctl), and its remote commands run for real over SSH. A host is
// powered on when the program first connects to it, once everything declared for it (addresses,
// disk, key) has registered; it then runs the boot script the program handed it.
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { GeneratedKeys, KeyPair, cloudResources } from "../../mockcloud/cloudMocks";
import { ResourceBehaviour } from "../../mockcloud/programRunner";
import { CommandResult, ConnectionLike, runRemoteCommand } from "../../scripts/ssh";
import { interpretUserData } from "./cloudInit";

const REPO = path.resolve(__dirname, "../..");
export const LAB_DIR = path.join(REPO, ".lab");
const CTL = path.join(REPO, "lab/infra/ctl.sh");
/** The subnets and routes applied in this lab (under ctl/, which down.sh removes with the lab). */
const NETWORK_STATE = path.join(LAB_DIR, "ctl", "network-applied.json");
const KEY_STATE = path.join(LAB_DIR, "generated-keys.json");
/** Each command's last successful run: a fingerprint of what it ran, and its result. */
const COMMAND_STATE = path.join(LAB_DIR, "command-state.json");

type CommandState = Record<string, { fingerprint: string; result: CommandResult }>;

/** The command state as saved (read anew each time: another `up` of the lab may have written it). */
function readCommandState(): CommandState {
    return fs.existsSync(COMMAND_STATE) ? (JSON.parse(fs.readFileSync(COMMAND_STATE, "utf8")) as CommandState) : {};
}

/** Every command that has run in this lab, by name: what a whole-program `up` runs. */
export function knownCommands(): string[] {
    return Object.keys(readCommandState()).sort();
}

/**
 * Forgets the last run of every command whose name matches, as the engine forgets a command replaced
 * with its host (a new VM): the next `up`, `onlyChanged` or not, runs them. Returns the names forgotten.
 */
export function forgetCommands(match: RegExp): string[] {
    const saved = readCommandState();
    const forgotten = Object.keys(saved).filter((name) => match.test(name));
    forgotten.forEach((name) => delete saved[name]);
    fs.writeFileSync(COMMAND_STATE, JSON.stringify(saved), { mode: 0o600 });
    return forgotten;
}

/**
 * The keys the program generated (host keys, archive key) in this lab, as the stack's state would keep
 * them: they live as long as the lab, so a later run pins the same host keys.
 */
export function loadGeneratedKeys(): GeneratedKeys {
    return new GeneratedKeys(fs.existsSync(KEY_STATE) ? (JSON.parse(fs.readFileSync(KEY_STATE, "utf8")) as Record<string, KeyPair>) : {});
}

/** Public addresses the clouds hand out in the lab (documentation ranges, routed only inside it). */
export const LAB_PUBLIC_IPS = { aws: "198.51.100.10", azure: "203.0.113.10" };

/** Runs `labctl ARGS` inside the lab's UML. */
export function labctl(args: string[], input?: string): Promise<string> {
    return runProcess(CTL, args, input, `labctl ${args.join(" ")}`);
}

/**
 * Runs COMMAND with INPUT on its stdin (none: stdin is /dev/null) and resolves with its stdout, or rejects
 * with its stderr. A command that exits without reading its input (ctl.sh answers `wan cut` on the machine
 * and never reads stdin) closes the pipe under our write: that EPIPE is not an error of ours, the exit
 * status says how the command went. Unhandled, it killed the whole lab run.
 */
export function runProcess(command: string, args: string[], input: string | undefined, label: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
        let out = "";
        let err = "";
        child.stdout?.on("data", (d) => (out += d));
        child.stderr?.on("data", (d) => (err += d));
        child.on("error", reject);
        child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${label} failed (${code}): ${err.trim()}`))));
        if (child.stdin) {
            child.stdin.on("error", (e: NodeJS.ErrnoException) => {
                if (e.code !== "EPIPE") reject(e);
            });
            child.stdin.end(input);
        }
    });
}

interface PendingHost {
    name: string;
    build: () => { site: string; privateIp: string; publicIp?: string; [key: string]: unknown };
    booted?: Promise<void>;
}

/** The host spec's boot fields: the user data as handed over, and what cloud-init's ssh module makes of it. */
function bootData(userData: string): { userData: string; bootSsh?: unknown } {
    const boot = interpretUserData(userData);
    return { userData, ...(boot.ssh ? { bootSsh: boot.ssh } : {}) };
}

export interface CommandRecord {
    name: string;
    host: string;
    startedMs: number;
    durationMs: number;
    stdout: string;
}

export class LabCloud {
    /** Every command the program ran, in completion order. */
    public readonly commands: CommandRecord[] = [];
    private readonly byId = new Map<string, { type: string; name: string; inputs: Record<string, any>; state: Record<string, any> }>();
    private readonly hostsByAddress = new Map<string, PendingHost>();
    private readonly fallback: ResourceBehaviour;
    private readonly started = Date.now();

    /**
     * `keys`: the lab's generated keys (loadGeneratedKeys), which this run uses and adds to.
     * `onlyChanged`: like the engine with state, a command whose create script, stdin and triggers are
     * those of its last successful run in this lab is not run again (its saved result stands in).
     */
    constructor(
        private readonly log: (line: string) => void,
        private readonly keys: GeneratedKeys,
        private readonly onlyChanged = false,
    ) {
        fs.mkdirSync(path.join(LAB_DIR, "specs"), { recursive: true });
        fs.mkdirSync(path.join(LAB_DIR, "logs", "commands"), { recursive: true });
        this.fallback = cloudResources(keys, {
            awsPublicIp: LAB_PUBLIC_IPS.aws,
            azurePublicIp: LAB_PUBLIC_IPS.azure,
            amiLookupResult: "ami-0123456789abcdef0",
        });
    }

    /** Saves the generated keys for later runs against the same lab. */
    saveState(): void {
        fs.writeFileSync(KEY_STATE, JSON.stringify(this.keys), { mode: 0o600 });
    }

    readonly newResource: ResourceBehaviour = async (r) => {
        const result = await this.fallback(r);
        const state = { ...r.inputs, ...result.state };
        this.byId.set(result.id, { type: r.type, name: r.name, inputs: r.inputs, state });
        switch (r.type) {
            case "aws:ec2/subnet:Subnet":
                await this.network(["subnet-add", "aws", r.inputs.cidrBlock]);
                break;
            case "aws:ec2/routeTableAssociation:RouteTableAssociation":
                await this.applyAwsRoutes(r.inputs.subnetId, r.inputs.routeTableId);
                break;
            case "azure-native:network:Subnet":
                await this.network(["subnet-add", "azure", r.inputs.addressPrefix]);
                for (const route of r.inputs.routeTable ? this.get(r.inputs.routeTable.id).inputs.routes : []) {
                    await this.network(["route-set", "azure", r.inputs.addressPrefix, route.addressPrefix, route.nextHopIpAddress]);
                }
                break;
            case "aws:ec2/instance:Instance":
                this.registerAwsInstance(r.name, result.id, state);
                break;
            // Once the last thing declared for a VM (its public IP, its data disk) exists, queue its
            // power-on, as the cloud would have started it already.
            case "aws:ec2/eip:Eip":
            case "aws:ec2/volumeAttachment:VolumeAttachment":
                this.bootInBackground(this.get(r.inputs.instance ?? r.inputs.instanceId).inputs.privateIp);
                break;
            case "azure-native:compute:VirtualMachine":
                this.registerAzureVm(r.name, r.inputs);
                this.bootInBackground(
                    this.get(r.inputs.networkProfile.networkInterfaces[0].id).inputs.ipConfigurations[0].privateIPAddress,
                );
                break;
            case "command:remote:Command":
                return { ...result, state: { ...result.state, ...(await this.runCommand(r.name, r.inputs)) } };
        }
        return result;
    };

    private get(id: string) {
        const found = this.byId.get(id);
        if (!found) {
            throw new Error(`the lab knows no resource with id ${id}`);
        }
        return found;
    }

    private find(type: string, match: (inputs: Record<string, any>) => boolean) {
        return [...this.byId.values()].find((r) => r.type === type && match(r.inputs));
    }

    /**
     * A subnet or route as the program declares it, applied in the lab once: a cloud keeps it between runs
     * (the engine, with state, would not create it again), and the lab's records keep it across a site
     * crash. Each labctl call into a busy kernel costs seconds; every `up` declared them all again.
     */
    private async network(args: string[]): Promise<void> {
        const key = args.join(" ");
        const read = (): string[] => (fs.existsSync(NETWORK_STATE) ? (JSON.parse(fs.readFileSync(NETWORK_STATE, "utf8")) as string[]) : []);
        if (read().includes(key)) {
            return;
        }
        await labctl(args);
        fs.writeFileSync(NETWORK_STATE, JSON.stringify([...read(), key]));
    }

    private async applyAwsRoutes(subnetId: string, routeTableId: string): Promise<void> {
        const cidr = this.get(subnetId).inputs.cidrBlock;
        for (const route of this.get(routeTableId).inputs.routes ?? []) {
            let nextHop: string;
            if (route.gatewayId) {
                nextHop = "internet";
            } else {
                const eni = route.networkInterfaceId;
                const instance = [...this.byId.values()].find(
                    (x) => x.type === "aws:ec2/instance:Instance" && x.state.primaryNetworkInterfaceId === eni,
                );
                if (!instance) {
                    throw new Error(`route ${route.cidrBlock} points at ${eni}, which belongs to no instance`);
                }
                nextHop = instance.inputs.privateIp;
            }
            await this.network(["route-set", "aws", cidr, route.cidrBlock, nextHop]);
        }
    }

    private registerAwsInstance(name: string, id: string, state: Record<string, any>): void {
        const host: PendingHost = {
            name,
            build: () => {
                const eip = this.find("aws:ec2/eip:Eip", (i) => i.instance === id);
                const attachment = this.find("aws:ec2/volumeAttachment:VolumeAttachment", (i) => i.instanceId === id);
                const keyPair = this.find("aws:ec2/keyPair:KeyPair", () => true);
                return {
                    name,
                    site: "aws",
                    subnet: this.get(state.subnetId).inputs.cidrBlock,
                    privateIp: state.privateIp,
                    ...(eip ? { publicIp: eip.state.publicIp } : {}),
                    hostname: name,
                    adminUser: "ubuntu",
                    authorizedKey: keyPair!.inputs.publicKey,
                    ...bootData(state.userData),
                    // Nitro names the EBS volume after its id.
                    ...(attachment
                        ? {
                              dataDisk: true,
                              dataDiskPaths: [
                                  `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${String(attachment.inputs.volumeId).replace("-", "")}`,
                              ],
                          }
                        : {}),
                };
            },
        };
        this.hostsByAddress.set(state.privateIp, host);
    }

    private registerAzureVm(name: string, inputs: Record<string, any>): void {
        const nic = this.get(inputs.networkProfile.networkInterfaces[0].id).inputs;
        const ipConfig = nic.ipConfigurations[0];
        const publicIp = ipConfig.publicIPAddress ? this.get(ipConfig.publicIPAddress.id).state.ipAddress : undefined;
        const host: PendingHost = {
            name,
            build: () => ({
                name,
                site: "azure",
                subnet: this.get(ipConfig.subnet.id).inputs.addressPrefix,
                privateIp: ipConfig.privateIPAddress,
                ...(publicIp ? { publicIp } : {}),
                hostname: inputs.osProfile.computerName,
                adminUser: inputs.osProfile.adminUsername,
                authorizedKey: inputs.osProfile.linuxConfiguration.ssh.publicKeys[0].keyData,
                ...bootData(Buffer.from(inputs.osProfile.customData, "base64").toString()),
                ...((inputs.storageProfile.dataDisks ?? []).length > 0
                    ? { dataDisk: true, dataDiskPaths: ["/dev/disk/azure/scsi1/lun0"] }
                    : {}),
            }),
        };
        this.hostsByAddress.set(ipConfig.privateIPAddress, host);
        if (publicIp) {
            this.hostsByAddress.set(publicIp, host);
        }
    }

    /**
     * Queues a boot. A cloud's hosts share its kernel's one CPU, where parallel boots take several times
     * longer each: each cloud boots one host at a time (the two clouds side by side), hosts with a public
     * address (gateways, needed first) before the others. A failure surfaces when a command needs the host.
     */
    private bootInBackground(address: string): void {
        const site = this.hostAt(address).build().site;
        const queue = this.queued.get(site) ?? [];
        queue.push(address);
        this.queued.set(site, queue);
        this.pumpBoots(site);
    }

    private readonly queued = new Map<string, string[]>();
    private readonly booting = new Set<string>();

    private pumpBoots(site: string): void {
        const queue = this.queued.get(site) ?? [];
        if (this.booting.has(site) || queue.length === 0) {
            return;
        }
        const isPublic = (a: string) => Object.values(LAB_PUBLIC_IPS).includes(a) || this.publicAddressOf(a) !== undefined;
        queue.sort((a, b) => Number(isPublic(b)) - Number(isPublic(a)));
        const next = queue.shift()!;
        this.booting.add(site);
        this.ensureBooted(next)
            .catch(() => undefined)
            .finally(() => {
                this.booting.delete(site);
                this.pumpBoots(site);
            });
    }

    /** The public address (EIP or Azure public IP) of the host with private address `ip`, if any. */
    private publicAddressOf(ip: string): string | undefined {
        const host = this.hostsByAddress.get(ip);
        return host ? host.build().publicIp : undefined;
    }

    /** The host at `address` (private, public, or an Elastic IP's). */
    private hostAt(address: string): PendingHost {
        // An Elastic IP leads to the instance it is associated with.
        const eip = this.find("aws:ec2/eip:Eip", () => true);
        const viaEip = eip?.state.publicIp === address ? this.get(eip.inputs.instance).inputs.privateIp : undefined;
        const host = this.hostsByAddress.get(viaEip ?? address);
        if (!host) {
            throw new Error(`no lab host has the address ${address}`);
        }
        return host;
    }

    /** Powers the host at `address` on, once. */
    private ensureBooted(address: string): Promise<void> {
        const host = this.hostAt(address);
        host.booted ??= (async () => {
            // A host from an earlier run of the program is the same VM: it stays as it is. ctl.sh records
            // each host it booted (and forgets one it deleted), so no call into the kernels is needed.
            if (fs.existsSync(path.join(LAB_DIR, "ctl", "hosts", host.name))) {
                return;
            }
            const spec = host.build();
            const file = path.join(LAB_DIR, "specs", `${host.name}.json`);
            fs.writeFileSync(file, JSON.stringify(spec, null, 2), { mode: 0o600 });
            this.log(`boot ${host.name} (${spec.privateIp}${spec.publicIp ? `, public ${spec.publicIp}` : ""})`);
            await labctl(["host-boot", file]);
        })();
        return host.booted;
    }

    private async runCommand(name: string, inputs: Record<string, any>): Promise<CommandResult> {
        const c: ConnectionLike = inputs.connection;
        if (c.proxy) {
            await this.ensureBooted(c.proxy.host);
        }
        await this.ensureBooted(c.host);
        // Everything the engine diffs: pulumi-command (v1.2.1, infer's default diff) updates a Command, and
        // so re-runs `create`, when any input changes, its connection (a rotated key) included.
        const fingerprint = createHash("sha256").update(JSON.stringify(inputs)).digest("hex");
        const saved = readCommandState();
        if (this.onlyChanged && saved[name]?.fingerprint === fingerprint) {
            this.log(`keep ${name}: unchanged since its last run`);
            return saved[name].result;
        }
        const startedMs = Date.now() - this.started;
        this.log(`run ${name} on ${c.user}@${c.host}${c.proxy ? ` via ${c.proxy.host}` : ""}`);
        if (process.env.LAB_KEEP_SCRIPTS) {
            // For profiling a step by hand (bash -x on the host); holds secrets, so 0600 and outside logs/.
            fs.mkdirSync(path.join(LAB_DIR, "scripts"), { recursive: true, mode: 0o700 });
            fs.writeFileSync(path.join(LAB_DIR, "scripts", `${name}.sh`), String(inputs.stdin ?? ""), { mode: 0o600 });
        }
        const result = await runRemoteCommand(name, c, inputs.create, inputs.stdin);
        if (inputs.logging !== "none") {
            fs.writeFileSync(path.join(LAB_DIR, "logs", "commands", `${name}.log`), `${result.stdout}${result.stderr}`);
        }
        fs.writeFileSync(COMMAND_STATE, JSON.stringify({ ...readCommandState(), [name]: { fingerprint, result } }), { mode: 0o600 });
        const durationMs = Date.now() - this.started - startedMs;
        this.commands.push({ name, host: c.host, startedMs, durationMs, stdout: result.stdout });
        this.log(`done ${name} in ${(durationMs / 1000).toFixed(1)} s: ${result.stdout.trim().split("\n").pop()}`);
        return result;
    }
}

/** `count` pings (0.2 s apart) from the AWS gateway to the Azure gateway's public address: average RTT and loss. */
export async function gatewayPing(count: number): Promise<{ rttMs: number; lossPercent: number }> {
    const out = await labctl(["exec-ns", "aws-gateway", "ping", "-q", "-c", String(count), "-i", "0.2", "-W", "2", LAB_PUBLIC_IPS.azure]);
    const rtt = /= [\d.]+\/([\d.]+)\/[\d.]+/.exec(out)?.[1];
    const loss = /([\d.]+)% packet loss/.exec(out)?.[1];
    if (rtt === undefined || loss === undefined) {
        throw new Error(`ping between the gateways gave no RTT and loss: ${out.trim()}`);
    }
    return { rttMs: Number(rtt), lossPercent: Number(loss) };
}
