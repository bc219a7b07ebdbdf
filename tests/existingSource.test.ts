// The program started from a running AWS environment (issue 7): by ids in config, and by
// crosscloud:sourceStack. The lookups and the StackReference are answered by the mocks alone.
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { POSTGRES_STEP_VARS } from "../scripts/postgresSteps";
import { shellQuote } from "../scripts/render";
import {
    CloudMockOptions,
    DEFAULT_CLOUD,
    ExistingAwsMock,
    cloudCalls,
    cloudResources,
    legacyAws,
    mockKeyPair,
} from "../mockcloud/cloudMocks";
import { countsByType, named, ofType, withWarnings } from "./inspect";
import { ProgramRun, runProgram } from "../mockcloud/programRunner";
import { ADMIN_KEY, DEV_STACK, SECRET_KEYS, GENERATED_KEYS } from "./stacks";

const HOST_KEY = mockKeyPair("existing-primary-host-key").public.trim();
const SOURCE = "acme/legacy-network/prod";
const IDS = {
    "crosscloud:sourceVpcId": "vpc-0a1b2c3d4e5f60718",
    "crosscloud:sourceGatewaySubnetId": "subnet-0aaaaaaaaaaaaaaa1",
    "crosscloud:sourceDatabaseSubnetId": "subnet-0bbbbbbbbbbbbbbb2",
    "crosscloud:sourcePrimaryInstanceId": "i-0ccccccccccccccc3",
};
const BY_IDS: Record<string, unknown> = { ...DEV_STACK, ...IDS, "crosscloud:sourcePrimaryHostKey": HOST_KEY };
const BY_STACK: Record<string, unknown> = { ...DEV_STACK, "crosscloud:sourceStack": SOURCE, "crosscloud:sourcePrimaryHostKey": HOST_KEY };
const STACK_OUTPUTS = {
    vpcId: "vpc-0a1b2c3d4e5f60718",
    gatewaySubnetId: "subnet-0aaaaaaaaaaaaaaa1",
    databaseSubnetId: "subnet-0bbbbbbbbbbbbbbb2",
    primaryInstanceId: "i-0ccccccccccccccc3",
    somethingElse: "ignored",
};

function cloud(
    change: (env: ExistingAwsMock) => void = () => undefined,
    outputs: Record<string, unknown> = STACK_OUTPUTS,
): CloudMockOptions {
    const env = legacyAws();
    change(env);
    return { ...DEFAULT_CLOUD, existingAws: env, stacks: { [SOURCE]: outputs } };
}

/** Runs the program, recording the warnings it logs and the resources it registers. */
async function run(config: Record<string, unknown>, options = cloud()): Promise<{ r: ProgramRun; warnings: string[] }> {
    const { result: r, warnings } = await withWarnings(() =>
        runProgram({ config, secretKeys: SECRET_KEYS, newResource: cloudResources(GENERATED_KEYS, options), call: cloudCalls(options) }),
    );
    return { r, warnings };
}

/** Ingress rules as [name, group (program-made by name, existing by id), protocol, ports, source]. */
function ingressRules(r: ProgramRun): string[][] {
    const groupName = new Map(ofType(r, "aws:ec2/securityGroup:SecurityGroup").map((g) => [g.id, g.name]));
    const group = (id: string) => groupName.get(id) ?? `existing:${id}`;
    return ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        .map((rule) => [
            rule.name,
            group(rule.inputs.securityGroupId),
            rule.inputs.ipProtocol,
            rule.inputs.fromPort === undefined ? "all" : `${rule.inputs.fromPort}-${rule.inputs.toPort}`,
            rule.inputs.cidrIpv4 ?? `sg:${group(rule.inputs.referencedSecurityGroupId)}`,
        ])
        .sort((a, b) => a[0].localeCompare(b[0]));
}

const EXPECTED_COUNTS = {
    "aws:ec2/eip:Eip": 1,
    "aws:ec2/instance:Instance": 1,
    "aws:ec2/keyPair:KeyPair": 1,
    "aws:ec2/route:Route": 1,
    "aws:ec2/securityGroup:SecurityGroup": 1,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 1,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 7,
    "azure-native:compute:Disk": 1,
    "azure-native:compute:VirtualMachine": 2,
    "azure-native:network:NetworkInterface": 2,
    "azure-native:network:NetworkSecurityGroup": 2,
    "azure-native:network:PublicIPAddress": 1,
    "azure-native:network:RouteTable": 1,
    "azure-native:network:SecurityRule": 9,
    "azure-native:network:Subnet": 2,
    "azure-native:network:VirtualNetwork": 1,
    "azure-native:resources:ResourceGroup": 1,
    "command:remote:Command": 13,
    "crosscloud:aws:AwsSite": 1,
    "crosscloud:azure:AzureSite": 1,
    "crosscloud:db:PostgresReplicaPair": 1,
    "crosscloud:net:OpenswanTunnel": 1,
    "random:index/randomPassword:RandomPassword": 3,
    "tls:index/privateKey:PrivateKey": 4,
};

/** A rendered `readonly NAME='value'` line of a host step. */
function scriptVar(r: ProgramRun, step: string, name: string): string | undefined {
    return new RegExp(`^readonly ${name}='([^']*)'$`, "m").exec(named(r, step).inputs.stdin)?.[1];
}

describe("an existing AWS environment given by ids (crosscloud:source*Id)", function () {
    let r: ProgramRun;
    let warnings: string[];
    before(async function () {
        ({ r, warnings } = await run(BY_IDS));
    });

    it("adds only what is missing: no VPC, subnet, route table, primary instance or data volume", function () {
        assert.deepStrictEqual(countsByType(r), EXPECTED_COUNTS);
        assert.deepStrictEqual(
            ofType(r, "aws:ec2/instance:Instance").map((i) => i.name),
            ["aws-gateway"],
        );
    });

    it("reads each existing object by its id, and only reads it", function () {
        // The lookups run concurrently: compared in a fixed order.
        const lookups = r.invocations
            .filter((i) => i.token !== "aws:ec2/getAmi:getAmi")
            .map((i) => [i.token, i.inputs])
            .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
        assert.deepStrictEqual(lookups, [
            ["aws:ec2/getInstance:getInstance", { instanceId: "i-0ccccccccccccccc3" }],
            ["aws:ec2/getRouteTable:getRouteTable", { subnetId: "subnet-0bbbbbbbbbbbbbbb2" }],
            ["aws:ec2/getSubnet:getSubnet", { id: "subnet-0aaaaaaaaaaaaaaa1" }],
            ["aws:ec2/getSubnet:getSubnet", { id: "subnet-0bbbbbbbbbbbbbbb2" }],
            ["aws:ec2/getVpc:getVpc", { id: "vpc-0a1b2c3d4e5f60718" }],
        ]);
    });

    it("puts the gateway in the existing public subnet at its 10th address, forwarding", function () {
        const gw = named(r, "aws-gateway").inputs;
        assert.deepStrictEqual(
            [gw.subnetId, gw.privateIp, gw.sourceDestCheck, gw.associatePublicIpAddress, gw.vpcSecurityGroupIds],
            ["subnet-0aaaaaaaaaaaaaaa1", "172.31.0.10", false, false, [named(r, "aws-gateway-sg").id]],
        );
        assert.strictEqual(named(r, "aws-gateway-sg").inputs.vpcId, "vpc-0a1b2c3d4e5f60718");
    });

    it("adds one standalone route (the Azure range via the gateway) to the database subnet's table", function () {
        assert.deepStrictEqual(
            ofType(r, "aws:ec2/route:Route").map((rt) => [rt.name, rt.inputs]),
            [
                [
                    "aws-peer-route",
                    {
                        routeTableId: "rtb-0eeeeeeeeeeeeeee5",
                        destinationCidrBlock: "10.20.0.0/16",
                        networkInterfaceId: named(r, "aws-gateway").state.primaryNetworkInterfaceId,
                    },
                ],
            ],
        );
        assert.ok(named(r, "postgres-aws-node").options.dependsOn.includes("aws-peer-route"));
    });

    it("adds standalone rules to the primary's own group, and no egress rule there", function () {
        assert.deepStrictEqual(ingressRules(r), [
            ["aws-database-ssh-from-gateway", "existing:sg-0ddddddddddddddd4", "tcp", "22-22", "sg:aws-gateway-sg"],
            ["aws-gateway-from-vpc", "aws-gateway-sg", "-1", "all", "172.31.0.0/16"],
            ["aws-gateway-ssh-0", "aws-gateway-sg", "tcp", "22-22", "203.0.113.7/32"],
            ["postgres-aws-archive-from-azure-0", "existing:sg-0ddddddddddddddd4", "tcp", "22-22", "10.20.1.10/32"],
            ["postgres-aws-postgres-from-azure-0", "existing:sg-0ddddddddddddddd4", "tcp", "5432-5432", "10.20.1.10/32"],
            ["tunnel-aws-ike-0", "aws-gateway-sg", "udp", "500-500", "203.0.113.10/32"],
            ["tunnel-aws-nat-t-0", "aws-gateway-sg", "udp", "4500-4500", "203.0.113.10/32"],
        ]);
        assert.deepStrictEqual(
            ofType(r, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule").map((e) => [e.name, e.inputs.securityGroupId]),
            [["aws-gateway-egress", named(r, "aws-gateway-sg").id]],
        );
    });

    it("routes and admits the existing VPC's range and primary on the Azure side", function () {
        assert.deepStrictEqual(named(r, "azure-database-routes").inputs.routes[0], {
            name: "peer-site-via-gateway",
            addressPrefix: "172.31.0.0/16",
            nextHopType: "VirtualAppliance",
            nextHopIpAddress: "10.20.0.10",
        });
        assert.deepStrictEqual(
            [
                named(r, "postgres-azure-postgres-from-aws").inputs.sourceAddressPrefix,
                named(r, "postgres-azure-postgres-from-aws").inputs.sourceAddressPrefixes,
            ],
            [undefined, ["172.31.8.25/32"]],
        );
    });

    it("pins the configured host key on every connection to the existing primary, and in the standby's archive pull", function () {
        const toPrimary = ofType(r, "command:remote:Command").filter((c) => c.inputs.connection.host === "172.31.8.25");
        assert.deepStrictEqual(
            toPrimary.map((c) => c.name),
            ["aws-database-access", "postgres-aws-node", "postgres-primary"],
        );
        for (const c of toPrimary) {
            assert.strictEqual(c.inputs.connection.hostKey, HOST_KEY);
            assert.deepStrictEqual(
                [c.inputs.connection.proxy.host, c.inputs.connection.proxy.hostKey],
                ["198.51.100.10", named(r, "aws-gateway-host-key").state.publicKeyOpenssh.trim()],
            );
        }
        assert.ok(named(r, "postgres-azure-node").inputs.stdin.includes(`172.31.8.25 ${HOST_KEY}\n`));
        const hosts = r.outputs.databaseHosts as Record<string, { address: string; hostKey: string }>;
        assert.deepStrictEqual([hosts.aws.address, hosts.aws.hostKey], ["172.31.8.25", HOST_KEY]);
    });

    it("leaves the existing host's disks alone and does not restart it without consent, and the preview says so", function () {
        assert.strictEqual(scriptVar(r, "postgres-aws-node", "DATA_DEVICES"), "");
        assert.strictEqual(scriptVar(r, "postgres-aws-node", "RESTART_POLICY"), "report");
        assert.strictEqual(scriptVar(r, "postgres-azure-node", "RESTART_POLICY"), "restart");
        assert.strictEqual(scriptVar(r, "postgres-azure-node", "DATA_DEVICES"), "/dev/disk/azure/scsi1/lun0 /dev/disk/azure/data/by-lun/0");
        assert.deepStrictEqual(warnings, [
            `PostgreSQL on the existing aws database host will not be restarted: settings that need a restart (archive_mode, wal_log_hints, listen_addresses, ...) stay pending and its step prints "crosscloud: restart-needed: <settings>"; set crosscloud:allowPrimaryRestart to true to allow the restart.`,
        ]);
    });

    it("keeps the passwords and private keys secret", function () {
        const admin = named(r, "postgres-admin-password").state.result;
        const secrets = [
            named(r, "tunnel-psk").state.result,
            named(r, "postgres-replicator-password").state.result,
            admin,
            ADMIN_KEY.private,
            ...ofType(r, "tls:index/privateKey:PrivateKey").map((k) => k.state.privateKeyOpenssh),
        ];
        for (const reg of r.registrations) {
            for (const [key, value] of Object.entries(reg.inputs)) {
                if (secrets.some((s) => JSON.stringify(value).includes(s.trim()))) {
                    assert.ok(reg.secretInputs.includes(key), `${reg.name}.${key} holds a secret but is not marked secret`);
                }
            }
        }
        assert.deepStrictEqual(r.secretOutputs, ["primaryConnectionString"]);
        assert.strictEqual(
            r.outputs.primaryConnectionString,
            `postgresql://crosscloud_admin:${admin}@172.31.8.25:5432/postgres?sslmode=require`,
        );
        const plain = JSON.stringify({ ...r.outputs, primaryConnectionString: undefined });
        for (const s of secrets) {
            assert.ok(!plain.includes(s.trim()), "a secret leaked into a plain output");
        }
    });

    it("exports the existing ids, the VPC's range and where they came from; what does not apply is absent", function () {
        const o = r.outputs as Record<string, any>;
        assert.deepStrictEqual([o.awsSource, o.awsCidr, o.primaryPrivateIp], ["existing (config)", "172.31.0.0/16", "172.31.8.25"]);
        assert.deepStrictEqual(o.awsResources, {
            vpcId: "vpc-0a1b2c3d4e5f60718",
            gatewaySubnetId: "subnet-0aaaaaaaaaaaaaaa1",
            databaseSubnetId: "subnet-0bbbbbbbbbbbbbbb2",
            privateRouteTableId: "rtb-0eeeeeeeeeeeeeee5",
            gatewaySecurityGroupId: named(r, "aws-gateway-sg").id,
            databaseSecurityGroupId: "sg-0ddddddddddddddd4",
            gatewayInstanceId: named(r, "aws-gateway").id,
            databaseInstanceId: "i-0ccccccccccccccc3",
            amiId: "ami-0f00d5ca1ab1e0001",
        });
        // The gateway subnet's table is the environment's own, and PGDATA is not on a program-made volume.
        assert.ok(!("publicRouteTableId" in o.awsResources) && !("dataVolumeId" in o.awsResources));
        assert.strictEqual(o.awsGatewayPublicIp, "198.51.100.10");
        assert.strictEqual(Object.keys(o.azureResources).length, 10);
    });

    it("restarts the existing primary when crosscloud:allowPrimaryRestart is true, and the preview says it may", async function () {
        const consent = await run({ ...BY_IDS, "crosscloud:allowPrimaryRestart": "true" });
        assert.strictEqual(scriptVar(consent.r, "postgres-aws-node", "RESTART_POLICY"), "restart");
        assert.deepStrictEqual(consent.warnings, [
            `PostgreSQL on the existing aws database host will be restarted if a setting this program applies needs it (archive_mode, wal_log_hints, listen_addresses, ...): crosscloud:allowPrimaryRestart is true.`,
        ]);
    });

    it("checks the Azure range against the VPC's range, not against the unused default awsCidr", async function () {
        const { r: other } = await run({ ...BY_IDS, "crosscloud:azureCidr": "10.10.0.0/16" });
        assert.deepStrictEqual(
            [other.outputs.awsCidr, other.outputs.azureCidr, named(other, "aws-peer-route").inputs.destinationCidrBlock],
            ["172.31.0.0/16", "10.10.0.0/16", "10.10.0.0/16"],
        );
    });

    it("puts the gateway at crosscloud:sourceGatewayPrivateIp when given", async function () {
        const { r: given } = await run({ ...BY_IDS, "crosscloud:sourceGatewayPrivateIp": "172.31.0.200" });
        assert.strictEqual(named(given, "aws-gateway").inputs.privateIp, "172.31.0.200");
        assert.match(named(given, "tunnel-aws-gateway").inputs.stdin, /172\.31\.0\.200/);
    });

    it("takes the route table and security group from config when given", async function () {
        const { r: given } = await run(
            {
                ...BY_IDS,
                "crosscloud:sourceDatabaseRouteTableId": "rtb-0eeeeeeeeeeeeeee5",
                "crosscloud:sourcePrimarySecurityGroupId": "sg-0ddddddddddddddd4",
            },
            cloud((env) => {
                env.instances[0].vpcSecurityGroupIds.push("sg-0777777777777777a");
            }),
        );
        assert.deepStrictEqual(
            given.invocations.filter((i) => i.token === "aws:ec2/getRouteTable:getRouteTable").map((i) => i.inputs),
            [{ routeTableId: "rtb-0eeeeeeeeeeeeeee5" }],
        );
        assert.strictEqual(named(given, "aws-database-ssh-from-gateway").inputs.securityGroupId, "sg-0ddddddddddddddd4");
    });
});

describe("an existing AWS environment given by crosscloud:sourceStack", function () {
    let r: ProgramRun;
    let byIds: ProgramRun;
    before(async function () {
        ({ r } = await run(BY_STACK));
        ({ r: byIds } = await run(BY_IDS));
    });

    it("reads the source stack once (a read, nothing created) and adds the same resources as by ids", function () {
        const refs = ofType(r, "pulumi:pulumi:StackReference");
        assert.deepStrictEqual(
            refs.map((ref) => [ref.name, ref.inputs.name]),
            [["aws-source-stack", SOURCE]],
        );
        assert.deepStrictEqual(countsByType(r), { ...EXPECTED_COUNTS, "pulumi:pulumi:StackReference": 1 });
        const shape = (run: ProgramRun) =>
            run.registrations
                .filter((reg) => reg.type !== "pulumi:pulumi:StackReference")
                .map((reg) => [reg.type, reg.name])
                .sort((a, b) => a[1].localeCompare(b[1]));
        assert.deepStrictEqual(shape(r), shape(byIds));
    });

    it("uses the stack's ids and the configured host key", function () {
        const o = r.outputs as Record<string, any>;
        assert.strictEqual(o.awsSource, `existing (stack ${SOURCE})`);
        assert.deepStrictEqual(
            [o.awsResources.vpcId, o.awsResources.databaseInstanceId, o.awsResources.privateRouteTableId],
            ["vpc-0a1b2c3d4e5f60718", "i-0ccccccccccccccc3", "rtb-0eeeeeeeeeeeeeee5"],
        );
        assert.strictEqual(named(r, "postgres-aws-node").inputs.connection.hostKey, HOST_KEY);
        assert.strictEqual(named(r, "aws-gateway").inputs.subnetId, "subnet-0aaaaaaaaaaaaaaa1");
        assert.strictEqual(named(r, "aws-peer-route").inputs.routeTableId, "rtb-0eeeeeeeeeeeeeee5");
    });
});

describe("a bad existing AWS environment is refused before anything is created", function () {
    const otherKey = mockKeyPair("another-host-key").public.trim();
    const cases: [string, Record<string, unknown>, CloudMockOptions, string][] = [
        [
            "ids and a source stack at once",
            { ...BY_IDS, "crosscloud:sourceStack": SOURCE },
            cloud(),
            `crosscloud:sourceStack and crosscloud:sourceVpcId, crosscloud:sourceGatewaySubnetId, crosscloud:sourceDatabaseSubnetId, crosscloud:sourcePrimaryInstanceId are both set: take the existing AWS environment from one of them (unset crosscloud:sourceStack, or the source ids).`,
        ],
        [
            "incomplete ids",
            { ...DEV_STACK, "crosscloud:sourceVpcId": "vpc-0a1b2c3d4e5f60718", "crosscloud:sourcePrimaryHostKey": HOST_KEY },
            cloud(),
            `crosscloud:sourceGatewaySubnetId, crosscloud:sourceDatabaseSubnetId, crosscloud:sourcePrimaryInstanceId are missing: an existing AWS environment given by ids needs crosscloud:sourceVpcId, crosscloud:sourceGatewaySubnetId, crosscloud:sourceDatabaseSubnetId and crosscloud:sourcePrimaryInstanceId.`,
        ],
        [
            "a malformed id",
            { ...BY_IDS, "crosscloud:sourcePrimaryInstanceId": "db-primary" },
            cloud(),
            `crosscloud:sourcePrimaryInstanceId "db-primary" is not an AWS id: write it like i-0123456789abcdef0.`,
        ],
        [
            "a malformed stack name",
            { ...BY_STACK, "crosscloud:sourceStack": "legacy-network" },
            cloud(),
            `crosscloud:sourceStack "legacy-network" is not a fully qualified stack name: write it like acme/legacy-network/prod.`,
        ],
        [
            "an existing primary without its host key",
            { ...BY_IDS, "crosscloud:sourcePrimaryHostKey": undefined },
            cloud(),
            `crosscloud:sourcePrimaryHostKey is missing or malformed: set the existing primary's SSH host public key, one line such as "ssh-ed25519 AAAA..." (cat /etc/ssh/ssh_host_ed25519_key.pub on that host); the program pins it on every connection.`,
        ],
        [
            "a host key without an existing environment",
            { ...DEV_STACK, "crosscloud:sourcePrimaryHostKey": otherKey },
            cloud(),
            `crosscloud:sourcePrimaryHostKey is set but no existing AWS environment is: set crosscloud:sourceStack or the source ids, or unset crosscloud:sourcePrimaryHostKey.`,
        ],
        [
            "an id that does not exist",
            { ...BY_IDS, "crosscloud:sourceVpcId": "vpc-0123456789abcdef0" },
            cloud(),
            `crosscloud:sourceVpcId "vpc-0123456789abcdef0" was not found in eu-west-1.`,
        ],
        [
            "a subnet of another VPC",
            { ...BY_IDS, "crosscloud:sourceGatewaySubnetId": "subnet-0fffffffffffffff9" },
            cloud(),
            `crosscloud:sourceGatewaySubnetId "subnet-0fffffffffffffff9" is in vpc-0999999999999999f, not in the VPC vpc-0a1b2c3d4e5f60718 (crosscloud:sourceVpcId).`,
        ],
        [
            "one subnet for both",
            { ...BY_IDS, "crosscloud:sourceGatewaySubnetId": "subnet-0bbbbbbbbbbbbbbb2" },
            cloud(),
            `crosscloud:sourceGatewaySubnetId and crosscloud:sourceDatabaseSubnetId are the same subnet: the gateway needs a public subnet, the primary a private one.`,
        ],
        [
            "a primary outside the database subnet",
            BY_IDS,
            cloud((env) => {
                env.instances[0].subnetId = "subnet-0aaaaaaaaaaaaaaa1";
            }),
            `crosscloud:sourcePrimaryInstanceId "i-0ccccccccccccccc3" is in subnet-0aaaaaaaaaaaaaaa1, not in the database subnet subnet-0bbbbbbbbbbbbbbb2.`,
        ],
        [
            "a stopped primary",
            BY_IDS,
            cloud((env) => {
                env.instances[0].instanceState = "stopped";
            }),
            `crosscloud:sourcePrimaryInstanceId "i-0ccccccccccccccc3" is stopped, not running: start it before pulumi up.`,
        ],
        [
            "a primary with several security groups and none named",
            BY_IDS,
            cloud((env) => {
                env.instances[0].vpcSecurityGroupIds.push("sg-0777777777777777a");
            }),
            `crosscloud:sourcePrimaryInstanceId "i-0ccccccccccccccc3" has 2 security groups (sg-0ddddddddddddddd4, sg-0777777777777777a): name the one the program may add its rules to with crosscloud:sourcePrimarySecurityGroupId.`,
        ],
        [
            "a security group the primary is not in",
            { ...BY_IDS, "crosscloud:sourcePrimarySecurityGroupId": "sg-0777777777777777a" },
            cloud(),
            `crosscloud:sourcePrimarySecurityGroupId "sg-0777777777777777a" is not a security group of i-0ccccccccccccccc3 (sg-0ddddddddddddddd4).`,
        ],
        [
            "a database subnet on the main route table",
            BY_IDS,
            cloud((env) => {
                env.routeTables[0].subnetIds = [];
            }),
            `crosscloud:sourceDatabaseSubnetId "subnet-0bbbbbbbbbbbbbbb2" has no route table of its own (it uses the VPC's main table): name the table the program may add its route to with crosscloud:sourceDatabaseRouteTableId.`,
        ],
        [
            "a route to the Azure range that exists already",
            BY_IDS,
            cloud((env) => {
                env.routeTables[0].routes.push({ cidrBlock: "10.20.0.0/16" });
            }),
            `the route table rtb-0eeeeeeeeeeeeeee5 of the database subnet already routes 10.20.0.0/16 (crosscloud:azureCidr): the program adds that route itself and never replaces one it did not create; remove it or pick another crosscloud:azureCidr.`,
        ],
        [
            "an Azure range inside the existing VPC",
            { ...BY_IDS, "crosscloud:azureCidr": "172.31.128.0/20" },
            cloud(),
            `crosscloud:azureCidr "172.31.128.0/20" overlaps the existing VPC's range 172.31.0.0/16: each site's range is routed to the other through the tunnel, so pick another crosscloud:azureCidr.`,
        ],
        [
            "an awsCidr that is not the VPC's",
            { ...BY_IDS, "crosscloud:awsCidr": "10.10.0.0/16" },
            cloud(),
            `crosscloud:awsCidr "10.10.0.0/16" is not the existing VPC's range 172.31.0.0/16: with an existing AWS environment the range is the VPC's; unset crosscloud:awsCidr or set it to 172.31.0.0/16.`,
        ],
        [
            "a gateway address outside the gateway subnet",
            { ...BY_IDS, "crosscloud:sourceGatewayPrivateIp": "172.31.8.10" },
            cloud(),
            `crosscloud:sourceGatewayPrivateIp "172.31.8.10" is not a host address of the gateway subnet 172.31.0.0/24: pick a free address inside it.`,
        ],
        [
            "a source stack without the documented outputs",
            BY_STACK,
            cloud(undefined, { vpcId: "vpc-0a1b2c3d4e5f60718", gatewaySubnetId: "subnet-0aaaaaaaaaaaaaaa1" }),
            `crosscloud:sourceStack acme/legacy-network/prod does not export databaseSubnetId, primaryInstanceId: the source stack must export vpcId, gatewaySubnetId, databaseSubnetId and primaryInstanceId (and may export databaseRouteTableId, primarySecurityGroupId); see the README, "Starting from an existing AWS environment".`,
        ],
        [
            "a source stack output that is not an id",
            BY_STACK,
            cloud(undefined, { ...STACK_OUTPUTS, primaryInstanceId: { id: "i-0ccccccccccccccc3" } }),
            `output primaryInstanceId of crosscloud:sourceStack acme/legacy-network/prod is {"id":"i-0ccccccccccccccc3"}, not an AWS id like i-0123456789abcdef0.`,
        ],
        [
            "a source stack naming a subnet of another VPC",
            BY_STACK,
            cloud(undefined, { ...STACK_OUTPUTS, databaseSubnetId: "subnet-0fffffffffffffff9" }),
            `output databaseSubnetId of crosscloud:sourceStack acme/legacy-network/prod "subnet-0fffffffffffffff9" has no route table of its own (it uses the VPC's main table): name the table the program may add its route to with output databaseRouteTableId of crosscloud:sourceStack acme/legacy-network/prod.\n- output databaseSubnetId of crosscloud:sourceStack acme/legacy-network/prod "subnet-0fffffffffffffff9" is in vpc-0999999999999999f, not in the VPC vpc-0a1b2c3d4e5f60718 (output vpcId of crosscloud:sourceStack acme/legacy-network/prod).\n- output primaryInstanceId of crosscloud:sourceStack acme/legacy-network/prod "i-0ccccccccccccccc3" is in subnet-0bbbbbbbbbbbbbbb2, not in the database subnet subnet-0fffffffffffffff9.`,
        ],
    ];
    for (const [what, config, options, message] of cases) {
        it(`refuses ${what}`, async function () {
            const created: string[] = [];
            const resources = cloudResources(GENERATED_KEYS, options);
            await assert.rejects(
                runProgram({
                    config: Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)),
                    secretKeys: SECRET_KEYS,
                    newResource: async (res) => {
                        created.push(res.type === "pulumi:pulumi:StackReference" ? `read ${res.name}` : res.name);
                        return resources(res);
                    },
                    call: cloudCalls(options),
                }),
                (err: Error) => {
                    assert.strictEqual(err.message, `Invalid stack configuration:\n- ${message}`);
                    return true;
                },
            );
            // A source stack is read (a StackReference); nothing else may be registered.
            const read =
                config["crosscloud:sourceStack"] !== undefined &&
                !("crosscloud:sourceVpcId" in config) &&
                !message.includes("fully qualified");
            assert.deepStrictEqual(created, read ? ["read aws-source-stack"] : [], "nothing may be created");
        });
    }
});

describe("postgres-node.sh apply_config: a setting that needs a restart", function () {
    // The function as the host runs it, with systemctl and psql stubbed: PostgreSQL is running, the
    // config changed, and archive_mode and wal_log_hints are pending a restart.
    const host = path.join(__dirname, "..", "scripts", "host");
    const script = fs.readFileSync(path.join(host, "postgres-node.sh"), "utf8");
    // The shared PostgreSQL helpers as the step gets them (reload_config, wait_ready, restart_if_pending).
    const lib = fs.readFileSync(path.join(host, "postgres-lib.sh"), "utf8");
    const applyConfig = /^apply_config\(\) \{\n[\s\S]*?^\}$/m.exec(script)?.[0];
    function runApplyConfig(policy: string): string {
        assert.ok(applyConfig, "apply_config not found in postgres-node.sh");
        const stubs = `
PG_VERSION=16
${Object.entries(POSTGRES_STEP_VARS.node)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join("\n")}
${lib}
log() { printf 'crosscloud: %s\\n' "$*"; }
changed() { log "changed: $*"; }
die() { log "error: $*"; exit 1; }
wait_until() { shift; "$@"; }
running() { true; }
ready() { true; }
systemctl() { echo "systemctl $*"; }
psql_admin() {
    case "$*" in
        *pg_conf_load_time*) date +%s%N ;;
        *"count(*) FROM pg_settings WHERE pending_restart"*) echo 2 ;;
        *"string_agg(name"*) echo archive_mode,wal_log_hints ;;
        *) echo "unexpected psql: $*" >&2; exit 1 ;;
    esac
}
CHANGED_conf=1 CHANGED_hba=0 RESTART_POLICY=${policy}
`;
        return execFileSync("bash", ["-euo", "pipefail", "-c", `${stubs}\n${applyConfig}\napply_config`], { encoding: "utf8" });
    }

    it("is reported, not applied, on an existing host without consent", function () {
        assert.strictEqual(
            runApplyConfig("report"),
            [
                "systemctl reload postgresql@16-main",
                "crosscloud: changed: reloaded postgresql@16-main",
                "crosscloud: restart-needed: archive_mode,wal_log_hints",
                "crosscloud: not restarted postgresql@16-main: set crosscloud:allowPrimaryRestart to true and run pulumi up again to apply these settings",
                "",
            ].join("\n"),
        );
    });

    it("restarts PostgreSQL otherwise", function () {
        assert.strictEqual(
            runApplyConfig("restart"),
            [
                "systemctl reload postgresql@16-main",
                "crosscloud: changed: reloaded postgresql@16-main",
                "systemctl restart postgresql@16-main",
                "crosscloud: changed: restarted postgresql@16-main (a changed setting needs it)",
                "",
            ].join("\n"),
        );
    });
});
