// CIDR maths and the fixed address plan of a site. Pure functions: the components, the config
// validation and the lab all derive addresses from here, so they always agree.
import { Address4 } from "ip-address";

/** The two subnets of a site and the fixed addresses of its two hosts. */
export interface SiteLayout {
    /** The site's whole range (VPC or VNet). */
    cidr: string;
    /** Subnet of the VPN gateway (public: it has the site's only public IP). */
    gatewaySubnet: string;
    /** Subnet of the database host (private: no public IP, outbound through the gateway). */
    databaseSubnet: string;
    /** The gateway's private address (pinned, so routes and peer configs are known before boot). */
    gatewayIp: string;
    /** The database host's private address (pinned for the same reason). */
    databaseIp: string;
}

/** Offset of each host inside its subnet: past the 4 (Azure) or 5 (AWS) addresses the clouds reserve. */
export const HOST_OFFSET = 10;

/** The largest prefix (smallest range) a site may use: each of its two subnets gets at least a /25. */
export const SMALLEST_SITE_PREFIX = 24;
/** The smallest prefix (largest range): AWS allows VPC ranges from /16 to /28. */
export const LARGEST_SITE_PREFIX = 16;

const PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map((r) => new Address4(r));

/** Parses `a.b.c.d/n`, or returns undefined when it is not a canonical IPv4 CIDR. */
export function parseCidr(cidr: string): Address4 | undefined {
    if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(cidr) || !Address4.isValid(cidr)) {
        return undefined;
    }
    return new Address4(cidr);
}

/** True when the CIDR's host bits are all zero (`10.10.0.0/16`, not `10.10.1.0/16`). */
export function isNetworkAddress(cidr: Address4): boolean {
    return cidr.startAddress().address === cidr.addressMinusSuffix;
}

/** True when the whole range lies inside RFC 1918 private space. */
export function isPrivateRange(cidr: Address4): boolean {
    return PRIVATE_RANGES.some((range) => cidr.isInSubnet(range));
}

/** True when the two ranges share at least one address. */
export function rangesOverlap(a: Address4, b: Address4): boolean {
    return a.isInSubnet(b) || b.isInSubnet(a);
}

/** The `offset`-th address of a CIDR, e.g. hostAddress("10.10.1.0/24", 10) = "10.10.1.10". */
export function hostAddress(cidr: string, offset: number): string {
    const range = new Address4(cidr);
    const address = Address4.fromBigInt(range.startAddress().bigInt() + BigInt(offset));
    if (!address.isInSubnet(range) || address.address === range.endAddress().address) {
        throw new Error(`${cidr} has no host number ${offset}`);
    }
    return address.address;
}

/** The `index`-th subnet of `prefix` bits inside `cidr`. */
export function subnetOf(cidr: string, prefix: number, index: number): string {
    const range = new Address4(cidr);
    const size = 1n << BigInt(32 - prefix);
    const start = Address4.fromBigInt(range.startAddress().bigInt() + size * BigInt(index));
    return `${start.address}/${prefix}`;
}

/** The prefix length of a CIDR string. */
export function prefixOf(cidr: string): number {
    return new Address4(cidr).subnetMask;
}

/**
 * Cuts a site range into its gateway and database subnets: /24s where the range allows (a /16 gives
 * 10.x.0.0/24 and 10.x.1.0/24), halves of a smaller range otherwise. The rest stays free for the user.
 */
export function siteLayout(cidr: string): SiteLayout {
    const prefix = Math.max(24, prefixOf(cidr) + 1);
    const gatewaySubnet = subnetOf(cidr, prefix, 0);
    const databaseSubnet = subnetOf(cidr, prefix, 1);
    return {
        cidr,
        gatewaySubnet,
        databaseSubnet,
        gatewayIp: hostAddress(gatewaySubnet, HOST_OFFSET),
        databaseIp: hostAddress(databaseSubnet, HOST_OFFSET),
    };
}

/** `10.20.1.10` → `10.20.1.10/32`. */
export function hostCidr(ip: string): string {
    return `${ip}/32`;
}
