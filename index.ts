// crosscloud: an AWS VPC and an Azure VNet joined by a Libreswan IPsec tunnel between two VM
// gateways, and PostgreSQL streaming from a primary in AWS to a hot standby in Azure through it.
// Config is read (and checked whole) once here; components get typed args.
import { AwsSite } from "./components/awsSite";
import { AzureSite } from "./components/azureSite";
import { OpenswanTunnel } from "./components/openswanTunnel";
import { PostgresReplicaPair, sshHostOutput } from "./components/postgresReplicaPair";
import { loadConfig } from "./config";

const config = loadConfig();

const aws = new AwsSite("aws", {
    region: config.awsRegion,
    cidr: config.awsCidr,
    peerCidr: config.azureCidr,
    adminCidrs: config.adminCidrs,
    sshPublicKey: config.sshPublicKey,
    gatewayInstanceType: config.awsGatewayType,
    databaseInstanceType: config.awsDbType,
    amiOverride: config.amiOverrides[config.awsRegion],
    dataDiskSizeGb: config.dataDiskSizeGb,
});

const azure = new AzureSite("azure", {
    location: config.azureLocation,
    cidr: config.azureCidr,
    peerCidr: config.awsCidr,
    adminCidrs: config.adminCidrs,
    sshPublicKey: config.sshPublicKey,
    gatewayVmSize: config.azureGatewaySize,
    databaseVmSize: config.azureDbSize,
    dataDiskSizeGb: config.dataDiskSizeGb,
});

const tunnel = new OpenswanTunnel("tunnel", {
    gateways: [aws.gateway, azure.gateway],
    sshPrivateKey: config.sshPrivateKey,
    tuning: { ikeLifetime: config.ipsecLifetimes.ike, saLifetime: config.ipsecLifetimes.sa },
});

// crosscloud:primary picks the roles; changing it is a planned switchover (and back, the rollback).
const [primaryHost, standbyHost] = config.primary === "aws" ? [aws.database, azure.database] : [azure.database, aws.database];
const postgres = new PostgresReplicaPair("postgres", {
    version: config.postgresVersion,
    replication: config.replication,
    synchronous: config.synchronous,
    maxSlotWalKeepSize: config.maxSlotWalKeepSize,
    primary: primaryHost,
    standby: standbyHost,
    clientCidrs: config.clientCidrs,
    sshPrivateKey: config.sshPrivateKey,
    // Packages reach the primary through its gateway's NAT; the standby needs the tunnel.
    primaryDependsOn: tunnel.gatewaySteps,
    standbyDependsOn: tunnel.checks,
});

// The contract for StackReference consumers (see README, "Outputs").
export const awsGatewayPublicIp = aws.gatewayPublicIp;
export const azureGatewayPublicIp = azure.gatewayPublicIp;
export const awsCidr = config.awsCidr;
export const azureCidr = config.azureCidr;
export const primary = config.primary;
export const primaryPrivateIp = primaryHost.privateIp;
export const standbyPrivateIp = standbyHost.privateIp;
export const tunnelStatus = tunnel.status;
export const replicationStatus = postgres.status;
export const primaryConnectionString = postgres.connectionString;
export const awsResources = {
    vpcId: aws.vpcId,
    gatewaySubnetId: aws.gatewaySubnetId,
    databaseSubnetId: aws.databaseSubnetId,
    publicRouteTableId: aws.publicRouteTableId,
    privateRouteTableId: aws.privateRouteTableId,
    gatewaySecurityGroupId: aws.gatewaySecurityGroupId,
    databaseSecurityGroupId: aws.databaseSecurityGroupId,
    gatewayInstanceId: aws.gatewayInstanceId,
    databaseInstanceId: aws.databaseInstanceId,
    dataVolumeId: aws.dataVolumeId,
    amiId: aws.amiId,
};
export const azureResources = {
    resourceGroupName: azure.resourceGroupName,
    vnetId: azure.vnetId,
    gatewaySubnetId: azure.gatewaySubnetId,
    databaseSubnetId: azure.databaseSubnetId,
    gatewayNsgId: azure.gatewayNsgId,
    databaseNsgId: azure.databaseNsgId,
    databaseRouteTableId: azure.databaseRouteTableId,
    gatewayVmId: azure.gatewayVmId,
    databaseVmId: azure.databaseVmId,
    dataDiskId: azure.dataDiskId,
};
export const ipsecConfs = tunnel.ipsecConfs;
/** SSH coordinates of the database hosts with their pinned host keys: what `npm run failover` needs. */
export const databaseHosts = {
    aws: sshHostOutput(aws.database.ssh).apply((h) => ({ ...h, postgresVersion: config.postgresVersion })),
    azure: sshHostOutput(azure.database.ssh).apply((h) => ({ ...h, postgresVersion: config.postgresVersion })),
};
