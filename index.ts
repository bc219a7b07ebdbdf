// crosscloud: an AWS VPC and an Azure VNet joined by a Libreswan IPsec tunnel between two VM
// gateways, and PostgreSQL streaming from a primary in AWS to a hot standby in Azure through it.
// Config is read (and checked whole) once here; components get typed args.
import { AwsSite } from "./components/awsSite";
import { AzureSite } from "./components/azureSite";
import { OpenswanTunnel } from "./components/openswanTunnel";
import { PostgresReplicaPair, sshHostOutput } from "./components/postgresReplicaPair";
import { resolveExistingAws } from "./components/sourceEnvironment";
import { configError, loadConfig } from "./config";
import { IPSEC_CIPHERS } from "./scripts/ipsec";

// Async only to read an existing AWS environment (crosscloud:sourceStack or the source ids) and check
// it whole before any resource is declared; the stack's outputs are what this function returns.
export = async () => {
    const config = loadConfig();
    const existing = config.source ? await resolveExistingAws(config.source, config.awsRegion, config.azureCidr, configError) : undefined;
    // With an existing environment the AWS range is the VPC's.
    const awsSiteCidr = existing?.vpcCidr ?? config.awsCidr;

    const aws = new AwsSite("aws", {
        region: config.awsRegion,
        cidr: awsSiteCidr,
        peerCidr: config.azureCidr,
        adminCidrs: config.adminCidrs,
        sshPublicKey: config.sshPublicKey,
        sshPrivateKey: config.sshPrivateKey,
        ...(config.previousSshPrivateKey ? { previousSshPrivateKey: config.previousSshPrivateKey } : {}),
        gatewayInstanceType: config.awsGatewayType,
        databaseInstanceType: config.awsDbType,
        amiOverride: config.amiOverrides[config.awsRegion],
        dataDiskSizeGb: config.dataDiskSizeGb,
        ...(existing ? { existing } : {}),
    });

    const azure = new AzureSite("azure", {
        location: config.azureLocation,
        cidr: config.azureCidr,
        peerCidr: awsSiteCidr,
        adminCidrs: config.adminCidrs,
        sshPublicKey: config.sshPublicKey,
        sshPrivateKey: config.sshPrivateKey,
        ...(config.previousSshPrivateKey ? { previousSshPrivateKey: config.previousSshPrivateKey } : {}),
        gatewayVmSize: config.azureGatewaySize,
        databaseVmSize: config.azureDbSize,
        dataDiskSizeGb: config.dataDiskSizeGb,
    });

    const tunnel = new OpenswanTunnel("tunnel", {
        gateways: [aws.gateway, azure.gateway],
        sshPrivateKey: config.sshPrivateKey,
        tuning: { ...IPSEC_CIPHERS[config.ipsecCipher], ikeLifetime: config.ipsecLifetimes.ike, saLifetime: config.ipsecLifetimes.sa },
    });

    // crosscloud:primary picks the roles; changing it is a planned switchover (and back, the rollback).
    const [primaryHost, standbyHost] = config.primary === "aws" ? [aws.database, azure.database] : [azure.database, aws.database];
    const postgres = new PostgresReplicaPair("postgres", {
        version: config.postgresVersion,
        replication: config.replication,
        synchronous: config.synchronous,
        synchronousStandbyLoss: config.synchronousStandbyLoss,
        maxSlotWalKeepSize: config.maxSlotWalKeepSize,
        walSegmentSizeMb: config.walSegmentSizeMb,
        discardDiverged: config.discardDiverged,
        primary: primaryHost,
        standby: standbyHost,
        clientCidrs: config.clientCidrs,
        sshPrivateKey: config.sshPrivateKey,
        // Packages reach the primary through its gateway's NAT; the standby needs the tunnel.
        primaryDependsOn: tunnel.gatewaySteps,
        standbyDependsOn: tunnel.checks,
        existingSites: existing ? [aws.database.site] : [],
        allowExistingRestart: config.source?.allowPrimaryRestart ?? false,
    });

    // The sites' outputs minus their public addresses, which are top-level outputs of their own; what
    // does not apply (existing-environment mode) is absent from the site's outputs, so from these too.
    const { gatewayPublicIp: awsGatewayPublicIp, ...awsResources } = aws.outputs;
    const { gatewayPublicIp: azureGatewayPublicIp, ...azureResources } = azure.outputs;

    // The contract for StackReference consumers (see README, "Outputs").
    return {
        awsGatewayPublicIp,
        azureGatewayPublicIp,
        awsCidr: awsSiteCidr,
        azureCidr: config.azureCidr,
        primary: config.primary,
        primaryPrivateIp: primaryHost.privateIp,
        standbyPrivateIp: standbyHost.privateIp,
        tunnelStatus: tunnel.status,
        replicationStatus: postgres.status,
        /** What the last rejoin of an old primary discarded, with consent, and where it was saved; `none`. */
        rejoinDivergence: postgres.rejoinDivergence,
        synchronousMode: postgres.synchronousMode,
        primaryConnectionString: postgres.connectionString,
        /** `created`, or where the existing AWS environment came from (`config`, `stack org/project/stack`). */
        awsSource: existing ? `existing (${existing.origin})` : "created",
        awsResources,
        azureResources,
        ipsecConfs: tunnel.ipsecConfs,
        /** SSH coordinates of the database hosts with their pinned host keys: what `npm run failover` needs. */
        databaseHosts: {
            aws: sshHostOutput(aws.database.ssh).apply((h) => ({ ...h, postgresVersion: config.postgresVersion })),
            azure: sshHostOutput(azure.database.ssh).apply((h) => ({ ...h, postgresVersion: config.postgresVersion })),
        },
    };
};
