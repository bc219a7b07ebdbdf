// Stack configurations the tests run the program with, and the key store their mock clouds share.
import { GeneratedKeys, mockKeyPair } from "../mockcloud/cloudMocks";

export const ADMIN_KEY = mockKeyPair("test-admin-key");

/**
 * The keys the program's tls.PrivateKey resources get in every test run: one store for the test process,
 * as one stack's state keeps them across updates, so runs a test compares (rotation, switchover) pin the
 * same host keys.
 */
export const GENERATED_KEYS = new GeneratedKeys();

/** Like Pulumi.dev.yaml: defaults for everything optional. */
export const DEV_STACK: Record<string, unknown> = {
    "aws:region": "eu-west-1",
    "azure-native:location": "westeurope",
    "crosscloud:adminCidrs": ["203.0.113.7/32"],
    "crosscloud:sshPublicKey": ADMIN_KEY.public.trim(),
    "crosscloud:sshPrivateKey": ADMIN_KEY.private,
};

/** Other regions and ranges, clients, an AMI override for another region, zero-loss mode. */
export const SECOND_STACK: Record<string, unknown> = {
    "aws:region": "us-east-2",
    "azure-native:location": "eastus2",
    "crosscloud:awsCidr": "172.16.0.0/20",
    "crosscloud:azureCidr": "192.168.64.0/22",
    "crosscloud:adminCidrs": ["198.51.100.0/28", "192.0.2.44/32"],
    "crosscloud:clientCidrs": ["172.16.8.0/24", "192.168.66.0/24"],
    "crosscloud:postgresVersion": "17",
    "crosscloud:synchronous": "remote_apply",
    "crosscloud:synchronousStandbyLoss": "degrade",
    "crosscloud:ipsecCipher": "chacha20-poly1305",
    "crosscloud:awsGatewayType": "c6in.large",
    "crosscloud:awsDbType": "r6i.large",
    "crosscloud:azureGatewaySize": "Standard_D2s_v5",
    "crosscloud:azureDbSize": "Standard_E4s_v5",
    "crosscloud:amiOverrides": { "eu-west-1": "ami-0aaaaaaaaaaaaaaaa" },
    "crosscloud:dataDiskSizeGb": "256",
    "crosscloud:sshPublicKey": ADMIN_KEY.public.trim(),
    "crosscloud:sshPrivateKey": ADMIN_KEY.private,
};

export const SECRET_KEYS = ["crosscloud:sshPrivateKey"];
