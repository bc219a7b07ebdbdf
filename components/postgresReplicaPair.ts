import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { ADMIN_USER, PostgresNode, PostgresRole, renderPgHba, renderPostgresConf } from "../scripts/postgres";
import { RestartPolicy, fenceScript, postgresScript, primaryRoleScript, replicationCheckScript } from "../scripts/postgresSteps";
import { SshHostOutput } from "../scripts/ssh";
import { DatabaseHost, SshHost } from "./hosts";
import { hostStep, stepStatus } from "./hostStep";
import { hostCidr } from "./network";
import {
    ReplicationMode,
    SynchronousLevel,
    SynchronousStandbyLoss,
    checkClientCidrs,
    checkPostgresVersion,
    checkReplicationMode,
    checkSynchronous,
    checkSynchronousStandbyLoss,
    problems,
} from "./validation";

export const DEFAULT_MAX_SLOT_WAL_KEEP_SIZE = "4GB";
/** PostgreSQL's own default WAL segment size (MB). */
export const DEFAULT_WAL_SEGMENT_SIZE_MB = 16;
export const DEFAULT_ARCHIVE_RETENTION_DAYS = 7;

export interface PostgresReplicaPairArgs {
    /** PostgreSQL major version (`crosscloud:postgresVersion`). */
    version: number;
    /** `streaming` (slot + archive as catch-up path) or `log-shipping` (archive alone). */
    replication: ReplicationMode;
    /** `off`, or the level commits wait for on the standby (`crosscloud:synchronous`). */
    synchronous: SynchronousLevel;
    /**
     * With a synchronous level, required (`crosscloud:synchronousStandbyLoss`): `block` (no commit is
     * acknowledged while the standby is gone) or `degrade` (asynchronous after a few seconds without it,
     * synchronous again once it streams). Empty or absent with `off`.
     */
    synchronousStandbyLoss?: SynchronousStandbyLoss | "";
    /** The host that holds the primary. */
    primary: DatabaseHost;
    /** The host that holds the hot standby. */
    standby: DatabaseHost;
    /** Application CIDRs admitted to PostgreSQL on both hosts (TLS + SCRAM). */
    clientCidrs: string[];
    /** Admin SSH private key (secret). */
    sshPrivateKey: pulumi.Input<string>;
    /** Cap on WAL the standby's slot may hold in the primary's pg_wal. */
    maxSlotWalKeepSize?: string;
    /**
     * WAL segment size (MB, a power of 2) of the cluster the primary's host creates; the standby's base
     * backup inherits it. Fixed at creation: an existing cluster keeps its size (its step says so).
     * A switchover's shutdown pads the current segment and the standby must receive that padding
     * before it can be promoted, so a smaller segment shortens the write outage on a slow tunnel.
     */
    walSegmentSizeMb?: number;
    /**
     * `crosscloud:discardDiverged`: the one divergence (`SYSTEM_ID:TIMELINE:FORK_LSN`, as the rejoin step
     * reports it) whose transactions the rejoin of an old primary may discard, after saving them on its
     * data disk. Without it such a rejoin stops, naming what it saved and this key. Default `""`.
     */
    discardDiverged?: string;
    /** Days archived WAL is kept. */
    archiveRetentionDays?: number;
    /** What the primary's step waits for (its gateway's NAT, for packages). */
    primaryDependsOn?: pulumi.Resource[];
    /** What the standby's step waits for (the tunnel). */
    standbyDependsOn?: pulumi.Resource[];
    /**
     * Sites (`DatabaseHost.site`) whose database host the program did not create: a running
     * PostgreSQL it may restart only with consent (`allowExistingRestart`). Default: none.
     */
    existingSites?: string[];
    /**
     * `crosscloud:allowPrimaryRestart`: whether a setting that needs a restart (`archive_mode`,
     * `wal_log_hints`, `listen_addresses`, ...) may restart PostgreSQL on an existing host. Without it
     * the step leaves it running, prints `crosscloud: restart-needed: <settings>`, and the preview warns.
     * Default false.
     */
    allowExistingRestart?: boolean;
}

/**
 * A PostgreSQL primary and hot standby on two hosts: TLS + SCRAM replication through the tunnel, a
 * replication slot with bounded retention, a WAL archive on the primary's data disk that the standby
 * pulls from over SSH (a forced command, from the standby's address alone), and a final check.
 */
export class PostgresReplicaPair extends pulumi.ComponentResource {
    public readonly replicatorPassword: pulumi.Output<string>;
    public readonly adminPassword: pulumi.Output<string>;
    /** `postgresql://crosscloud_admin:...@primary:5432/postgres?sslmode=require` (secret). */
    public readonly connectionString: pulumi.Output<string>;
    /** e.g. `streaming from 10.10.1.10`. */
    public readonly status: pulumi.Output<string>;
    /**
     * What the standby host's last rejoin discarded with consent (`N transactions after the fork at LSN on
     * timeline T, saved in DIR`), or `none`.
     */
    public readonly rejoinDivergence: pulumi.Output<string>;
    /**
     * What the primary does about its standby, as its step reported it: `off (asynchronous: ...)`, or the
     * level, the standby and `standby loss: block` / `standby loss: degrade` with what that means.
     */
    public readonly synchronousMode: pulumi.Output<string>;
    /** Rendered config of each host, by role (no secret in it). */
    public readonly postgresConfs: Record<PostgresRole, string>;
    public readonly pgHbaConfs: Record<PostgresRole, string>;
    public readonly steps: command.remote.Command[];

    constructor(name: string, args: PostgresReplicaPairArgs, opts?: pulumi.ComponentResourceOptions) {
        super("crosscloud:db:PostgresReplicaPair", name, {}, opts);
        const found = problems(
            checkPostgresVersion(args.version),
            checkReplicationMode(args.replication),
            checkSynchronous(args.synchronous, args.replication),
            checkSynchronousStandbyLoss(args.synchronousStandbyLoss ?? "", args.synchronous),
            checkClientCidrs(args.clientCidrs),
        );
        if (found.length > 0) {
            throw new pulumi.ResourceError(found.join("\n"), this);
        }
        const parent = { parent: this };
        // Hosts that existed before the program are restarted only with consent; the preview says which way.
        const restartPolicy = (host: DatabaseHost): RestartPolicy =>
            (args.existingSites ?? []).includes(host.site) && !args.allowExistingRestart ? "report" : "restart";
        for (const site of args.existingSites ?? []) {
            void pulumi.log.warn(
                args.allowExistingRestart
                    ? `PostgreSQL on the existing ${site} database host will be restarted if a setting this program applies needs it (archive_mode, wal_log_hints, listen_addresses, ...): crosscloud:allowPrimaryRestart is true.`
                    : `PostgreSQL on the existing ${site} database host will not be restarted: settings that need a restart (archive_mode, wal_log_hints, listen_addresses, ...) stay pending and its step prints "crosscloud: restart-needed: <settings>"; set crosscloud:allowPrimaryRestart to true to allow the restart.`,
                this,
            );
        }
        const replicator = new random.RandomPassword(`${name}-replicator-password`, { length: 40, special: false }, parent);
        const admin = new random.RandomPassword(`${name}-admin-password`, { length: 40, special: false }, parent);
        // The standby pulls archived WAL from the primary with this key (and the reverse after a switchover).
        const archiveKey = new tls.PrivateKey(`${name}-wal-archive-key`, { algorithm: "ED25519" }, parent);

        const node = (host: DatabaseHost, peer: DatabaseHost, role: PostgresRole): PostgresNode => ({
            version: args.version,
            role,
            name: host.site,
            listenIp: host.privateIp,
            peerName: peer.site,
            peerIp: peer.privateIp,
            replication: args.replication,
            synchronous: args.synchronous,
            synchronousStandbyLoss: args.synchronous === "off" ? "" : (args.synchronousStandbyLoss ?? ""),
            clientCidrs: args.clientCidrs,
            maxSlotWalKeepSize: args.maxSlotWalKeepSize ?? DEFAULT_MAX_SLOT_WAL_KEEP_SIZE,
            walSegmentSizeMb: args.walSegmentSizeMb ?? DEFAULT_WAL_SEGMENT_SIZE_MB,
        });
        const primaryNode = node(args.primary, args.standby, "primary");
        const standbyNode = node(args.standby, args.primary, "standby");
        this.postgresConfs = { primary: renderPostgresConf(primaryNode), standby: renderPostgresConf(standbyNode) };
        this.pgHbaConfs = { primary: renderPgHba(primaryNode), standby: renderPgHba(standbyNode) };

        // Each host admits PostgreSQL and the archive pull from the other alone, and PostgreSQL from clients.
        const rules = [
            [args.primary, args.standby],
            [args.standby, args.primary],
        ].flatMap(([host, peer]) => [
            ...host.firewall.allow(
                {
                    name: `${name}-${host.site}-postgres-from-${peer.site}`,
                    kind: "postgres-from-peer",
                    protocol: "tcp",
                    port: 5432,
                    sources: [hostCidr(peer.privateIp)],
                    description: `PostgreSQL replication from the ${peer.site} database host`,
                },
                this,
            ),
            ...host.firewall.allow(
                {
                    name: `${name}-${host.site}-archive-from-${peer.site}`,
                    kind: "archive-from-peer",
                    protocol: "tcp",
                    port: 22,
                    sources: [hostCidr(peer.privateIp)],
                    description: `WAL archive pull (SSH, forced command) from the ${peer.site} database host`,
                },
                this,
            ),
            ...(args.clientCidrs.length > 0
                ? host.firewall.allow(
                      {
                          name: `${name}-${host.site}-postgres-from-clients`,
                          kind: "postgres-from-clients",
                          protocol: "tcp",
                          port: 5432,
                          sources: args.clientCidrs,
                          description: "PostgreSQL from the applications",
                      },
                      this,
                  )
                : []),
        ]);

        const retentionDays = args.archiveRetentionDays ?? DEFAULT_ARCHIVE_RETENTION_DAYS;
        const script = (host: DatabaseHost, peer: DatabaseHost, pgNode: PostgresNode) =>
            pulumi
                .all([
                    replicator.result,
                    admin.result,
                    archiveKey.privateKeyOpenssh,
                    archiveKey.publicKeyOpenssh,
                    peer.ssh.hostPublicKey,
                    host.dataDevices,
                ])
                .apply(([replicatorPassword, adminPassword, archivePrivate, archivePublic, peerHostKey, dataDevices]) =>
                    postgresScript(pgNode, {
                        restartPolicy: restartPolicy(host),
                        replicatorPassword,
                        adminPassword,
                        archivePrivate,
                        archivePublic,
                        peerHostKey,
                        dataDevices,
                        retentionDays,
                        discardDiverged: args.discardDiverged ?? "",
                    }),
                );
        // Steps are named after their host, not its role, so that a switchover re-runs them in place.
        // The order keeps the write outage of a switchover to the fence and the promotion alone:
        // the primary's host is prepared (still a standby, while the old primary takes writes) ->
        // fence (the host that is to be standby stops if it is still a primary) -> the primary role
        // (promotes once it has replayed the fenced primary's last WAL; roles, slot) -> the standby's
        // host (rejoins with pg_rewind, or is made by pg_basebackup) -> the check.
        const primaryNodeStep = hostStep(
            `${name}-${args.primary.site}-node`,
            { host: args.primary.ssh, privateKey: args.sshPrivateKey, script: script(args.primary, args.standby, primaryNode) },
            { parent: this, dependsOn: [...args.primary.ready, ...rules, ...(args.primaryDependsOn ?? [])] },
        );
        const fence = hostStep(
            `${name}-fence`,
            {
                host: args.standby.ssh,
                privateKey: args.sshPrivateKey,
                script: pulumi.output(fenceScript(args.version, args.standby.site, args.primary.privateIp)),
            },
            { parent: this, dependsOn: [primaryNodeStep, ...args.standby.ready, ...rules, ...(args.standbyDependsOn ?? [])] },
        );
        // Only an LSN (or "none") may reach the next script, which puts it in SQL.
        const fencedAt = fence.stdout.apply(
            (out) => /^crosscloud: fenced-at: ([0-9A-F]{1,8}\/[0-9A-F]{1,8})$/m.exec(out ?? "")?.[1] ?? "none",
        );
        const primaryRole = hostStep(
            `${name}-primary`,
            {
                host: args.primary.ssh,
                privateKey: args.sshPrivateKey,
                script: pulumi
                    .all([replicator.result, admin.result, fencedAt])
                    .apply(([replicatorPassword, adminPassword, fencedLsn]) =>
                        primaryRoleScript(primaryNode, { replicatorPassword, adminPassword, fencedLsn }),
                    ),
            },
            { parent: this, dependsOn: [fence] },
        );
        const standbyStep = hostStep(
            `${name}-${args.standby.site}-node`,
            { host: args.standby.ssh, privateKey: args.sshPrivateKey, script: script(args.standby, args.primary, standbyNode) },
            { parent: this, dependsOn: [primaryRole, ...args.standby.ready, ...rules, ...(args.standbyDependsOn ?? [])] },
        );
        const check = hostStep(
            `${name}-check`,
            {
                host: args.standby.ssh,
                privateKey: args.sshPrivateKey,
                script: pulumi.output(replicationCheckScript(args.replication, args.primary.privateIp)),
            },
            { parent: this, dependsOn: [standbyStep] },
        );
        this.steps = [primaryNodeStep, fence, primaryRole, standbyStep, check];

        this.replicatorPassword = replicator.result;
        this.adminPassword = admin.result;
        this.connectionString = pulumi.secret(
            pulumi.interpolate`postgresql://${ADMIN_USER}:${admin.result}@${args.primary.privateIp}:5432/postgres?sslmode=require`,
        );
        this.status = stepStatus(check);
        this.rejoinDivergence = standbyStep.stdout.apply(
            (out) =>
                /^crosscloud: changed: discarded here, with consent \(crosscloud:discardDiverged\), (.*) \(at \+[0-9.]+ s\)$/m.exec(
                    out ?? "",
                )?.[1] ?? "none",
        );
        this.synchronousMode = primaryNodeStep.stdout.apply((out) => /^crosscloud: synchronous: (.*)$/m.exec(out ?? "")?.[1] ?? "unknown");
        this.registerOutputs({
            replicatorPassword: this.replicatorPassword,
            adminPassword: this.adminPassword,
            connectionString: this.connectionString,
            status: this.status,
            rejoinDivergence: this.rejoinDivergence,
            synchronousMode: this.synchronousMode,
        });
    }
}

/** Resolves a host's SSH coordinates (no secret in them). */
export function sshHostOutput(host: SshHost): pulumi.Output<SshHostOutput> {
    return pulumi
        .all([host.address, host.hostPublicKey, host.via ? sshHostOutput(host.via) : undefined])
        .apply(([address, hostKey, via]) => ({
            address,
            user: host.user,
            hostKey,
            ...(via ? { via } : {}),
        }));
}
