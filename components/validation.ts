// Checks of user input. Each returns the problem as a sentence that names the config key and the fix,
// or undefined. config.ts runs all of them before any resource exists; components run theirs again on
// their own args (with pulumi.ResourceError) so that a component used on its own is as safe.
import { createPublicKey } from "crypto";
import { utils as sshUtils } from "ssh2";
import { DEFAULT_IPSEC_CIPHER, IPSEC_CIPHERS } from "../scripts/ipsec";
import { SYNC_DEGRADE_AFTER_SECONDS } from "../scripts/postgres";
import { LARGEST_SITE_PREFIX, SMALLEST_SITE_PREFIX, isNetworkAddress, isPrivateRange, parseCidr, rangesOverlap } from "./network";

export const REPLICATION_MODES = ["streaming", "log-shipping"] as const;
export type ReplicationMode = (typeof REPLICATION_MODES)[number];

export const SYNCHRONOUS_LEVELS = ["off", "remote_write", "on", "remote_apply"] as const;
export type SynchronousLevel = (typeof SYNCHRONOUS_LEVELS)[number];
/**
 * What a primary in synchronous mode does while its standby is gone: `block` (no commit is acknowledged
 * without the standby, as Patroni's synchronous_mode_strict) or `degrade` (asynchronous until it is back).
 */
export const SYNCHRONOUS_STANDBY_LOSS = ["block", "degrade"] as const;
export type SynchronousStandbyLoss = (typeof SYNCHRONOUS_STANDBY_LOSS)[number];

/**
 * PostgreSQL major versions with packages for Ubuntu 24.04 (16 from Ubuntu, the others from PGDG).
 * 15 at least: the rejoin after a switchover needs pg_rewind --config-file (Debian keeps the config
 * outside PGDATA).
 */
export const POSTGRES_VERSIONS = [15, 16, 17, 18] as const;

/** `"a", "b" or "c"` */
function oneOf(values: readonly (string | number)[]): string {
    const quoted = values.map((v) => (typeof v === "string" ? `"${v}"` : `${v}`));
    return `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

/** A site range (VPC or VNet): canonical, private, between /16 and /24. */
export function checkSiteCidr(key: string, cidr: string): string | undefined {
    const range = parseCidr(cidr);
    if (!range || !isNetworkAddress(range)) {
        return `${key} "${cidr}" is not an IPv4 network in CIDR form: write it like 10.10.0.0/16.`;
    }
    if (!isPrivateRange(range)) {
        return `${key} "${cidr}" is not a private range: use a block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.`;
    }
    if (range.subnetMask > SMALLEST_SITE_PREFIX) {
        return `${key} "${cidr}" is too small: the gateway and database subnets need a /${SMALLEST_SITE_PREFIX} or larger (for example /16).`;
    }
    if (range.subnetMask < LARGEST_SITE_PREFIX) {
        return `${key} "${cidr}" is too large: AWS VPCs and this program take /${LARGEST_SITE_PREFIX} to /${SMALLEST_SITE_PREFIX}; use a /16.`;
    }
    return undefined;
}

/** The two site ranges are routed to each other through the tunnel, so they must be disjoint. */
export function checkSitesDisjoint(awsCidr: string, azureCidr: string): string | undefined {
    const aws = parseCidr(awsCidr);
    const azure = parseCidr(azureCidr);
    if (aws && azure && rangesOverlap(aws, azure)) {
        return `crosscloud:azureCidr "${azureCidr}" overlaps crosscloud:awsCidr "${awsCidr}": each site's range is routed to the other through the tunnel, so they must not overlap; pick another range for one of them.`;
    }
    return undefined;
}

/** Who may SSH to the gateways: required, never the whole internet. */
export function checkAdminCidrs(cidrs: string[] | undefined): string | undefined {
    if (!cidrs || cidrs.length === 0) {
        return `crosscloud:adminCidrs is required: list the CIDRs allowed to SSH to the gateways, e.g. pulumi config set --path 'crosscloud:adminCidrs[0]' 203.0.113.7/32.`;
    }
    for (const cidr of cidrs) {
        const range = parseCidr(cidr);
        if (!range || !isNetworkAddress(range)) {
            return `crosscloud:adminCidrs entry "${cidr}" is not an IPv4 network in CIDR form: write it like 203.0.113.7/32.`;
        }
        if (range.subnetMask === 0) {
            return `crosscloud:adminCidrs must not contain ${cidr}: SSH to the gateways would be open to the whole internet; list your own addresses (e.g. 203.0.113.7/32) instead.`;
        }
    }
    return undefined;
}

/** Application networks allowed to reach PostgreSQL: private ranges only (they come through the VPC/VNet). */
export function checkClientCidrs(cidrs: string[]): string | undefined {
    for (const cidr of cidrs) {
        const range = parseCidr(cidr);
        if (!range || !isNetworkAddress(range)) {
            return `crosscloud:clientCidrs entry "${cidr}" is not an IPv4 network in CIDR form: write it like 10.10.8.0/24.`;
        }
        if (!isPrivateRange(range)) {
            return `crosscloud:clientCidrs entry "${cidr}" is not a private range: the database has no public address, so list the private CIDRs of the applications (in either cloud).`;
        }
    }
    return undefined;
}

/** Parses one OpenSSH public key line, or returns undefined. */
function parsePublicKey(line: string) {
    const trimmed = line.trim();
    if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*( [^\n]*)?$/.test(trimmed)) {
        return undefined;
    }
    const parsed = sshUtils.parseKey(trimmed);
    return parsed instanceof Error || Array.isArray(parsed) || parsed.isPrivateKey() ? undefined : parsed;
}

/** An unencrypted OpenSSH private key, or undefined when `text` is none (missing, malformed, passphrase-protected). */
function parsePrivateKey(text: string | undefined) {
    const parsed = text ? sshUtils.parseKey(text) : undefined;
    return !parsed || parsed instanceof Error || Array.isArray(parsed) || !parsed.isPrivateKey() ? undefined : parsed;
}

/** RSA keys shorter than this are refused by Azure ("SSH-2 RSA with a minimum length of 2048 bits"). */
export const MIN_RSA_KEY_BITS = 2048;

/**
 * The admin key pair: a valid OpenSSH public key of a type both clouds accept, and the matching,
 * unencrypted private key. EC2 key pairs take RSA and ED25519 (EC2 User Guide, "Create a key pair";
 * ImportKeyPair); Azure VMs take RSA of at least 2048 bits and ED25519, not ECDSA (Azure docs,
 * "Supported SSH key formats").
 */
export function checkSshKeys(publicKey: string | undefined, privateKey: string | undefined): string | undefined {
    const parsedPublic = publicKey ? parsePublicKey(publicKey) : undefined;
    if (!parsedPublic) {
        return `crosscloud:sshPublicKey is missing or malformed: set one OpenSSH public key line such as "ssh-ed25519 AAAA... you@host" (pulumi config set crosscloud:sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)").`;
    }
    const makeEd25519 = `make an Ed25519 pair (ssh-keygen -t ed25519) and set crosscloud:sshPublicKey and crosscloud:sshPrivateKey to its two halves.`;
    if (parsedPublic.type !== "ssh-ed25519" && parsedPublic.type !== "ssh-rsa") {
        return `crosscloud:sshPublicKey is an ${parsedPublic.type} key, which EC2 key pairs and Azure VMs do not accept (they take RSA and Ed25519): ${makeEd25519}`;
    }
    if (parsedPublic.type === "ssh-rsa") {
        const bits = createPublicKey(parsedPublic.getPublicPEM()).asymmetricKeyDetails?.modulusLength ?? 0;
        if (bits < MIN_RSA_KEY_BITS) {
            return `crosscloud:sshPublicKey is a ${bits}-bit RSA key, and Azure VMs take RSA keys of ${MIN_RSA_KEY_BITS} bits or more: ${makeEd25519}`;
        }
    }
    const parsedPrivate = parsePrivateKey(privateKey);
    if (!parsedPrivate) {
        return `crosscloud:sshPrivateKey is missing, malformed or passphrase-protected: set the unencrypted private key as a secret (pulumi config set --secret crosscloud:sshPrivateKey < ~/.ssh/id_ed25519).`;
    }
    if (!parsedPrivate.getPublicSSH().equals(parsedPublic.getPublicSSH())) {
        return `crosscloud:sshPrivateKey does not match crosscloud:sshPublicKey: set both halves of the same key pair.`;
    }
    return undefined;
}

export function checkPostgresVersion(version: number): string | undefined {
    if (!(POSTGRES_VERSIONS as readonly number[]).includes(version)) {
        return `crosscloud:postgresVersion "${version}" is not supported: use ${oneOf(POSTGRES_VERSIONS)}.`;
    }
    return undefined;
}

export const PRIMARY_SITES = ["aws", "azure"] as const;
export type PrimarySite = (typeof PRIMARY_SITES)[number];

export function checkPrimarySite(site: string): string | undefined {
    if (!(PRIMARY_SITES as readonly string[]).includes(site)) {
        return `crosscloud:primary "${site}" is not a site: use ${oneOf(PRIMARY_SITES)} (changing it runs a switchover on the next pulumi up).`;
    }
    return undefined;
}

export function checkReplicationMode(mode: string): string | undefined {
    if (!(REPLICATION_MODES as readonly string[]).includes(mode)) {
        return `crosscloud:replication "${mode}" is not a replication mode: use ${oneOf(REPLICATION_MODES)}.`;
    }
    return undefined;
}

export function checkSynchronous(level: string, mode: string): string | undefined {
    if (!(SYNCHRONOUS_LEVELS as readonly string[]).includes(level)) {
        return `crosscloud:synchronous "${level}" is not a synchronous level: use ${oneOf(SYNCHRONOUS_LEVELS)}.`;
    }
    if (level !== "off" && mode === "log-shipping") {
        return `crosscloud:synchronous "${level}" needs a streaming standby: set crosscloud:replication to "streaming" or crosscloud:synchronous to "off".`;
    }
    return undefined;
}

/** `crosscloud:synchronousStandbyLoss`: required, and only meaningful, with a synchronous level. */
export function checkSynchronousStandbyLoss(loss: string, level: string): string | undefined {
    if (loss !== "" && !(SYNCHRONOUS_STANDBY_LOSS as readonly string[]).includes(loss)) {
        return `crosscloud:synchronousStandbyLoss "${loss}" is not a choice: use ${oneOf(SYNCHRONOUS_STANDBY_LOSS)}.`;
    }
    if (level !== "off" && (SYNCHRONOUS_LEVELS as readonly string[]).includes(level) && loss === "") {
        return `crosscloud:synchronous "${level}" needs crosscloud:synchronousStandbyLoss: "block" (no commit is acknowledged while the standby is gone: writes wait) or "degrade" (commits go on asynchronously after ${SYNC_DEGRADE_AFTER_SECONDS} s without the standby, and may be lost in a failover until it is back).`;
    }
    if (level === "off" && loss !== "") {
        return `crosscloud:synchronousStandbyLoss "${loss}" has no effect while crosscloud:synchronous is "off": remove it, or set crosscloud:synchronous.`;
    }
    return undefined;
}

export function checkIpsecCipher(cipher: string): string | undefined {
    if (!Object.keys(IPSEC_CIPHERS).includes(cipher)) {
        return `crosscloud:ipsecCipher "${cipher}" is not a cipher suite: use ${oneOf(Object.keys(IPSEC_CIPHERS))} (default ${DEFAULT_IPSEC_CIPHER}).`;
    }
    return undefined;
}

export function checkAmiOverrides(overrides: Record<string, string>): string | undefined {
    for (const [region, ami] of Object.entries(overrides)) {
        if (!/^ami-[0-9a-f]{8}([0-9a-f]{9})?$/.test(ami)) {
            return `crosscloud:amiOverrides.${region} "${ami}" is not an AMI id: write it like ami-0123456789abcdef0.`;
        }
    }
    return undefined;
}

export function checkInstanceType(key: string, value: string): string | undefined {
    if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(value)) {
        return `crosscloud:${key} "${value}" is not an EC2 instance type: write it like t3.small.`;
    }
    return undefined;
}

export function checkVmSize(key: string, value: string): string | undefined {
    if (!/^(Standard|Basic)_[A-Za-z0-9_-]+$/.test(value)) {
        return `crosscloud:${key} "${value}" is not an Azure VM size: write it like Standard_B2s.`;
    }
    return undefined;
}

export function checkDataDiskSize(sizeGb: number): string | undefined {
    if (!Number.isInteger(sizeGb) || sizeGb < 8 || sizeGb > 16384) {
        return `crosscloud:dataDiskSizeGb "${sizeGb}" is out of range: use a whole number of GiB from 8 to 16384.`;
    }
    return undefined;
}

/** Seconds in a Libreswan duration (`90s`, `30m`, `8h`, `1d`; a bare number is seconds), or undefined. */
export function lifetimeSeconds(value: string): number | undefined {
    const m = /^(\d+)([smhd]?)$/.exec(value);
    return m ? Number(m[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2]]! : undefined;
}

/**
 * IKE SA and Child SA lifetimes (`crosscloud:ipsecLifetimes`): Libreswan durations, 1 minute to 24 hours
 * (Libreswan's own ceiling), the Child SA not outliving the IKE SA that keys it.
 */
export function checkIpsecLifetimes(lifetimes: { ike: string; sa: string }): string | undefined {
    const ike = lifetimeSeconds(String(lifetimes.ike));
    const sa = lifetimeSeconds(String(lifetimes.sa));
    const bad = [
        ...(ike === undefined || ike < 60 || ike > 86400 ? [`ike "${lifetimes.ike}"`] : []),
        ...(sa === undefined || sa < 60 || sa > 86400 ? [`sa "${lifetimes.sa}"`] : []),
    ];
    if (bad.length > 0) {
        return `crosscloud:ipsecLifetimes ${bad.join(" and ")} out of range: write a duration like 90s, 30m or 8h, from 1 minute to 24 hours.`;
    }
    if (sa! > ike!) {
        return `crosscloud:ipsecLifetimes sa "${lifetimes.sa}" is longer than ike "${lifetimes.ike}": the Child SA must not outlive the IKE SA; shorten sa or lengthen ike.`;
    }
    return undefined;
}

/** `crosscloud:maxSlotWalKeepSize`: a PostgreSQL size of at least 16MB (one WAL segment). */
export function checkMaxSlotWalKeepSize(size: string): string | undefined {
    const m = /^(\d+)(MB|GB|TB)$/.exec(String(size));
    if (!m || Number(m[1]) * { MB: 1, GB: 1024, TB: 1024 * 1024 }[m[2]]! < 16) {
        return `crosscloud:maxSlotWalKeepSize "${size}" is not a size of at least 16MB: write it like 512MB or 4GB.`;
    }
    return undefined;
}

/**
 * `crosscloud:discardDiverged`: empty, or the divergence an old primary's rejoin reported, as its step
 * printed it (`SYSTEM_ID:TIMELINE:FORK_LSN`): the consent holds for that one divergence only.
 */
export function checkDiscardDiverged(value: string): string | undefined {
    if (value !== "" && !/^[0-9]{1,20}:[0-9]{1,10}:[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/.test(String(value))) {
        return `crosscloud:discardDiverged "${value}" is not a divergence: copy SYSTEM_ID:TIMELINE:FORK_LSN (e.g. 7301234567890123456:1:0/3000060) from the rejoin step's error, or leave it empty.`;
    }
    return undefined;
}

/** `crosscloud:walSegmentSizeMb`: what initdb accepts for --wal-segsize, a power of 2 from 1 to 1024. */
export function checkWalSegmentSize(sizeMb: number): string | undefined {
    const n = Number(sizeMb);
    if (!Number.isInteger(n) || n < 1 || n > 1024 || (n & (n - 1)) !== 0) {
        return `crosscloud:walSegmentSizeMb "${sizeMb}" is not a power of 2 from 1 to 1024 (MB): use 16 (PostgreSQL's default) or e.g. 4 for a slow tunnel.`;
    }
    return undefined;
}

/** Keeps the problems that were found. */
export function problems(...checks: (string | undefined)[]): string[] {
    return checks.filter((c): c is string => c !== undefined);
}

/** The config keys that give an existing AWS environment by ids, and the stack outputs that give it by `crosscloud:sourceStack`. */
export const SOURCE_ID_KEYS = {
    vpcId: { key: "sourceVpcId", prefix: "vpc-", required: true },
    gatewaySubnetId: { key: "sourceGatewaySubnetId", prefix: "subnet-", required: true },
    databaseSubnetId: { key: "sourceDatabaseSubnetId", prefix: "subnet-", required: true },
    primaryInstanceId: { key: "sourcePrimaryInstanceId", prefix: "i-", required: true },
    databaseRouteTableId: { key: "sourceDatabaseRouteTableId", prefix: "rtb-", required: false },
    primarySecurityGroupId: { key: "sourcePrimarySecurityGroupId", prefix: "sg-", required: false },
} as const;
export type SourceIdName = keyof typeof SOURCE_ID_KEYS;
export type SourceIds = { [K in SourceIdName]?: string };

/** Whether an AWS resource id has the shape `prefix` + 8 or 17 hex digits. */
export function isAwsId(value: string, prefix: string): boolean {
    return new RegExp(`^${prefix}[0-9a-f]{8}([0-9a-f]{9})?$`).test(value);
}

/**
 * The existing AWS environment, if any: given by ids (`crosscloud:source*Id`) or by
 * `crosscloud:sourceStack`, never both; the primary's SSH host key is always given in config.
 */
export function checkSource(ids: SourceIds, stack: string | undefined, hostKey: string | undefined): string[] {
    const given = (Object.keys(SOURCE_ID_KEYS) as SourceIdName[]).filter((n) => ids[n] !== undefined);
    const existing = given.length > 0 || stack !== undefined;
    const found: (string | undefined)[] = [];
    if (given.length > 0 && stack !== undefined) {
        found.push(
            `crosscloud:sourceStack and ${given.map((n) => `crosscloud:${SOURCE_ID_KEYS[n].key}`).join(", ")} are both set: take the existing AWS environment from one of them (unset crosscloud:sourceStack, or the source ids).`,
        );
    } else if (given.length > 0) {
        const missing = (Object.keys(SOURCE_ID_KEYS) as SourceIdName[]).filter((n) => SOURCE_ID_KEYS[n].required && ids[n] === undefined);
        if (missing.length > 0) {
            found.push(
                `${missing.map((n) => `crosscloud:${SOURCE_ID_KEYS[n].key}`).join(", ")} ${missing.length === 1 ? "is" : "are"} missing: an existing AWS environment given by ids needs crosscloud:sourceVpcId, crosscloud:sourceGatewaySubnetId, crosscloud:sourceDatabaseSubnetId and crosscloud:sourcePrimaryInstanceId.`,
            );
        }
        for (const n of given) {
            const { key, prefix } = SOURCE_ID_KEYS[n];
            if (!isAwsId(ids[n]!, prefix)) {
                found.push(`crosscloud:${key} "${ids[n]}" is not an AWS id: write it like ${prefix}0123456789abcdef0.`);
            }
        }
    }
    if (stack !== undefined && !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(stack)) {
        found.push(`crosscloud:sourceStack "${stack}" is not a fully qualified stack name: write it like acme/legacy-network/prod.`);
    }
    if (existing && (!hostKey || !parsePublicKey(hostKey))) {
        found.push(
            `crosscloud:sourcePrimaryHostKey is missing or malformed: set the existing primary's SSH host public key, one line such as "ssh-ed25519 AAAA..." (cat /etc/ssh/ssh_host_ed25519_key.pub on that host); the program pins it on every connection.`,
        );
    }
    if (!existing && hostKey !== undefined) {
        found.push(
            `crosscloud:sourcePrimaryHostKey is set but no existing AWS environment is: set crosscloud:sourceStack or the source ids, or unset crosscloud:sourcePrimaryHostKey.`,
        );
    }
    return problems(...found);
}

/**
 * crosscloud:previousSshPrivateKey, set only for the `up` that rotates the admin key: the unencrypted
 * private key the hosts still authorize, not the new one.
 */
export function checkPreviousSshKey(previous: string | undefined, current: string | undefined): string | undefined {
    if (previous === undefined || previous === "") {
        return undefined;
    }
    const parsed = parsePrivateKey(previous);
    if (!parsed) {
        return `crosscloud:previousSshPrivateKey is malformed or passphrase-protected: set the unencrypted private key the hosts still authorize as a secret (pulumi config set --secret crosscloud:previousSshPrivateKey < OLD_KEY), or remove it (pulumi config rm crosscloud:previousSshPrivateKey).`;
    }
    if (parsed.getPublicSSH().equals(parsePrivateKey(current)?.getPublicSSH() ?? Buffer.alloc(0))) {
        return `crosscloud:previousSshPrivateKey is the same key as crosscloud:sshPrivateKey: there is nothing to rotate; remove it (pulumi config rm crosscloud:previousSshPrivateKey).`;
    }
    return undefined;
}
