// The running AWS environment a migration starts from: its ids come from config or from another stack's
// outputs, and each object is only read (data-source lookups), never adopted, so that no `up` or
// `destroy` of this stack can replace or delete it. Everything is checked before any resource exists.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { hostAddress, parseCidr, rangesOverlap } from "./network";
import { SOURCE_ID_KEYS, SourceIdName, SourceIds } from "./validation";

/** Where an existing AWS environment comes from, as configured (read by config.ts, resolved here). */
export interface SourceConfig {
    /** `crosscloud:source*Id`: the environment given by ids. */
    ids?: SourceIds;
    /** `crosscloud:sourceStack`: a stack (`org/project/stack`) that exports the same ids. */
    stack?: string;
    /** `crosscloud:sourcePrimaryHostKey`: the existing primary's SSH host public key, pinned. */
    primaryHostKey: string;
    /** `crosscloud:allowPrimaryRestart`: the program may restart PostgreSQL on the existing primary. */
    allowPrimaryRestart: boolean;
    /** `crosscloud:awsCidr` when set explicitly: it must then be the existing VPC's range. */
    awsCidr?: string;
    /** `crosscloud:sourceGatewayPrivateIp`: a free address of the gateway subnet for the new gateway (default its 10th). */
    gatewayPrivateIp?: string;
}

/** The offset of the gateway's address in the existing gateway subnet (as in a new site's layout). */
export const EXISTING_GATEWAY_HOST_OFFSET = 10;

/** An existing AWS environment, resolved to plain values: what AwsSite needs to add only what is missing. */
export interface ExistingAwsEnvironment {
    /** Where the ids came from: `config` or `stack acme/legacy/prod`. */
    origin: string;
    /** The VPC's id. */
    vpcId: string;
    /** The VPC's primary range: the AWS site's range, routed to Azure through the tunnel. */
    vpcCidr: string;
    /** The public subnet the new gateway goes into (it must route 0.0.0.0/0 to an internet gateway). */
    gatewaySubnet: { id: string; cidr: string; availabilityZone: string };
    /** The private subnet of the existing primary. */
    databaseSubnet: { id: string; cidr: string };
    /** The route table of the database subnet: the program adds one route (the peer range) to it. */
    databaseRouteTableId: string;
    /** The running PostgreSQL primary. */
    primary: {
        instanceId: string;
        privateIp: string;
        /** The security group the program adds its rules to (standalone rules, removed on destroy). */
        securityGroupId: string;
        /** Its SSH host public key, from `crosscloud:sourcePrimaryHostKey`: pinned on every connection. */
        hostPublicKey: string;
    };
    /** The new gateway's private address: `crosscloud:sourceGatewayPrivateIp`, or the 10th of the gateway subnet. */
    gatewayIp: string;
}

/** The output names a `crosscloud:sourceStack` must export (the same names as the id keys, without `source`). */
export const SOURCE_STACK_OUTPUTS = Object.keys(SOURCE_ID_KEYS) as SourceIdName[];

/** How a message names where an id came from. */
function idLabel(source: SourceConfig, name: SourceIdName): string {
    return source.stack !== undefined
        ? `output ${name} of crosscloud:sourceStack ${source.stack}`
        : `crosscloud:${SOURCE_ID_KEYS[name].key}`;
}

/** The ids from `crosscloud:sourceStack`'s outputs (a read of that stack, nothing is created), or the problems. */
async function idsFromStack(stack: string): Promise<{ ids: SourceIds; found: string[] }> {
    const ref = new pulumi.StackReference(`aws-source-stack`, { name: stack });
    const ids: SourceIds = {};
    const found: string[] = [];
    const missing: string[] = [];
    for (const name of SOURCE_STACK_OUTPUTS) {
        const details = await ref.getOutputDetails(name);
        const value: unknown = details.value ?? details.secretValue;
        if (value === undefined || value === null || value === "") {
            if (SOURCE_ID_KEYS[name].required) {
                missing.push(name);
            }
            continue;
        }
        if (
            typeof value !== "string" ||
            !/^[a-z]+-[0-9a-f]{8}([0-9a-f]{9})?$/.test(value) ||
            !value.startsWith(SOURCE_ID_KEYS[name].prefix)
        ) {
            found.push(
                `output ${name} of crosscloud:sourceStack ${stack} is ${JSON.stringify(value)}, not an AWS id like ${SOURCE_ID_KEYS[name].prefix}0123456789abcdef0.`,
            );
            continue;
        }
        ids[name] = value;
    }
    if (missing.length > 0) {
        found.unshift(
            `crosscloud:sourceStack ${stack} does not export ${missing.join(", ")}: the source stack must export vpcId, gatewaySubnetId, databaseSubnetId and primaryInstanceId (and may export databaseRouteTableId, primarySecurityGroupId); see the README, "Starting from an existing AWS environment".`,
        );
    }
    return { ids, found };
}

/** A lookup that fails becomes a problem naming the id and where it came from. */
async function lookup<T>(what: () => Promise<T>, problem: (reason: string) => string, found: string[]): Promise<T | undefined> {
    try {
        return await what();
    } catch (err: unknown) {
        found.push(problem(err instanceof Error ? err.message : String(err)));
        return undefined;
    }
}

/**
 * Resolves the existing environment: reads the ids (from config or the source stack), looks each
 * object up, and checks that they fit together. Throws one error listing every problem.
 */
export async function resolveExistingAws(
    source: SourceConfig,
    region: string,
    peerCidr: string,
    fail: (found: string[]) => Error,
): Promise<ExistingAwsEnvironment> {
    const fromStack = source.stack !== undefined ? await idsFromStack(source.stack) : { ids: source.ids ?? {}, found: [] };
    if (fromStack.found.length > 0) {
        throw fail(fromStack.found);
    }
    const ids = fromStack.ids;
    const label = (n: SourceIdName) => idLabel(source, n);
    const found: string[] = [];
    const notFound = (n: SourceIdName) => (reason: string) =>
        `${label(n)} "${ids[n]}" was not found in ${region}${reason ? ` (${reason})` : ""}.`;
    const [vpc, gatewaySubnet, databaseSubnet, instance, routeTable] = await Promise.all([
        lookup(() => aws.ec2.getVpc({ id: ids.vpcId }), notFound("vpcId"), found),
        lookup(() => aws.ec2.getSubnet({ id: ids.gatewaySubnetId }), notFound("gatewaySubnetId"), found),
        lookup(() => aws.ec2.getSubnet({ id: ids.databaseSubnetId }), notFound("databaseSubnetId"), found),
        lookup(() => aws.ec2.getInstance({ instanceId: ids.primaryInstanceId }), notFound("primaryInstanceId"), found),
        ids.databaseRouteTableId !== undefined
            ? lookup(() => aws.ec2.getRouteTable({ routeTableId: ids.databaseRouteTableId }), notFound("databaseRouteTableId"), found)
            : lookup(
                  () => aws.ec2.getRouteTable({ subnetId: ids.databaseSubnetId }),
                  () =>
                      `${label("databaseSubnetId")} "${ids.databaseSubnetId}" has no route table of its own (it uses the VPC's main table): name the table the program may add its route to with ${source.stack !== undefined ? `output databaseRouteTableId of crosscloud:sourceStack ${source.stack}` : "crosscloud:sourceDatabaseRouteTableId"}.`,
                  found,
              ),
    ]);
    // Every check whose objects were found runs, so that one error lists every problem.
    for (const [n, subnet] of [
        ["gatewaySubnetId", gatewaySubnet],
        ["databaseSubnetId", databaseSubnet],
    ] as const) {
        if (vpc && subnet && subnet.vpcId !== ids.vpcId) {
            found.push(`${label(n)} "${ids[n]}" is in ${subnet.vpcId}, not in the VPC ${ids.vpcId} (${label("vpcId")}).`);
        }
    }
    if (ids.gatewaySubnetId === ids.databaseSubnetId) {
        found.push(
            `${label("gatewaySubnetId")} and ${label("databaseSubnetId")} are the same subnet: the gateway needs a public subnet, the primary a private one.`,
        );
    }
    if (vpc && routeTable && routeTable.vpcId !== ids.vpcId) {
        found.push(`${label("databaseRouteTableId")} "${routeTable.routeTableId}" is in ${routeTable.vpcId}, not in the VPC ${ids.vpcId}.`);
    }
    if (routeTable?.routes.some((r) => r.cidrBlock === peerCidr)) {
        found.push(
            `the route table ${routeTable.routeTableId} of the database subnet already routes ${peerCidr} (crosscloud:azureCidr): the program adds that route itself and never replaces one it did not create; remove it or pick another crosscloud:azureCidr.`,
        );
    }
    if (instance && instance.subnetId !== ids.databaseSubnetId) {
        found.push(
            `${label("primaryInstanceId")} "${ids.primaryInstanceId}" is in ${instance.subnetId}, not in the database subnet ${ids.databaseSubnetId}.`,
        );
    }
    if (instance && instance.instanceState !== "running") {
        found.push(
            `${label("primaryInstanceId")} "${ids.primaryInstanceId}" is ${instance.instanceState}, not running: start it before pulumi up.`,
        );
    }
    let securityGroupId = ids.primarySecurityGroupId;
    if (instance && securityGroupId !== undefined && !instance.vpcSecurityGroupIds.includes(securityGroupId)) {
        found.push(
            `${label("primarySecurityGroupId")} "${securityGroupId}" is not a security group of ${ids.primaryInstanceId} (${instance.vpcSecurityGroupIds.join(", ")}).`,
        );
    }
    if (instance && securityGroupId === undefined) {
        if (instance.vpcSecurityGroupIds.length === 1) {
            securityGroupId = instance.vpcSecurityGroupIds[0];
        } else {
            found.push(
                `${label("primaryInstanceId")} "${ids.primaryInstanceId}" has ${instance.vpcSecurityGroupIds.length} security groups (${instance.vpcSecurityGroupIds.join(", ")}): name the one the program may add its rules to with ${source.stack !== undefined ? `output primarySecurityGroupId of crosscloud:sourceStack ${source.stack}` : "crosscloud:sourcePrimarySecurityGroupId"}.`,
            );
        }
    }
    const vpcRange = vpc ? parseCidr(vpc.cidrBlock) : undefined;
    const peerRange = parseCidr(peerCidr);
    if (vpc && vpcRange && peerRange && rangesOverlap(vpcRange, peerRange)) {
        found.push(
            `crosscloud:azureCidr "${peerCidr}" overlaps the existing VPC's range ${vpc.cidrBlock}: each site's range is routed to the other through the tunnel, so pick another crosscloud:azureCidr.`,
        );
    }
    if (vpc && source.awsCidr !== undefined && source.awsCidr !== vpc.cidrBlock) {
        found.push(
            `crosscloud:awsCidr "${source.awsCidr}" is not the existing VPC's range ${vpc.cidrBlock}: with an existing AWS environment the range is the VPC's; unset crosscloud:awsCidr or set it to ${vpc.cidrBlock}.`,
        );
    }
    const gatewayIp = source.gatewayPrivateIp ?? (gatewaySubnet ? hostAddress(gatewaySubnet.cidrBlock, EXISTING_GATEWAY_HOST_OFFSET) : "");
    const gatewayRange = gatewaySubnet ? parseCidr(gatewaySubnet.cidrBlock) : undefined;
    const gatewayAddress = parseCidr(`${gatewayIp}/32`);
    if (
        source.gatewayPrivateIp !== undefined &&
        gatewaySubnet &&
        (!gatewayAddress ||
            !gatewayRange ||
            !gatewayAddress.isInSubnet(gatewayRange) ||
            gatewayAddress.address === gatewayRange.startAddress().address ||
            gatewayAddress.address === gatewayRange.endAddress().address)
    ) {
        found.push(
            `crosscloud:sourceGatewayPrivateIp "${source.gatewayPrivateIp}" is not a host address of the gateway subnet ${gatewaySubnet.cidrBlock}: pick a free address inside it.`,
        );
    }
    if (found.length > 0 || !vpc || !gatewaySubnet || !databaseSubnet || !instance || !routeTable) {
        throw fail(found);
    }
    return {
        origin: source.stack !== undefined ? `stack ${source.stack}` : "config",
        vpcId: ids.vpcId!,
        vpcCidr: vpc.cidrBlock,
        gatewaySubnet: { id: gatewaySubnet.id, cidr: gatewaySubnet.cidrBlock, availabilityZone: gatewaySubnet.availabilityZone },
        databaseSubnet: { id: databaseSubnet.id, cidr: databaseSubnet.cidrBlock },
        databaseRouteTableId: routeTable.routeTableId,
        primary: {
            instanceId: ids.primaryInstanceId!,
            privateIp: instance.privateIp,
            securityGroupId: securityGroupId!,
            hostPublicKey: source.primaryHostKey,
        },
        gatewayIp,
    };
}
