import * as compute from "@pulumi/azure-native/compute";
import type * as azureInputs from "@pulumi/azure-native/types/input";
import * as network from "@pulumi/azure-native/network";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { renderUserData } from "../scripts/bootstrap";
import { AdminKeys, adminAccessStep } from "./adminAccess";
import { DatabaseHost, GatewayHost, HostFirewall, InboundRule, InboundRuleKind } from "./hosts";
import { SiteLayout, hostCidr, siteLayout } from "./network";
import { checkAdminCidrs, checkSiteCidr, checkVmSize, problems } from "./validation";

/** Canonical's Ubuntu 24.04 LTS image on Azure; `latest` is resolved at creation and never replaces a VM later. */
export const UBUNTU_IMAGE = { publisher: "Canonical", offer: "ubuntu-24_04-lts", sku: "server", version: "latest" };
/** The admin user created on both VMs (SSH key only). */
export const AZURE_ADMIN_USER = "azureuser";
/**
 * The data disk at LUN 0, as the host may name it: the Azure Linux agent's SCSI link, then azure-vm-utils'
 * link, which sizes that attach disks over NVMe (the v6 families) have alone (azure-vm-utils
 * doc/disk-identification.md and udev/80-azure-disk.rules; SCSI sizes with it have both).
 */
export const DATA_DISK_DEVICES = ["/dev/disk/azure/scsi1/lun0", "/dev/disk/azure/data/by-lun/0"];
/** NSG priority of the site's own rules (SSH to the gateway 100, forwarding 110; SSH from the gateway 100). */
export const SITE_RULE_PRIORITY = 100;
/** NSG priority of the explicit deny that ends each NSG. */
export const DENY_RULE_PRIORITY = 4000;

/**
 * The range of the rules other components add through an NSG firewall. They used to be numbered in
 * call order, 200 + 10 per earlier rule of the NSG (200-220 with today's rules), so one rule added early
 * moved every later one, and Azure refuses two rules of one direction with the same priority while such
 * a move is half applied. Now each kind has its own number in 1000-1999, disjoint from every number the
 * old scheme gave (100 and 110 for the site's rules, which stay, 200-990 for added rules of an NSG with
 * fewer than 81 of them, 4000 for the deny), so the one `up` that moves the added rules cannot collide.
 */
export const ADDED_RULE_PRIORITY_RANGE = { first: 1000, last: 1999 } as const;

/**
 * The fixed NSG priority of each kind of added rule: unique across kinds, so unique in any NSG (a host
 * has at most one rule of a kind). A new kind gets a new, unused number here; none is ever renumbered.
 * `admin-ssh` is what the AWS site opens through its firewall; the Azure site writes its own SSH rule.
 */
export const NSG_RULE_PRIORITIES: Readonly<Record<InboundRuleKind, number>> = {
    "admin-ssh": 1000,
    ike: 1100,
    "nat-t": 1110,
    "postgres-from-peer": 1200,
    "archive-from-peer": 1210,
    "postgres-from-clients": 1220,
};

export interface AzureSiteArgs {
    /** Azure region (`azure-native:location`). */
    location: string;
    /** The VNet's range, e.g. `10.20.0.0/16`: cut into a gateway subnet and a database subnet. */
    cidr: string;
    /** The AWS site's range: the database subnet routes it to the gateway. */
    peerCidr: string;
    /** CIDRs allowed to SSH to the gateway. `0.0.0.0/0` is refused. */
    adminCidrs: string[];
    /** OpenSSH public key of the admin user on both VMs. */
    sshPublicKey: string;
    /** The admin private key (secret) the access steps log in with. */
    sshPrivateKey: pulumi.Input<string>;
    /** Only for the `up` that rotates the admin key: the key the VMs still authorize (secret). */
    previousSshPrivateKey?: pulumi.Input<string>;
    /** VM size of the VPN gateway. */
    gatewayVmSize: string;
    /** VM size of the PostgreSQL standby. */
    databaseVmSize: string;
    /** Size of the managed data disk that holds PGDATA, GiB. */
    dataDiskSizeGb: number;
}

/** The site's outputs, the one list the component registers and index.ts exports (as `azureResources` and `azureGatewayPublicIp`). */
export interface AzureSiteOutputs {
    resourceGroupName: pulumi.Output<string>;
    vnetId: pulumi.Output<string>;
    gatewaySubnetId: pulumi.Output<string>;
    databaseSubnetId: pulumi.Output<string>;
    gatewayNsgId: pulumi.Output<string>;
    databaseNsgId: pulumi.Output<string>;
    databaseRouteTableId: pulumi.Output<string>;
    gatewayVmId: pulumi.Output<string>;
    databaseVmId: pulumi.Output<string>;
    dataDiskId: pulumi.Output<string>;
    gatewayPublicIp: pulumi.Output<string>;
}

/**
 * The Azure half: a resource group and VNet with a gateway subnet (static public IP, IP forwarding,
 * NAT for the database subnet) and a database subnet whose only ways out are routes to the gateway.
 * Subnets have no default outbound access, and each NSG ends in an explicit deny, because Azure's
 * default AllowVnetInBound admits every routed prefix, the AWS range included.
 */
export class AzureSite extends pulumi.ComponentResource {
    public readonly layout: SiteLayout;
    /** Ids and addresses, for the stack's outputs. */
    public readonly outputs: AzureSiteOutputs;
    /** The gateway as the tunnel needs it. */
    public readonly gateway: GatewayHost;
    /** The database host as the replica pair needs it. */
    public readonly database: DatabaseHost;

    /**
     * @param name The component's name; every child is named `${name}-...`.
     * @param args The site's region, ranges, hosts and admin access.
     * @param opts Options of the component resource.
     */
    constructor(name: string, args: AzureSiteArgs, opts?: pulumi.ComponentResourceOptions) {
        super("crosscloud:azure:AzureSite", name, {}, opts);
        const found = problems(
            checkSiteCidr("crosscloud:azureCidr", args.cidr),
            checkAdminCidrs(args.adminCidrs),
            checkVmSize("azureGatewaySize", args.gatewayVmSize),
            checkVmSize("azureDbSize", args.databaseVmSize),
        );
        if (found.length > 0) {
            throw new pulumi.ResourceError(found.join("\n"), this);
        }
        const layout = (this.layout = siteLayout(args.cidr));
        const parent = { parent: this };
        const tags = { "crosscloud-site": name };

        const rg = new resources.ResourceGroup(`${name}-rg`, { location: args.location, tags }, parent);
        const inRg = { resourceGroupName: rg.name, location: args.location, tags };
        const vnet = new network.VirtualNetwork(`${name}-vnet`, { ...inRg, addressSpace: { addressPrefixes: [args.cidr] } }, parent);

        const gatewayNsg = new network.NetworkSecurityGroup(`${name}-gateway-nsg`, inRg, parent);
        const databaseNsg = new network.NetworkSecurityGroup(`${name}-database-nsg`, inRg, parent);
        const gatewayFirewall = new NsgFirewall(rg.name, gatewayNsg, layout.gatewayIp);
        const databaseFirewall = new NsgFirewall(rg.name, databaseNsg, layout.databaseIp);
        const rule = (ruleName: string, nsg: network.NetworkSecurityGroup, props: Partial<network.SecurityRuleArgs>) =>
            new network.SecurityRule(
                ruleName,
                {
                    resourceGroupName: rg.name,
                    networkSecurityGroupName: nsg.name,
                    direction: "Inbound",
                    sourcePortRange: "*",
                    destinationAddressPrefix: "*",
                    ...props,
                } as network.SecurityRuleArgs,
                parent,
            );
        const siteRules = [
            rule(`${name}-gateway-ssh`, gatewayNsg, {
                priority: SITE_RULE_PRIORITY,
                access: "Allow",
                protocol: "Tcp",
                sourceAddressPrefixes: args.adminCidrs,
                destinationPortRange: "22",
                description: "SSH from the admins",
            }),
            rule(`${name}-gateway-from-vnet`, gatewayNsg, {
                priority: SITE_RULE_PRIORITY + 10,
                access: "Allow",
                protocol: "*",
                sourceAddressPrefix: args.cidr,
                destinationPortRange: "*",
                description: "Traffic the gateway forwards: to the tunnel, and NAT to the internet",
            }),
            rule(`${name}-database-ssh-from-gateway`, databaseNsg, {
                priority: SITE_RULE_PRIORITY,
                access: "Allow",
                protocol: "Tcp",
                sourceAddressPrefix: hostCidr(layout.gatewayIp),
                destinationPortRange: "22",
                description: "SSH through the gateway (jump host)",
            }),
            ...[gatewayNsg, databaseNsg].map((nsg, i) =>
                rule(`${name}-${i === 0 ? "gateway" : "database"}-deny-inbound`, nsg, {
                    priority: DENY_RULE_PRIORITY,
                    access: "Deny",
                    protocol: "*",
                    sourceAddressPrefix: "*",
                    destinationPortRange: "*",
                    description: "Deny the rest, before Azure's AllowVnetInBound admits the AWS range",
                }),
            ),
        ];

        // The database subnet's only ways out: Azure through the tunnel and the internet through NAT,
        // both via the gateway.
        const databaseRoutes = new network.RouteTable(
            `${name}-database-routes`,
            {
                ...inRg,
                disableBgpRoutePropagation: true,
                routes: [
                    {
                        name: "peer-site-via-gateway",
                        addressPrefix: args.peerCidr,
                        nextHopType: "VirtualAppliance",
                        nextHopIpAddress: layout.gatewayIp,
                    },
                    {
                        name: "internet-via-gateway",
                        addressPrefix: "0.0.0.0/0",
                        nextHopType: "VirtualAppliance",
                        nextHopIpAddress: layout.gatewayIp,
                    },
                ],
            },
            parent,
        );
        const gatewaySubnet = new network.Subnet(
            `${name}-gateway-subnet`,
            {
                resourceGroupName: rg.name,
                virtualNetworkName: vnet.name,
                addressPrefix: layout.gatewaySubnet,
                defaultOutboundAccess: false,
                networkSecurityGroup: { id: gatewayNsg.id },
            },
            parent,
        );
        // Azure rejects concurrent changes to subnets of one VNet: one after the other.
        const databaseSubnet = new network.Subnet(
            `${name}-database-subnet`,
            {
                resourceGroupName: rg.name,
                virtualNetworkName: vnet.name,
                addressPrefix: layout.databaseSubnet,
                defaultOutboundAccess: false,
                networkSecurityGroup: { id: databaseNsg.id },
                routeTable: { id: databaseRoutes.id },
            },
            { parent: this, dependsOn: [gatewaySubnet] },
        );

        const publicIp = new network.PublicIPAddress(
            `${name}-gateway-ip`,
            { ...inRg, sku: { name: "Standard" }, publicIPAllocationMethod: "Static", publicIPAddressVersion: "IPv4" },
            parent,
        );
        const gatewayNic = new network.NetworkInterface(
            `${name}-gateway-nic`,
            {
                ...inRg,
                // It forwards packets that are neither from nor to itself.
                enableIPForwarding: true,
                ipConfigurations: [
                    {
                        name: "primary",
                        subnet: { id: gatewaySubnet.id },
                        privateIPAllocationMethod: "Static",
                        privateIPAddress: layout.gatewayIp,
                        publicIPAddress: { id: publicIp.id },
                    },
                ],
            },
            parent,
        );
        const databaseNic = new network.NetworkInterface(
            `${name}-database-nic`,
            {
                ...inRg,
                ipConfigurations: [
                    {
                        name: "primary",
                        subnet: { id: databaseSubnet.id },
                        privateIPAllocationMethod: "Static",
                        privateIPAddress: layout.databaseIp,
                    },
                ],
            },
            parent,
        );
        const dataDisk = new compute.Disk(
            `${name}-pgdata`,
            { ...inRg, creationData: { createOption: "Empty" }, diskSizeGB: args.dataDiskSizeGb, sku: { name: "StandardSSD_LRS" } },
            // PGDATA: no `up` or `destroy` may delete it by accident.
            { parent: this, protect: true, retainOnDelete: true },
        );

        const gatewayHostKey = new tls.PrivateKey(`${name}-gateway-host-key`, { algorithm: "ED25519" }, parent);
        const databaseHostKey = new tls.PrivateKey(`${name}-database-host-key`, { algorithm: "ED25519" }, parent);
        const vm = (
            role: "gateway" | "database",
            nic: network.NetworkInterface,
            size: string,
            hostKey: tls.PrivateKey,
            dataDisks: azureInputs.compute.DataDiskArgs[],
        ) =>
            new compute.VirtualMachine(
                `${name}-${role}`,
                {
                    ...inRg,
                    hardwareProfile: { vmSize: size },
                    networkProfile: { networkInterfaces: [{ id: nic.id, primary: true }] },
                    osProfile: {
                        computerName: `${name}-${role}`,
                        adminUsername: AZURE_ADMIN_USER,
                        customData: pulumi
                            .all([hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh])
                            .apply(([hostPrivateKey, hostPublicKey]) =>
                                Buffer.from(renderUserData({ hostPrivateKey, hostPublicKey })).toString("base64"),
                            ),
                        linuxConfiguration: {
                            disablePasswordAuthentication: true,
                            ssh: { publicKeys: [{ path: `/home/${AZURE_ADMIN_USER}/.ssh/authorized_keys`, keyData: args.sshPublicKey }] },
                        },
                    },
                    storageProfile: {
                        imageReference: UBUNTU_IMAGE,
                        osDisk: {
                            createOption: "FromImage",
                            managedDisk: { storageAccountType: "StandardSSD_LRS" },
                            deleteOption: "Delete",
                        },
                        dataDisks,
                    },
                },
                {
                    parent: this,
                    dependsOn: role === "database" ? [dataDisk] : [],
                    // osProfile (admin key, custom data) is first-boot data that Azure refuses to change on
                    // an existing VM (PropertyChangeNotAllowed); the access steps manage the admin key.
                    ignoreChanges: ["osProfile"],
                },
            );
        const gatewayVm = vm("gateway", gatewayNic, args.gatewayVmSize, gatewayHostKey, []);
        const databaseVm = vm("database", databaseNic, args.databaseVmSize, databaseHostKey, [
            { lun: 0, createOption: "Attach", managedDisk: { id: dataDisk.id }, deleteOption: "Detach" },
        ]);

        const gatewaySsh = {
            address: publicIp.ipAddress.apply((ip) => ip ?? ""),
            user: AZURE_ADMIN_USER,
            hostPublicKey: gatewayHostKey.publicKeyOpenssh.apply((k) => k.trim()),
        };
        const gatewayHost: GatewayHost = {
            site: name,
            ssh: gatewaySsh,
            publicIp: gatewaySsh.address,
            privateIp: layout.gatewayIp,
            siteCidr: args.cidr,
            databaseSubnet: layout.databaseSubnet,
            firewall: gatewayFirewall,
            ready: [gatewayVm, ...siteRules],
        };
        const databaseHost: DatabaseHost = {
            site: name,
            ssh: {
                address: pulumi.output(layout.databaseIp),
                user: AZURE_ADMIN_USER,
                hostPublicKey: databaseHostKey.publicKeyOpenssh.apply((k) => k.trim()),
                via: gatewaySsh,
            },
            privateIp: layout.databaseIp,
            dataDevices: pulumi.output(DATA_DISK_DEVICES),
            firewall: databaseFirewall,
            ready: [databaseVm, databaseRoutes, ...siteRules],
        };
        // After the first boot the admin key is the access steps' business (osProfile is ignored).
        const keys: AdminKeys = {
            publicKey: args.sshPublicKey,
            privateKey: args.sshPrivateKey,
            previousPrivateKey: args.previousSshPrivateKey,
        };
        const gatewayAccess = adminAccessStep(`${name}-gateway`, gatewayHost, keys, this);
        const databaseAccess = adminAccessStep(`${name}-database`, databaseHost, keys, this, gatewayAccess);
        this.gateway = { ...gatewayHost, ready: [...gatewayHost.ready, gatewayAccess] };
        this.database = { ...databaseHost, ready: [...databaseHost.ready, databaseAccess] };

        this.outputs = {
            resourceGroupName: rg.name,
            vnetId: vnet.id,
            gatewaySubnetId: gatewaySubnet.id,
            databaseSubnetId: databaseSubnet.id,
            gatewayNsgId: gatewayNsg.id,
            databaseNsgId: databaseNsg.id,
            databaseRouteTableId: databaseRoutes.id,
            gatewayVmId: gatewayVm.id,
            databaseVmId: databaseVm.id,
            dataDiskId: dataDisk.id,
            gatewayPublicIp: gatewaySsh.address,
        };
        this.registerOutputs(this.outputs);
    }
}

/** Opens ports in an NSG, one rule per call, each at its kind's fixed priority (NSG_RULE_PRIORITIES). */
export class NsgFirewall implements HostFirewall {
    /** The rules this firewall made, by priority: a second rule of a kind would collide with the first. */
    private readonly byPriority = new Map<number, string>();

    /**
     * @param resourceGroupName The NSG's resource group.
     * @param nsg The NSG the rules go into.
     * @param hostIp The address of the host behind it: every rule's destination.
     */
    constructor(
        private readonly resourceGroupName: pulumi.Input<string>,
        private readonly nsg: network.NetworkSecurityGroup,
        private readonly hostIp: string,
    ) {}

    /**
     * @param rule What to admit; its kind gives the priority.
     * @param parent The component that asks, the rule's parent.
     */
    allow(rule: InboundRule, parent: pulumi.Resource): pulumi.CustomResource[] {
        const priority = NSG_RULE_PRIORITIES[rule.kind];
        const taken = this.byPriority.get(priority);
        if (taken !== undefined) {
            throw new pulumi.ResourceError(
                `${rule.name} and ${taken} are both "${rule.kind}" rules in front of ${this.hostIp}: an NSG takes one rule per priority and direction, and each kind has one fixed priority.`,
                parent,
            );
        }
        this.byPriority.set(priority, rule.name);
        return [
            new network.SecurityRule(
                rule.name,
                {
                    resourceGroupName: this.resourceGroupName,
                    networkSecurityGroupName: this.nsg.name,
                    priority,
                    direction: "Inbound",
                    access: "Allow",
                    protocol: rule.protocol === "tcp" ? "Tcp" : "Udp",
                    sourceAddressPrefixes: rule.sources,
                    sourcePortRange: "*",
                    destinationAddressPrefix: hostCidr(this.hostIp),
                    destinationPortRange: String(rule.port),
                    description: rule.description,
                },
                { parent },
            ),
        ];
    }
}
