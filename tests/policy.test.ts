// The CrossGuard pack in policy/: every policy against resources that pass and fail, with the exact
// messages; the same cases through @pulumi/policy's own analyzer RPC handler; and the real program
// under mocks, whose every cloud resource passes the mandatory policies.
import * as assert from "assert";
import { ResourceValidationArgs, ResourceValidationPolicy, unknownCheckingProxy } from "@pulumi/policy";
import * as policyPack from "../policy/policies";
import { cloudCalls, cloudResources } from "../mockcloud/cloudMocks";
import { Registration, runProgram } from "../mockcloud/programRunner";
import { DEV_STACK, SECOND_STACK, SECRET_KEYS, GENERATED_KEYS } from "./stacks";

const analyzerproto = require("@pulumi/pulumi/proto/analyzer_pb");
const structproto = require("google-protobuf/google/protobuf/struct_pb");
const rpc = require("@pulumi/pulumi/runtime/rpc");
// @internal in @pulumi/policy, but exported: the handler the gRPC server runs for each resource.
const { makeAnalyzeRpcFun } = require("@pulumi/policy/server");

const T = {
    ingressRule: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    sgRule: "aws:ec2/securityGroupRule:SecurityGroupRule",
    sg: "aws:ec2/securityGroup:SecurityGroup",
    instance: "aws:ec2/instance:Instance",
    volume: "aws:ebs/volume:Volume",
    nsgRule: "azure-native:network:SecurityRule",
    nsg: "azure-native:network:NetworkSecurityGroup",
    nic: "azure-native:network:NetworkInterface",
    disk: "azure-native:compute:Disk",
    vm: "azure-native:compute:VirtualMachine",
};

/** A resource as the engine describes it to a policy. */
interface FakeResource {
    type: string;
    name: string;
    props: Record<string, any>;
    /** protect as the engine reports it; retainOnDelete only when given (the analyzer protocol has no such field). */
    opts?: { protect?: boolean; retainOnDelete?: boolean };
}

class NotApplicable extends Error {}

/**
 * Runs one policy on one resource the way @pulumi/policy's server does (server.ts, makeAnalyzeRpcFun):
 * every validation in turn, props behind the unknown-checking proxy, "not applicable" caught per
 * validation. Returns the violation messages and whether any validation applied.
 */
async function validate(policy: ResourceValidationPolicy, r: FakeResource): Promise<{ messages: string[]; applied: boolean }> {
    const messages: string[] = [];
    let applied = false;
    const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource!];
    for (const validation of validations) {
        const props = unknownCheckingProxy(JSON.parse(JSON.stringify(r.props)));
        const args: ResourceValidationArgs = {
            type: r.type,
            props,
            urn: `urn:pulumi:test::crosscloud::${r.type}::${r.name}`,
            name: r.name,
            opts: {
                protect: r.opts?.protect ?? false,
                ignoreChanges: [],
                aliases: [],
                customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
                additionalSecretOutputs: [],
                ...(r.opts?.retainOnDelete !== undefined ? { retainOnDelete: r.opts.retainOnDelete } : {}),
            },
            stackTags: new Map(),
            isType: (cls) => (cls as any).__pulumiType === r.type,
            asType: (cls: any) => (cls.__pulumiType === r.type ? props : undefined) as any,
            getConfig: <T>() => ({}) as T,
            notApplicable: (reason?: string) => {
                throw new NotApplicable(reason);
            },
        };
        try {
            await validation(args, (message) => messages.push(message));
            applied = true;
        } catch (e) {
            if (!(e instanceof NotApplicable)) {
                throw e;
            }
        }
    }
    return { messages, applied };
}

/** The same resource through @pulumi/policy's real analyze handler, from a protobuf AnalyzeRequest. */
function analyzeViaSdk(
    policies: ResourceValidationPolicy[],
    r: FakeResource,
): Promise<{ policy: string; message: string; level: string }[]> {
    const request = new analyzerproto.AnalyzeRequest();
    request.setType(r.type);
    request.setName(r.name);
    request.setUrn(`urn:pulumi:test::crosscloud::${r.type}::${r.name}`);
    // JSON drops undefined properties, as the engine does.
    request.setProperties(structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(r.props))));
    const options = new analyzerproto.AnalyzerResourceOptions();
    options.setProtect(r.opts?.protect ?? false);
    request.setOptions(options);
    const levels = Object.fromEntries(Object.entries(analyzerproto.EnforcementLevel).map(([k, v]) => [v, k.toLowerCase()]));
    return new Promise((resolve, reject) => {
        makeAnalyzeRpcFun(
            "crosscloud",
            "0.1.0",
            "advisory",
            policies,
        )({ request }, (err: Error | null | undefined, response: any) => {
            if (err) {
                reject(err);
                return;
            }
            resolve(
                response.getDiagnosticsList().map((d: any) => ({
                    policy: d.getPolicyname(),
                    message: d.getMessage(),
                    level: levels[d.getEnforcementlevel()],
                })),
            );
        });
    });
}

interface Case {
    title: string;
    resource: FakeResource;
    /** Exact violation messages; [] for a passing resource. */
    expect: string[];
}

const SSH_FIX =
    "the whole internet: admit only the admins' addresses (crosscloud:adminCidrs, e.g. 203.0.113.7/32), or reach the host through the gateway.";
const IKE_FIX = "admit UDP 500 and 4500 only from the peer gateway's public address as a /32 (e.g. 198.51.100.10/32).";

const ingress = (name: string, props: Record<string, any>): FakeResource => ({
    type: T.ingressRule,
    name,
    props: { securityGroupId: "sg-1", ...props },
});
const nsgRule = (name: string, props: Record<string, any>): FakeResource => ({
    type: T.nsgRule,
    name,
    props: {
        resourceGroupName: "rg",
        networkSecurityGroupName: "nsg",
        priority: 100,
        direction: "Inbound",
        access: "Allow",
        sourcePortRange: "*",
        ...props,
    },
});
const instance = (name: string, props: Record<string, any>): FakeResource => ({
    type: T.instance,
    name,
    props: {
        ami: "ami-0123456789abcdef0",
        instanceType: "t3.medium",
        associatePublicIpAddress: false,
        metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
        rootBlockDevice: { volumeType: "gp3", volumeSize: 16, encrypted: true },
        tags: { Name: name },
        ...props,
    },
});
const vm = (name: string, props: Record<string, any>): FakeResource => ({
    type: T.vm,
    name,
    props: { resourceGroupName: "rg", hardwareProfile: { vmSize: "Standard_B2ms" }, securityProfile: { encryptionAtHost: true }, ...props },
});

const CASES: Record<string, Case[]> = {
    "no-ssh-from-internet": [
        {
            title: "SSH from an admin /32",
            resource: ingress("ssh", { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "203.0.113.7/32" }),
            expect: [],
        },
        {
            title: "HTTPS from anywhere",
            resource: ingress("https", { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" }),
            expect: [],
        },
        {
            title: "UDP 22 from anywhere",
            resource: ingress("udp22", { ipProtocol: "udp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" }),
            expect: [],
        },
        {
            title: "an egress-type SecurityGroupRule to anywhere",
            resource: {
                type: T.sgRule,
                name: "out",
                props: { type: "egress", protocol: "-1", fromPort: 0, toPort: 0, cidrBlocks: ["0.0.0.0/0"] },
            },
            expect: [],
        },
        {
            title: "an NSG deny from anywhere",
            resource: nsgRule("deny", { access: "Deny", protocol: "*", sourceAddressPrefix: "*", destinationPortRange: "*" }),
            expect: [],
        },
        {
            title: "an NSG outbound allow to anywhere",
            resource: nsgRule("out", { direction: "Outbound", protocol: "Tcp", sourceAddressPrefix: "*", destinationPortRange: "22" }),
            expect: [],
        },
        {
            title: "SSH from 0.0.0.0/0",
            resource: ingress("ssh", { ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "0.0.0.0/0" }),
            expect: [`This rule admits SSH (TCP 22) from 0.0.0.0/0, ${SSH_FIX}`],
        },
        {
            title: "all traffic from ::/0",
            resource: ingress("all6", { ipProtocol: "-1", cidrIpv6: "::/0" }),
            expect: [`This rule admits SSH (TCP 22) from ::/0, ${SSH_FIX}`],
        },
        {
            title: "a port range covering 22 (protocol number 6)",
            resource: ingress("range", { ipProtocol: "6", fromPort: 20, toPort: 30, cidrIpv4: "0.0.0.0/0" }),
            expect: [`This rule admits SSH (TCP 22) from 0.0.0.0/0, ${SSH_FIX}`],
        },
        {
            title: "a SecurityGroup's inline ingress",
            resource: {
                type: T.sg,
                name: "sg",
                props: {
                    ingress: [
                        { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"] },
                        { protocol: "tcp", fromPort: 22, toPort: 22, cidrBlocks: ["10.0.0.0/8", "0.0.0.0/0"] },
                    ],
                },
            },
            expect: [`Inline ingress rule 1 admits SSH (TCP 22) from 0.0.0.0/0, ${SSH_FIX}`],
        },
        {
            title: "an ingress SecurityGroupRule of all ports",
            resource: {
                type: T.sgRule,
                name: "r",
                props: { type: "ingress", protocol: "tcp", fromPort: 0, toPort: 65535, cidrBlocks: ["0.0.0.0/0"] },
            },
            expect: [`This rule admits SSH (TCP 22) from 0.0.0.0/0, ${SSH_FIX}`],
        },
        {
            title: "an NSG rule from *",
            resource: nsgRule("ssh", { protocol: "Tcp", sourceAddressPrefix: "*", destinationPortRange: "22" }),
            expect: [`This rule admits SSH (TCP 22) from *, ${SSH_FIX}`],
        },
        {
            title: "an NSG rule from Internet and Any, ports as a list",
            resource: nsgRule("ssh", { protocol: "*", sourceAddressPrefixes: ["Internet", "Any"], destinationPortRanges: ["80", "20-25"] }),
            expect: [`This rule admits SSH (TCP 22) from Internet, ${SSH_FIX}`, `This rule admits SSH (TCP 22) from Any, ${SSH_FIX}`],
        },
        {
            title: "an NSG's inline rule from 0.0.0.0/0",
            resource: {
                type: T.nsg,
                name: "nsg",
                props: {
                    resourceGroupName: "rg",
                    securityRules: [
                        {
                            name: "ssh",
                            priority: 100,
                            direction: "Inbound",
                            access: "Allow",
                            protocol: "Tcp",
                            sourceAddressPrefix: "0.0.0.0/0",
                            destinationPortRange: "22",
                        },
                    ],
                },
            },
            expect: [`Security rule "ssh" admits SSH (TCP 22) from 0.0.0.0/0, ${SSH_FIX}`],
        },
    ],
    "ike-only-from-peer": [
        {
            title: "IKE from the peer's /32",
            resource: ingress("ike", { ipProtocol: "udp", fromPort: 500, toPort: 500, cidrIpv4: "198.51.100.10/32" }),
            expect: [],
        },
        {
            title: "everything from the site's own private range",
            resource: ingress("vpc", { ipProtocol: "-1", cidrIpv4: "10.10.0.0/16" }),
            expect: [],
        },
        {
            title: "TCP 500 from anywhere",
            resource: ingress("tcp500", { ipProtocol: "tcp", fromPort: 500, toPort: 500, cidrIpv4: "0.0.0.0/0" }),
            expect: [],
        },
        {
            title: "NAT-T from the peer's /32 (NSG)",
            resource: nsgRule("nat-t", { protocol: "Udp", sourceAddressPrefixes: ["203.0.113.10/32"], destinationPortRange: "4500" }),
            expect: [],
        },
        {
            title: "IKE from a bare address (NSG)",
            resource: nsgRule("ike", { protocol: "Udp", sourceAddressPrefix: "203.0.113.10", destinationPortRange: "500" }),
            expect: [],
        },
        {
            title: "everything from VirtualNetwork (NSG)",
            resource: nsgRule("vnet", { protocol: "*", sourceAddressPrefix: "VirtualNetwork", destinationPortRange: "*" }),
            expect: [],
        },
        {
            title: "IKE from a /24",
            resource: ingress("ike", { ipProtocol: "udp", fromPort: 500, toPort: 500, cidrIpv4: "198.51.100.0/24" }),
            expect: [`This rule admits IKE/NAT-T (UDP 500) from 198.51.100.0/24: ${IKE_FIX}`],
        },
        {
            title: "all traffic from anywhere",
            resource: ingress("all", { ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" }),
            expect: [`This rule admits IKE/NAT-T (UDP 500 and 4500) from 0.0.0.0/0: ${IKE_FIX}`],
        },
        {
            title: "a SecurityGroup's inline NAT-T rule",
            resource: {
                type: T.sg,
                name: "sg",
                props: { ingress: [{ protocol: "udp", fromPort: 4500, toPort: 4500, cidrBlocks: ["0.0.0.0/0"] }] },
            },
            expect: [`Inline ingress rule 0 admits IKE/NAT-T (UDP 4500) from 0.0.0.0/0: ${IKE_FIX}`],
        },
        {
            title: "an ingress SecurityGroupRule from a prefix list",
            resource: {
                type: T.sgRule,
                name: "r",
                props: { type: "ingress", protocol: "17", fromPort: 500, toPort: 4500, prefixListIds: ["pl-0123"] },
            },
            expect: [`This rule admits IKE/NAT-T (UDP 500 and 4500) from prefix list pl-0123: ${IKE_FIX}`],
        },
        {
            title: "an NSG rule from Internet",
            resource: nsgRule("nat-t", { protocol: "Udp", sourceAddressPrefix: "Internet", destinationPortRange: "4500" }),
            expect: [`This rule admits IKE/NAT-T (UDP 4500) from Internet: ${IKE_FIX}`],
        },
        {
            title: "an NSG's inline allow-all",
            resource: {
                type: T.nsg,
                name: "nsg",
                props: {
                    securityRules: [
                        {
                            name: "any",
                            direction: "Inbound",
                            access: "Allow",
                            protocol: "*",
                            sourceAddressPrefix: "*",
                            destinationPortRange: "*",
                        },
                    ],
                },
            },
            expect: [`Security rule "any" admits IKE/NAT-T (UDP 500 and 4500) from *: ${IKE_FIX}`],
        },
    ],
    "database-hosts-private": [
        { title: "the database instance without a public IP", resource: instance("aws-database", {}), expect: [] },
        { title: "the gateway with a public IP", resource: instance("aws-gateway", { associatePublicIpAddress: true }), expect: [] },
        {
            title: "the database NIC without a public IP",
            resource: {
                type: T.nic,
                name: "azure-database-nic",
                props: { ipConfigurations: [{ name: "primary", privateIPAddress: "10.20.1.10" }] },
            },
            expect: [],
        },
        {
            title: "the gateway NIC with a public IP",
            resource: {
                type: T.nic,
                name: "azure-gateway-nic",
                props: { ipConfigurations: [{ name: "primary", publicIPAddress: { id: "/pip" } }] },
            },
            expect: [],
        },
        {
            title: "an instance tagged *-database with a public IP",
            resource: instance("db1", { associatePublicIpAddress: true, tags: { Name: "prod-database" } }),
            expect: [
                "db1 is a database host, but associatePublicIpAddress is true: set associatePublicIpAddress: false and reach the host through the gateway.",
            ],
        },
        {
            title: "a *-database instance that leaves it to the subnet",
            resource: instance("aws-database", { associatePublicIpAddress: undefined }),
            expect: [
                "aws-database is a database host, but associatePublicIpAddress is not set (the subnet decides): set associatePublicIpAddress: false and reach the host through the gateway.",
            ],
        },
        {
            title: "the database NIC with a public IP",
            resource: {
                type: T.nic,
                name: "azure-database-nic",
                props: { ipConfigurations: [{ name: "primary", publicIPAddress: { id: "/pip" } }] },
            },
            expect: [
                'azure-database-nic is a database host\'s network interface, but its IP configuration "primary" has a public IP address: remove publicIPAddress and reach the host through the gateway.',
            ],
        },
    ],
    "ebs-encrypted": [
        {
            title: "an encrypted volume",
            resource: { type: T.volume, name: "v", props: { availabilityZone: "z", size: 64, encrypted: true } },
            expect: [],
        },
        {
            title: "an instance with encrypted root and attached volumes",
            resource: instance("i", { ebsBlockDevices: [{ deviceName: "/dev/sdf", volumeSize: 10, encrypted: true }] }),
            expect: [],
        },
        {
            title: "an unencrypted volume",
            resource: { type: T.volume, name: "v", props: { availabilityZone: "z", size: 64 } },
            expect: ["EBS volume v is not encrypted: set encrypted: true (optionally with kmsKeyId)."],
        },
        {
            title: "an instance without rootBlockDevice and an unencrypted attached volume",
            resource: instance("i", {
                rootBlockDevice: undefined,
                ebsBlockDevices: [{ deviceName: "/dev/sdf", volumeSize: 10, encrypted: false }],
            }),
            expect: [
                "i's root volume is not encrypted: set rootBlockDevice.encrypted: true.",
                "i's EBS volume /dev/sdf is not encrypted: set ebsBlockDevices[0].encrypted: true.",
            ],
        },
    ],
    "ec2-imdsv2": [
        { title: "IMDSv2 and hop limit 1, with user data", resource: instance("i", { userData: "#cloud-config\n" }), expect: [] },
        {
            title: "IMDSv2 and hop limit 2, without user data",
            resource: instance("i", { metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 2 } }),
            expect: [],
        },
        {
            title: "metadata disabled",
            resource: instance("i", { userData: "x", metadataOptions: { httpEndpoint: "disabled" } }),
            expect: [],
        },
        {
            title: "no metadata options",
            resource: instance("i", { metadataOptions: undefined }),
            expect: ['i allows IMDSv1: set metadataOptions.httpTokens: "required" so that metadata and credentials need a session token.'],
        },
        {
            title: "optional tokens and hop limit 2, with user data",
            resource: instance("i", { userData: "x", metadataOptions: { httpTokens: "optional", httpPutResponseHopLimit: 2 } }),
            expect: [
                'i allows IMDSv1: set metadataOptions.httpTokens: "required" so that metadata and credentials need a session token.',
                "i has user data but a metadata hop limit of 2: set metadataOptions.httpPutResponseHopLimit: 1 so that containers on the host cannot read the user data.",
            ],
        },
        {
            title: "base64 user data and the AMI's hop limit",
            resource: instance("i", { userDataBase64: "eA==", metadataOptions: { httpTokens: "required" } }),
            expect: [
                "i has user data but a metadata hop limit of the AMI's default: set metadataOptions.httpPutResponseHopLimit: 1 so that containers on the host cannot read the user data.",
            ],
        },
    ],
    "data-disks-protected": [
        {
            title: "a protected, retained volume",
            resource: { type: T.volume, name: "v", props: { size: 64 }, opts: { protect: true, retainOnDelete: true } },
            expect: [],
        },
        {
            title: "a protected, retained disk",
            resource: { type: T.disk, name: "d", props: { diskSizeGB: 64 }, opts: { protect: true, retainOnDelete: true } },
            expect: [],
        },
        {
            title: "a volume neither protected nor retained",
            resource: { type: T.volume, name: "v", props: { size: 64 }, opts: { protect: false, retainOnDelete: false } },
            expect: [
                "v holds data but is not protected: pass { protect: true } in its resource options so that no update or destroy deletes it.",
                "v holds data but retainOnDelete is off: pass { retainOnDelete: true } in its resource options so that removing it from the stack leaves the volume in the cloud.",
            ],
        },
        {
            title: "a protected disk not retained",
            resource: { type: T.disk, name: "d", props: { diskSizeGB: 64 }, opts: { protect: true, retainOnDelete: false } },
            expect: [
                "d holds data but retainOnDelete is off: pass { retainOnDelete: true } in its resource options so that removing it from the stack leaves the disk in the cloud.",
            ],
        },
        {
            title: "an unprotected disk, retainOnDelete unreported (as the engine sends it today)",
            resource: { type: T.disk, name: "d", props: { diskSizeGB: 64 }, opts: { protect: false } },
            expect: [
                "d holds data but is not protected: pass { protect: true } in its resource options so that no update or destroy deletes it.",
            ],
        },
    ],
    "azure-encryption-at-host": [
        { title: "a VM with encryption at host", resource: vm("azure-database", {}), expect: [] },
        {
            title: "a VM without",
            resource: vm("azure-database", { securityProfile: undefined }),
            expect: [
                "azure-database does not encrypt at host: register the feature (az feature register --namespace Microsoft.Compute --name EncryptionAtHost) and set securityProfile.encryptionAtHost: true.",
            ],
        },
    ],
    "vm-sizes-in-range": [
        { title: "t3.small", resource: instance("i", { instanceType: "t3.small" }), expect: [] },
        { title: "c6in.large", resource: instance("i", { instanceType: "c6in.large" }), expect: [] },
        { title: "r6i.8xlarge", resource: instance("i", { instanceType: "r6i.8xlarge" }), expect: [] },
        { title: "Standard_B2s", resource: vm("v", { hardwareProfile: { vmSize: "Standard_B2s" } }), expect: [] },
        { title: "Standard_D2s_v5", resource: vm("v", { hardwareProfile: { vmSize: "Standard_D2s_v5" } }), expect: [] },
        { title: "Standard_E4s_v5", resource: vm("v", { hardwareProfile: { vmSize: "Standard_E4s_v5" } }), expect: [] },
        {
            title: "t3.micro",
            resource: instance("i", { instanceType: "t3.micro" }),
            expect: [
                "i's instance type t3.micro is too small for PostgreSQL (1 GiB of memory or less): use e.g. t3.medium, m6i.large or r6i.xlarge.",
            ],
        },
        {
            title: "m7g.large",
            resource: instance("i", { instanceType: "m7g.large" }),
            expect: [
                "i's instance type m7g.large is an ARM (Graviton) type, and the program boots the amd64 Ubuntu image: use e.g. t3.medium, m6i.large or r6i.xlarge.",
            ],
        },
        {
            title: "p4d.24xlarge",
            resource: instance("i", { instanceType: "p4d.24xlarge" }),
            expect: [
                "i's instance type p4d.24xlarge is outside the allowed families and sizes: use e.g. t3.medium, m6i.large or r6i.xlarge.",
            ],
        },
        {
            title: "Standard_B1s",
            resource: vm("v", { hardwareProfile: { vmSize: "Standard_B1s" } }),
            expect: [
                "v's VM size Standard_B1s is too small for PostgreSQL (1 vCPU): use e.g. Standard_B2ms, Standard_D2s_v5 or Standard_E4s_v5.",
            ],
        },
        {
            title: "Standard_D4ps_v5",
            resource: vm("v", { hardwareProfile: { vmSize: "Standard_D4ps_v5" } }),
            expect: [
                "v's VM size Standard_D4ps_v5 is an ARM (Ampere) size, and the program boots the amd64 Ubuntu image: use e.g. Standard_B2ms, Standard_D2s_v5 or Standard_E4s_v5.",
            ],
        },
        {
            title: "Standard_NC6s_v3",
            resource: vm("v", { hardwareProfile: { vmSize: "Standard_NC6s_v3" } }),
            expect: [
                "v's VM size Standard_NC6s_v3 is outside the allowed series (B, D, E and F): use e.g. Standard_B2ms, Standard_D2s_v5 or Standard_E4s_v5.",
            ],
        },
        {
            title: "Standard_D64s_v5",
            resource: vm("v", { hardwareProfile: { vmSize: "Standard_D64s_v5" } }),
            expect: [
                "v's VM size Standard_D64s_v5 is outside the allowed families and sizes: use e.g. Standard_B2ms, Standard_D2s_v5 or Standard_E4s_v5.",
            ],
        },
    ],
    "disk-sizes-in-range": [
        { title: "a 64 GiB volume", resource: { type: T.volume, name: "v", props: { size: 64, encrypted: true } }, expect: [] },
        { title: "an 8 GiB disk", resource: { type: T.disk, name: "d", props: { diskSizeGB: 8 } }, expect: [] },
        { title: "a 16384 GiB disk", resource: { type: T.disk, name: "d", props: { diskSizeGB: 16384 } }, expect: [] },
        {
            title: "a VM with image-default disks",
            resource: vm("v", { storageProfile: { osDisk: { createOption: "FromImage" } } }),
            expect: [],
        },
        { title: "an instance with a 16 GiB root", resource: instance("i", {}), expect: [] },
        {
            title: "a 4 GiB volume",
            resource: { type: T.volume, name: "v", props: { size: 4 } },
            expect: ["EBS volume v is 4 GiB: use 8 to 16384 GiB."],
        },
        {
            title: "a 32768 GiB disk",
            resource: { type: T.disk, name: "d", props: { diskSizeGB: 32768 } },
            expect: ["Disk d is 32768 GiB: use 8 to 16384 GiB."],
        },
        {
            title: "an instance with a 4 GiB root and a 20000 GiB attached volume",
            resource: instance("i", {
                rootBlockDevice: { volumeSize: 4, encrypted: true },
                ebsBlockDevices: [{ deviceName: "/dev/sdf", volumeSize: 20000, encrypted: true }],
            }),
            expect: ["i's root volume is 4 GiB: use 8 to 16384 GiB.", "i's EBS volume /dev/sdf is 20000 GiB: use 8 to 16384 GiB."],
        },
        {
            title: "a VM with a 2 GiB OS disk and a 20000 GiB data disk",
            resource: vm("v", {
                storageProfile: {
                    osDisk: { createOption: "FromImage", diskSizeGB: 2 },
                    dataDisks: [{ lun: 0, createOption: "Empty", diskSizeGB: 20000 }],
                },
            }),
            expect: ["v's OS disk is 2 GiB: use 8 to 16384 GiB.", "v's data disk at LUN 0 is 20000 GiB: use 8 to 16384 GiB."],
        },
    ],
};

function policyNamed(name: string): ResourceValidationPolicy {
    const found = policyPack.policies.find((p) => p.name === name);
    assert.ok(found, `no policy named ${name}`);
    return found;
}

describe("the crosscloud policy pack", function () {
    it("has these policies, each with a description, remediation steps and an enforcement level", function () {
        assert.deepStrictEqual(
            policyPack.policies.map((p) => [p.name, p.enforcementLevel]),
            [
                ["no-ssh-from-internet", "mandatory"],
                ["ike-only-from-peer", "mandatory"],
                ["database-hosts-private", "mandatory"],
                ["ebs-encrypted", "mandatory"],
                ["ec2-imdsv2", "mandatory"],
                ["data-disks-protected", "mandatory"],
                ["azure-encryption-at-host", "advisory"],
                ["vm-sizes-in-range", "advisory"],
                ["disk-sizes-in-range", "advisory"],
            ],
        );
        for (const p of policyPack.policies) {
            assert.ok(p.description.length > 40, `${p.name}: description`);
            assert.ok((p.remediationSteps ?? "").length > 20, `${p.name}: remediation steps`);
        }
        assert.deepStrictEqual(
            Object.keys(CASES),
            policyPack.policies.map((p) => p.name),
            "every policy has cases below",
        );
    });

    it("index.ts hands exactly these policies to a PolicyPack named crosscloud (with PolicyPack faked: the real one starts a gRPC server)", function () {
        const sdkPath = require.resolve("@pulumi/policy");
        const packPath = require.resolve("../policy/index.ts");
        require(sdkPath); // loaded, whatever order the suites run in
        const realSdk = require.cache[sdkPath]!;
        const created: { name: string; args: any }[] = [];
        const fakeSdk = {
            ...realSdk,
            exports: {
                ...realSdk.exports,
                PolicyPack: class {
                    constructor(name: string, args: any) {
                        created.push({ name, args });
                    }
                },
            },
        };
        require.cache[sdkPath] = fakeSdk;
        try {
            delete require.cache[packPath];
            require(packPath);
        } finally {
            require.cache[sdkPath] = realSdk;
            delete require.cache[packPath];
        }
        assert.strictEqual(created.length, 1);
        assert.strictEqual(created[0].name, "crosscloud");
        assert.strictEqual(created[0].args.policies, policyPack.policies);
    });

    for (const [name, cases] of Object.entries(CASES)) {
        describe(name, function () {
            it("has at least one passing and one failing case", function () {
                assert.ok(cases.some((c) => c.expect.length === 0) && cases.some((c) => c.expect.length > 0));
            });
            for (const c of cases) {
                it(`${c.expect.length === 0 ? "passes" : "flags"} ${c.title}`, async function () {
                    const result = await validate(policyNamed(name), c.resource);
                    assert.ok(result.applied, `${name} did not apply to ${c.resource.type}`);
                    assert.deepStrictEqual(result.messages, c.expect);
                });
            }
        });
    }

    describe("through @pulumi/policy's own analyzer RPC handler (protobuf request, as the CLI sends it)", function () {
        it("reports the same messages, at each policy's enforcement level, for every case", async function () {
            for (const [name, cases] of Object.entries(CASES)) {
                const policy = policyNamed(name);
                for (const c of cases) {
                    // The analyzer protocol carries no retainOnDelete: those messages cannot arrive this way.
                    const expected = c.expect.filter((m) => !m.includes("retainOnDelete is off"));
                    const { opts, ...rest } = c.resource;
                    const diagnostics = await analyzeViaSdk(policyPack.policies, { ...rest, opts: { protect: opts?.protect } });
                    const own = diagnostics.filter((d) => d.policy === name);
                    // The SDK puts the policy's description in front of each message, as the CLI prints it.
                    assert.deepStrictEqual(
                        own.map((d) => d.message),
                        expected.map((m) => `${policy.description}\n${m}`),
                        `${name}: ${c.title}`,
                    );
                    assert.ok(
                        own.every((d) => d.level === policy.enforcementLevel),
                        `${name}: ${c.title}: levels ${own.map((d) => d.level).join()}`,
                    );
                }
            }
        });

        it("turns a value unknown during preview (the peer's IP before it exists) into an advisory note, not a pass", async function () {
            const diagnostics = await analyzeViaSdk(
                [policyPack.ikeOnlyFromPeer],
                ingress("tunnel-aws-ike-0", { ipProtocol: "udp", fromPort: 500, toPort: 500, cidrIpv4: rpc.unknownValue }),
            );
            assert.strictEqual(diagnostics.length, 1);
            assert.strictEqual(diagnostics[0].level, "advisory");
            assert.match(
                diagnostics[0].message,
                /^can't run policy 'ike-only-from-peer' from policy pack 'crosscloud@v0\.1\.0' during preview: /,
            );
        });
    });

    describe("the program itself complies with every mandatory policy", function () {
        for (const [stackName, stack] of [
            ["dev", DEV_STACK],
            ["second", SECOND_STACK],
        ] as const) {
            it(`on the ${stackName} stack`, async function () {
                const run = await runProgram({
                    config: stack,
                    secretKeys: SECRET_KEYS,
                    newResource: cloudResources(GENERATED_KEYS),
                    call: cloudCalls(),
                });
                const asResource = (r: Registration): FakeResource => ({
                    type: r.type,
                    name: r.name,
                    props: r.inputs,
                    opts: { protect: r.options.protect, retainOnDelete: r.options.retainOnDelete },
                });
                const violations: string[] = [];
                const appliedTo = new Map<string, Set<string>>();
                for (const r of run.registrations) {
                    for (const policy of policyPack.mandatoryPolicies) {
                        const result = await validate(policy, asResource(r));
                        violations.push(...result.messages.map((m) => `${policy.name} on ${r.name}: ${m}`));
                        if (result.applied) {
                            appliedTo.set(policy.name, (appliedTo.get(policy.name) ?? new Set()).add(r.type));
                        }
                    }
                    const viaSdk = await analyzeViaSdk(policyPack.mandatoryPolicies, asResource(r));
                    violations.push(...viaSdk.map((d) => `${d.policy} on ${r.name} (via the SDK): ${d.message}`));
                }
                assert.deepStrictEqual(violations, []);
                // Not vacuous: each policy met the resources it is about.
                assert.deepStrictEqual(Object.fromEntries([...appliedTo].map(([p, types]) => [p, [...types].sort()])), {
                    "no-ssh-from-internet": [T.sg, T.nsgRule, T.nsg, T.ingressRule].sort(),
                    "ike-only-from-peer": [T.sg, T.nsgRule, T.nsg, T.ingressRule].sort(),
                    "database-hosts-private": [T.instance, T.nic].sort(),
                    "ebs-encrypted": [T.volume, T.instance].sort(),
                    "ec2-imdsv2": [T.instance],
                    "data-disks-protected": [T.volume, T.disk].sort(),
                });
                // The resources the policies are about are there, with the properties they judge.
                const byName = new Map(run.registrations.map((r) => [r.name, r]));
                assert.strictEqual(byName.get("tunnel-aws-ike-0")?.inputs.cidrIpv4, "203.0.113.10/32");
                assert.strictEqual(byName.get("aws-database")?.inputs.associatePublicIpAddress, false);
                assert.ok(byName.get("aws-pgdata")?.options.retainOnDelete && byName.get("azure-pgdata")?.options.protect);
            });
        }
    });
});
