// The crosscloud policies as plain data: index.ts hands them to a PolicyPack when the Pulumi CLI runs
// the pack, and the tests call them directly (constructing a PolicyPack starts a gRPC server).
// Each policy checks the cloud resources the program creates; CrossGuard never sees inside components.
import * as ebs from "@pulumi/aws/ebs";
import * as ec2 from "@pulumi/aws/ec2";
import * as vpc from "@pulumi/aws/vpc";
import * as compute from "@pulumi/azure-native/compute";
import * as network from "@pulumi/azure-native/network";
import { ReportViolation, ResourceValidationArgs, ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";
import {
    Inbound,
    MAX_DISK_GIB,
    MIN_DISK_GIB,
    awsPorts,
    awsProtocol,
    azureInbound,
    azureSizeProblem,
    coversPort,
    diskSizeInRange,
    ec2TypeProblem,
    isInternal,
    isSingleHost,
    isWorld,
} from "./rules";

// --- Firewall rules of the three resource kinds per cloud, in one shape -----------------------------

/** Checks every inbound allowance of every firewall resource kind with `check`. */
function validateInbound(check: (rule: Inbound, report: ReportViolation) => void) {
    return [
        validateResourceOfType(vpc.SecurityGroupIngressRule, (rule, _args, report) => {
            const protocol = awsProtocol(rule.ipProtocol);
            const sources = [rule.cidrIpv4, rule.cidrIpv6, rule.prefixListId && `prefix list ${rule.prefixListId}`];
            check(
                {
                    subject: "This rule",
                    protocol,
                    ports: awsPorts(protocol, rule.fromPort, rule.toPort),
                    sources: sources.filter((s): s is string => !!s),
                },
                report,
            );
        }),
        validateResourceOfType(ec2.SecurityGroupRule, (rule, _args, report) => {
            if (rule.type !== "ingress") {
                return;
            }
            const protocol = awsProtocol(rule.protocol);
            check(
                {
                    subject: "This rule",
                    protocol,
                    ports: awsPorts(protocol, rule.fromPort, rule.toPort),
                    sources: awsRuleSources(rule),
                },
                report,
            );
        }),
        validateResourceOfType(ec2.SecurityGroup, (group, _args, report) => {
            (group.ingress ?? []).forEach((rule, i) => {
                const protocol = awsProtocol(rule.protocol);
                check(
                    {
                        subject: `Inline ingress rule ${i}`,
                        protocol,
                        ports: awsPorts(protocol, rule.fromPort, rule.toPort),
                        sources: awsRuleSources(rule),
                    },
                    report,
                );
            });
        }),
        validateResourceOfType(network.SecurityRule, (rule, _args, report) => {
            const inbound = azureInbound("This rule", rule);
            if (inbound) {
                check(inbound, report);
            }
        }),
        validateResourceOfType(network.NetworkSecurityGroup, (nsg, _args, report) => {
            (nsg.securityRules ?? []).forEach((rule, i) => {
                const inbound = azureInbound(`Security rule "${rule.name ?? i}"`, rule);
                if (inbound) {
                    check(inbound, report);
                }
            });
        }),
    ];
}

export const SSH_PORT = 22;
export const IKE_PORTS = [500, 4500];

// --- Mandatory ---------------------------------------------------------------------------------------

export const noSshFromInternet: ResourceValidationPolicy = {
    name: "no-ssh-from-internet",
    description:
        "No security group rule or NSG rule admits SSH (TCP 22) from the whole internet: SSH is for the admins' addresses and for hosts behind the gateway.",
    enforcementLevel: "mandatory",
    remediationSteps: "Admit TCP 22 only from crosscloud:adminCidrs (e.g. 203.0.113.7/32), or reach the host through the gateway.",
    validateResource: validateInbound((rule, report) => {
        if (rule.protocol !== "tcp" && rule.protocol !== "all") {
            return;
        }
        if (!coversPort(rule, SSH_PORT)) {
            return;
        }
        for (const source of rule.sources.filter(isWorld)) {
            report(
                `${rule.subject} admits SSH (TCP 22) from ${source}, the whole internet: admit only the admins' addresses (crosscloud:adminCidrs, e.g. 203.0.113.7/32), or reach the host through the gateway.`,
            );
        }
    }),
};

export const ikeOnlyFromPeer: ResourceValidationPolicy = {
    name: "ike-only-from-peer",
    description:
        "IKE and NAT-T (UDP 500 and 4500) are admitted from public sources only as a single address (/32), the peer gateway's: the gateway's IKE daemon is not for the internet to probe.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Admit UDP 500 and 4500 only from the peer gateway's public address, as a /32. Private (RFC 1918) sources are exempt.",
    validateResource: validateInbound((rule, report) => {
        if (rule.protocol !== "udp" && rule.protocol !== "all") {
            return;
        }
        const ports = IKE_PORTS.filter((p) => coversPort(rule, p));
        if (ports.length === 0) {
            return;
        }
        for (const source of rule.sources.filter((s) => !isSingleHost(s) && !isInternal(s))) {
            report(
                `${rule.subject} admits IKE/NAT-T (UDP ${ports.join(" and ")}) from ${source}: admit UDP 500 and 4500 only from the peer gateway's public address as a /32 (e.g. 198.51.100.10/32).`,
            );
        }
    }),
};

/** The suffix that marks a database host: AwsSite tags `${site}-database`, AzureSite names `${site}-database-nic`. */
export const DATABASE_SUFFIX = "-database";

/** An EC2 instance is a database host when its Name tag or its resource name ends in `-database`. */
export function isDatabaseInstance(name: string, tags: Record<string, string> | undefined): boolean {
    return name.endsWith(DATABASE_SUFFIX) || (tags?.Name ?? "").endsWith(DATABASE_SUFFIX);
}

/** An Azure NIC is a database host's when its resource name ends in `-database-nic` (or `-database`). */
export function isDatabaseNic(name: string): boolean {
    return name.endsWith(`${DATABASE_SUFFIX}-nic`) || name.endsWith(DATABASE_SUFFIX);
}

export const databaseHostsPrivate: ResourceValidationPolicy = {
    name: "database-hosts-private",
    description:
        "Database hosts have no public address: an EC2 instance whose Name tag or resource name ends in -database sets associatePublicIpAddress false, and an Azure NIC named *-database-nic has no public IP.",
    enforcementLevel: "mandatory",
    remediationSteps: "Keep database hosts in the private subnet without a public IP; reach them through the gateway (SSH jump host).",
    validateResource: [
        validateResourceOfType(ec2.Instance, (instance, args, report) => {
            if (!isDatabaseInstance(args.name, instance.tags) || instance.associatePublicIpAddress === false) {
                return;
            }
            report(
                `${args.name} is a database host, but associatePublicIpAddress is ${instance.associatePublicIpAddress === true ? "true" : "not set (the subnet decides)"}: set associatePublicIpAddress: false and reach the host through the gateway.`,
            );
        }),
        validateResourceOfType(network.NetworkInterface, (nic, args, report) => {
            if (!isDatabaseNic(args.name)) {
                return;
            }
            (nic.ipConfigurations ?? []).forEach((config, i) => {
                if (config.publicIPAddress !== undefined && config.publicIPAddress !== null) {
                    report(
                        `${args.name} is a database host's network interface, but its IP configuration "${config.name ?? i}" has a public IP address: remove publicIPAddress and reach the host through the gateway.`,
                    );
                }
            });
        }),
    ],
};

export const ebsEncrypted: ResourceValidationPolicy = {
    name: "ebs-encrypted",
    description:
        "EBS volumes are encrypted, stand-alone volumes and instances' root and attached volumes alike: PGDATA, WAL and the host keys never rest in clear. The account's default encryption is not relied on: it is set per region and can be turned off.",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Set encrypted: true (optionally kmsKeyId). An existing unencrypted volume is replaced: snapshot, copy encrypted, restore.",
    validateResource: [
        validateResourceOfType(ebs.Volume, (volume, args, report) => {
            if (volume.encrypted !== true) {
                report(`EBS volume ${args.name} is not encrypted: set encrypted: true (optionally with kmsKeyId).`);
            }
        }),
        validateResourceOfType(ec2.Instance, (instance, args, report) => {
            if (instance.rootBlockDevice?.encrypted !== true) {
                report(`${args.name}'s root volume is not encrypted: set rootBlockDevice.encrypted: true.`);
            }
            (instance.ebsBlockDevices ?? []).forEach((device, i) => {
                if (device.encrypted !== true) {
                    report(`${args.name}'s EBS volume ${device.deviceName} is not encrypted: set ebsBlockDevices[${i}].encrypted: true.`);
                }
            });
        }),
    ],
};

export const ec2Imdsv2: ResourceValidationPolicy = {
    name: "ec2-imdsv2",
    description:
        "EC2 instances require IMDSv2 session tokens, and an instance with user data answers metadata requests only from itself (hop limit 1): the user data holds the host's SSH private key, and containers on the host are one hop further.",
    enforcementLevel: "mandatory",
    remediationSteps: 'Set metadataOptions: { httpTokens: "required", httpPutResponseHopLimit: 1 } (or httpEndpoint: "disabled").',
    validateResource: validateResourceOfType(ec2.Instance, (instance, args, report) => {
        const metadata = instance.metadataOptions;
        if (metadata?.httpEndpoint === "disabled") {
            return;
        }
        if (metadata?.httpTokens !== "required") {
            report(
                `${args.name} allows IMDSv1: set metadataOptions.httpTokens: "required" so that metadata and credentials need a session token.`,
            );
        }
        const hasUserData = !!instance.userData || !!instance.userDataBase64;
        if (hasUserData && metadata?.httpPutResponseHopLimit !== 1) {
            report(
                `${args.name} has user data but a metadata hop limit of ${metadata?.httpPutResponseHopLimit ?? "the AMI's default"}: set metadataOptions.httpPutResponseHopLimit: 1 so that containers on the host cannot read the user data.`,
            );
        }
    }),
};

/**
 * The engine reports `protect` to policies; `retainOnDelete` is not in the analyzer protocol (Pulumi
 * 3.248, @pulumi/policy 1.21), so it is checked only when the engine reports it.
 */
function checkDataProtection(kind: string, args: ResourceValidationArgs, report: ReportViolation): void {
    if (args.opts.protect !== true) {
        report(
            `${args.name} holds data but is not protected: pass { protect: true } in its resource options so that no update or destroy deletes it.`,
        );
    }
    const retainOnDelete = (args.opts as { retainOnDelete?: boolean }).retainOnDelete;
    if (retainOnDelete !== undefined && retainOnDelete !== true) {
        report(
            `${args.name} holds data but retainOnDelete is off: pass { retainOnDelete: true } in its resource options so that removing it from the stack leaves the ${kind} in the cloud.`,
        );
    }
}

export const dataDisksProtected: ResourceValidationPolicy = {
    name: "data-disks-protected",
    description:
        "EBS volumes and Azure managed disks (PGDATA) are protected and retained on delete: neither an accidental replacement nor `pulumi destroy` deletes the database.",
    enforcementLevel: "mandatory",
    remediationSteps: "Pass { protect: true, retainOnDelete: true } in the volume's or disk's resource options.",
    validateResource: [
        validateResourceOfType(ebs.Volume, (_volume, args, report) => checkDataProtection("volume", args, report)),
        validateResourceOfType(compute.Disk, (_disk, args, report) => checkDataProtection("disk", args, report)),
    ],
};

// --- Advisory ----------------------------------------------------------------------------------------

export const azureEncryptionAtHost: ResourceValidationPolicy = {
    name: "azure-encryption-at-host",
    description:
        "Azure VMs encrypt at host, so temp disks and disk caches are encrypted too. Advisory: it needs the EncryptionAtHost feature registered on the subscription.",
    enforcementLevel: "advisory",
    remediationSteps:
        "az feature register --namespace Microsoft.Compute --name EncryptionAtHost, then set securityProfile: { encryptionAtHost: true } on the VM.",
    validateResource: validateResourceOfType(compute.VirtualMachine, (vm, args, report) => {
        if (vm.securityProfile?.encryptionAtHost !== true) {
            report(
                `${args.name} does not encrypt at host: register the feature (az feature register --namespace Microsoft.Compute --name EncryptionAtHost) and set securityProfile.encryptionAtHost: true.`,
            );
        }
    }),
};

export const vmSizesInRange: ResourceValidationPolicy = {
    name: "vm-sizes-in-range",
    description:
        "EC2 instance types and Azure VM sizes stay in the range the program is built for: amd64, general purpose, compute or memory optimised, from 2 GiB / 2 vCPUs up to 8xlarge / 32 vCPUs.",
    enforcementLevel: "advisory",
    remediationSteps: "Use e.g. t3.medium, m6i.large or r6i.xlarge on EC2, and Standard_B2ms, Standard_D2s_v5 or Standard_E4s_v5 on Azure.",
    validateResource: [
        validateResourceOfType(ec2.Instance, (instance, args, report) => {
            const instanceType = instance.instanceType ?? "(not set)";
            const problem = ec2TypeProblem(instanceType);
            if (problem) {
                report(`${args.name}'s instance type ${instanceType} ${problem}: use e.g. t3.medium, m6i.large or r6i.xlarge.`);
            }
        }),
        validateResourceOfType(compute.VirtualMachine, (vm, args, report) => {
            const size = vm.hardwareProfile?.vmSize ?? "(not set)";
            const problem = azureSizeProblem(size);
            if (problem) {
                report(`${args.name}'s VM size ${size} ${problem}: use e.g. Standard_B2ms, Standard_D2s_v5 or Standard_E4s_v5.`);
            }
        }),
    ],
};

function checkDiskSize(subject: string, sizeGib: number | undefined, report: ReportViolation): void {
    if (sizeGib !== undefined && !diskSizeInRange(sizeGib)) {
        report(`${subject} is ${sizeGib} GiB: use ${MIN_DISK_GIB} to ${MAX_DISK_GIB} GiB.`);
    }
}

export const diskSizesInRange: ResourceValidationPolicy = {
    name: "disk-sizes-in-range",
    description: `Disk sizes stay between ${MIN_DISK_GIB} GiB (the Ubuntu images' root) and ${MAX_DISK_GIB} GiB (the largest gp3 volume); sizes left to the image default are not checked.`,
    enforcementLevel: "advisory",
    remediationSteps: `Size volumes and disks from ${MIN_DISK_GIB} to ${MAX_DISK_GIB} GiB (crosscloud:dataDiskSizeGb for PGDATA).`,
    validateResource: [
        validateResourceOfType(ebs.Volume, (volume, args, report) => checkDiskSize(`EBS volume ${args.name}`, volume.size, report)),
        validateResourceOfType(ec2.Instance, (instance, args, report) => {
            checkDiskSize(`${args.name}'s root volume`, instance.rootBlockDevice?.volumeSize, report);
            for (const device of instance.ebsBlockDevices ?? []) {
                checkDiskSize(`${args.name}'s EBS volume ${device.deviceName}`, device.volumeSize, report);
            }
        }),
        validateResourceOfType(compute.Disk, (disk, args, report) => checkDiskSize(`Disk ${args.name}`, disk.diskSizeGB, report)),
        validateResourceOfType(compute.VirtualMachine, (vm, args, report) => {
            checkDiskSize(`${args.name}'s OS disk`, vm.storageProfile?.osDisk?.diskSizeGB, report);
            for (const disk of vm.storageProfile?.dataDisks ?? []) {
                checkDiskSize(`${args.name}'s data disk at LUN ${disk.lun}`, disk.diskSizeGB, report);
            }
        }),
    ],
};

export const mandatoryPolicies: ResourceValidationPolicy[] = [
    noSshFromInternet,
    ikeOnlyFromPeer,
    databaseHostsPrivate,
    ebsEncrypted,
    ec2Imdsv2,
    dataDisksProtected,
];

export const advisoryPolicies: ResourceValidationPolicy[] = [azureEncryptionAtHost, vmSizesInRange, diskSizesInRange];

export const policies: ResourceValidationPolicy[] = [...mandatoryPolicies, ...advisoryPolicies];

/** The sources of an EC2 security group rule (inline or standalone), prefix lists named as such. */
function awsRuleSources(rule: { cidrBlocks?: string[]; ipv6CidrBlocks?: string[]; prefixListIds?: string[] }): string[] {
    return [...(rule.cidrBlocks ?? []), ...(rule.ipv6CidrBlocks ?? []), ...(rule.prefixListIds ?? []).map((p) => `prefix list ${p}`)];
}
