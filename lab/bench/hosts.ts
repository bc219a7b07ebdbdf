// How the bench reaches the hosts. The measurements (bench.ts) are the same everywhere; only this
// layer differs: in the lab through the lab's control shell (labctl), on a deployed stack over SSH
// with pinned host keys through the gateway (deployed.ts).
import type { Site } from "../harness/lab";
import type { Switchover } from "../harness/switchover";
import type { IpsecCipher } from "../../scripts/ipsec";

export type BenchHost = `${Site}-gateway` | `${Site}-database`;

/** Runs a named step, records how long it took and what it found (Lab.step, or deployed's own). */
export type Step = (name: string, body: () => Promise<string>) => Promise<void>;

/** A rule the bench opens for the plain-link baseline and must remove again, even on failure. */
export interface TemporaryRule {
    /** What it allows, for the report, e.g. "TCP/UDP 5201 from 198.51.100.10/32 to the Azure gateway". */
    description: string;
    open(): Promise<void>;
    close(): Promise<void>;
}

export interface BenchHosts {
    kind: "lab" | "deployed";
    primary: Site;
    postgresVersion: number;
    log: (line: string) => void;
    step: Step;
    /** A root shell script on a host; rejects on a non-zero exit. */
    shell(host: BenchHost, script: string): Promise<string>;
    /** The gateways' public addresses (the plain WAN link's ends). */
    gatewayPublic: Record<Site, string>;
    /** Each site's network (the stack's awsCidr and azureCidr outputs). */
    siteCidr: Record<Site, string>;
    /** Database hosts' private addresses. */
    databasePrivate: Record<Site, string>;
    /**
     * The product path for the path-MTU, fragment and retransmission checks: `from` sends to
     * `to` (where `server` runs iperf3). Lab: database host to database host. Deployed: the database
     * hosts' cloud firewalls admit only PostgreSQL from the peer, so gateway to the peer gateway's
     * private address, still through the tunnel (the firewalls see only ESP in UDP 4500 there).
     */
    pathCheck: { from: BenchHost; server: BenchHost; to: () => Promise<string>; description: string };
    /** Counts packets and IP fragments on the AWS side of the WAN while `body` runs. */
    captureWan<T>(body: () => Promise<T>): Promise<{ value: T; packets: number; fragments: number }>;
    /** Cuts (on) or restores (off) the WAN between the sites. */
    cutWan(on: boolean): Promise<void>;
    /** Runs esp-ceiling.sh with these arguments where the kernel ESP ceiling is measured. */
    espCeiling(args: string[]): Promise<string>;
    /** Where the ceiling runs, for the report. */
    ceilingWhere: string;
    /**
     * Whether the ceiling's path also carries traffic without ESP (`setup plain`: deployed, the veth
     * pair); in the lab the ceiling crosses the WAN, whose ESP-less figure is the plain WAN row.
     */
    ceilingWithoutEsp: boolean;
    /** Runs the program with changed config (lab only: a deployed stack needs `pulumi up`); returns seconds. */
    reconfigure?: (config: Record<string, string>) => Promise<number>;
    /** Lab only: a planned switchover to `target` under the lab's write load (a stack needs `pulumi up`). */
    switchover?: (target: Site) => Promise<Switchover>;
    /** Lab only: netem on both sites' WAN egress (undefined: none); the gateways' RTT and loss then measured. */
    shapeWan?: (netem: string | undefined) => Promise<{ rttMs: number; lossPercent: number }>;
    /** Lab only: packets both sites' WAN qdiscs sent and dropped since shapeWan set them (netem's loss is dropped). */
    wanStats?: () => Promise<{ sent: number; dropped: number }>;
    /** The cipher the stack runs with now (lab: its config; deployed: read from the gateway's SAs). */
    configuredCipher(): Promise<IpsecCipher>;
    /** The opt-in rule the plain-link iperf3 baseline needs, or why that baseline is skipped. */
    plainBaseline: { rule?: TemporaryRule; skipped?: string };
    /** Why the plain-link replication baseline is not measured here, if it is not. */
    plainReplicationSkipped?: string;
    /** Facts about where the figures come from: machine/versions, and each host's instance type. */
    facts(): Promise<{ machine: Record<string, string>; instanceTypes: Record<string, string> }>;
}
