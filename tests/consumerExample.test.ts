// examples/consumer under Pulumi mocks: its StackReference answers with sample crosscloud outputs, and
// the test asserts what the example reads, what it creates, and that the connection string stays secret.
import * as assert from "assert";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";

const rpc = require("@pulumi/pulumi/runtime/rpc");

const EXAMPLE = path.resolve(__dirname, "..", "examples", "consumer", "index.ts");
const SOURCE_STACK = "acme/crosscloud/dev";
const CONNECTION_STRING = "postgresql://crosscloud_admin:s3cret@10.10.1.10:5432/postgres?sslmode=require";

/** What a crosscloud dev stack exports (README, "Outputs"); the connection string is secret. */
const SOURCE_OUTPUTS = {
    awsGatewayPublicIp: "198.51.100.10",
    azureGatewayPublicIp: "203.0.113.10",
    awsCidr: "10.10.0.0/16",
    azureCidr: "10.20.0.0/16",
    primaryPrivateIp: "10.10.1.10",
    standbyPrivateIp: "10.20.1.10",
    tunnelStatus: "established",
    replicationStatus: "streaming from 10.10.1.10",
    awsResources: {
        vpcId: "vpc-0a1b2c3d4e5f60718",
        gatewaySubnetId: "subnet-0012",
        databaseSubnetId: "subnet-0123",
        publicRouteTableId: "rtb-0pub",
        privateRouteTableId: "rtb-0priv",
        gatewaySecurityGroupId: "sg-0gw",
        databaseSecurityGroupId: "sg-0db",
        gatewayInstanceId: "i-0gw",
        databaseInstanceId: "i-0db",
        dataVolumeId: "vol-0pgdata",
        amiId: "ami-0f00d5ca1ab1e0001",
    },
};

/** What a stack on an existing AWS environment exports: no publicRouteTableId and no dataVolumeId (absent, not ""). */
const EXISTING_AWS_RESOURCES = Object.fromEntries(
    Object.entries(SOURCE_OUTPUTS.awsResources).filter(([key]) => key !== "publicRouteTableId" && key !== "dataVolumeId"),
);
const EXISTING_SOURCE_OUTPUTS = { ...SOURCE_OUTPUTS, awsResources: EXISTING_AWS_RESOURCES, awsSource: "existing (config)" };

interface Created {
    type: string;
    name: string;
    id: string | undefined;
    inputs: Record<string, any>;
}

function isSecretValue(value: unknown): value is { value: unknown } {
    return typeof value === "object" && value !== null && (value as any)[rpc.specialSigKey] === rpc.specialSecretSig;
}

/** What the example did, run once under mocks against a source stack with `sourceOutputs`. */
interface ConsumerRun {
    created: Created[];
    outputs: Record<string, unknown>;
    secretOutputs: string[];
}

async function runConsumer(sourceOutputs: Record<string, unknown>): Promise<ConsumerRun> {
    const run: ConsumerRun = { created: [], outputs: {}, secretOutputs: [] };
    pulumi.runtime.setAllConfig({ "crosscloud-consumer:sourceStack": SOURCE_STACK }, []);
    await pulumi.runtime.setMocks(
        {
            // eslint-disable-next-line @typescript-eslint/require-await -- the mock monitor awaits whatever it gets
            newResource: async (args) => {
                run.created.push({ type: args.type, name: args.name, id: args.id, inputs: args.inputs });
                if (args.type === "pulumi:pulumi:StackReference") {
                    // As the engine reads a stack: its outputs, secrets marked, and their names.
                    return {
                        id: args.inputs.name,
                        state: {
                            name: args.inputs.name,
                            outputs: { ...sourceOutputs, primaryConnectionString: pulumi.secret(CONNECTION_STRING) },
                            secretOutputNames: ["primaryConnectionString"],
                        },
                    };
                }
                return {
                    id: `${args.name}-id`,
                    state: { ...args.inputs, ...(args.type === "aws:ssm/parameter:Parameter" ? { arn: `arn:${args.name}` } : {}) },
                };
            },
            call: (args) => {
                throw new Error(`the consumer calls no function, but called ${args.token}`);
            },
        },
        "crosscloud-consumer",
        "dev",
        false,
    );
    delete require.cache[EXAMPLE];
    const program = require(EXAMPLE);
    for (const [name, value] of Object.entries(program)) {
        if (await pulumi.isSecret(value as pulumi.Output<unknown>)) {
            run.secretOutputs.push(name);
        }
        run.outputs[name] = await (value as any).promise();
    }
    await pulumi.runtime.disconnect();
    return run;
}

describe("examples/consumer (StackReference to a crosscloud stack)", function () {
    let created: Created[] = [];
    let outputs: Record<string, unknown> = {};
    let secretOutputs: string[] = [];

    before(async function () {
        ({ created, outputs, secretOutputs } = await runConsumer(SOURCE_OUTPUTS));
    });

    const one = (type: string, name: string): Created => {
        const found = created.filter((c) => c.type === type && c.name === name);
        assert.strictEqual(found.length, 1, `expected one ${type} named ${name}, found ${found.length}`);
        return found[0];
    };

    it("reads the stack named by config sourceStack", function () {
        const ref = one("pulumi:pulumi:StackReference", "source");
        assert.strictEqual(ref.inputs.name, SOURCE_STACK);
        assert.strictEqual(ref.id, SOURCE_STACK);
    });

    it("creates exactly two SSM parameters, a security group and its egress rule", function () {
        assert.deepStrictEqual(created.map((c) => `${c.type} ${c.name}`).sort(), [
            "aws:ec2/securityGroup:SecurityGroup postgres-clients",
            "aws:ssm/parameter:Parameter primary-connection-string",
            "aws:ssm/parameter:Parameter primary-host",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule postgres-clients-to-primary",
            "pulumi:pulumi:StackReference source",
        ]);
    });

    it("stores the connection string as a SecureString, handed to the provider as a secret", function () {
        const parameter = one("aws:ssm/parameter:Parameter", "primary-connection-string");
        assert.strictEqual(parameter.inputs.name, "/crosscloud/dev/primary-connection-string");
        assert.strictEqual(parameter.inputs.type, "SecureString");
        // (@pulumi/aws would mark it secret anyway: that the example keeps it secret itself shows in its exports, below.)
        assert.ok(isSecretValue(parameter.inputs.value), "the value arrives as a secret");
        assert.strictEqual(parameter.inputs.value.value, CONNECTION_STRING);
        assert.deepStrictEqual(parameter.inputs.tags, { "crosscloud:source-stack": SOURCE_STACK });
    });

    it("publishes the primary's host as a String parameter", function () {
        const parameter = one("aws:ssm/parameter:Parameter", "primary-host");
        assert.strictEqual(parameter.inputs.name, "/crosscloud/dev/primary-host");
        assert.strictEqual(parameter.inputs.type, "String");
        // @pulumi/aws marks every Parameter value secret itself, whatever it is given.
        assert.ok(isSecretValue(parameter.inputs.value));
        assert.strictEqual(parameter.inputs.value.value, "10.10.1.10");
    });

    it("gives applications a security group in the source VPC whose egress is PostgreSQL to the primary only", function () {
        const group = one("aws:ec2/securityGroup:SecurityGroup", "postgres-clients");
        assert.strictEqual(group.inputs.vpcId, "vpc-0a1b2c3d4e5f60718");
        const rule = one("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "postgres-clients-to-primary");
        assert.deepStrictEqual(
            {
                securityGroupId: rule.inputs.securityGroupId,
                ipProtocol: rule.inputs.ipProtocol,
                fromPort: rule.inputs.fromPort,
                toPort: rule.inputs.toPort,
                cidrIpv4: rule.inputs.cidrIpv4,
            },
            { securityGroupId: "postgres-clients-id", ipProtocol: "tcp", fromPort: 5432, toPort: 5432, cidrIpv4: "10.10.1.10/32" },
        );
    });

    it("exports what it read and made, the connection string as a secret only", function () {
        assert.deepStrictEqual(outputs, {
            vpcId: "vpc-0a1b2c3d4e5f60718",
            primaryPrivateIp: "10.10.1.10",
            primaryConnectionString: CONNECTION_STRING,
            awsGatewayPublicIp: "198.51.100.10",
            replicationStatus: "streaming from 10.10.1.10",
            connectionStringParameterName: "/crosscloud/dev/primary-connection-string",
            hostParameterName: "/crosscloud/dev/primary-host",
            clientSecurityGroupId: "postgres-clients-id",
            clientEgressRuleId: "postgres-clients-to-primary-id",
        });
        assert.deepStrictEqual(secretOutputs, ["primaryConnectionString"]);
    });
});

describe("examples/consumer on a stack built on an existing AWS environment (ids that do not apply are absent)", function () {
    it("reads the outputs as they are, creates the same resources and exports the same values", async function () {
        const [normal, existing] = [await runConsumer(SOURCE_OUTPUTS), await runConsumer(EXISTING_SOURCE_OUTPUTS)];
        assert.ok(!("publicRouteTableId" in EXISTING_AWS_RESOURCES) && !("dataVolumeId" in EXISTING_AWS_RESOURCES));
        const shape = (run: ConsumerRun) => run.created.map((c) => [c.type, c.name, JSON.stringify(c.inputs)]);
        assert.deepStrictEqual(shape(existing), shape(normal));
        assert.deepStrictEqual(existing.outputs, normal.outputs);
        assert.deepStrictEqual(existing.secretOutputs, ["primaryConnectionString"]);
    });
});
