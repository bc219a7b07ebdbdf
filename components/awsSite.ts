import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderUserData } from "../scripts/bootstrap";
import { AdminKeys, adminAccessStep } from "./adminAccess";
import { DatabaseHost, GatewayHost, HostFirewall, InboundRule, SshHost } from "./hosts";
import { SiteLayout, siteLayout } from "./network";
import { ExistingAwsEnvironment } from "./sourceEnvironment";
import { checkAdminCidrs, checkAmiOverrides, checkInstanceType, checkSiteCidr, problems } from "./validation";

/** Canonical's AWS account, the publisher of the official Ubuntu AMIs. */
export const CANONICAL_OWNER_ID = "099720109477";
/** Ubuntu 24.04 LTS, amd64, EBS gp3 root: the image family both hosts run. */
export const UBUNTU_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";
/** The login user of Ubuntu AMIs. */
export const AWS_ADMIN_USER = "ubuntu";
/** The device name the PGDATA volume is attached as; Nitro instances show it as an NVMe disk. */
export const DATA_VOLUME_DEVICE_NAME = "/dev/sdf";

/**
 * The names the PGDATA volume may have on the host, in order. Nitro types expose EBS as NVMe disks whose
 * serial is the volume id (EBS docs, "Map Amazon EBS volumes to NVMe device names"); on Xen types (t2, m4,
 * c4, r4, ...) the kernel's block driver renames /dev/sdf to /dev/xvdf (EC2 docs, "Device names on Linux
 * instances": "/dev/sdh ... could be renamed /dev/xvdh").
 */
export function dataVolumePaths(volumeId: string): string[] {
    return [
        `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volumeId.replace("-", "")}`,
        DATA_VOLUME_DEVICE_NAME.replace("/dev/sd", "/dev/xvd"),
        DATA_VOLUME_DEVICE_NAME,
    ];
}

export interface AwsSiteArgs {
    /** AWS region of the site (the default provider's `aws:region`); the AMI is looked up there. */
    region: string;
    /** The VPC's range, e.g. `10.10.0.0/16`: cut into a gateway subnet and a database subnet. */
    cidr: string;
    /** The Azure site's range: the database subnet routes it to the gateway. */
    peerCidr: string;
    /** CIDRs allowed to SSH to the gateway. `0.0.0.0/0` is refused. */
    adminCidrs: string[];
    /** OpenSSH public key installed for the `ubuntu` user on both instances. */
    sshPublicKey: string;
    /** The admin private key (secret) the access steps log in with. */
    sshPrivateKey: pulumi.Input<string>;
    /** Only for the `up` that rotates the admin key: the key the instances still authorize (secret). */
    previousSshPrivateKey?: pulumi.Input<string>;
    /** EC2 instance type of the VPN gateway. */
    gatewayInstanceType: string;
    /** EC2 instance type of the PostgreSQL primary. */
    databaseInstanceType: string;
    /** AMI to use instead of the lookup (from `crosscloud:amiOverrides` for this region). */
    amiOverride?: string;
    /** Size of the encrypted gp3 volume that holds PGDATA and the WAL archive, GiB. */
    dataDiskSizeGb: number;
    /**
     * A running environment to start from instead of creating one (resolved by `resolveExistingAws`):
     * its VPC, subnets and primary are only referenced; the site adds the gateway, one route, and
     * standalone security group rules, all of which a destroy removes without touching the rest.
     * `cidr` must then be the VPC's range; `databaseInstanceType` and `dataDiskSizeGb` are unused.
     */
    existing?: ExistingAwsEnvironment;
}

/**
 * The site's outputs, the one list the component registers and index.ts exports (as `awsResources` and
 * `awsGatewayPublicIp`). A value that does not apply to how the site was built is absent, never `""`.
 */
export interface AwsSiteOutputs {
    vpcId: pulumi.Output<string>;
    gatewaySubnetId: pulumi.Output<string>;
    databaseSubnetId: pulumi.Output<string>;
    /** The gateway subnet's route table. Absent with an existing environment: that table is the environment's own. */
    publicRouteTableId?: pulumi.Output<string>;
    /** The database subnet's route table (with an existing environment, the table the peer route is added to). */
    privateRouteTableId: pulumi.Output<string>;
    gatewaySecurityGroupId: pulumi.Output<string>;
    /** The database host's group (with an existing environment, the primary's own group). */
    databaseSecurityGroupId: pulumi.Output<string>;
    gatewayInstanceId: pulumi.Output<string>;
    /** The database host (with an existing environment, the existing primary). */
    databaseInstanceId: pulumi.Output<string>;
    /** The PGDATA volume. Absent with an existing environment: PGDATA stays where the host has it. */
    dataVolumeId?: pulumi.Output<string>;
    /** The AMI the program's instances boot from (the lookup's result or the override). */
    amiId: pulumi.Output<string>;
    gatewayPublicIp: pulumi.Output<string>;
}

/** What either way of building the site yields. */
interface SiteParts {
    outputs: AwsSiteOutputs;
    gateway: GatewayHost;
    database: DatabaseHost;
}

/** Where the gateway goes and whom it serves, as either way of building the site knows it. */
interface GatewayPlacement {
    /** The gateway's security group (from `gatewaySecurityGroup`). */
    securityGroup: aws.ec2.SecurityGroup;
    /** The public subnet the gateway is placed in. */
    subnetId: pulumi.Input<string>;
    /** The database host's security group: it admits SSH from the gateway. */
    databaseSecurityGroupId: pulumi.Input<string>;
    /** The description of that rule; in a group the program does not own it says who added it. */
    databaseSshDescription: string;
    /** What the Elastic IP's association must wait for: the stack's own internet gateway, if it has one. */
    eipDependsOn: pulumi.Resource[];
}

/** The gateway as both ways of building the site create it. */
interface BuiltGateway {
    securityGroup: aws.ec2.SecurityGroup;
    firewall: HostFirewall;
    /** SSH and forwarded traffic to the gateway, SSH on to the database host, the gateway's egress. */
    rules: pulumi.Resource[];
    /** The admin key pair: a new site's database host boots with it too. */
    keyPair: aws.ec2.KeyPair;
    instance: aws.ec2.Instance;
    eip: aws.ec2.Eip;
    ssh: SshHost;
}

/**
 * The AWS half: a VPC with a public subnet for the VPN gateway (Elastic IP, forwarding, NAT for the
 * private subnet) and a private subnet for the PostgreSQL primary, whose PGDATA lives on its own
 * encrypted, protected volume.
 */
export class AwsSite extends pulumi.ComponentResource {
    public readonly layout: SiteLayout;
    /** Ids and addresses, for the stack's outputs. */
    public readonly outputs: AwsSiteOutputs;
    /** The gateway as the tunnel needs it. */
    public readonly gateway: GatewayHost;
    /** The database host as the replica pair needs it. */
    public readonly database: DatabaseHost;

    /**
     * @param name The component's name; every child is named `${name}-...`.
     * @param args The site's ranges, hosts and admin access, and optionally an existing environment to add to.
     * @param opts Options of the component resource.
     */
    constructor(name: string, args: AwsSiteArgs, opts?: pulumi.ComponentResourceOptions) {
        super("crosscloud:aws:AwsSite", name, {}, opts);
        const found = problems(
            checkSiteCidr("crosscloud:awsCidr", args.cidr),
            checkAdminCidrs(args.adminCidrs),
            checkAmiOverrides(args.amiOverride ? { [args.region]: args.amiOverride } : {}),
            checkInstanceType("awsGatewayType", args.gatewayInstanceType),
            checkInstanceType("awsDbType", args.databaseInstanceType),
        );
        if (args.existing && args.existing.vpcCidr !== args.cidr) {
            found.push(
                `the existing VPC ${args.existing.vpcId} has the range ${args.existing.vpcCidr}, not ${args.cidr}: pass its range as cidr.`,
            );
        }
        if (found.length > 0) {
            throw new pulumi.ResourceError(found.join("\n"), this);
        }
        const amiId = args.amiOverride ? pulumi.output(args.amiOverride) : this.lookupUbuntuAmi(args.region);
        const e = args.existing;
        this.layout = e
            ? {
                  cidr: e.vpcCidr,
                  gatewaySubnet: e.gatewaySubnet.cidr,
                  databaseSubnet: e.databaseSubnet.cidr,
                  gatewayIp: e.gatewayIp,
                  databaseIp: e.primary.privateIp,
              }
            : siteLayout(args.cidr);
        const parts = e ? this.addToExisting(name, args, this.layout, amiId, e) : this.createSite(name, args, this.layout, amiId);
        // After the first boot the admin key is the access steps' business (keyName is ignored).
        const keys: AdminKeys = {
            publicKey: args.sshPublicKey,
            privateKey: args.sshPrivateKey,
            previousPrivateKey: args.previousSshPrivateKey,
        };
        const gatewayAccess = adminAccessStep(`${name}-gateway`, parts.gateway, keys, this);
        const databaseAccess = adminAccessStep(`${name}-database`, parts.database, keys, this, gatewayAccess);
        this.gateway = { ...parts.gateway, ready: [...parts.gateway.ready, gatewayAccess] };
        this.database = { ...parts.database, ready: [...parts.database.ready, databaseAccess] };
        this.outputs = parts.outputs;
        this.registerOutputs(this.outputs);
    }

    /**
     * A new VPC, subnets, routes, groups, both instances and the PGDATA volume.
     * @param name The component's name.
     * @param args The component's args.
     * @param layout The address plan cut from `args.cidr`.
     * @param amiId The image both instances boot from.
     */
    private createSite(name: string, args: AwsSiteArgs, layout: SiteLayout, amiId: pulumi.Output<string>): SiteParts {
        const parent = { parent: this };
        const tags = siteTags(name);

        // Regular Availability Zones only: an opted-in Local or Wavelength Zone is listed too, and its name
        // sorts first (us-west-2-lax-1a before us-west-2a). EC2 DescribeAvailabilityZones filter zone-type
        // (availability-zone | local-zone | wavelength-zone).
        const zone = aws.getAvailabilityZonesOutput(
            { state: "available", filters: [{ name: "zone-type", values: ["availability-zone"] }] },
            parent,
        ).names[0];
        const vpc = new aws.ec2.Vpc(
            `${name}-vpc`,
            { cidrBlock: args.cidr, enableDnsHostnames: true, enableDnsSupport: true, tags: tags("vpc") },
            parent,
        );
        const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: tags("igw") }, parent);
        const gatewaySubnet = new aws.ec2.Subnet(
            `${name}-gateway-subnet`,
            { vpcId: vpc.id, cidrBlock: layout.gatewaySubnet, availabilityZone: zone, tags: tags("gateway") },
            parent,
        );
        const databaseSubnet = new aws.ec2.Subnet(
            `${name}-database-subnet`,
            { vpcId: vpc.id, cidrBlock: layout.databaseSubnet, availabilityZone: zone, tags: tags("database") },
            parent,
        );

        // Security groups carry no inline rules: every rule is its own resource, so the tunnel and
        // the replica pair can add theirs without fighting over the group.
        const gatewaySg = this.gatewaySecurityGroup(name, vpc.id);
        const databaseSg = new aws.ec2.SecurityGroup(
            `${name}-database-sg`,
            { vpcId: vpc.id, description: "crosscloud PostgreSQL host", tags: tags("database-sg") },
            parent,
        );
        const gw = this.gatewayFor(name, args, layout, amiId, {
            securityGroup: gatewaySg,
            subnetId: gatewaySubnet.id,
            databaseSecurityGroupId: databaseSg.id,
            databaseSshDescription: "SSH through the gateway (jump host)",
            // Associating an EIP with an instance fails while the VPC has no internet gateway attached;
            // nothing else orders the two (pulumi-aws Eip docs: "EIP may require IGW to exist prior to
            // association. Use dependsOn to set an explicit dependency on the IGW").
            eipDependsOn: [igw],
        });
        const siteRules = [
            ...gw.rules,
            new aws.vpc.SecurityGroupEgressRule(
                `${name}-database-egress`,
                { securityGroupId: databaseSg.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "All outbound" },
                parent,
            ),
        ];
        const databaseHostKey = new tls.PrivateKey(`${name}-database-host-key`, { algorithm: "ED25519" }, parent);
        const database = this.hostInstance(name, "database", amiId, gw.keyPair, databaseHostKey, {
            instanceType: args.databaseInstanceType,
            subnetId: databaseSubnet.id,
            privateIp: layout.databaseIp,
            vpcSecurityGroupIds: [databaseSg.id],
        });

        const publicRoutes = new aws.ec2.RouteTable(
            `${name}-public-routes`,
            { vpcId: vpc.id, routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }], tags: tags("public-routes") },
            parent,
        );
        // The database subnet has no way out but the gateway: to Azure through the tunnel, to the
        // internet (package mirrors) through the gateway's NAT.
        const privateRoutes = new aws.ec2.RouteTable(
            `${name}-private-routes`,
            {
                vpcId: vpc.id,
                routes: [
                    { cidrBlock: args.peerCidr, networkInterfaceId: gw.instance.primaryNetworkInterfaceId },
                    { cidrBlock: "0.0.0.0/0", networkInterfaceId: gw.instance.primaryNetworkInterfaceId },
                ],
                tags: tags("private-routes"),
            },
            parent,
        );
        const routeAssociations = [
            new aws.ec2.RouteTableAssociation(
                `${name}-gateway-subnet-routes`,
                { subnetId: gatewaySubnet.id, routeTableId: publicRoutes.id },
                parent,
            ),
            new aws.ec2.RouteTableAssociation(
                `${name}-database-subnet-routes`,
                { subnetId: databaseSubnet.id, routeTableId: privateRoutes.id },
                parent,
            ),
        ];

        const dataVolume = new aws.ebs.Volume(
            `${name}-pgdata`,
            { availabilityZone: database.availabilityZone, size: args.dataDiskSizeGb, type: "gp3", encrypted: true, tags: tags("pgdata") },
            // PGDATA: no `up` or `destroy` may delete it by accident.
            { parent: this, protect: true, retainOnDelete: true },
        );
        const attachment = new aws.ec2.VolumeAttachment(
            `${name}-pgdata-attachment`,
            { deviceName: DATA_VOLUME_DEVICE_NAME, volumeId: dataVolume.id, instanceId: database.id, stopInstanceBeforeDetaching: true },
            parent,
        );

        return {
            outputs: {
                vpcId: vpc.id,
                gatewaySubnetId: gatewaySubnet.id,
                databaseSubnetId: databaseSubnet.id,
                publicRouteTableId: publicRoutes.id,
                privateRouteTableId: privateRoutes.id,
                gatewaySecurityGroupId: gw.securityGroup.id,
                databaseSecurityGroupId: databaseSg.id,
                gatewayInstanceId: gw.instance.id,
                databaseInstanceId: database.id,
                dataVolumeId: dataVolume.id,
                amiId,
                gatewayPublicIp: gw.eip.publicIp,
            },
            gateway: gatewayHost(name, layout, gw, [gw.instance, gw.eip, publicRoutes, ...routeAssociations, ...siteRules]),
            database: databaseHost(name, layout, gw.ssh, {
                address: database.privateIp,
                hostPublicKey: databaseHostKey.publicKeyOpenssh.apply((k) => k.trim()),
                dataDevices: dataVolume.id.apply(dataVolumePaths),
                firewall: securityGroupFirewall(databaseSg.id),
                ready: [database, attachment, privateRoutes, ...routeAssociations, ...siteRules],
            }),
        };
    }

    /**
     * Only what an existing environment lacks: the gateway (its group, key pair, instance, Elastic IP)
     * in the existing public subnet, one route to the peer range in the database subnet's table, and
     * standalone rules in the primary's group. The VPC, subnets, route tables, the primary and its
     * group are referenced by id and never managed, so no `up` or `destroy` can replace or delete them.
     * @param name The component's name.
     * @param args The component's args.
     * @param layout The address plan read from the environment.
     * @param amiId The image the gateway boots from.
     * @param e The environment, resolved and checked.
     */
    private addToExisting(
        name: string,
        args: AwsSiteArgs,
        layout: SiteLayout,
        amiId: pulumi.Output<string>,
        e: ExistingAwsEnvironment,
    ): SiteParts {
        const gw = this.gatewayFor(name, args, layout, amiId, {
            securityGroup: this.gatewaySecurityGroup(name, e.vpcId),
            subnetId: e.gatewaySubnet.id,
            databaseSecurityGroupId: e.primary.securityGroupId,
            databaseSshDescription: "crosscloud: SSH through the gateway (jump host)",
            // No internet gateway to wait for: it is the environment's own, not a resource of this stack,
            // and attached before this program runs (the public subnet must route 0.0.0.0/0 to it).
            eipDependsOn: [],
        });
        // The primary's group keeps its own egress rules: a duplicate would be refused by AWS.
        const siteRules = gw.rules;
        // One route in the existing table (a standalone resource): the Azure range through the gateway.
        // The table's other routes (its own way to the internet) stay as they are.
        const peerRoute = new aws.ec2.Route(
            `${name}-peer-route`,
            {
                routeTableId: e.databaseRouteTableId,
                destinationCidrBlock: args.peerCidr,
                networkInterfaceId: gw.instance.primaryNetworkInterfaceId,
            },
            { parent: this },
        );
        return {
            // No publicRouteTableId (the gateway subnet's table is the environment's own; the program
            // neither reads nor changes it) and no dataVolumeId (no program-managed data disk).
            outputs: {
                vpcId: pulumi.output(e.vpcId),
                gatewaySubnetId: pulumi.output(e.gatewaySubnet.id),
                databaseSubnetId: pulumi.output(e.databaseSubnet.id),
                privateRouteTableId: pulumi.output(e.databaseRouteTableId),
                gatewaySecurityGroupId: gw.securityGroup.id,
                databaseSecurityGroupId: pulumi.output(e.primary.securityGroupId),
                gatewayInstanceId: gw.instance.id,
                databaseInstanceId: pulumi.output(e.primary.instanceId),
                amiId,
                gatewayPublicIp: gw.eip.publicIp,
            },
            gateway: gatewayHost(name, layout, gw, [gw.instance, gw.eip, ...siteRules]),
            database: databaseHost(name, layout, gw.ssh, {
                address: pulumi.output(e.primary.privateIp),
                // Pinned: the key from crosscloud:sourcePrimaryHostKey, never one learned on first use.
                hostPublicKey: pulumi.output(e.primary.hostPublicKey),
                // PGDATA stays where the host has it: no program-managed data disk.
                dataDevices: pulumi.output([]),
                // Rules in the primary's own group are standalone resources: a destroy removes them alone.
                firewall: securityGroupFirewall(e.primary.securityGroupId),
                ready: [peerRoute, ...siteRules],
            }),
        };
    }

    /**
     * The gateway's security group, without inline rules: every rule is its own resource.
     * @param name The component's name.
     * @param vpcId The VPC it belongs to (new or existing).
     */
    private gatewaySecurityGroup(name: string, vpcId: pulumi.Input<string>): aws.ec2.SecurityGroup {
        return new aws.ec2.SecurityGroup(
            `${name}-gateway-sg`,
            { vpcId, description: "crosscloud VPN gateway", tags: siteTags(name)("gateway-sg") },
            { parent: this },
        );
    }

    /**
     * The VPN gateway, the same in both ways of building the site: the rules in front of it, the admin
     * key pair, its host key, the instance and its Elastic IP.
     * @param name The component's name.
     * @param args The component's args (admin CIDRs and key, the gateway's instance type).
     * @param layout The address plan: the gateway's address and the VPC's range.
     * @param amiId The image the gateway boots from.
     * @param at Where the gateway goes and whom it serves.
     */
    private gatewayFor(
        name: string,
        args: AwsSiteArgs,
        layout: SiteLayout,
        amiId: pulumi.Output<string>,
        at: GatewayPlacement,
    ): BuiltGateway {
        const parent = { parent: this };
        const tags = siteTags(name);
        const securityGroup = at.securityGroup;
        const firewall = securityGroupFirewall(securityGroup.id);
        const rules = [
            ...firewall.allow(
                {
                    name: `${name}-gateway-ssh`,
                    kind: "admin-ssh",
                    protocol: "tcp",
                    port: 22,
                    sources: args.adminCidrs,
                    description: "SSH from the admins",
                },
                this,
            ),
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-gateway-from-vpc`,
                {
                    securityGroupId: securityGroup.id,
                    ipProtocol: "-1",
                    cidrIpv4: layout.cidr,
                    description: "Traffic the gateway forwards: to the tunnel, and NAT to the internet",
                },
                parent,
            ),
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-database-ssh-from-gateway`,
                {
                    securityGroupId: at.databaseSecurityGroupId,
                    ipProtocol: "tcp",
                    fromPort: 22,
                    toPort: 22,
                    referencedSecurityGroupId: securityGroup.id,
                    description: at.databaseSshDescription,
                },
                parent,
            ),
            new aws.vpc.SecurityGroupEgressRule(
                `${name}-gateway-egress`,
                { securityGroupId: securityGroup.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "All outbound" },
                parent,
            ),
        ];
        const keyPair = new aws.ec2.KeyPair(`${name}-admin-key`, { publicKey: args.sshPublicKey, tags: tags("admin-key") }, parent);
        const hostKey = new tls.PrivateKey(`${name}-gateway-host-key`, { algorithm: "ED25519" }, parent);
        const instance = this.hostInstance(name, "gateway", amiId, keyPair, hostKey, {
            instanceType: args.gatewayInstanceType,
            subnetId: at.subnetId,
            privateIp: layout.gatewayIp,
            vpcSecurityGroupIds: [securityGroup.id],
            // It forwards packets that are neither from nor to itself.
            sourceDestCheck: false,
        });
        const eip = new aws.ec2.Eip(
            `${name}-gateway-eip`,
            { domain: "vpc", instance: instance.id, tags: tags("gateway-eip") },
            { parent: this, dependsOn: at.eipDependsOn },
        );
        const ssh: SshHost = {
            address: eip.publicIp,
            user: AWS_ADMIN_USER,
            hostPublicKey: hostKey.publicKeyOpenssh.apply((k) => k.trim()),
        };
        return { securityGroup, firewall, rules, keyPair, instance, eip, ssh };
    }

    /**
     * An Ubuntu host with the program's host key placed at boot, IMDSv2 only, encrypted root.
     * @param name The component's name.
     * @param role Which of the site's hosts: names the instance.
     * @param amiId The image it boots from.
     * @param keyPair The admin key pair it first boots with.
     * @param hostKey Its SSH host key, placed by the user data.
     * @param extra Type, subnet, address and groups of this host.
     */
    private hostInstance(
        name: string,
        role: "gateway" | "database",
        amiId: pulumi.Output<string>,
        keyPair: aws.ec2.KeyPair,
        hostKey: tls.PrivateKey,
        extra: Partial<aws.ec2.InstanceArgs>,
    ): aws.ec2.Instance {
        return new aws.ec2.Instance(
            `${name}-${role}`,
            {
                ami: amiId,
                keyName: keyPair.keyName,
                associatePublicIpAddress: false,
                userData: pulumi
                    .all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh])
                    .apply(([hostPrivateKey, hostPublicKey]) => renderUserData({ hostPrivateKey, hostPublicKey })),
                userDataReplaceOnChange: false,
                // Boot data holds the host's SSH key: only IMDSv2, and not from inside containers.
                metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                rootBlockDevice: { volumeType: "gp3", volumeSize: 16, encrypted: true },
                tags: siteTags(name)(role),
                ...extra,
            },
            // A newer Ubuntu image published later must not replace running hosts. User data and the key
            // pair are first-boot data: a change of userData would stop and start the instance (the
            // primary too), a new key pair would replace it; the access steps manage the admin key.
            { parent: this, ignoreChanges: ["ami", "userData", "keyName"] },
        );
    }

    /**
     * The newest Ubuntu 24.04 amd64 AMI from Canonical in `region`, or a clear error naming the override.
     * @param region The site's region, where the lookup runs.
     */
    private lookupUbuntuAmi(region: string): pulumi.Output<string> {
        const lookup = aws.ec2
            .getAmi(
                {
                    owners: [CANONICAL_OWNER_ID],
                    mostRecent: true,
                    filters: [
                        { name: "name", values: [UBUNTU_AMI_NAME] },
                        { name: "architecture", values: ["x86_64"] },
                        { name: "virtualization-type", values: ["hvm"] },
                        { name: "root-device-type", values: ["ebs"] },
                    ],
                },
                { parent: this },
            )
            .then(
                (ami) => ami.id,
                (err: unknown) => {
                    throw new pulumi.ResourceError(
                        `No Ubuntu 24.04 amd64 AMI from Canonical (${CANONICAL_OWNER_ID}) was found in ${region}: set crosscloud:amiOverrides.${region} to an AMI id. (${err instanceof Error ? err.message : String(err)})`,
                        this,
                    );
                },
            );
        return pulumi.output(lookup);
    }
}

/** Name and site tags of the site's AWS resources, for `role`. */
function siteTags(name: string): (role: string) => Record<string, string> {
    return (role) => ({ Name: `${name}-${role}`, "crosscloud:site": name });
}

/**
 * The gateway as the tunnel needs it.
 * @param site The component's name.
 * @param layout The site's address plan.
 * @param gw The gateway as built.
 * @param ready What the gateway's first command waits for.
 */
function gatewayHost(site: string, layout: SiteLayout, gw: BuiltGateway, ready: pulumi.Resource[]): GatewayHost {
    return {
        site,
        ssh: gw.ssh,
        publicIp: gw.eip.publicIp,
        privateIp: layout.gatewayIp,
        siteCidr: layout.cidr,
        databaseSubnet: layout.databaseSubnet,
        firewall: gw.firewall,
        ready,
    };
}

/**
 * The database host as the replica pair needs it: reached through the gateway.
 * @param site The component's name.
 * @param layout The site's address plan.
 * @param via The gateway's SSH coordinates (the jump host).
 * @param host How to dial the host, its data disk, firewall and what its first command waits for.
 */
function databaseHost(
    site: string,
    layout: SiteLayout,
    via: SshHost,
    host: Pick<SshHost, "address" | "hostPublicKey"> & Pick<DatabaseHost, "dataDevices" | "firewall" | "ready">,
): DatabaseHost {
    return {
        site,
        ssh: { address: host.address, user: AWS_ADMIN_USER, hostPublicKey: host.hostPublicKey, via },
        privateIp: layout.databaseIp,
        dataDevices: host.dataDevices,
        firewall: host.firewall,
        ready: host.ready,
    };
}

/**
 * Opens ports in a security group, one ingress rule per source CIDR.
 * @param securityGroupId The group the rules go into.
 */
function securityGroupFirewall(securityGroupId: pulumi.Input<string>): HostFirewall {
    return {
        allow: (rule: InboundRule, parent: pulumi.Resource) =>
            rule.sources.map(
                (source, i) =>
                    new aws.vpc.SecurityGroupIngressRule(
                        `${rule.name}-${i}`,
                        {
                            securityGroupId,
                            ipProtocol: rule.protocol,
                            fromPort: rule.port,
                            toPort: rule.port,
                            cidrIpv4: source,
                            description: rule.description,
                        },
                        { parent },
                    ),
            ),
    };
}
