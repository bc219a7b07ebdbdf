import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderUserData } from "../scripts/bootstrap";
import { AdminKeys, adminAccessStep } from "./adminAccess";
import { DatabaseHost, GatewayHost, HostFirewall, InboundRule } from "./hosts";
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

/** What either way of building the site yields. */
interface SiteParts {
    vpcId: pulumi.Output<string>;
    gatewaySubnetId: pulumi.Output<string>;
    databaseSubnetId: pulumi.Output<string>;
    publicRouteTableId: pulumi.Output<string>;
    privateRouteTableId: pulumi.Output<string>;
    gatewaySecurityGroupId: pulumi.Output<string>;
    databaseSecurityGroupId: pulumi.Output<string>;
    gatewayInstanceId: pulumi.Output<string>;
    databaseInstanceId: pulumi.Output<string>;
    dataVolumeId: pulumi.Output<string>;
    gatewayPublicIp: pulumi.Output<string>;
    gateway: GatewayHost;
    database: DatabaseHost;
}

/**
 * The AWS half: a VPC with a public subnet for the VPN gateway (Elastic IP, forwarding, NAT for the
 * private subnet) and a private subnet for the PostgreSQL primary, whose PGDATA lives on its own
 * encrypted, protected volume.
 */
export class AwsSite extends pulumi.ComponentResource {
    public readonly layout: SiteLayout;
    public readonly vpcId: pulumi.Output<string>;
    public readonly gatewaySubnetId: pulumi.Output<string>;
    public readonly databaseSubnetId: pulumi.Output<string>;
    public readonly publicRouteTableId: pulumi.Output<string>;
    public readonly privateRouteTableId: pulumi.Output<string>;
    public readonly gatewaySecurityGroupId: pulumi.Output<string>;
    public readonly databaseSecurityGroupId: pulumi.Output<string>;
    public readonly gatewayInstanceId: pulumi.Output<string>;
    public readonly databaseInstanceId: pulumi.Output<string>;
    public readonly dataVolumeId: pulumi.Output<string>;
    public readonly amiId: pulumi.Output<string>;
    public readonly gatewayPublicIp: pulumi.Output<string>;
    /** The gateway as the tunnel needs it. */
    public readonly gateway: GatewayHost;
    /** The database host as the replica pair needs it. */
    public readonly database: DatabaseHost;

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
        this.amiId = args.amiOverride ? pulumi.output(args.amiOverride) : this.lookupUbuntuAmi(args.region);
        if (args.existing) {
            const e = args.existing;
            this.layout = {
                cidr: e.vpcCidr,
                gatewaySubnet: e.gatewaySubnet.cidr,
                databaseSubnet: e.databaseSubnet.cidr,
                gatewayIp: e.gatewayIp,
                databaseIp: e.primary.privateIp,
            };
        } else {
            this.layout = siteLayout(args.cidr);
        }
        const parts = args.existing ? this.addToExisting(name, args, args.existing) : this.createSite(name, args, this.layout);
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
        this.vpcId = parts.vpcId;
        this.gatewaySubnetId = parts.gatewaySubnetId;
        this.databaseSubnetId = parts.databaseSubnetId;
        this.publicRouteTableId = parts.publicRouteTableId;
        this.privateRouteTableId = parts.privateRouteTableId;
        this.gatewaySecurityGroupId = parts.gatewaySecurityGroupId;
        this.databaseSecurityGroupId = parts.databaseSecurityGroupId;
        this.gatewayInstanceId = parts.gatewayInstanceId;
        this.databaseInstanceId = parts.databaseInstanceId;
        this.dataVolumeId = parts.dataVolumeId;
        this.gatewayPublicIp = parts.gatewayPublicIp;
        this.registerOutputs({
            vpcId: this.vpcId,
            gatewaySubnetId: this.gatewaySubnetId,
            databaseSubnetId: this.databaseSubnetId,
            publicRouteTableId: this.publicRouteTableId,
            privateRouteTableId: this.privateRouteTableId,
            gatewaySecurityGroupId: this.gatewaySecurityGroupId,
            databaseSecurityGroupId: this.databaseSecurityGroupId,
            gatewayInstanceId: this.gatewayInstanceId,
            databaseInstanceId: this.databaseInstanceId,
            dataVolumeId: this.dataVolumeId,
            amiId: this.amiId,
            gatewayPublicIp: this.gatewayPublicIp,
        });
    }

    /** A new VPC, subnets, routes, groups, both instances and the PGDATA volume. */
    private createSite(name: string, args: AwsSiteArgs, layout: SiteLayout): SiteParts {
        const parent = { parent: this };
        const tags = (role: string) => ({ Name: `${name}-${role}`, "crosscloud:site": name });

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
        const gatewaySg = new aws.ec2.SecurityGroup(
            `${name}-gateway-sg`,
            { vpcId: vpc.id, description: "crosscloud VPN gateway", tags: tags("gateway-sg") },
            parent,
        );
        const databaseSg = new aws.ec2.SecurityGroup(
            `${name}-database-sg`,
            { vpcId: vpc.id, description: "crosscloud PostgreSQL host", tags: tags("database-sg") },
            parent,
        );
        const gatewayFirewall = securityGroupFirewall(gatewaySg.id);
        const databaseFirewall = securityGroupFirewall(databaseSg.id);
        const siteRules = [
            ...this.gatewayAccessRules(
                name,
                args,
                gatewaySg.id,
                gatewayFirewall,
                databaseSg.id,
                args.cidr,
                "SSH through the gateway (jump host)",
            ),
            ...[gatewaySg, databaseSg].map(
                (sg, i) =>
                    new aws.vpc.SecurityGroupEgressRule(
                        `${name}-${i === 0 ? "gateway" : "database"}-egress`,
                        { securityGroupId: sg.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "All outbound" },
                        parent,
                    ),
            ),
        ];

        const keyPair = new aws.ec2.KeyPair(`${name}-admin-key`, { publicKey: args.sshPublicKey, tags: tags("admin-key") }, parent);

        const gatewayHostKey = new tls.PrivateKey(`${name}-gateway-host-key`, { algorithm: "ED25519" }, parent);
        const databaseHostKey = new tls.PrivateKey(`${name}-database-host-key`, { algorithm: "ED25519" }, parent);
        const instance = (role: "gateway" | "database", extra: Partial<aws.ec2.InstanceArgs>, hostKey: tls.PrivateKey) =>
            this.hostInstance(name, role, keyPair, hostKey, extra);
        const gateway = instance(
            "gateway",
            {
                instanceType: args.gatewayInstanceType,
                subnetId: gatewaySubnet.id,
                privateIp: layout.gatewayIp,
                vpcSecurityGroupIds: [gatewaySg.id],
                // It forwards packets that are neither from nor to itself.
                sourceDestCheck: false,
            },
            gatewayHostKey,
        );
        const database = instance(
            "database",
            {
                instanceType: args.databaseInstanceType,
                subnetId: databaseSubnet.id,
                privateIp: layout.databaseIp,
                vpcSecurityGroupIds: [databaseSg.id],
            },
            databaseHostKey,
        );
        // Associating an EIP with an instance fails while the VPC has no internet gateway attached;
        // nothing else orders the two (pulumi-aws Eip docs: "EIP may require IGW to exist prior to
        // association. Use dependsOn to set an explicit dependency on the IGW").
        const eip = new aws.ec2.Eip(
            `${name}-gateway-eip`,
            { domain: "vpc", instance: gateway.id, tags: tags("gateway-eip") },
            { parent: this, dependsOn: [igw] },
        );

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
                    { cidrBlock: args.peerCidr, networkInterfaceId: gateway.primaryNetworkInterfaceId },
                    { cidrBlock: "0.0.0.0/0", networkInterfaceId: gateway.primaryNetworkInterfaceId },
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

        const gatewaySsh = {
            address: eip.publicIp,
            user: AWS_ADMIN_USER,
            hostPublicKey: gatewayHostKey.publicKeyOpenssh.apply((k) => k.trim()),
        };
        const gatewayHost: GatewayHost = {
            site: name,
            ssh: gatewaySsh,
            publicIp: eip.publicIp,
            privateIp: layout.gatewayIp,
            siteCidr: args.cidr,
            databaseSubnet: layout.databaseSubnet,
            firewall: gatewayFirewall,
            ready: [gateway, eip, publicRoutes, ...routeAssociations, ...siteRules],
        };
        const databaseHost: DatabaseHost = {
            site: name,
            ssh: {
                address: database.privateIp,
                user: AWS_ADMIN_USER,
                hostPublicKey: databaseHostKey.publicKeyOpenssh.apply((k) => k.trim()),
                via: gatewaySsh,
            },
            privateIp: layout.databaseIp,
            dataDevices: dataVolume.id.apply(dataVolumePaths),
            firewall: databaseFirewall,
            ready: [database, attachment, privateRoutes, ...routeAssociations, ...siteRules],
        };

        return {
            vpcId: vpc.id,
            gatewaySubnetId: gatewaySubnet.id,
            databaseSubnetId: databaseSubnet.id,
            publicRouteTableId: publicRoutes.id,
            privateRouteTableId: privateRoutes.id,
            gatewaySecurityGroupId: gatewaySg.id,
            databaseSecurityGroupId: databaseSg.id,
            gatewayInstanceId: gateway.id,
            databaseInstanceId: database.id,
            dataVolumeId: dataVolume.id,
            gatewayPublicIp: eip.publicIp,
            gateway: gatewayHost,
            database: databaseHost,
        };
    }

    /**
     * Only what an existing environment lacks: the gateway (its group, key pair, instance, Elastic IP)
     * in the existing public subnet, one route to the peer range in the database subnet's table, and
     * standalone rules in the primary's group. The VPC, subnets, route tables, the primary and its
     * group are referenced by id and never managed, so no `up` or `destroy` can replace or delete them.
     */
    private addToExisting(name: string, args: AwsSiteArgs, e: ExistingAwsEnvironment): SiteParts {
        const parent = { parent: this };
        const tags = (role: string) => ({ Name: `${name}-${role}`, "crosscloud:site": name });
        const gatewaySg = new aws.ec2.SecurityGroup(
            `${name}-gateway-sg`,
            { vpcId: e.vpcId, description: "crosscloud VPN gateway", tags: tags("gateway-sg") },
            parent,
        );
        const gatewayFirewall = securityGroupFirewall(gatewaySg.id);
        // Rules in the primary's own group are standalone resources: a destroy removes them alone.
        const databaseFirewall = securityGroupFirewall(e.primary.securityGroupId);
        const siteRules = [
            ...this.gatewayAccessRules(
                name,
                args,
                gatewaySg.id,
                gatewayFirewall,
                e.primary.securityGroupId,
                e.vpcCidr,
                "crosscloud: SSH through the gateway (jump host)",
            ),
            // The primary's group keeps its own egress rules: a duplicate would be refused by AWS.
            new aws.vpc.SecurityGroupEgressRule(
                `${name}-gateway-egress`,
                { securityGroupId: gatewaySg.id, ipProtocol: "-1", cidrIpv4: "0.0.0.0/0", description: "All outbound" },
                parent,
            ),
        ];
        const keyPair = new aws.ec2.KeyPair(`${name}-admin-key`, { publicKey: args.sshPublicKey, tags: tags("admin-key") }, parent);
        const gatewayHostKey = new tls.PrivateKey(`${name}-gateway-host-key`, { algorithm: "ED25519" }, parent);
        const gateway = this.hostInstance(name, "gateway", keyPair, gatewayHostKey, {
            instanceType: args.gatewayInstanceType,
            subnetId: e.gatewaySubnet.id,
            privateIp: e.gatewayIp,
            vpcSecurityGroupIds: [gatewaySg.id],
            // It forwards packets that are neither from nor to itself.
            sourceDestCheck: false,
        });
        // No dependsOn on an internet gateway here: it is the environment's own, not a resource of this
        // stack, and attached before this program runs (the public subnet must route 0.0.0.0/0 to it).
        const eip = new aws.ec2.Eip(`${name}-gateway-eip`, { domain: "vpc", instance: gateway.id, tags: tags("gateway-eip") }, parent);
        // One route in the existing table (a standalone resource): the Azure range through the gateway.
        // The table's other routes (its own way to the internet) stay as they are.
        const peerRoute = new aws.ec2.Route(
            `${name}-peer-route`,
            {
                routeTableId: e.databaseRouteTableId,
                destinationCidrBlock: args.peerCidr,
                networkInterfaceId: gateway.primaryNetworkInterfaceId,
            },
            parent,
        );
        const gatewaySsh = {
            address: eip.publicIp,
            user: AWS_ADMIN_USER,
            hostPublicKey: gatewayHostKey.publicKeyOpenssh.apply((k) => k.trim()),
        };
        return {
            vpcId: pulumi.output(e.vpcId),
            gatewaySubnetId: pulumi.output(e.gatewaySubnet.id),
            databaseSubnetId: pulumi.output(e.databaseSubnet.id),
            // The gateway subnet's table is the environment's own; the program neither reads nor changes it.
            publicRouteTableId: pulumi.output(""),
            privateRouteTableId: pulumi.output(e.databaseRouteTableId),
            gatewaySecurityGroupId: gatewaySg.id,
            databaseSecurityGroupId: pulumi.output(e.primary.securityGroupId),
            gatewayInstanceId: gateway.id,
            databaseInstanceId: pulumi.output(e.primary.instanceId),
            dataVolumeId: pulumi.output(""),
            gatewayPublicIp: eip.publicIp,
            gateway: {
                site: name,
                ssh: gatewaySsh,
                publicIp: eip.publicIp,
                privateIp: e.gatewayIp,
                siteCidr: e.vpcCidr,
                databaseSubnet: e.databaseSubnet.cidr,
                firewall: gatewayFirewall,
                ready: [gateway, eip, ...siteRules],
            },
            database: {
                site: name,
                ssh: {
                    address: pulumi.output(e.primary.privateIp),
                    user: AWS_ADMIN_USER,
                    // Pinned: the key from crosscloud:sourcePrimaryHostKey, never one learned on first use.
                    hostPublicKey: pulumi.output(e.primary.hostPublicKey),
                    via: gatewaySsh,
                },
                privateIp: e.primary.privateIp,
                // PGDATA stays where the host has it: no program-managed data disk.
                dataDevices: pulumi.output([]),
                firewall: databaseFirewall,
                ready: [peerRoute, ...siteRules],
            },
        };
    }

    /** The newest Ubuntu 24.04 amd64 AMI from Canonical in `region`, or a clear error naming the override. */
    /** SSH to the gateway from the admins, what the gateway forwards from the VPC, SSH on to the database host through it. */
    private gatewayAccessRules(
        name: string,
        args: AwsSiteArgs,
        gatewaySgId: pulumi.Output<string>,
        gatewayFirewall: HostFirewall,
        databaseSgId: pulumi.Input<string>,
        vpcCidr: pulumi.Input<string>,
        databaseSshDescription: string,
    ): pulumi.Resource[] {
        const parent = { parent: this };
        return [
            ...gatewayFirewall.allow(
                { name: `${name}-gateway-ssh`, protocol: "tcp", port: 22, sources: args.adminCidrs, description: "SSH from the admins" },
                this,
            ),
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-gateway-from-vpc`,
                {
                    securityGroupId: gatewaySgId,
                    ipProtocol: "-1",
                    cidrIpv4: vpcCidr,
                    description: "Traffic the gateway forwards: to the tunnel, and NAT to the internet",
                },
                parent,
            ),
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-database-ssh-from-gateway`,
                {
                    securityGroupId: databaseSgId,
                    ipProtocol: "tcp",
                    fromPort: 22,
                    toPort: 22,
                    referencedSecurityGroupId: gatewaySgId,
                    description: databaseSshDescription,
                },
                parent,
            ),
        ];
    }

    /** An Ubuntu host with the program's host key placed at boot, IMDSv2 only, encrypted root. */
    private hostInstance(
        name: string,
        role: "gateway" | "database",
        keyPair: aws.ec2.KeyPair,
        hostKey: tls.PrivateKey,
        extra: Partial<aws.ec2.InstanceArgs>,
    ): aws.ec2.Instance {
        return new aws.ec2.Instance(
            `${name}-${role}`,
            {
                ami: this.amiId,
                keyName: keyPair.keyName,
                associatePublicIpAddress: false,
                userData: pulumi
                    .all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh])
                    .apply(([hostPrivateKey, hostPublicKey]) => renderUserData({ hostPrivateKey, hostPublicKey })),
                userDataReplaceOnChange: false,
                // Boot data holds the host's SSH key: only IMDSv2, and not from inside containers.
                metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
                rootBlockDevice: { volumeType: "gp3", volumeSize: 16, encrypted: true },
                tags: { Name: `${name}-${role}`, "crosscloud:site": name },
                ...extra,
            },
            // A newer Ubuntu image published later must not replace running hosts. User data and the key
            // pair are first-boot data: a change of userData would stop and start the instance (the
            // primary too), a new key pair would replace it; the access steps manage the admin key.
            { parent: this, ignoreChanges: ["ami", "userData", "keyName"] },
        );
    }

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

/** Opens ports in a security group, one ingress rule per source CIDR. */
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
