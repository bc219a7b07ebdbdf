// A stack that uses a crosscloud stack by StackReference: it publishes the PostgreSQL primary to the
// applications in the AWS VPC (an SSM SecureString with the connection string, an SSM String with the
// host) and gives them a security group whose only egress is PostgreSQL on the primary.
// The outputs it reads are the contract in the crosscloud README ("Outputs").
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

/**
 * crosscloud's `awsResources` output. An id that does not apply to the source stack is absent, not `""`:
 * a stack built on an existing AWS environment has no `publicRouteTableId` (that table is the
 * environment's own) and no `dataVolumeId` (PGDATA stays on the existing primary's disks).
 */
interface AwsResources {
    vpcId: string;
    gatewaySubnetId: string;
    databaseSubnetId: string;
    publicRouteTableId?: string;
    privateRouteTableId: string;
    gatewaySecurityGroupId: string;
    databaseSecurityGroupId: string;
    gatewayInstanceId: string;
    databaseInstanceId: string;
    dataVolumeId?: string;
    amiId: string;
}

const config = new pulumi.Config();
/** e.g. acme/crosscloud/dev */
const sourceStack = config.require("sourceStack");
const parameterPrefix = config.get("parameterPrefix") ?? `/crosscloud/${sourceStack.split("/").pop()}`;

const source = new pulumi.StackReference("source", { name: sourceStack });

// requireOutput fails the update with the output's name if the source stack does not export it, and
// keeps secret outputs secret (primaryConnectionString is one).
const awsResources = source.requireOutput("awsResources") as pulumi.Output<AwsResources>;
const primaryIp = source.requireOutput("primaryPrivateIp") as pulumi.Output<string>;
const connectionString = source.requireOutput("primaryConnectionString") as pulumi.Output<string>;
const tags = { "crosscloud:source-stack": sourceStack };

const connectionStringParameter = new aws.ssm.Parameter("primary-connection-string", {
    name: `${parameterPrefix}/primary-connection-string`,
    type: "SecureString",
    value: connectionString,
    description: `PostgreSQL primary of ${sourceStack} (TLS + SCRAM), for applications in its VPC`,
    tags,
});
const hostParameter = new aws.ssm.Parameter("primary-host", {
    name: `${parameterPrefix}/primary-host`,
    type: "String",
    value: primaryIp,
    description: `Private address of the PostgreSQL primary of ${sourceStack}`,
    tags,
});

// Applications join this group; the database host admits them when their subnet is listed in the
// source stack's crosscloud:clientCidrs.
const clients = new aws.ec2.SecurityGroup("postgres-clients", {
    vpcId: awsResources.vpcId,
    description: `Applications that use the PostgreSQL primary of ${sourceStack}`,
    tags,
});
const toPrimary = new aws.vpc.SecurityGroupEgressRule("postgres-clients-to-primary", {
    securityGroupId: clients.id,
    ipProtocol: "tcp",
    fromPort: 5432,
    toPort: 5432,
    cidrIpv4: pulumi.interpolate`${primaryIp}/32`,
    description: "PostgreSQL on the crosscloud primary",
});

// What it read (the connection string stays secret) and what it made.
export const vpcId = awsResources.vpcId;
export const primaryPrivateIp = primaryIp;
export const primaryConnectionString = connectionString;
export const awsGatewayPublicIp = source.getOutput("awsGatewayPublicIp");
export const replicationStatus = source.getOutput("replicationStatus");
export const connectionStringParameterName = connectionStringParameter.name;
export const hostParameterName = hostParameter.name;
export const clientSecurityGroupId = clients.id;
export const clientEgressRuleId = toPrimary.id;
