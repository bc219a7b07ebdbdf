// Pure helpers of the policies: firewall rules of both clouds in one shape, port and source
// classification, and the size allow-lists. No Pulumi or cloud SDK in here.

/** One inbound allowance, whatever resource it came from. */
export interface Inbound {
    /** How a message names it: "This rule", "Inline ingress rule 0", `Security rule "ssh"`. */
    subject: string;
    protocol: "tcp" | "udp" | "all" | "other";
    /** Inclusive port ranges; "all" when every port is open. */
    ports: "all" | [number, number][];
    /** CIDRs, bare addresses, Azure tags (`*`, `Internet`, `VirtualNetwork`) or `prefix list pl-…`. */
    sources: string[];
}

/** Sources that mean "anyone on the internet". */
const WORLD = new Set(["0.0.0.0/0", "::/0", "*", "internet", "any"]);

export function isWorld(source: string): boolean {
    return WORLD.has(source.trim().toLowerCase());
}

/** IPv4 dotted quad → number, or undefined. */
function ipv4(text: string): number | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
    if (!m) {
        return undefined;
    }
    const octets = m.slice(1).map(Number);
    return octets.some((o) => o > 255) ? undefined : octets.reduce((acc, o) => acc * 256 + o, 0);
}

/** A single host: an IPv4 /32, an IPv6 /128, or a bare IPv4 address (Azure reads it as one host). */
export function isSingleHost(source: string): boolean {
    const s = source.trim();
    if (ipv4(s) !== undefined) {
        return true;
    }
    const [address, prefix] = s.split("/");
    if (prefix === undefined) {
        return false;
    }
    return (ipv4(address) !== undefined && prefix === "32") || (address.includes(":") && prefix === "128");
}

const PRIVATE_RANGES: [number, number][] = [
    [ipv4("10.0.0.0")!, 8],
    [ipv4("172.16.0.0")!, 12],
    [ipv4("192.168.0.0")!, 16],
];

/** Inside RFC 1918 space (the sites' own ranges and the routes between them), or Azure's VirtualNetwork tag. */
export function isInternal(source: string): boolean {
    const s = source.trim();
    if (s.toLowerCase() === "virtualnetwork") {
        return true;
    }
    const [address, prefixText] = s.split("/");
    const start = ipv4(address);
    const prefix = prefixText === undefined ? 32 : Number(prefixText);
    if (start === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
        return false;
    }
    return PRIVATE_RANGES.some(
        ([base, bits]) => prefix >= bits && Math.floor(start / 2 ** (32 - bits)) === Math.floor(base / 2 ** (32 - bits)),
    );
}

export function coversPort(rule: Inbound, port: number): boolean {
    return rule.ports === "all" || rule.ports.some(([from, to]) => from <= port && port <= to);
}

/** AWS protocol names and numbers: `-1`/`all`, `tcp`/`6`, `udp`/`17`. */
export function awsProtocol(protocol: string | undefined): Inbound["protocol"] {
    switch ((protocol ?? "").toLowerCase()) {
        case "-1":
        case "all":
            return "all";
        case "tcp":
        case "6":
            return "tcp";
        case "udp":
        case "17":
            return "udp";
        default:
            return "other";
    }
}

/** AWS port range: all ports for protocol -1, and when a range is missing. */
export function awsPorts(protocol: Inbound["protocol"], fromPort: number | undefined, toPort: number | undefined): Inbound["ports"] {
    if (protocol === "all" || fromPort === undefined || toPort === undefined) {
        return "all";
    }
    return [[fromPort, toPort]];
}

/** Azure protocol: `Tcp`, `Udp`, `*`; the rest (Icmp, Esp, Ah) carries no ports. */
export function azureProtocol(protocol: string | undefined): Inbound["protocol"] {
    switch ((protocol ?? "").toLowerCase()) {
        case "*":
            return "all";
        case "tcp":
            return "tcp";
        case "udp":
            return "udp";
        default:
            return "other";
    }
}

/** Azure destination ports: `*`, `22`, `1000-2000`, one or many. */
export function azurePorts(range: string | undefined, ranges: string[] | undefined): Inbound["ports"] {
    const all = [...(range !== undefined ? [range] : []), ...(ranges ?? [])].map((r) => r.trim());
    if (all.length === 0 || all.includes("*")) {
        return "all";
    }
    return all.map((r) => {
        const [from, to] = r.split("-").map(Number);
        return [from, to ?? from];
    });
}

/** An Azure security rule's shape, as a SecurityRule resource or an NSG's inline rule. */
export interface AzureRuleProps {
    name?: string;
    access?: string;
    direction?: string;
    protocol?: string;
    sourceAddressPrefix?: string;
    sourceAddressPrefixes?: string[];
    destinationPortRange?: string;
    destinationPortRanges?: string[];
}

/** The inbound allowance of an Azure rule, or undefined for deny and outbound rules. */
export function azureInbound(subject: string, rule: AzureRuleProps): Inbound | undefined {
    if ((rule.access ?? "").toLowerCase() !== "allow" || (rule.direction ?? "").toLowerCase() !== "inbound") {
        return undefined;
    }
    return {
        subject,
        protocol: azureProtocol(rule.protocol),
        ports: azurePorts(rule.destinationPortRange, rule.destinationPortRanges),
        sources: [...(rule.sourceAddressPrefix !== undefined ? [rule.sourceAddressPrefix] : []), ...(rule.sourceAddressPrefixes ?? [])],
    };
}

// --- Sizes -----------------------------------------------------------------------------------------

/** EC2 families the program is sized for: x86_64 (the AMI is amd64) general purpose, compute and memory. */
export const EC2_FAMILIES = [
    "t3",
    "t3a",
    "m5",
    "m5a",
    "m5n",
    "m6i",
    "m6a",
    "m7i",
    "m7a",
    "c5",
    "c5a",
    "c5n",
    "c6i",
    "c6a",
    "c6in",
    "c7i",
    "c7a",
    "r5",
    "r5a",
    "r5n",
    "r6i",
    "r6a",
    "r7i",
    "r7a",
];
/** Sizes from 2 GiB of memory (t3.small) to 8xlarge: nano and micro are too small for PostgreSQL. */
export const EC2_SIZES = ["small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge"];

/** Why an EC2 instance type is out of range, or undefined when it is in. */
export function ec2TypeProblem(instanceType: string): string | undefined {
    const [family, size] = instanceType.split(".");
    if (EC2_FAMILIES.includes(family) && EC2_SIZES.includes(size)) {
        return undefined;
    }
    if (size === "nano" || size === "micro") {
        return "is too small for PostgreSQL (1 GiB of memory or less)";
    }
    if (/^[a-z]+\d+g[a-z]*$/.test(family)) {
        return "is an ARM (Graviton) type, and the program boots the amd64 Ubuntu image";
    }
    return "is outside the allowed families and sizes";
}

/** Azure series the program is sized for: B (burstable), D (general), E (memory), F (compute). */
const AZURE_SIZE = /^Standard_([BDEF])(\d+)([a-z]*)(_v[2-6])?$/;
export const AZURE_MIN_VCPUS = 2;
export const AZURE_MAX_VCPUS = 32;

/** Why an Azure VM size is out of range, or undefined when it is in. */
export function azureSizeProblem(vmSize: string): string | undefined {
    const m = AZURE_SIZE.exec(vmSize);
    if (!m) {
        return "is outside the allowed series (B, D, E and F)";
    }
    const vcpus = Number(m[2]);
    if (vcpus < AZURE_MIN_VCPUS) {
        return "is too small for PostgreSQL (1 vCPU)";
    }
    if (m[3].includes("p")) {
        return "is an ARM (Ampere) size, and the program boots the amd64 Ubuntu image";
    }
    if (!/^[adilmst]*$/.test(m[3]) || vcpus > AZURE_MAX_VCPUS) {
        return "is outside the allowed families and sizes";
    }
    return undefined;
}

/** Disk sizes, GiB: the Ubuntu images need 8; 16384 is the largest gp3 volume. */
export const MIN_DISK_GIB = 8;
export const MAX_DISK_GIB = 16384;

export function diskSizeInRange(sizeGib: number): boolean {
    return sizeGib >= MIN_DISK_GIB && sizeGib <= MAX_DISK_GIB;
}
