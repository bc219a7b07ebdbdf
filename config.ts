// The stack's configuration, read once and checked whole before any resource is declared.
// Every key is declared with its description and default in Pulumi.yaml.
import * as pulumi from "@pulumi/pulumi";
import type { SourceConfig } from "./components/sourceEnvironment";
import * as v from "./components/validation";
import { DEFAULT_IPSEC_CIPHER, DEFAULT_IPSEC_TUNING, IpsecCipher } from "./scripts/ipsec";

export interface StackConfig {
    /** `aws:region`: where the AWS site lives. */
    awsRegion: string;
    /** `azure-native:location`: where the Azure site lives. */
    azureLocation: string;
    awsCidr: string;
    azureCidr: string;
    adminCidrs: string[];
    sshPublicKey: string;
    /** Secret: the private half of `sshPublicKey`, used by every remote command. */
    sshPrivateKey: pulumi.Output<string>;
    /** Secret, only for the `up` that rotates the admin key: the key the hosts still authorize. */
    previousSshPrivateKey?: pulumi.Output<string>;
    postgresVersion: number;
    replication: v.ReplicationMode;
    synchronous: v.SynchronousLevel;
    /** With a synchronous level: what the primary does while its standby is gone; "" with `off`. */
    synchronousStandbyLoss: v.SynchronousStandbyLoss | "";
    /** IKE/ESP proposals of the tunnel; AES-GCM-256 unless the stack picks another suite. */
    ipsecCipher: IpsecCipher;
    awsGatewayType: string;
    awsDbType: string;
    azureGatewaySize: string;
    azureDbSize: string;
    amiOverrides: Record<string, string>;
    clientCidrs: string[];
    dataDiskSizeGb: number;
    /** Where the primary lives; changing it is a planned switchover. */
    primary: v.PrimarySite;
    /** IKE SA and Child SA (ESP) lifetimes: how often the tunnel rekeys. */
    ipsecLifetimes: { ike: string; sa: string };
    /** The most WAL the primary keeps for a disconnected standby's slot (PostgreSQL size, e.g. 4GB). */
    maxSlotWalKeepSize: string;
    /** WAL segment size in MB a new cluster is created with (initdb --wal-segsize); fixed once created. */
    walSegmentSizeMb: number;
    /** The one divergence (SYSTEM_ID:TIMELINE:FORK_LSN) an old primary's rejoin may discard, saved first; "" for none. */
    discardDiverged: string;
    /** The running AWS environment the AWS site starts from, if any (else the program creates one). */
    source?: SourceConfig;
}

/** The `crosscloud:source*` keys as read, before they are checked. */
export interface RawSource {
    ids: v.SourceIds;
    stack?: string;
    primaryHostKey?: string;
    /** Whether `crosscloud:awsCidr` is set (else an existing environment's range is its VPC's). */
    awsCidrSet?: boolean;
}

export const DEFAULTS = {
    awsCidr: "10.10.0.0/16",
    azureCidr: "10.20.0.0/16",
    postgresVersion: 16,
    replication: "streaming",
    synchronous: "off",
    ipsecCipher: DEFAULT_IPSEC_CIPHER,
    awsGatewayType: "t3.small",
    awsDbType: "t3.medium",
    azureGatewaySize: "Standard_B2s",
    azureDbSize: "Standard_B2ms",
    dataDiskSizeGb: 64,
    primary: "aws",
    maxSlotWalKeepSize: "4GB",
    walSegmentSizeMb: 16,
    ipsecLifetimes: { ike: DEFAULT_IPSEC_TUNING.ikeLifetime, sa: DEFAULT_IPSEC_TUNING.saLifetime },
} as const;

/** Every problem with the raw values, as sentences that name the key and the fix. */
export function validateStackConfig(
    raw: Omit<StackConfig, "sshPrivateKey" | "previousSshPrivateKey" | "source">,
    sshPrivateKey: string | undefined,
    source: RawSource = { ids: {} },
    previousSshPrivateKey?: string,
): string[] {
    // With an existing environment and no awsCidr set, the AWS range is the VPC's: checked once it is read.
    const existing = source.stack !== undefined || Object.keys(source.ids).length > 0;
    const awsRangeKnown = !existing || source.awsCidrSet === true;
    return [
        ...validateSiteConfig(raw, sshPrivateKey, awsRangeKnown),
        ...v.problems(v.checkPreviousSshKey(previousSshPrivateKey, sshPrivateKey)),
        ...v.checkSource(source.ids, source.stack, source.primaryHostKey),
    ];
}

function validateSiteConfig(
    raw: Omit<StackConfig, "sshPrivateKey" | "previousSshPrivateKey" | "source">,
    sshPrivateKey: string | undefined,
    awsRangeKnown: boolean,
): string[] {
    return v.problems(
        v.checkSiteCidr("crosscloud:awsCidr", raw.awsCidr),
        v.checkSiteCidr("crosscloud:azureCidr", raw.azureCidr),
        awsRangeKnown ? v.checkSitesDisjoint(raw.awsCidr, raw.azureCidr) : undefined,
        v.checkAdminCidrs(raw.adminCidrs),
        v.checkClientCidrs(raw.clientCidrs),
        v.checkSshKeys(raw.sshPublicKey, sshPrivateKey),
        v.checkPostgresVersion(raw.postgresVersion),
        v.checkReplicationMode(raw.replication),
        v.checkSynchronous(raw.synchronous, raw.replication),
        v.checkSynchronousStandbyLoss(raw.synchronousStandbyLoss, raw.synchronous),
        v.checkIpsecCipher(raw.ipsecCipher),
        v.checkAmiOverrides(raw.amiOverrides),
        v.checkInstanceType("awsGatewayType", raw.awsGatewayType),
        v.checkInstanceType("awsDbType", raw.awsDbType),
        v.checkVmSize("azureGatewaySize", raw.azureGatewaySize),
        v.checkVmSize("azureDbSize", raw.azureDbSize),
        v.checkDataDiskSize(raw.dataDiskSizeGb),
        v.checkPrimarySite(raw.primary),
        v.checkIpsecLifetimes(raw.ipsecLifetimes),
        v.checkMaxSlotWalKeepSize(raw.maxSlotWalKeepSize),
        v.checkWalSegmentSize(raw.walSegmentSizeMb),
        v.checkDiscardDiverged(raw.discardDiverged),
    );
}

/**
 * Reads and checks the whole stack configuration. Throws one pulumi.ResourceError listing every
 * problem, so a bad stack fails before anything is created.
 */
export function loadConfig(): StackConfig {
    const cfg = new pulumi.Config("crosscloud");
    // Keys whose Pulumi.yaml default is "" (the CLI needs a default for every optional key): "" is unset.
    const optional = (key: string): string | undefined => {
        const value = cfg.get(key);
        return value === "" ? undefined : value;
    };
    const raw = {
        awsRegion: new pulumi.Config("aws").require("region"),
        azureLocation: new pulumi.Config("azure-native").require("location"),
        awsCidr: optional("awsCidr") ?? DEFAULTS.awsCidr,
        azureCidr: cfg.get("azureCidr") ?? DEFAULTS.azureCidr,
        adminCidrs: cfg.getObject<string[]>("adminCidrs") ?? [],
        sshPublicKey: cfg.get("sshPublicKey") ?? "",
        postgresVersion: cfg.getNumber("postgresVersion") ?? DEFAULTS.postgresVersion,
        replication: cfg.get<v.ReplicationMode>("replication") ?? DEFAULTS.replication,
        synchronous: cfg.get<v.SynchronousLevel>("synchronous") ?? DEFAULTS.synchronous,
        synchronousStandbyLoss: (optional("synchronousStandbyLoss") ?? "") as v.SynchronousStandbyLoss | "",
        ipsecCipher: cfg.get<IpsecCipher>("ipsecCipher") ?? DEFAULTS.ipsecCipher,
        awsGatewayType: cfg.get("awsGatewayType") ?? DEFAULTS.awsGatewayType,
        awsDbType: cfg.get("awsDbType") ?? DEFAULTS.awsDbType,
        azureGatewaySize: cfg.get("azureGatewaySize") ?? DEFAULTS.azureGatewaySize,
        azureDbSize: cfg.get("azureDbSize") ?? DEFAULTS.azureDbSize,
        amiOverrides: cfg.getObject<Record<string, string>>("amiOverrides") ?? {},
        clientCidrs: cfg.getObject<string[]>("clientCidrs") ?? [],
        dataDiskSizeGb: cfg.getNumber("dataDiskSizeGb") ?? DEFAULTS.dataDiskSizeGb,
        primary: cfg.get<v.PrimarySite>("primary") ?? DEFAULTS.primary,
        maxSlotWalKeepSize: cfg.get("maxSlotWalKeepSize") ?? DEFAULTS.maxSlotWalKeepSize,
        walSegmentSizeMb: cfg.getNumber("walSegmentSizeMb") ?? DEFAULTS.walSegmentSizeMb,
        discardDiverged: optional("discardDiverged") ?? "",
        ipsecLifetimes: { ...DEFAULTS.ipsecLifetimes, ...cfg.getObject<{ ike?: string; sa?: string }>("ipsecLifetimes") },
    };
    const rawSource: RawSource = {
        ids: Object.fromEntries(
            (Object.keys(v.SOURCE_ID_KEYS) as v.SourceIdName[])
                .map((n) => [n, optional(v.SOURCE_ID_KEYS[n].key)])
                .filter(([, value]) => value !== undefined),
        ),
        stack: optional("sourceStack"),
        primaryHostKey: optional("sourcePrimaryHostKey"),
        awsCidrSet: optional("awsCidr") !== undefined,
    };
    // The key is checked in plain text here and only ever used as a secret Output below.
    const previousKey = pulumi.runtime.getConfig("crosscloud:previousSshPrivateKey");
    const found = validateStackConfig(raw, pulumi.runtime.getConfig("crosscloud:sshPrivateKey"), rawSource, previousKey);
    if (found.length > 0) {
        throw configError(found);
    }
    const existing = rawSource.stack !== undefined || Object.keys(rawSource.ids).length > 0;
    const source: SourceConfig | undefined = existing
        ? {
              ...(rawSource.stack !== undefined ? { stack: rawSource.stack } : { ids: rawSource.ids }),
              primaryHostKey: rawSource.primaryHostKey!.trim(),
              allowPrimaryRestart: cfg.getBoolean("allowPrimaryRestart") ?? false,
              awsCidr: optional("awsCidr"),
              gatewayPrivateIp: optional("sourceGatewayPrivateIp"),
          }
        : undefined;
    return {
        ...raw,
        sshPrivateKey: cfg.requireSecret("sshPrivateKey"),
        // An empty value (the project default) means no rotation is under way.
        ...(previousKey ? { previousSshPrivateKey: cfg.requireSecret("previousSshPrivateKey") } : {}),
        ...(source ? { source } : {}),
    };
}

/** The one error a bad stack fails with: every problem, one per line. */
export function configError(found: string[]): pulumi.ResourceError {
    return new pulumi.ResourceError(`Invalid stack configuration:\n- ${found.join("\n- ")}`, undefined, true);
}
