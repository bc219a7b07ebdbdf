// The real index.ts under Pulumi mocks: the exact graph, rules, routes, secrets and rendered files.
import * as assert from "assert";
import * as YAML from "yaml";
import { execFileSync } from "child_process";
import { generateKeyPairSync } from "crypto";
import { utils as sshUtils } from "ssh2";
import { promoteScript } from "../scripts/postgresSteps";
import { renderHostScript } from "../scripts/render";
import { SshHostOutput, connectionFor } from "../scripts/ssh";
import { DEFAULT_CLOUD, cloudCalls, cloudResources, mockKeyPair } from "../mockcloud/cloudMocks";
import { assertGolden, countsByType, filesInScript, named, ofType } from "./inspect";
import { ProgramRun, runProgram } from "../mockcloud/programRunner";
import { ADMIN_KEY, DEV_STACK, SECOND_STACK, SECRET_KEYS, GENERATED_KEYS } from "./stacks";

function run(config: Record<string, unknown>, cloud = DEFAULT_CLOUD): Promise<ProgramRun> {
    return runProgram({ config, secretKeys: SECRET_KEYS, newResource: cloudResources(GENERATED_KEYS, cloud), call: cloudCalls(cloud) });
}

/** Security group ingress rules as [name, group, protocol, ports, source]. */
function ingressRules(r: ProgramRun): string[][] {
    const groupName = new Map(ofType(r, "aws:ec2/securityGroup:SecurityGroup").map((g) => [g.id, g.name]));
    return ofType(r, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        .map((rule) => [
            rule.name,
            groupName.get(rule.inputs.securityGroupId)!,
            rule.inputs.ipProtocol,
            rule.inputs.fromPort === undefined ? "all" : `${rule.inputs.fromPort}-${rule.inputs.toPort}`,
            rule.inputs.cidrIpv4 ?? `sg:${groupName.get(rule.inputs.referencedSecurityGroupId)}`,
        ])
        .sort((a, b) => a[0].localeCompare(b[0]));
}

/** NSG rules as [name, nsg, priority, access, protocol, sources, destination, port]. */
function nsgRules(r: ProgramRun): string[][] {
    return ofType(r, "azure-native:network:SecurityRule")
        .map((rule) => [
            rule.name,
            rule.inputs.networkSecurityGroupName,
            String(rule.inputs.priority),
            rule.inputs.access,
            rule.inputs.protocol,
            (rule.inputs.sourceAddressPrefixes ?? [rule.inputs.sourceAddressPrefix]).join(","),
            rule.inputs.destinationAddressPrefix,
            rule.inputs.destinationPortRange,
        ])
        .sort((a, b) => a[0].localeCompare(b[0]));
}

describe("the program on the dev stack (eu-west-1 / westeurope, default ranges)", function () {
    let r: ProgramRun;
    before(async function () {
        r = await run(DEV_STACK);
    });

    it("creates exactly these resources", function () {
        assert.deepStrictEqual(countsByType(r), {
            "aws:ebs/volume:Volume": 1,
            "aws:ec2/eip:Eip": 1,
            "aws:ec2/instance:Instance": 2,
            "aws:ec2/internetGateway:InternetGateway": 1,
            "aws:ec2/keyPair:KeyPair": 1,
            "aws:ec2/routeTable:RouteTable": 2,
            "aws:ec2/routeTableAssociation:RouteTableAssociation": 2,
            "aws:ec2/securityGroup:SecurityGroup": 2,
            "aws:ec2/subnet:Subnet": 2,
            "aws:ec2/volumeAttachment:VolumeAttachment": 1,
            "aws:ec2/vpc:Vpc": 1,
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 2,
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
            "tls:index/privateKey:PrivateKey": 5,
        });
    });

    it("parents every resource to its component, named after it", function () {
        for (const reg of r.registrations) {
            if (reg.type.startsWith("crosscloud:")) {
                assert.strictEqual(reg.options.parent, undefined, reg.name);
                continue;
            }
            assert.ok(reg.options.parent, `${reg.name} has no parent`);
            assert.ok(reg.name.startsWith(`${reg.options.parent}-`), `${reg.name} is not named after its parent ${reg.options.parent}`);
        }
    });

    it("cuts the ranges into gateway and database subnets", function () {
        assert.deepStrictEqual(
            ofType(r, "aws:ec2/subnet:Subnet").map((s) => [s.name, s.inputs.cidrBlock, s.inputs.availabilityZone]),
            [
                ["aws-gateway-subnet", "10.10.0.0/24", "mock-1a"],
                ["aws-database-subnet", "10.10.1.0/24", "mock-1a"],
            ],
        );
        assert.deepStrictEqual(
            ofType(r, "azure-native:network:Subnet").map((s) => [s.name, s.inputs.addressPrefix, s.inputs.defaultOutboundAccess]),
            [
                ["azure-gateway-subnet", "10.20.0.0/24", false],
                ["azure-database-subnet", "10.20.1.0/24", false],
            ],
        );
        assert.deepStrictEqual(named(r, "azure-database-subnet").options.dependsOn, ["azure-gateway-subnet"]);
    });

    it("builds in a regular Availability Zone, never an opted-in Local Zone whose name sorts first (EC2 DescribeAvailabilityZones filter zone-type)", function () {
        assert.deepStrictEqual(
            r.invocations.filter((i) => i.token === "aws:index/getAvailabilityZones:getAvailabilityZones").map((i) => i.inputs),
            [{ state: "available", filters: [{ name: "zone-type", values: ["availability-zone"] }] }],
        );
        assert.deepStrictEqual(
            [named(r, "aws-gateway-subnet"), named(r, "aws-database-subnet"), named(r, "aws-pgdata")].map((x) => x.inputs.availabilityZone),
            ["mock-1a", "mock-1a", "mock-1a"],
        );
    });

    it("opens exactly these security group rules", function () {
        assert.deepStrictEqual(ingressRules(r), [
            ["aws-database-ssh-from-gateway", "aws-database-sg", "tcp", "22-22", "sg:aws-gateway-sg"],
            ["aws-gateway-from-vpc", "aws-gateway-sg", "-1", "all", "10.10.0.0/16"],
            ["aws-gateway-ssh-0", "aws-gateway-sg", "tcp", "22-22", "203.0.113.7/32"],
            ["postgres-aws-archive-from-azure-0", "aws-database-sg", "tcp", "22-22", "10.20.1.10/32"],
            ["postgres-aws-postgres-from-azure-0", "aws-database-sg", "tcp", "5432-5432", "10.20.1.10/32"],
            ["tunnel-aws-ike-0", "aws-gateway-sg", "udp", "500-500", "203.0.113.10/32"],
            ["tunnel-aws-nat-t-0", "aws-gateway-sg", "udp", "4500-4500", "203.0.113.10/32"],
        ]);
        assert.deepStrictEqual(
            ofType(r, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule").map((e) => [
                e.name,
                e.inputs.ipProtocol,
                e.inputs.cidrIpv4,
            ]),
            [
                ["aws-gateway-egress", "-1", "0.0.0.0/0"],
                ["aws-database-egress", "-1", "0.0.0.0/0"],
            ],
        );
    });

    it("opens exactly these NSG rules, and ends each NSG with an explicit deny", function () {
        assert.deepStrictEqual(nsgRules(r), [
            ["azure-database-deny-inbound", "azure-database-nsg", "4000", "Deny", "*", "*", "*", "*"],
            ["azure-database-ssh-from-gateway", "azure-database-nsg", "100", "Allow", "Tcp", "10.20.0.10/32", "*", "22"],
            ["azure-gateway-deny-inbound", "azure-gateway-nsg", "4000", "Deny", "*", "*", "*", "*"],
            ["azure-gateway-from-vnet", "azure-gateway-nsg", "110", "Allow", "*", "10.20.0.0/16", "*", "*"],
            ["azure-gateway-ssh", "azure-gateway-nsg", "100", "Allow", "Tcp", "203.0.113.7/32", "*", "22"],
            ["postgres-azure-archive-from-aws", "azure-database-nsg", "1210", "Allow", "Tcp", "10.10.1.10/32", "10.20.1.10/32", "22"],
            ["postgres-azure-postgres-from-aws", "azure-database-nsg", "1200", "Allow", "Tcp", "10.10.1.10/32", "10.20.1.10/32", "5432"],
            ["tunnel-azure-ike", "azure-gateway-nsg", "1100", "Allow", "Udp", "198.51.100.10/32", "10.20.0.10/32", "500"],
            ["tunnel-azure-nat-t", "azure-gateway-nsg", "1110", "Allow", "Udp", "198.51.100.10/32", "10.20.0.10/32", "4500"],
        ]);
    });

    it("routes the peer range and the internet through the gateways", function () {
        const eni = named(r, "aws-gateway").state.primaryNetworkInterfaceId;
        assert.deepStrictEqual(named(r, "aws-private-routes").inputs.routes, [
            { cidrBlock: "10.20.0.0/16", networkInterfaceId: eni },
            { cidrBlock: "0.0.0.0/0", networkInterfaceId: eni },
        ]);
        assert.deepStrictEqual(named(r, "aws-public-routes").inputs.routes, [
            { cidrBlock: "0.0.0.0/0", gatewayId: named(r, "aws-igw").id },
        ]);
        assert.deepStrictEqual(
            ofType(r, "aws:ec2/routeTableAssociation:RouteTableAssociation").map((a) => [a.name, a.inputs.subnetId, a.inputs.routeTableId]),
            [
                ["aws-gateway-subnet-routes", named(r, "aws-gateway-subnet").id, named(r, "aws-public-routes").id],
                ["aws-database-subnet-routes", named(r, "aws-database-subnet").id, named(r, "aws-private-routes").id],
            ],
        );
        assert.deepStrictEqual(named(r, "azure-database-routes").inputs.routes, [
            {
                name: "peer-site-via-gateway",
                addressPrefix: "10.10.0.0/16",
                nextHopType: "VirtualAppliance",
                nextHopIpAddress: "10.20.0.10",
            },
            { name: "internet-via-gateway", addressPrefix: "0.0.0.0/0", nextHopType: "VirtualAppliance", nextHopIpAddress: "10.20.0.10" },
        ]);
        assert.deepStrictEqual(named(r, "azure-database-subnet").inputs.routeTable, { id: named(r, "azure-database-routes").id });
        assert.strictEqual(named(r, "azure-gateway-subnet").inputs.routeTable, undefined);
    });

    it("lets the gateways forward and pins every address", function () {
        const gw = named(r, "aws-gateway").inputs;
        const db = named(r, "aws-database").inputs;
        assert.deepStrictEqual([gw.sourceDestCheck, gw.privateIp, gw.associatePublicIpAddress], [false, "10.10.0.10", false]);
        assert.deepStrictEqual([db.sourceDestCheck, db.privateIp, db.associatePublicIpAddress], [undefined, "10.10.1.10", false]);
        assert.strictEqual(named(r, "aws-gateway-eip").inputs.instance, named(r, "aws-gateway").id);
        const nic = named(r, "azure-gateway-nic").inputs;
        assert.strictEqual(nic.enableIPForwarding, true);
        assert.deepStrictEqual(nic.ipConfigurations[0].privateIPAddress, "10.20.0.10");
        assert.deepStrictEqual(nic.ipConfigurations[0].publicIPAddress, { id: named(r, "azure-gateway-ip").id });
        const dbNic = named(r, "azure-database-nic").inputs;
        assert.strictEqual(dbNic.enableIPForwarding, undefined);
        assert.deepStrictEqual(dbNic.ipConfigurations[0].publicIPAddress, undefined);
        assert.deepStrictEqual(named(r, "azure-gateway-ip").inputs.sku, { name: "Standard" });
        assert.strictEqual(named(r, "azure-gateway-ip").inputs.publicIPAllocationMethod, "Static");
    });

    it("associates the gateway's Elastic IP only after the internet gateway (pulumi-aws Eip docs: EIP may require IGW to exist prior to association)", function () {
        assert.strictEqual(named(r, "aws-gateway-eip").inputs.instance, named(r, "aws-gateway").id);
        assert.deepStrictEqual(named(r, "aws-gateway-eip").options.dependsOn, ["aws-igw"]);
    });

    it("boots Ubuntu 24.04 with SSH keys only, IMDSv2, encrypted disks", function () {
        for (const name of ["aws-gateway", "aws-database"]) {
            const i = named(r, name);
            assert.strictEqual(i.inputs.ami, DEFAULT_CLOUD.amiLookupResult);
            assert.deepStrictEqual(i.inputs.metadataOptions, {
                httpEndpoint: "enabled",
                httpTokens: "required",
                httpPutResponseHopLimit: 1,
            });
            assert.deepStrictEqual(i.inputs.rootBlockDevice, { volumeType: "gp3", volumeSize: 16, encrypted: true });
            // A newer AMI must not replace the host; first-boot data must neither stop (userData) nor replace it (keyName).
            assert.deepStrictEqual(i.options.ignoreChanges, ["ami", "userData", "keyName"]);
            assert.strictEqual(i.inputs.userDataReplaceOnChange, false);
            assert.strictEqual(i.inputs.keyName, "aws-admin-key");
        }
        assert.strictEqual(named(r, "aws-admin-key").inputs.publicKey, ADMIN_KEY.public.trim());
        for (const name of ["azure-gateway", "azure-database"]) {
            const vm = named(r, name).inputs;
            assert.deepStrictEqual(vm.storageProfile.imageReference, {
                publisher: "Canonical",
                offer: "ubuntu-24_04-lts",
                sku: "server",
                version: "latest",
            });
            assert.strictEqual(vm.osProfile.linuxConfiguration.disablePasswordAuthentication, true);
            assert.deepStrictEqual(vm.osProfile.linuxConfiguration.ssh.publicKeys, [
                { path: "/home/azureuser/.ssh/authorized_keys", keyData: ADMIN_KEY.public.trim() },
            ]);
            // Azure refuses osProfile changes on an existing VM (PropertyChangeNotAllowed).
            assert.deepStrictEqual(named(r, name).options.ignoreChanges, ["osProfile"]);
        }
        assert.deepStrictEqual(named(r, "azure-database").inputs.storageProfile.dataDisks, [
            { lun: 0, createOption: "Attach", managedDisk: { id: named(r, "azure-pgdata").id }, deleteOption: "Detach" },
        ]);
    });

    it("looks the AMI up from Canonical: Ubuntu 24.04 amd64, most recent", function () {
        const lookups = r.invocations.filter((i) => i.token === "aws:ec2/getAmi:getAmi");
        assert.deepStrictEqual(
            lookups.map((l) => l.inputs),
            [
                {
                    owners: ["099720109477"],
                    mostRecent: true,
                    filters: [
                        { name: "name", values: ["ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"] },
                        { name: "architecture", values: ["x86_64"] },
                        { name: "virtualization-type", values: ["hvm"] },
                        { name: "root-device-type", values: ["ebs"] },
                    ],
                },
            ],
        );
    });

    it("protects the PGDATA volume and disk from any up or destroy", function () {
        for (const name of ["aws-pgdata", "azure-pgdata"]) {
            assert.deepStrictEqual([named(r, name).options.protect, named(r, name).options.retainOnDelete], [true, true], name);
        }
        assert.deepStrictEqual(
            [named(r, "aws-pgdata").inputs.encrypted, named(r, "aws-pgdata").inputs.type, named(r, "aws-pgdata").inputs.size],
            [true, "gp3", 64],
        );
        assert.strictEqual(named(r, "aws-pgdata").inputs.availabilityZone, "mock-1a");
        assert.deepStrictEqual(named(r, "azure-pgdata").inputs.diskSizeGB, 64);
    });

    it("hands each database host the candidate paths of its data disk, for every disk interface its size may have", function () {
        const dataDevices = (step: string) => /^readonly DATA_DEVICES='([^']*)'$/m.exec(named(r, step).inputs.stdin)?.[1];
        // EBS: NVMe named after the volume id on Nitro types (EBS docs, "Map Amazon EBS volumes to NVMe device
        // names"); on Xen types the kernel renames /dev/sdf to /dev/xvdf (EC2 docs, "Device names on Linux instances").
        const volume = named(r, "aws-pgdata").id.replace("-", "");
        assert.strictEqual(
            dataDevices("postgres-aws-node"),
            `/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${volume} /dev/xvdf /dev/sdf`,
        );
        assert.strictEqual(named(r, "aws-pgdata-attachment").inputs.deviceName, "/dev/sdf");
        // Azure LUN 0: the SCSI link, then azure-vm-utils' link, which NVMe sizes (v6) have alone
        // (azure-vm-utils doc/disk-identification.md, udev/80-azure-disk.rules).
        assert.strictEqual(dataDevices("postgres-azure-node"), "/dev/disk/azure/scsi1/lun0 /dev/disk/azure/data/by-lun/0");
    });

    it("reaches each database host through its gateway, pinning both host keys", function () {
        const conn = named(r, "postgres-azure-node").inputs.connection;
        const hostKey = (name: string) => named(r, name).state.publicKeyOpenssh.trim();
        assert.deepStrictEqual(
            { ...conn, privateKey: "<admin key>", proxy: { ...conn.proxy, privateKey: "<admin key>" } },
            {
                host: "10.20.1.10",
                port: 22,
                user: "azureuser",
                privateKey: "<admin key>",
                hostKey: hostKey("azure-database-host-key"),
                dialErrorLimit: 60,
                perDialTimeout: 30,
                proxy: {
                    host: "203.0.113.10",
                    port: 22,
                    user: "azureuser",
                    privateKey: "<admin key>",
                    hostKey: hostKey("azure-gateway-host-key"),
                    dialErrorLimit: 60,
                    perDialTimeout: 30,
                },
            },
        );
        assert.strictEqual(conn.privateKey, ADMIN_KEY.private);
        const gwConn = named(r, "tunnel-aws-gateway").inputs.connection;
        assert.deepStrictEqual(
            [gwConn.host, gwConn.user, gwConn.hostKey, gwConn.proxy],
            ["198.51.100.10", "ubuntu", hostKey("aws-gateway-host-key"), undefined],
        );
    });

    it("orders the host steps: gateways, checks, primary's host, fence, primary role, standby, replication check", function () {
        const deps = (name: string) => named(r, name).options.dependsOn.filter((d) => d.startsWith("tunnel-") || d.startsWith("postgres-"));
        assert.deepStrictEqual(deps("tunnel-aws-check"), ["tunnel-aws-gateway", "tunnel-azure-gateway"]);
        assert.deepStrictEqual(deps("tunnel-azure-check"), ["tunnel-aws-gateway", "tunnel-azure-gateway"]);
        assert.ok(deps("postgres-aws-node").includes("tunnel-aws-gateway"), "the primary installs packages through its gateway's NAT");
        assert.ok(named(r, "postgres-aws-node").options.dependsOn.includes("aws-pgdata-attachment"));
        assert.deepStrictEqual(
            deps("postgres-fence").filter((d) => !d.includes("-from-")),
            ["postgres-aws-node", "tunnel-aws-check", "tunnel-azure-check"],
        );
        assert.deepStrictEqual(deps("postgres-primary"), ["postgres-fence"]);
        assert.deepStrictEqual(
            deps("postgres-azure-node").filter((d) => !d.includes("-from-")),
            ["postgres-primary", "tunnel-aws-check", "tunnel-azure-check"],
        );
        assert.deepStrictEqual(deps("postgres-check"), ["postgres-azure-node"]);
    });

    it("sends every step as a script on stdin, with a content hash as trigger", function () {
        for (const cmd of ofType(r, "command:remote:Command")) {
            assert.strictEqual(
                cmd.inputs.create,
                `sudo -n sh -c 'umask 077; f=$(mktemp /run/crosscloud-XXXXXX) && cat >"$f" && bash "$f" </dev/null; rc=$?; rm -f "$f"; exit $rc'`,
            );
            assert.match(cmd.inputs.stdin, /^#!\/bin\/bash\n# crosscloud: /);
            assert.strictEqual(cmd.inputs.triggers.length, 1);
            assert.strictEqual(cmd.inputs.triggers[0], require("crypto").createHash("sha256").update(cmd.inputs.stdin).digest("hex"));
            assert.strictEqual(cmd.inputs.logging, "stdoutAndStderr");
            assert.strictEqual(cmd.inputs.addPreviousOutputInEnv, false);
        }
    });

    it("keeps the PSK, passwords and private keys secret, on stdin only, and out of plain outputs", function () {
        const psk = named(r, "tunnel-psk").state.result;
        const replicator = named(r, "postgres-replicator-password").state.result;
        const admin = named(r, "postgres-admin-password").state.result;
        assert.strictEqual(psk.length, 48);
        assert.match(psk, /^[A-Za-z0-9]+$/);
        const secrets = [
            psk,
            replicator,
            admin,
            ADMIN_KEY.private,
            ...ofType(r, "tls:index/privateKey:PrivateKey").map((k) => k.state.privateKeyOpenssh),
        ];
        for (const reg of r.registrations) {
            for (const [key, value] of Object.entries(reg.inputs)) {
                const text = JSON.stringify(value);
                if (secrets.some((s) => text.includes(s.trim()))) {
                    assert.ok(reg.secretInputs.includes(key), `${reg.name}.${key} holds a secret but is not marked secret`);
                    assert.notStrictEqual(key, "create", `${reg.name} puts a secret on its command line`);
                }
            }
        }
        assert.ok(named(r, "tunnel-aws-gateway").inputs.stdin.includes(psk));
        assert.ok(named(r, "postgres-azure-node").inputs.stdin.includes(replicator));
        assert.deepStrictEqual(r.secretOutputs, ["primaryConnectionString"]);
        assert.strictEqual(
            r.outputs.primaryConnectionString,
            `postgresql://crosscloud_admin:${admin}@10.10.1.10:5432/postgres?sslmode=require`,
        );
        const plain = JSON.stringify({ ...r.outputs, primaryConnectionString: undefined });
        for (const s of secrets) {
            assert.ok(!plain.includes(s.trim()), "a secret leaked into a plain output");
        }
    });

    it("exports the documented outputs", function () {
        const o = r.outputs as Record<string, any>;
        assert.deepStrictEqual(
            [o.awsGatewayPublicIp, o.azureGatewayPublicIp, o.awsCidr, o.azureCidr, o.primaryPrivateIp, o.standbyPrivateIp],
            ["198.51.100.10", "203.0.113.10", "10.10.0.0/16", "10.20.0.0/16", "10.10.1.10", "10.20.1.10"],
        );
        assert.strictEqual(o.awsResources.vpcId, named(r, "aws-vpc").id);
        assert.strictEqual(o.awsResources.gatewayInstanceId, named(r, "aws-gateway").id);
        assert.strictEqual(o.awsResources.amiId, DEFAULT_CLOUD.amiLookupResult);
        assert.strictEqual(o.azureResources.databaseVmId, named(r, "azure-database").id);
        // A new site has every id: none is absent, none is "".
        assert.strictEqual(o.awsResources.publicRouteTableId, named(r, "aws-public-routes").id);
        assert.strictEqual(o.awsResources.dataVolumeId, named(r, "aws-pgdata").id);
        assert.deepStrictEqual(Object.keys(o.awsResources).sort(), [
            "amiId",
            "dataVolumeId",
            "databaseInstanceId",
            "databaseSecurityGroupId",
            "databaseSubnetId",
            "gatewayInstanceId",
            "gatewaySecurityGroupId",
            "gatewaySubnetId",
            "privateRouteTableId",
            "publicRouteTableId",
            "vpcId",
        ]);
        assert.deepStrictEqual(Object.keys(o.azureResources).sort(), [
            "dataDiskId",
            "databaseNsgId",
            "databaseRouteTableId",
            "databaseSubnetId",
            "databaseVmId",
            "gatewayNsgId",
            "gatewaySubnetId",
            "gatewayVmId",
            "resourceGroupName",
            "vnetId",
        ]);
    });

    it("renders both gateways' files (golden)", function () {
        for (const site of ["aws", "azure"]) {
            const files = filesInScript(named(r, `tunnel-${site}-gateway`).inputs.stdin);
            assert.deepStrictEqual(Object.keys(files), [
                "/etc/sysctl.d/60-crosscloud-gateway.conf",
                "/etc/iptables/rules.v4",
                "/etc/ipsec.conf",
                "/etc/ipsec.secrets",
            ]);
            assertGolden(`dev-${site}-ipsec.conf`, files["/etc/ipsec.conf"]);
            assertGolden(`dev-${site}-rules.v4`, files["/etc/iptables/rules.v4"]);
            assertGolden("gateway-sysctl.conf", files["/etc/sysctl.d/60-crosscloud-gateway.conf"]);
            assert.strictEqual((r.outputs.ipsecConfs as Record<string, string>)[site], files["/etc/ipsec.conf"]);
        }
        const psk = named(r, "tunnel-psk").state.result;
        assert.strictEqual(
            filesInScript(named(r, "tunnel-aws-gateway").inputs.stdin)["/etc/ipsec.secrets"],
            `# Managed by crosscloud (Pulumi).\n198.51.100.10 203.0.113.10 : PSK "${psk}"\n`,
        );
        assert.strictEqual(
            filesInScript(named(r, "tunnel-azure-gateway").inputs.stdin)["/etc/ipsec.secrets"],
            `# Managed by crosscloud (Pulumi).\n203.0.113.10 198.51.100.10 : PSK "${psk}"\n`,
        );
    });

    it("renders both database hosts' PostgreSQL files (golden)", function () {
        for (const [name, role] of [
            ["postgres-aws-node", "primary"],
            ["postgres-azure-node", "standby"],
        ]) {
            const files = filesInScript(named(r, name).inputs.stdin);
            assertGolden(`dev-${role}-90-crosscloud.conf`, files["/etc/postgresql/16/main/conf.d/90-crosscloud.conf"]);
            assertGolden(`dev-${role}-pg_hba.conf`, files["/etc/postgresql/16/main/pg_hba.conf"]);
            assertGolden("database-sysctl.conf", files["/etc/sysctl.d/60-crosscloud-database.conf"]);
        }
        const standby = filesInScript(named(r, "postgres-azure-node").inputs.stdin);
        const replicator = named(r, "postgres-replicator-password").state.result;
        assert.strictEqual(
            standby["/var/lib/postgresql/.pgpass"],
            `10.10.1.10:5432:replication:replicator:${replicator}\n10.10.1.10:5432:postgres:replicator:${replicator}\n`,
        );
        const archiveKey = named(r, "postgres-wal-archive-key").state.publicKeyOpenssh.trim();
        assert.strictEqual(
            filesInScript(named(r, "postgres-aws-node").inputs.stdin)["/var/lib/postgresql/.ssh/authorized_keys"],
            `restrict,from="10.20.1.10",command="/usr/local/lib/crosscloud/serve-wal" ${archiveKey} crosscloud-wal-archive\n`,
        );
        assert.strictEqual(
            standby["/var/lib/postgresql/.ssh/known_hosts_crosscloud"],
            `10.10.1.10 ${named(r, "aws-database-host-key").state.publicKeyOpenssh.trim()}\n`,
        );
    });

    it("hands each VM its pinned host key at boot as cloud-config (cloud-init's ssh module, before sshd), as a secret", function () {
        for (const [vm, boot] of [
            ["aws-gateway", named(r, "aws-gateway").inputs.userData],
            ["aws-database", named(r, "aws-database").inputs.userData],
            ["azure-gateway", Buffer.from(named(r, "azure-gateway").inputs.osProfile.customData, "base64").toString()],
            ["azure-database", Buffer.from(named(r, "azure-database").inputs.osProfile.customData, "base64").toString()],
        ] as const) {
            const key = named(r, `${vm}-host-key`).state;
            assert.ok(boot.startsWith("#cloud-config\n"), `${vm}: cloud-init reads only a first line of #cloud-config as cloud-config`);
            assert.deepStrictEqual(YAML.parse(boot), {
                ssh_deletekeys: true,
                ssh_genkeytypes: [],
                ssh_keys: { ed25519_private: `${key.privateKeyOpenssh.trim()}\n`, ed25519_public: key.publicKeyOpenssh.trim() },
            });
        }
        assert.ok(named(r, "aws-gateway").secretInputs.includes("userData"));
        assert.ok(named(r, "azure-gateway").secretInputs.includes("osProfile"));
    });

    it("manages the admin key on every host by an access step that every other step of the host waits for", function () {
        const access = ofType(r, "command:remote:Command").filter((c) => c.name.endsWith("-access"));
        assert.deepStrictEqual(
            access.map((c) => [c.name, c.inputs.connection.host, c.inputs.connection.proxy?.host ?? "-"]),
            [
                ["aws-gateway-access", DEFAULT_CLOUD.awsPublicIp, "-"],
                ["aws-database-access", "10.10.1.10", DEFAULT_CLOUD.awsPublicIp],
                ["azure-gateway-access", DEFAULT_CLOUD.azurePublicIp, "-"],
                ["azure-database-access", "10.20.1.10", DEFAULT_CLOUD.azurePublicIp],
            ],
        );
        for (const c of access) {
            const user = c.name.startsWith("aws") ? "ubuntu" : "azureuser";
            assert.strictEqual(c.inputs.connection.privateKey, ADMIN_KEY.private);
            assert.match(c.inputs.stdin, new RegExp(`^readonly ADMIN_USER='${user}'$`, "m"));
            assert.ok(c.inputs.stdin.includes(`readonly AUTHORIZED_KEY_LINE='${ADMIN_KEY.public.trim()}'`));
            assert.match(c.inputs.stdin, /^readonly REVOKED_KEY_IDS=''$/m);
        }
        assert.deepStrictEqual(
            named(r, "aws-database-access").options.dependsOn.filter((d) => d.endsWith("-access")),
            ["aws-gateway-access"],
        );
        for (const [step, accessStep] of [
            ["tunnel-aws-gateway", "aws-gateway-access"],
            ["tunnel-azure-gateway", "azure-gateway-access"],
            ["postgres-aws-node", "aws-database-access"],
            ["postgres-azure-node", "azure-database-access"],
        ]) {
            assert.ok(named(r, step).options.dependsOn.includes(accessStep), `${step} waits for ${accessStep}`);
        }
    });
});

describe("the program on a second stack (us-east-2 / eastus2, other ranges, clients, zero-loss)", function () {
    let r: ProgramRun;
    before(async function () {
        r = await run(SECOND_STACK);
    });

    it("uses the stack's ranges, sizes and disk size", function () {
        assert.deepStrictEqual(
            [...ofType(r, "aws:ec2/subnet:Subnet"), ...ofType(r, "azure-native:network:Subnet")].map(
                (s) => s.inputs.cidrBlock ?? s.inputs.addressPrefix,
            ),
            ["172.16.0.0/24", "172.16.1.0/24", "192.168.64.0/24", "192.168.65.0/24"],
        );
        assert.deepStrictEqual(
            [named(r, "aws-gateway").inputs.instanceType, named(r, "aws-database").inputs.instanceType],
            ["c6in.large", "r6i.large"],
        );
        assert.deepStrictEqual(
            [named(r, "azure-gateway").inputs.hardwareProfile.vmSize, named(r, "azure-database").inputs.hardwareProfile.vmSize],
            ["Standard_D2s_v5", "Standard_E4s_v5"],
        );
        assert.strictEqual(named(r, "aws-pgdata").inputs.size, 256);
        assert.strictEqual(named(r, "azure-pgdata").inputs.diskSizeGB, 256);
        assert.strictEqual(named(r, "azure-rg").inputs.location, "eastus2");
    });

    it("admits every admin CIDR and the clients on both database hosts", function () {
        assert.deepStrictEqual(
            ingressRules(r).filter(([name]) => name.includes("ssh-") || name.includes("clients")),
            [
                ["aws-database-ssh-from-gateway", "aws-database-sg", "tcp", "22-22", "sg:aws-gateway-sg"],
                ["aws-gateway-ssh-0", "aws-gateway-sg", "tcp", "22-22", "198.51.100.0/28"],
                ["aws-gateway-ssh-1", "aws-gateway-sg", "tcp", "22-22", "192.0.2.44/32"],
                ["postgres-aws-postgres-from-clients-0", "aws-database-sg", "tcp", "5432-5432", "172.16.8.0/24"],
                ["postgres-aws-postgres-from-clients-1", "aws-database-sg", "tcp", "5432-5432", "192.168.66.0/24"],
            ],
        );
        assert.deepStrictEqual(
            nsgRules(r).filter(([name]) => name.includes("clients") || name === "azure-gateway-ssh"),
            [
                ["azure-gateway-ssh", "azure-gateway-nsg", "100", "Allow", "Tcp", "198.51.100.0/28,192.0.2.44/32", "*", "22"],
                [
                    "postgres-azure-postgres-from-clients",
                    "azure-database-nsg",
                    "1220",
                    "Allow",
                    "Tcp",
                    "172.16.8.0/24,192.168.66.0/24",
                    "192.168.65.10/32",
                    "5432",
                ],
            ],
        );
    });

    it("proposes the stack's cipher suite (ChaCha20-Poly1305) on both gateways (golden)", function () {
        for (const site of ["aws", "azure"]) {
            const conf = filesInScript(named(r, `tunnel-${site}-gateway`).inputs.stdin)["/etc/ipsec.conf"];
            assert.match(conf, /^ {4}ike=chacha20_poly1305-sha2_256;dh19\n {4}esp=chacha20_poly1305\n/m);
        }
    });

    it("renders zero-loss PostgreSQL 17 config and client access (golden)", function () {
        for (const [name, role] of [
            ["postgres-aws-node", "primary"],
            ["postgres-azure-node", "standby"],
        ]) {
            const files = filesInScript(named(r, name).inputs.stdin);
            assertGolden(`second-${role}-90-crosscloud.conf`, files["/etc/postgresql/17/main/conf.d/90-crosscloud.conf"]);
            assertGolden(`second-${role}-pg_hba.conf`, files["/etc/postgresql/17/main/pg_hba.conf"]);
        }
        assertGolden("second-aws-ipsec.conf", filesInScript(named(r, "tunnel-aws-gateway").inputs.stdin)["/etc/ipsec.conf"]);
        assertGolden("second-azure-rules.v4", filesInScript(named(r, "tunnel-azure-gateway").inputs.stdin)["/etc/iptables/rules.v4"]);
    });

    it("still looks the AMI up when the override names another region", function () {
        assert.strictEqual(named(r, "aws-gateway").inputs.ami, DEFAULT_CLOUD.amiLookupResult);
        assert.strictEqual(r.invocations.filter((i) => i.token === "aws:ec2/getAmi:getAmi").length, 1);
    });
});

describe("AMI selection", function () {
    it("takes crosscloud:amiOverrides for the stack's region instead of the lookup", async function () {
        const r = await run({ ...DEV_STACK, "crosscloud:amiOverrides": { "eu-west-1": "ami-0123456789abcdef0" } });
        assert.deepStrictEqual(
            ofType(r, "aws:ec2/instance:Instance").map((i) => i.inputs.ami),
            ["ami-0123456789abcdef0", "ami-0123456789abcdef0"],
        );
        assert.deepStrictEqual(
            r.invocations.filter((i) => i.token === "aws:ec2/getAmi:getAmi"),
            [],
        );
    });

    it("fails naming the override when the lookup finds nothing", async function () {
        await assert.rejects(run(DEV_STACK, { ...DEFAULT_CLOUD, amiLookupResult: undefined }), (err: Error) =>
            err.message.includes(
                "No Ubuntu 24.04 amd64 AMI from Canonical (099720109477) was found in eu-west-1: set crosscloud:amiOverrides.eu-west-1 to an AMI id.",
            ),
        );
    });
});

describe("rotating the admin key (crosscloud:previousSshPrivateKey)", function () {
    const newKey = mockKeyPair("rotated-admin-key");
    let unrotated: ProgramRun;
    let r: ProgramRun;
    before(async function () {
        unrotated = await run(DEV_STACK);
        r = await runProgram({
            config: {
                ...DEV_STACK,
                "crosscloud:sshPublicKey": newKey.public.trim(),
                "crosscloud:sshPrivateKey": newKey.private,
                "crosscloud:previousSshPrivateKey": ADMIN_KEY.private,
            },
            secretKeys: [...SECRET_KEYS, "crosscloud:previousSshPrivateKey"],
            newResource: cloudResources(GENERATED_KEYS),
            call: cloudCalls(),
        });
    });

    it("logs in to each host with the previous key to authorize the new one and revoke the previous one", function () {
        const oldId = ADMIN_KEY.public.trim().split(" ").slice(0, 2).join(" ");
        for (const name of ["aws-gateway-access", "aws-database-access", "azure-gateway-access", "azure-database-access"]) {
            const c = named(r, name);
            assert.strictEqual(c.inputs.connection.privateKey, ADMIN_KEY.private, `${name} logs in with the previous key`);
            assert.ok(c.inputs.stdin.includes(`readonly AUTHORIZED_KEY_LINE='${newKey.public.trim()}'`));
            assert.ok(c.inputs.stdin.includes(`readonly REVOKED_KEY_IDS='${oldId}'`));
            assert.ok(c.secretInputs.includes("stdin") && c.secretInputs.includes("connection"));
        }
        // The jump host's own access step has run by then: it already takes the new key.
        assert.strictEqual(named(r, "aws-database-access").inputs.connection.proxy.privateKey, newKey.private);
        assert.strictEqual(named(r, "azure-database-access").inputs.connection.proxy.privateKey, newKey.private);
    });

    it("runs every other step with the new key, and changes no VM's first-boot data", function () {
        for (const c of ofType(r, "command:remote:Command").filter((c) => !c.name.endsWith("-access"))) {
            assert.strictEqual(c.inputs.connection.privateKey, newKey.private, c.name);
            assert.strictEqual(c.inputs.connection.proxy?.privateKey ?? newKey.private, newKey.private, c.name);
        }
        for (const vm of ["aws-gateway", "aws-database"]) {
            assert.strictEqual(named(r, vm).inputs.userData, named(unrotated, vm).inputs.userData);
            // keyName would name a new key pair: ignored, so the instance is neither replaced nor restarted.
            assert.ok(named(r, vm).options.ignoreChanges.includes("keyName"));
        }
        for (const vm of ["azure-gateway", "azure-database"]) {
            assert.notDeepStrictEqual(named(r, vm).inputs.osProfile, named(unrotated, vm).inputs.osProfile);
            assert.deepStrictEqual(named(r, vm).options.ignoreChanges, ["osProfile"]);
        }
        // Only the access scripts change; the rest re-run because their connection changed (pulumi-command diffs it).
        const changed = ofType(r, "command:remote:Command")
            .filter((c) => c.inputs.triggers[0] !== named(unrotated, c.name).inputs.triggers[0])
            .map((c) => c.name);
        assert.deepStrictEqual(changed, ["aws-gateway-access", "aws-database-access", "azure-gateway-access", "azure-database-access"]);
    });
});

/** A key pair of another type than the program's Ed25519: the OpenSSH public line and the PEM private key. */
function otherTypeKeyPair(kind: "ecdsa-p256" | "rsa-1024"): { public: string; private: string } {
    // SEC1 and PKCS#1 PEM: the private key formats ssh2 (and OpenSSH) read besides OpenSSH's own.
    const { privateKey } =
        kind === "ecdsa-p256"
            ? generateKeyPairSync("ec", {
                  namedCurve: "P-256",
                  privateKeyEncoding: { type: "sec1", format: "pem" },
                  publicKeyEncoding: { type: "spki", format: "pem" },
              })
            : generateKeyPairSync("rsa", {
                  modulusLength: 1024,
                  privateKeyEncoding: { type: "pkcs1", format: "pem" },
                  publicKeyEncoding: { type: "spki", format: "pem" },
              });
    const parsed = sshUtils.parseKey(privateKey);
    if (parsed instanceof Error || Array.isArray(parsed)) {
        throw new Error(`ssh2 cannot read the generated ${kind} key`);
    }
    return { public: `${parsed.type} ${parsed.getPublicSSH().toString("base64")} someone@laptop`, private: privateKey };
}

describe("bad configuration is refused before anything is created", function () {
    const otherKey = mockKeyPair("another-key");
    const ecdsaKey = otherTypeKeyPair("ecdsa-p256");
    const smallRsaKey = otherTypeKeyPair("rsa-1024");
    const cases: [string, Record<string, unknown>, string][] = [
        [
            "overlapping ranges",
            { "crosscloud:azureCidr": "10.10.128.0/17" },
            `crosscloud:azureCidr "10.10.128.0/17" overlaps crosscloud:awsCidr "10.10.0.0/16": each site's range is routed to the other through the tunnel, so they must not overlap; pick another range for one of them.`,
        ],
        [
            "a public range",
            { "crosscloud:awsCidr": "8.8.0.0/16" },
            `crosscloud:awsCidr "8.8.0.0/16" is not a private range: use a block inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.`,
        ],
        [
            "a too small range",
            { "crosscloud:azureCidr": "10.20.0.0/25" },
            `crosscloud:azureCidr "10.20.0.0/25" is too small: the gateway and database subnets need a /24 or larger (for example /16).`,
        ],
        [
            "a too large range",
            { "crosscloud:awsCidr": "10.0.0.0/8", "crosscloud:azureCidr": "172.16.0.0/16" },
            `crosscloud:awsCidr "10.0.0.0/8" is too large: AWS VPCs and this program take /16 to /24; use a /16.`,
        ],
        [
            "a malformed range",
            { "crosscloud:awsCidr": "10.10.0.1/16" },
            `crosscloud:awsCidr "10.10.0.1/16" is not an IPv4 network in CIDR form: write it like 10.10.0.0/16.`,
        ],
        [
            "SSH open to the internet",
            { "crosscloud:adminCidrs": ["203.0.113.7/32", "0.0.0.0/0"] },
            `crosscloud:adminCidrs must not contain 0.0.0.0/0: SSH to the gateways would be open to the whole internet; list your own addresses (e.g. 203.0.113.7/32) instead.`,
        ],
        [
            "no admin CIDRs",
            { "crosscloud:adminCidrs": undefined },
            `crosscloud:adminCidrs is required: list the CIDRs allowed to SSH to the gateways, e.g. pulumi config set --path 'crosscloud:adminCidrs[0]' 203.0.113.7/32.`,
        ],
        [
            "a malformed public key",
            { "crosscloud:sshPublicKey": "ssh-ed25519 not-base64!" },
            `crosscloud:sshPublicKey is missing or malformed: set one OpenSSH public key line such as "ssh-ed25519 AAAA... you@host" (pulumi config set crosscloud:sshPublicKey "$(cat ~/.ssh/id_ed25519.pub)").`,
        ],
        [
            // EC2 key pairs take RSA and ED25519 (EC2 User Guide, "Create a key pair"; ImportKeyPair: "an RSA or
            // ED25519 key pair"); Azure takes RSA of at least 2048 bits and ED25519, "ECDSA ... not supported"
            // (Azure docs, "Supported SSH key formats").
            "an ECDSA admin key (EC2 key pairs and Azure VMs take only RSA and Ed25519)",
            { "crosscloud:sshPublicKey": ecdsaKey.public, "crosscloud:sshPrivateKey": ecdsaKey.private },
            `crosscloud:sshPublicKey is an ecdsa-sha2-nistp256 key, which EC2 key pairs and Azure VMs do not accept (they take RSA and Ed25519): make an Ed25519 pair (ssh-keygen -t ed25519) and set crosscloud:sshPublicKey and crosscloud:sshPrivateKey to its two halves.`,
        ],
        [
            "an RSA admin key under 2048 bits (Azure's minimum)",
            { "crosscloud:sshPublicKey": smallRsaKey.public, "crosscloud:sshPrivateKey": smallRsaKey.private },
            `crosscloud:sshPublicKey is a 1024-bit RSA key, and Azure VMs take RSA keys of 2048 bits or more: make an Ed25519 pair (ssh-keygen -t ed25519) and set crosscloud:sshPublicKey and crosscloud:sshPrivateKey to its two halves.`,
        ],
        [
            "no private key",
            { "crosscloud:sshPrivateKey": undefined },
            `crosscloud:sshPrivateKey is missing, malformed or passphrase-protected: set the unencrypted private key as a secret (pulumi config set --secret crosscloud:sshPrivateKey < ~/.ssh/id_ed25519).`,
        ],
        [
            "keys of two pairs",
            { "crosscloud:sshPrivateKey": otherKey.private },
            `crosscloud:sshPrivateKey does not match crosscloud:sshPublicKey: set both halves of the same key pair.`,
        ],
        [
            "an unknown replication mode",
            { "crosscloud:replication": "logical" },
            `crosscloud:replication "logical" is not a replication mode: use "streaming" or "log-shipping".`,
        ],
        [
            "an unsupported version",
            { "crosscloud:postgresVersion": "13" },
            `crosscloud:postgresVersion "13" is not supported: use 15, 16, 17 or 18.`,
        ],
        [
            "an unknown synchronous level",
            { "crosscloud:synchronous": "local" },
            `crosscloud:synchronous "local" is not a synchronous level: use "off", "remote_write", "on" or "remote_apply".`,
        ],
        [
            "an unknown cipher suite",
            { "crosscloud:ipsecCipher": "3des-md5" },
            `crosscloud:ipsecCipher "3des-md5" is not a cipher suite: use "aes-gcm-256", "aes-gcm-128", "chacha20-poly1305" or "aes-cbc-sha1" (default aes-gcm-256).`,
        ],
        [
            "zero-loss with log shipping",
            { "crosscloud:synchronous": "on", "crosscloud:synchronousStandbyLoss": "block", "crosscloud:replication": "log-shipping" },
            `crosscloud:synchronous "on" needs a streaming standby: set crosscloud:replication to "streaming" or crosscloud:synchronous to "off".`,
        ],
        [
            "a malformed AMI override",
            { "crosscloud:amiOverrides": { "eu-west-1": "ubuntu" } },
            `crosscloud:amiOverrides.eu-west-1 "ubuntu" is not an AMI id: write it like ami-0123456789abcdef0.`,
        ],
        [
            "a public client range",
            { "crosscloud:clientCidrs": ["1.2.3.0/24"] },
            `crosscloud:clientCidrs entry "1.2.3.0/24" is not a private range: the database has no public address, so list the private CIDRs of the applications (in either cloud).`,
        ],
        [
            "a WAL segment size initdb refuses",
            { "crosscloud:walSegmentSizeMb": "3" },
            `crosscloud:walSegmentSizeMb "3" is not a power of 2 from 1 to 1024 (MB): use 16 (PostgreSQL's default) or e.g. 4 for a slow tunnel.`,
        ],
        [
            "a synchronous level without a choice for the standby's loss",
            { "crosscloud:synchronous": "remote_apply" },
            `crosscloud:synchronous "remote_apply" needs crosscloud:synchronousStandbyLoss: "block" (no commit is acknowledged while the standby is gone: writes wait) or "degrade" (commits go on asynchronously after 5 s without the standby, and may be lost in a failover until it is back).`,
        ],
        [
            "an unknown choice for the synchronous standby's loss",
            { "crosscloud:synchronous": "on", "crosscloud:synchronousStandbyLoss": "wait" },
            `crosscloud:synchronousStandbyLoss "wait" is not a choice: use "block" or "degrade".`,
        ],
        [
            "a choice for the standby's loss while asynchronous",
            { "crosscloud:synchronousStandbyLoss": "degrade" },
            `crosscloud:synchronousStandbyLoss "degrade" has no effect while crosscloud:synchronous is "off": remove it, or set crosscloud:synchronous.`,
        ],
        [
            "a consent that names no divergence",
            { "crosscloud:discardDiverged": "yes" },
            `crosscloud:discardDiverged "yes" is not a divergence: copy SYSTEM_ID:TIMELINE:FORK_LSN (e.g. 7301234567890123456:1:0/3000060) from the rejoin step's error, or leave it empty.`,
        ],
        [
            "a malformed previous key during a rotation",
            { "crosscloud:previousSshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----" },
            `crosscloud:previousSshPrivateKey is malformed or passphrase-protected: set the unencrypted private key the hosts still authorize as a secret (pulumi config set --secret crosscloud:previousSshPrivateKey < OLD_KEY), or remove it (pulumi config rm crosscloud:previousSshPrivateKey).`,
        ],
        [
            "a rotation to the same key",
            { "crosscloud:previousSshPrivateKey": ADMIN_KEY.private },
            `crosscloud:previousSshPrivateKey is the same key as crosscloud:sshPrivateKey: there is nothing to rotate; remove it (pulumi config rm crosscloud:previousSshPrivateKey).`,
        ],
        [
            "a bad VM size",
            { "crosscloud:azureDbSize": "B2ms" },
            `crosscloud:azureDbSize "B2ms" is not an Azure VM size: write it like Standard_B2s.`,
        ],
    ];
    for (const [what, change, message] of cases) {
        it(`refuses ${what}`, async function () {
            const config = Object.fromEntries(Object.entries({ ...DEV_STACK, ...change }).filter(([, v]) => v !== undefined));
            const created: string[] = [];
            await assert.rejects(
                runProgram({
                    config,
                    secretKeys: SECRET_KEYS,
                    newResource: async (res) => {
                        created.push(res.name);
                        return cloudResources(GENERATED_KEYS)(res);
                    },
                    call: cloudCalls(),
                }),
                (err: Error) => {
                    assert.strictEqual(err.message, `Invalid stack configuration:\n- ${message}`);
                    return true;
                },
            );
            assert.deepStrictEqual(created, [], "nothing may be created");
        });
    }

    it("lists every problem at once", async function () {
        await assert.rejects(
            run({ ...DEV_STACK, "crosscloud:replication": "logical", "crosscloud:postgresVersion": "9" }),
            (err: Error) => err.message.split("\n").length === 3,
        );
    });
});

describe("switchover: crosscloud:primary moves the primary to Azure and back", function () {
    let toAws: ProgramRun;
    let toAzure: ProgramRun;
    before(async function () {
        toAws = await run(DEV_STACK);
        // The fence step reports where the old primary's WAL ended, as it does on a real host.
        const cloud = cloudResources(GENERATED_KEYS);
        toAzure = await runProgram({
            config: { ...DEV_STACK, "crosscloud:primary": "azure" },
            secretKeys: SECRET_KEYS,
            newResource: async (res) => {
                const answer = await cloud(res);
                return res.name === "postgres-fence"
                    ? { ...answer, state: { ...answer.state, stdout: "crosscloud: fenced-at: 0/5000028\n" } }
                    : answer;
            },
            call: cloudCalls(),
        });
    });

    it("points the outputs and the connection string at the new primary", function () {
        const o = toAzure.outputs as Record<string, any>;
        assert.deepStrictEqual([o.primary, o.primaryPrivateIp, o.standbyPrivateIp], ["azure", "10.20.1.10", "10.10.1.10"]);
        assert.match(o.primaryConnectionString, /@10\.20\.1\.10:5432\/postgres\?sslmode=require$/);
        assert.strictEqual((toAws.outputs as Record<string, any>).primary, "aws");
    });

    it("prepares the new primary, then fences the old one, promotes, rejoins the old primary, and checks", function () {
        const order = ["postgres-azure-node", "postgres-fence", "postgres-primary", "postgres-aws-node", "postgres-check"];
        const host = (name: string) => named(toAzure, name).inputs.connection.host;
        assert.deepStrictEqual(order.map(host), ["10.20.1.10", "10.10.1.10", "10.20.1.10", "10.10.1.10", "10.10.1.10"]);
        const deps = (name: string) =>
            named(toAzure, name).options.dependsOn.filter((d) => /^postgres-(fence|primary|\w+-node|check)$/.test(d));
        assert.deepStrictEqual(order.map(deps), [
            [],
            ["postgres-azure-node"],
            ["postgres-fence"],
            ["postgres-primary"],
            ["postgres-aws-node"],
        ]);
    });

    it("keeps the write outage to the fence and the promotion: the new primary's host is prepared before the fence", function () {
        const node = named(toAzure, "postgres-azure-node").inputs.stdin;
        assert.match(node, /^readonly ROLE='primary'$/m);
        const nodeBody = node.split("# A PostgreSQL host of the replica pair")[1];
        assert.doesNotMatch(
            nodeBody,
            /promote_now|pg_promote|FENCED_LSN/,
            "the node step never promotes: it runs while the old primary takes writes",
        );
        const fence = named(toAzure, "postgres-fence").inputs.stdin.split("# The fence of a planned switchover")[1];
        assert.match(
            fence,
            /open_peer_session\n {4}psql_admin -c CHECKPOINT\n(?:(?! {4}systemctl)[^\n]*\n)* {4}systemctl stop "\$UNIT" &\n/,
            "the peer session is open and the dirty buffers flushed before the stop",
        );
        assert.match(
            fence,
            /systemctl stop "\$UNIT" &[\s\S]*standby\.signal[\s\S]*peer_ask "SELECT CASE WHEN NOT pg_is_in_recovery\(\) THEN 'primary' WHEN pg_last_wal_replay_lsn\(\) >= '\$\{fenced_at\}'::pg_lsn THEN pg_promote\(true, 60\)::text[\s\S]*wait "\$stopping"/,
            "the fence marks this host a standby, then promotes the peer over the open session while the stop finishes",
        );
        assert.match(named(toAzure, "postgres-fence").inputs.stdin, /^readonly PEER_IP='10\.20\.1\.10'$/m);
        const primary = named(toAzure, "postgres-primary").inputs.stdin.split("# --- steps")[1];
        assert.match(primary, /^ {4}promote_now$/m);
        assert.match(primary, /SELECT pg_promote\(true, 60\)/);
        assert.doesNotMatch(
            primary.split("# The primary role on this host")[1],
            /ensure_packages|pg_createcluster|install_files/,
            "the promotion step installs nothing",
        );
    });

    it("re-runs exactly the database steps: the tunnel's triggers do not change", function () {
        const triggers = (r: ProgramRun) =>
            Object.fromEntries(ofType(r, "command:remote:Command").map((c) => [c.name, c.inputs.triggers[0]]));
        const before = triggers(toAws);
        const after = triggers(toAzure);
        const changed = Object.keys(before)
            .filter((name) => before[name] !== after[name])
            .sort();
        assert.deepStrictEqual(changed, [
            "postgres-aws-node",
            "postgres-azure-node",
            "postgres-check",
            "postgres-fence",
            "postgres-primary",
        ]);
    });

    it("hands the fenced LSN to the primary role step on the new primary, and swaps the standby settings", function () {
        assert.match(named(toAzure, "postgres-primary").inputs.stdin, /^readonly FENCED_LSN='0\/5000028'$/m);
        assert.match(named(toAws, "postgres-primary").inputs.stdin, /^readonly FENCED_LSN='none'$/m);
        assert.match(named(toAzure, "postgres-azure-node").inputs.stdin, /^readonly ROLE='primary'$/m);
        const awsConf = filesInScript(named(toAzure, "postgres-aws-node").inputs.stdin)[
            "/etc/postgresql/16/main/conf.d/90-crosscloud.conf"
        ];
        const azureConf = filesInScript(named(toAzure, "postgres-azure-node").inputs.stdin)[
            "/etc/postgresql/16/main/conf.d/90-crosscloud.conf"
        ];
        assert.match(awsConf, /^primary_conninfo = 'host=10\.20\.1\.10 port=5432 user=replicator .* application_name=aws'$/m);
        assert.match(awsConf, /^primary_slot_name = 'crosscloud_aws'$/m);
        // The new standby retries its WAL sources every second: a later promotion waits at most that long.
        assert.match(awsConf, /^wal_retrieve_retry_interval = '1s'$/m);
        assert.doesNotMatch(azureConf, /primary_conninfo|wal_retrieve_retry_interval/);
        assert.match(named(toAzure, "postgres-primary").inputs.stdin, /^readonly SLOT='crosscloud_aws'$/m);
        assert.match(named(toAzure, "postgres-aws-node").inputs.stdin, /^readonly SLOT='crosscloud_aws'$/m);
    });

    it("refuses a site that does not exist", async function () {
        await assert.rejects(
            run({ ...DEV_STACK, "crosscloud:primary": "gcp" }),
            (err: Error) =>
                err.message ===
                `Invalid stack configuration:\n- crosscloud:primary "gcp" is not a site: use "aws" or "azure" (changing it runs a switchover on the next pulumi up).`,
        );
    });
});

describe("rejoin after a divergence: crosscloud:discardDiverged and the rejoinDivergence output", function () {
    const KEY = "7301234567890123456:1:0/3000060";
    const DISCARDED =
        "12 transactions after the fork at 0/3000060 on timeline 1, saved in /var/lib/postgresql/crosscloud-diverged/7301234567890123456-tl1-0-3000060";
    async function rejoin(consent: string | undefined, nodeStdout: string): Promise<ProgramRun> {
        const cloud = cloudResources(GENERATED_KEYS);
        return runProgram({
            config: { ...DEV_STACK, "crosscloud:primary": "azure", ...(consent ? { "crosscloud:discardDiverged": consent } : {}) },
            secretKeys: SECRET_KEYS,
            newResource: async (res) => {
                const answer = await cloud(res);
                return res.name === "postgres-aws-node" ? { ...answer, state: { ...answer.state, stdout: nodeStdout } } : answer;
            },
            call: cloudCalls(),
        });
    }

    it("hands the consent to both database hosts' steps, and reports what the rejoin discarded", async function () {
        const run = await rejoin(
            KEY,
            `crosscloud: divergence: ${DISCARDED}\ncrosscloud: changed: discarded here, with consent (crosscloud:discardDiverged), ${DISCARDED} (at +9.3 s)\n`,
        );
        for (const step of ["postgres-aws-node", "postgres-azure-node"]) {
            assert.match(named(run, step).inputs.stdin, new RegExp(`^readonly DISCARD_DIVERGED='${KEY}'$`, "m"));
        }
        assert.strictEqual(run.outputs.rejoinDivergence, DISCARDED);
    });

    it("fails the run with the failed step's error, creates nothing that depends on it, and lets the rest finish (as pulumi up does)", async function () {
        const cloud = cloudResources(GENERATED_KEYS);
        const created: string[] = [];
        await assert.rejects(
            runProgram({
                config: { ...DEV_STACK, "crosscloud:primary": "azure" },
                secretKeys: SECRET_KEYS,
                newResource: async (res) => {
                    if (res.name === "postgres-aws-node") {
                        throw new Error("postgres-aws-node failed: crosscloud: error: set crosscloud:discardDiverged to KEY");
                    }
                    const answer = await cloud(res);
                    created.push(res.name);
                    return answer;
                },
                call: cloudCalls(),
            }),
            { message: "postgres-aws-node failed: crosscloud: error: set crosscloud:discardDiverged to KEY" },
        );
        assert.ok(created.includes("postgres-primary") && !created.includes("postgres-check"), created.join(" "));
    });

    it("reports none when the rejoin discarded nothing, and gives no consent by default", async function () {
        const run = await rejoin(
            undefined,
            "crosscloud: nothing to rewind: this host wrote nothing after 0/3000060 (the new primary has all of it)\n",
        );
        assert.match(named(run, "postgres-aws-node").inputs.stdin, /^readonly DISCARD_DIVERGED=''$/m);
        assert.strictEqual(run.outputs.rejoinDivergence, "none");
    });
});

describe("unplanned failover (npm run failover)", function () {
    let r: ProgramRun;
    before(async function () {
        r = await run(DEV_STACK);
    });

    it("exports each database host's SSH coordinates with its pinned key and jump host", function () {
        const hostKey = (name: string) => named(r, name).state.publicKeyOpenssh.trim();
        assert.deepStrictEqual((r.outputs.databaseHosts as Record<string, unknown>).azure, {
            address: "10.20.1.10",
            user: "azureuser",
            hostKey: hostKey("azure-database-host-key"),
            via: { address: "203.0.113.10", user: "azureuser", hostKey: hostKey("azure-gateway-host-key") },
            postgresVersion: 16,
        });
        assert.ok(!r.secretOutputs.includes("databaseHosts.azure"));
    });

    it("connects through the pinned jump host and sends the promote step on stdin", function () {
        const hosts = r.outputs.databaseHosts as Record<string, SshHostOutput>;
        const c = connectionFor(hosts.aws, "KEY");
        assert.deepStrictEqual(c, {
            host: "10.10.1.10",
            user: "ubuntu",
            hostKey: hosts.aws.hostKey,
            privateKey: "KEY",
            dialErrorLimit: 3,
            perDialTimeout: 15,
            proxy: {
                host: "198.51.100.10",
                user: "ubuntu",
                hostKey: hosts.aws.via!.hostKey,
                privateKey: "KEY",
                dialErrorLimit: 3,
                perDialTimeout: 15,
            },
        });
        const script = renderHostScript(promoteScript(16));
        assert.match(script, /^readonly PG_VERSION='16'$/m);
        assert.match(script, /SELECT pg_promote\(true, 60\)/);
        execFileSync("bash", ["-n"], { input: script });
    });
});

describe("NSG priorities are fixed per rule (NSG_RULE_PRIORITIES), not handed out in call order", function () {
    /** Priority of each NSG rule, by name. */
    const priorities = (r: ProgramRun) =>
        new Map(ofType(r, "azure-native:network:SecurityRule").map((x) => [x.name, x.inputs.priority as number]));
    let plain: ProgramRun;
    before(async function () {
        plain = await run(DEV_STACK);
    });

    it("adding rules (clients on both database hosts) leaves every other rule's priority as it was", async function () {
        const more = priorities(await run({ ...DEV_STACK, "crosscloud:clientCidrs": ["10.10.8.0/24"] }));
        const before = priorities(plain);
        assert.deepStrictEqual(
            [...more.keys()].filter((n) => !before.has(n)),
            ["postgres-azure-postgres-from-clients"],
        );
        for (const [name, priority] of before) {
            assert.strictEqual(more.get(name), priority, name);
        }
    });

    it("the other call order (the primary in Azure) gives every rule the same priority", async function () {
        assert.deepStrictEqual(priorities(await run({ ...DEV_STACK, "crosscloud:primary": "azure" })), priorities(plain));
    });

    it("keeps priorities unique per NSG and direction, and within Azure's 100-4096", async function () {
        for (const r of [plain, await run(SECOND_STACK)]) {
            const seen = new Set<string>();
            for (const rule of ofType(r, "azure-native:network:SecurityRule")) {
                const p = rule.inputs.priority as number;
                assert.ok(p >= 100 && p <= 4096, `${rule.name}: ${p}`);
                const key = `${rule.inputs.networkSecurityGroupName} ${rule.inputs.direction} ${p}`;
                assert.ok(!seen.has(key), `${rule.name} shares ${key}`);
                seen.add(key);
            }
        }
    });
});

describe("synchronous mode: crosscloud:synchronousStandbyLoss on the hosts and the synchronousMode output", function () {
    async function up(config: Record<string, unknown>, primaryStdout: string): Promise<ProgramRun> {
        const cloud = cloudResources(GENERATED_KEYS);
        return runProgram({
            config: { ...DEV_STACK, ...config },
            secretKeys: SECRET_KEYS,
            newResource: async (res) => {
                const answer = await cloud(res);
                return res.name === "postgres-aws-node" ? { ...answer, state: { ...answer.state, stdout: primaryStdout } } : answer;
            },
            call: cloudCalls(),
        });
    }

    it("hands the choice to both hosts' steps and their watcher's env, and reports what the primary's step said", async function () {
        const said =
            "remote_apply with standby azure; standby loss: degrade (after 5 s without it, commits go on asynchronously until it streams again)";
        const run = await up(
            { "crosscloud:synchronous": "remote_apply", "crosscloud:synchronousStandbyLoss": "degrade" },
            `crosscloud: synchronous: ${said}\ncrosscloud: status: primary ready\n`,
        );
        for (const step of ["postgres-aws-node", "postgres-azure-node"]) {
            const stdin = named(run, step).inputs.stdin as string;
            assert.match(stdin, /^readonly SYNC_STANDBY_LOSS='degrade'$/m);
            assert.match(stdin, /^readonly SYNCHRONOUS='remote_apply'$/m);
            assert.match(stdin, /^PEER_NAME=(aws|azure)$/m);
        }
        assert.strictEqual(run.outputs.synchronousMode, said);
    });

    it("is off with no choice by default", async function () {
        const run = await up(
            {},
            "crosscloud: synchronous: off (asynchronous: a failover loses the commits the standby had not received)\n",
        );
        assert.match(named(run, "postgres-aws-node").inputs.stdin as string, /^readonly SYNC_STANDBY_LOSS=''$/m);
        assert.strictEqual(run.outputs.synchronousMode, "off (asynchronous: a failover loses the commits the standby had not received)");
    });
});
