// Plausible, deterministic cloud answers for the mock runtime: ids and computed outputs of AWS, Azure,
// random and tls resources, and the two functions the program calls. Unknown calls throw.
import { createHash } from "crypto";
import { generateEd25519KeyPair } from "../scripts/ssh";
import { CallBehaviour, Invocation, ResourceBehaviour } from "./programRunner";

export interface CloudMockOptions {
    /** The Elastic IP the AWS gateway gets. */
    awsPublicIp: string;
    /** The static public IP the Azure gateway gets. */
    azurePublicIp: string;
    /** AMI id the lookup returns; undefined makes the lookup fail as AWS does when nothing matches. */
    amiLookupResult?: string;
    /** The running AWS environment the lookups (getVpc, getSubnet, getInstance, getRouteTable) find. */
    existingAws?: ExistingAwsMock;
    /** Outputs of the stacks a StackReference may read, by fully qualified name. */
    stacks?: Record<string, Record<string, unknown>>;
}

/** A running AWS environment as the EC2 API describes it (ids, ranges, the primary). */
export interface ExistingAwsMock {
    vpcs: { id: string; cidrBlock: string }[];
    subnets: { id: string; vpcId: string; cidrBlock: string; availabilityZone: string }[];
    instances: { id: string; subnetId: string; privateIp: string; vpcSecurityGroupIds: string[]; instanceState: string }[];
    routeTables: { id: string; vpcId: string; subnetIds: string[]; routes: { cidrBlock: string }[] }[];
}

/** A legacy VPC (the default VPC's range) with a public subnet, a private one and a running primary. */
export function legacyAws(): ExistingAwsMock {
    return {
        vpcs: [{ id: "vpc-0a1b2c3d4e5f60718", cidrBlock: "172.31.0.0/16" }],
        subnets: [
            { id: "subnet-0aaaaaaaaaaaaaaa1", vpcId: "vpc-0a1b2c3d4e5f60718", cidrBlock: "172.31.0.0/24", availabilityZone: "eu-west-1a" },
            { id: "subnet-0bbbbbbbbbbbbbbb2", vpcId: "vpc-0a1b2c3d4e5f60718", cidrBlock: "172.31.8.0/24", availabilityZone: "eu-west-1a" },
            { id: "subnet-0fffffffffffffff9", vpcId: "vpc-0999999999999999f", cidrBlock: "10.99.0.0/24", availabilityZone: "eu-west-1b" },
        ],
        instances: [
            {
                id: "i-0ccccccccccccccc3",
                subnetId: "subnet-0bbbbbbbbbbbbbbb2",
                privateIp: "172.31.8.25",
                vpcSecurityGroupIds: ["sg-0ddddddddddddddd4"],
                instanceState: "running",
            },
        ],
        routeTables: [
            {
                id: "rtb-0eeeeeeeeeeeeeee5",
                vpcId: "vpc-0a1b2c3d4e5f60718",
                subnetIds: ["subnet-0bbbbbbbbbbbbbbb2"],
                routes: [{ cidrBlock: "172.31.0.0/16" }, { cidrBlock: "0.0.0.0/0" }],
            },
        ],
    };
}

/** The cloud the unit tests run against: documentation addresses and an AMI the lookup finds. */
export const DEFAULT_CLOUD: CloudMockOptions = {
    awsPublicIp: "198.51.100.10",
    azurePublicIp: "203.0.113.10",
    amiLookupResult: "ami-0f00d5ca1ab1e0001",
};

function digest(text: string, length: number): string {
    return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** A stable alphanumeric "random" string for a name (the real provider's is random). */
export function mockPassword(name: string, length: number): string {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const bytes = createHash("sha512").update(`password:${name}`).digest();
    return Array.from({ length }, (_, i) => alphabet[bytes[i % bytes.length] % alphabet.length]).join("");
}

/** An ED25519 key pair in OpenSSH format; the public key as tls.PrivateKey's publicKeyOpenssh has it. */
export interface KeyPair {
    private: string;
    /** Type and key, no comment, one line ending in a newline. */
    public: string;
}

/** A new real ED25519 key pair, in the format tls.PrivateKey hands out. */
export function mockKeyPair(name: string): KeyPair {
    const generated = generateEd25519KeyPair(name);
    return { private: generated.private, public: `${generated.public.split(" ").slice(0, 2).join(" ")}\n` };
}

/**
 * The keys the program's tls.PrivateKey resources got, by resource name: one per name for the life of
 * the store, as the engine keeps them in the stack's state. Whoever runs the program owns the store and
 * hands it to cloudResources: the tests one for the test process (runs they compare share host keys),
 * the lab one per lab (saved in a file between runs, so a later run pins the same host keys).
 */
export class GeneratedKeys {
    private readonly pairs: Map<string, KeyPair>;

    /** `saved`: the keys of earlier runs (what toJSON returned). */
    constructor(saved: Record<string, KeyPair> = {}) {
        this.pairs = new Map(Object.entries(saved));
    }

    /** The key pair of resource `name`, made on first use. */
    pairFor(name: string): KeyPair {
        let pair = this.pairs.get(name);
        if (!pair) {
            pair = mockKeyPair(name);
            this.pairs.set(name, pair);
        }
        return pair;
    }

    /** Every key made or loaded so far, by resource name (JSON.stringify calls this). */
    toJSON(): Record<string, KeyPair> {
        return Object.fromEntries(this.pairs);
    }
}

function azureId(type: string, name: string): string {
    const provider = type.split(":")[1].split("/")[0];
    const kind = type.split(":")[2];
    return `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mock/providers/Microsoft.${provider}/${kind}/${name}`;
}

/**
 * The cloud's answer to each resource the program creates. `keys`: the caller's store, where
 * tls.PrivateKey resources get their keys (and find those of earlier runs).
 */
export function cloudResources(keys: GeneratedKeys, options: CloudMockOptions = DEFAULT_CLOUD): ResourceBehaviour {
    // An instance is in its subnet's zone, as EC2 places it.
    const subnetZones = new Map<string, string>();
    // eslint-disable-next-line @typescript-eslint/require-await -- the runner awaits whatever it gets
    return async ({ type, name, inputs }) => {
        const awsId = (prefix: string) => `${prefix}-${digest(`${type}/${name}`, 17)}`;
        switch (type) {
            case "aws:ec2/vpc:Vpc":
                return { id: awsId("vpc"), state: { arn: `arn:aws:ec2:::vpc/${name}` } };
            case "aws:ec2/internetGateway:InternetGateway":
                return { id: awsId("igw"), state: {} };
            case "aws:ec2/subnet:Subnet":
                subnetZones.set(awsId("subnet"), inputs.availabilityZone ?? MOCK_ZONES[0].zoneName);
                return { id: awsId("subnet"), state: {} };
            case "aws:ec2/routeTable:RouteTable":
                return { id: awsId("rtb"), state: {} };
            case "aws:ec2/routeTableAssociation:RouteTableAssociation":
                return { id: awsId("rtbassoc"), state: {} };
            case "aws:ec2/securityGroup:SecurityGroup":
                return { id: awsId("sg"), state: {} };
            case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
            case "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":
                return { id: awsId("sgr"), state: {} };
            case "aws:ec2/keyPair:KeyPair":
                return { id: name, state: { keyName: name } };
            case "aws:ec2/instance:Instance":
                return {
                    id: awsId("i"),
                    state: {
                        primaryNetworkInterfaceId: awsId("eni"),
                        availabilityZone: subnetZones.get(inputs.subnetId) ?? MOCK_ZONES[0].zoneName,
                    },
                };
            case "aws:ec2/eip:Eip":
                return { id: awsId("eipalloc"), state: { publicIp: options.awsPublicIp } };
            case "aws:ebs/volume:Volume":
                return { id: awsId("vol"), state: {} };
            case "aws:ec2/volumeAttachment:VolumeAttachment":
                return { id: awsId("vai"), state: {} };
            case "azure-native:resources:ResourceGroup":
            case "azure-native:network:VirtualNetwork":
            case "azure-native:network:NetworkSecurityGroup":
            case "azure-native:network:SecurityRule":
            case "azure-native:network:RouteTable":
            case "azure-native:network:Subnet":
            case "azure-native:network:NetworkInterface":
            case "azure-native:compute:Disk":
            case "azure-native:compute:VirtualMachine":
                return { id: azureId(type, name), state: { name } };
            case "azure-native:network:PublicIPAddress":
                return { id: azureId(type, name), state: { name, ipAddress: options.azurePublicIp } };
            case "random:index/randomPassword:RandomPassword":
                return { id: "none", state: { result: mockPassword(name, inputs.length) }, secretOutputs: ["result"] };
            case "tls:index/privateKey:PrivateKey": {
                const pair = keys.pairFor(name);
                return {
                    id: digest(name, 40),
                    state: { privateKeyOpenssh: pair.private, publicKeyOpenssh: pair.public },
                    secretOutputs: ["privateKeyOpenssh"],
                };
            }
            case "aws:ec2/route:Route":
                return { id: `r-${inputs.routeTableId}${digest(inputs.destinationCidrBlock, 8)}`, state: {} };
            case "pulumi:pulumi:StackReference": {
                const outputs = options.stacks?.[inputs.name];
                if (!outputs) {
                    throw new Error(`unknown stack ${inputs.name}`);
                }
                return { id: inputs.name, state: { outputs, secretOutputNames: [] } };
            }
            case "command:remote:Command":
                return { id: `${name}-${digest(name, 8)}`, state: { stdout: "", stderr: "" } };
            default:
                throw new Error(`the mocks know no resource type ${type} (${name}): add it to mockcloud/cloudMocks.ts`);
        }
    };
}

/**
 * The zones of the mock region as DescribeAvailabilityZones describes them: two Availability Zones, an
 * opted-in Local Zone whose name sorts before them ("-" < "a", as us-west-2-lax-1a before us-west-2a)
 * and one not opted in.
 */
export const MOCK_ZONES = [
    { zoneName: "mock-1a", zoneId: "mck1-az1", zoneType: "availability-zone", optInStatus: "opt-in-not-required", state: "available" },
    { zoneName: "mock-1b", zoneId: "mck1-az2", zoneType: "availability-zone", optInStatus: "opt-in-not-required", state: "available" },
    { zoneName: "mock-1-lcl-1a", zoneId: "mck1-lcl1-az1", zoneType: "local-zone", optInStatus: "opted-in", state: "available" },
    { zoneName: "mock-1-lcl-2a", zoneId: "mck1-lcl2-az1", zoneType: "local-zone", optInStatus: "not-opted-in", state: "available" },
];

/** The filters DescribeAvailabilityZones takes, by the zone attribute each one matches. */
const ZONE_FILTERS: Record<string, keyof (typeof MOCK_ZONES)[number]> = {
    "zone-name": "zoneName",
    "zone-id": "zoneId",
    "zone-type": "zoneType",
    "opt-in-status": "optInStatus",
    state: "state",
};

/**
 * aws.getAvailabilityZones as the provider answers it: the API's filters (an unknown filter name is an
 * error), zones not opted in left out unless allAvailabilityZones, then sorted by name (the provider sorts).
 */
function availabilityZones(inputs: Record<string, any>): Record<string, any> {
    const filters: { name: string; values: string[] }[] = [
        ...(inputs.state !== undefined ? [{ name: "state", values: [inputs.state as string] }] : []),
        ...((inputs.filters ?? []) as { name: string; values: string[] }[]),
    ];
    const zones = MOCK_ZONES.filter(
        (z) =>
            (inputs.allAvailabilityZones === true || z.optInStatus !== "not-opted-in") &&
            filters.every((f) => {
                const attribute = ZONE_FILTERS[f.name];
                if (!attribute) {
                    throw new Error(`InvalidParameterValue: The filter '${f.name}' is invalid`);
                }
                return f.values.includes(z[attribute]);
            }),
    ).sort((a, b) => (a.zoneName < b.zoneName ? -1 : a.zoneName > b.zoneName ? 1 : 0));
    return { names: zones.map((z) => z.zoneName), zoneIds: zones.map((z) => z.zoneId), id: "mock" };
}

/** The cloud's answer to each function (data source) the program calls. */
export function cloudCalls(options: CloudMockOptions = DEFAULT_CLOUD): CallBehaviour {
    return ({ token, inputs }: Invocation) => {
        switch (token) {
            case "aws:index/getAvailabilityZones:getAvailabilityZones":
                return availabilityZones(inputs);
            case "aws:ec2/getAmi:getAmi":
                if (!options.amiLookupResult) {
                    throw new Error("Your query returned no results. Please change your search criteria and try again.");
                }
                return { id: options.amiLookupResult, name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101" };
            case "aws:ec2/getVpc:getVpc": {
                const vpc = options.existingAws?.vpcs.find((v) => v.id === inputs.id);
                if (!vpc) {
                    throw new Error("no matching EC2 VPC found");
                }
                return { id: vpc.id, cidrBlock: vpc.cidrBlock };
            }
            case "aws:ec2/getSubnet:getSubnet": {
                const subnet = options.existingAws?.subnets.find((sn) => sn.id === inputs.id);
                if (!subnet) {
                    throw new Error("no matching EC2 Subnet found");
                }
                return { ...subnet };
            }
            case "aws:ec2/getInstance:getInstance": {
                const instance = options.existingAws?.instances.find((i) => i.id === inputs.instanceId);
                if (!instance) {
                    throw new Error("Your query returned no results. Please change your search criteria and try again.");
                }
                return { ...instance, instanceId: instance.id };
            }
            case "aws:ec2/getRouteTable:getRouteTable": {
                const table = options.existingAws?.routeTables.find((t) =>
                    inputs.routeTableId !== undefined ? t.id === inputs.routeTableId : t.subnetIds.includes(inputs.subnetId),
                );
                if (!table) {
                    throw new Error("query returned no results. Please change your search criteria and try again");
                }
                return { id: table.id, routeTableId: table.id, vpcId: table.vpcId, routes: table.routes };
            }
            default:
                throw new Error(`the mocks know no function ${token} (called with ${JSON.stringify(inputs)})`);
        }
    };
}
