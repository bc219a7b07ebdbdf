// Plausible, deterministic cloud answers for the mock runtime: ids and computed outputs of AWS, Azure,
// random and tls resources, and the two functions the program calls. Unknown calls throw.
import { createHash } from "crypto";
import { utils as sshUtils } from "ssh2";
import { CallBehaviour, Invocation, ResourceBehaviour } from "./programRunner";

export interface CloudMockOptions {
    /** The Elastic IP the AWS gateway gets. */
    awsPublicIp: string;
    /** The static public IP the Azure gateway gets. */
    azurePublicIp: string;
    /** AMI id the lookup returns; undefined makes the lookup fail as AWS does when nothing matches. */
    amiLookupResult?: string;
}

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

/**
 * Real ED25519 keys in OpenSSH format, one per resource name for the life of the process, or of the
 * lab (which keeps them in a file, as the engine keeps them in the stack's state).
 */
export const generatedKeys = new Map<string, { private: string; public: string }>();
export function mockKeyPair(name: string): { private: string; public: string } {
    let pair = generatedKeys.get(name);
    if (!pair) {
        const generated = sshUtils.generateKeyPairSync("ed25519", { comment: name });
        pair = { private: generated.private, public: `${generated.public.split(" ").slice(0, 2).join(" ")}\n` };
        generatedKeys.set(name, pair);
    }
    return pair;
}

function azureId(type: string, name: string): string {
    const provider = type.split(":")[1].split("/")[0];
    const kind = type.split(":")[2];
    return `/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/mock/providers/Microsoft.${provider}/${kind}/${name}`;
}

export function cloudResources(options: CloudMockOptions = DEFAULT_CLOUD): ResourceBehaviour {
    // eslint-disable-next-line @typescript-eslint/require-await -- the runner awaits whatever it gets
    return async ({ type, name, inputs }) => {
        const awsId = (prefix: string) => `${prefix}-${digest(`${type}/${name}`, 17)}`;
        switch (type) {
            case "aws:ec2/vpc:Vpc":
                return { id: awsId("vpc"), state: { arn: `arn:aws:ec2:::vpc/${name}` } };
            case "aws:ec2/internetGateway:InternetGateway":
                return { id: awsId("igw"), state: {} };
            case "aws:ec2/subnet:Subnet":
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
                    state: { primaryNetworkInterfaceId: awsId("eni"), availabilityZone: inputs.availabilityZone ?? "mock-zone-a" },
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
                const pair = mockKeyPair(name);
                return {
                    id: digest(name, 40),
                    state: { privateKeyOpenssh: pair.private, publicKeyOpenssh: pair.public },
                    secretOutputs: ["privateKeyOpenssh"],
                };
            }
            case "command:remote:Command":
                return { id: `${name}-${digest(name, 8)}`, state: { stdout: "", stderr: "" } };
            default:
                throw new Error(`the mocks know no resource type ${type} (${name}): add it to tests/cloudMocks.ts`);
        }
    };
}

export function cloudCalls(options: CloudMockOptions = DEFAULT_CLOUD): CallBehaviour {
    return ({ token, inputs }: Invocation) => {
        switch (token) {
            case "aws:index/getAvailabilityZones:getAvailabilityZones":
                return { names: ["mock-zone-a", "mock-zone-b"], zoneIds: ["mz1-az1", "mz1-az2"], id: "mock" };
            case "aws:ec2/getAmi:getAmi":
                if (!options.amiLookupResult) {
                    throw new Error("Your query returned no results. Please change your search criteria and try again.");
                }
                return { id: options.amiLookupResult, name: "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261101" };
            default:
                throw new Error(`the mocks know no function ${token} (called with ${JSON.stringify(inputs)})`);
        }
    };
}
