import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderUserData } from "../scripts/bootstrap";
import { DatabaseHost, GatewayHost, HostFirewall, InboundRule } from "./hosts";
import { SiteLayout, siteLayout } from "./network";
import { checkAdminCidrs, checkAmiOverrides, checkInstanceType, checkSiteCidr, problems } from "./validation";

/** Canonical's AWS account, the publisher of the official Ubuntu AMIs. */
export const CANONICAL_OWNER_ID = "099720109477";
/** Ubuntu 24.04 LTS, amd64, EBS gp3 root: the image family both hosts run. */
export const UBUNTU_AMI_NAME = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*";
/** The login user of Ubuntu AMIs. */
export const AWS_ADMIN_USER = "ubuntu";
/** The device name the PGDATA volume is attached as; Nitro instances show it as an NVMe disk. */
export const DATA_VOLUME_DEVICE_NAME = "/dev/sdf";

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
    /** EC2 instance type of the VPN gateway. */
    gatewayInstanceType: string;
    /** EC2 instance type of the PostgreSQL primary. */
    databaseInstanceType: string;
    /** AMI to use instead of the lookup (from `crosscloud:amiOverrides` for this region). */
    amiOverride?: string;
    /** Size of the encrypted gp3 volume that holds PGDATA and the WAL archive, GiB. */
    dataDiskSizeGb: number;
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
        if (found.length > 0) {
            throw new pulumi.ResourceError(found.join("\n"), this);
        }
        const layout = (this.layout = siteLayout(args.cidr));
        const parent = { parent: this };
        const tags = (role: string) => ({ Name: `${name}-${role}`, "crosscloud:site": name });

        const zone = aws.getAvailabilityZonesOutput({ state: "available" }, parent).names[0];
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
        const gatewayFirewall = securityGroupFirewall(gatewaySg);
        const databaseFirewall = securityGroupFirewall(databaseSg);
        const siteRules = [
            ...gatewayFirewall.allow(
                { name: `${name}-gateway-ssh`, protocol: "tcp", port: 22, sources: args.adminCidrs, description: "SSH from the admins" },
                this,
            ),
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-gateway-from-vpc`,
                {
                    securityGroupId: gatewaySg.id,
                    ipProtocol: "-1",
                    cidrIpv4: args.cidr,
                    description: "Traffic the gateway forwards: to the tunnel, and NAT to the internet",
                },
                parent,
            ),
            new aws.vpc.SecurityGroupIngressRule(
                `${name}-database-ssh-from-gateway`,
                {
                    securityGroupId: databaseSg.id,
                    ipProtocol: "tcp",
                    fromPort: 22,
                    toPort: 22,
                    referencedSecurityGroupId: gatewaySg.id,
                    description: "SSH through the gateway (jump host)",
                },
                parent,
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
        this.amiId = args.amiOverride ? pulumi.output(args.amiOverride) : this.lookupUbuntuAmi(args.region);

        const gatewayHostKey = new tls.PrivateKey(`${name}-gateway-host-key`, { algorithm: "ED25519" }, parent);
        const databaseHostKey = new tls.PrivateKey(`${name}-database-host-key`, { algorithm: "ED25519" }, parent);
        const instance = (role: "gateway" | "database", extra: Partial<aws.ec2.InstanceArgs>, hostKey: tls.PrivateKey) =>
            new aws.ec2.Instance(
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
                    tags: tags(role),
                    ...extra,
                },
                // A newer Ubuntu image published later must not replace running hosts.
                { parent: this, ignoreChanges: ["ami"] },
            );
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
        const eip = new aws.ec2.Eip(`${name}-gateway-eip`, { domain: "vpc", instance: gateway.id, tags: tags("gateway-eip") }, parent);

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
        this.gateway = {
            site: name,
            ssh: gatewaySsh,
            publicIp: eip.publicIp,
            privateIp: layout.gatewayIp,
            siteCidr: args.cidr,
            databaseSubnet: layout.databaseSubnet,
            firewall: gatewayFirewall,
            ready: [gateway, eip, publicRoutes, ...routeAssociations, ...siteRules],
        };
        this.database = {
            site: name,
            ssh: {
                address: database.privateIp,
                user: AWS_ADMIN_USER,
                hostPublicKey: databaseHostKey.publicKeyOpenssh.apply((k) => k.trim()),
                via: gatewaySsh,
            },
            privateIp: layout.databaseIp,
            // Nitro instances expose EBS volumes as NVMe disks whose serial is the volume id.
            dataDevice: dataVolume.id.apply((id) => `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${id.replace("-", "")}`),
            firewall: databaseFirewall,
            ready: [database, attachment, privateRoutes, ...routeAssociations, ...siteRules],
        };

        this.vpcId = vpc.id;
        this.gatewaySubnetId = gatewaySubnet.id;
        this.databaseSubnetId = databaseSubnet.id;
        this.publicRouteTableId = publicRoutes.id;
        this.privateRouteTableId = privateRoutes.id;
        this.gatewaySecurityGroupId = gatewaySg.id;
        this.databaseSecurityGroupId = databaseSg.id;
        this.gatewayInstanceId = gateway.id;
        this.databaseInstanceId = database.id;
        this.dataVolumeId = dataVolume.id;
        this.gatewayPublicIp = eip.publicIp;
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

    /** The newest Ubuntu 24.04 amd64 AMI from Canonical in `region`, or a clear error naming the override. */
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
function securityGroupFirewall(sg: aws.ec2.SecurityGroup): HostFirewall {
    return {
        allow: (rule: InboundRule, parent: pulumi.Resource) =>
            rule.sources.map(
                (source, i) =>
                    new aws.vpc.SecurityGroupIngressRule(
                        `${rule.name}-${i}`,
                        {
                            securityGroupId: sg.id,
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
