// The PostgreSQL host steps: pure renderers of what the database hosts run (their files and scripts),
// shared by the PostgresReplicaPair component and the operator commands (npm run failover).
import {
    ADMIN_USER,
    ARCHIVE_DIR,
    ARCHIVE_KEY,
    ARCHIVE_KNOWN_HOSTS,
    HELPER_DIR,
    POSTGRES_ENV,
    POSTGRES_HOME,
    PROMOTING_FLAG,
    PostgresNode,
    REPLICATION_CONNINFO,
    REPLICATION_USER,
    SYNC_DEGRADED_CONF,
    SYNC_DEGRADE_AFTER_SECONDS,
    renderDatabaseSysctl,
    renderPgHba,
    renderPgpass,
    renderPostgresConf,
    scramVerifier,
    slotName,
} from "./postgres";
import { HostFile, HostScript, fillTemplate, renderInstalledScript } from "./render";

/** How long a switchover waits for the standby to replay the old primary's last WAL before it gives up. */
export const DEFAULT_CATCHUP_TIMEOUT_SECONDS = 60;
/** How long the final check waits for the standby to stream (or replay from the archive). */
export const DEFAULT_REPLICATION_CHECK_TIMEOUT_SECONDS = 180;

/**
 * The host constants (defined in postgres.ts, nowhere in the shell) each PostgreSQL step reads: those of
 * postgres-lib.sh, which every step includes, plus those of its own body. A step is given only these, so
 * that shellcheck (tests/shellcheck.test.ts) can tell a value a step no longer reads.
 */
const POSTGRES_LIB_VARS = { POSTGRES_HOME, PROMOTING_FLAG, REPLICATION_CONNINFO } as const;
export const POSTGRES_STEP_VARS = {
    node: { ...POSTGRES_LIB_VARS, ARCHIVE_DIR, REPLICATION_USER, SYNC_DEGRADED_CONF, SYNC_DEGRADE_AFTER_SECONDS },
    primary: { ...POSTGRES_LIB_VARS, HELPER_DIR, REPLICATION_USER, ADMIN_USER },
    fence: POSTGRES_LIB_VARS,
    promote: POSTGRES_LIB_VARS,
} as const;

/** The helpers installed in HELPER_DIR on both database hosts: their template and the constants each reads. */
const HELPERS = {
    "archive-wal": { template: "archive-wal.sh", vars: { ARCHIVE_DIR } },
    "serve-wal": { template: "serve-wal.sh", vars: { ARCHIVE_DIR } },
    "fetch-wal": { template: "fetch-wal.sh", vars: { PROMOTING_FLAG, ARCHIVE_KEY, ARCHIVE_KNOWN_HOSTS } },
    "slot-heal": { template: "slot-heal.sh", vars: { POSTGRES_ENV, POSTGRES_HOME } },
    "boot-fence": { template: "boot-fence.sh", vars: { POSTGRES_ENV, POSTGRES_HOME, REPLICATION_CONNINFO } },
    "fence-watch": { template: "fence-watch.sh", vars: { POSTGRES_ENV, POSTGRES_HOME, REPLICATION_CONNINFO } },
    "sync-watch": { template: "sync-watch.sh", vars: { POSTGRES_ENV, POSTGRES_HOME, SYNC_DEGRADED_CONF, SYNC_DEGRADE_AFTER_SECONDS } },
} satisfies Record<string, { template: string; vars: HostScript["vars"] }>;

/** A helper's name in HELPER_DIR. */
export type HelperName = keyof typeof HELPERS;

/** A helper as installed on a database host, its constants rendered in. */
export function renderHelper(name: HelperName): string {
    return renderInstalledScript(HELPERS[name].template, HELPERS[name].vars);
}

/** The unplanned-failover step (`npm run failover`): promote this standby now. */
export function promoteScript(version: number): HostScript {
    return {
        title: "unplanned failover: promote this standby now",
        body: ["postgres-lib.sh", "postgres-promote.sh"],
        vars: { PG_VERSION: version, REPLAY_TIMEOUT: 30, ...POSTGRES_STEP_VARS.promote },
    };
}

/** The first part of `npm run failover`, on the old primary when it can be reached: stop it, fenced. */
export function failoverFenceScript(version: number): HostScript {
    return {
        title: "unplanned failover: fence the old primary before its standby is promoted",
        body: ["postgres-lib.sh", "postgres-failover-fence.sh"],
        vars: { PG_VERSION: version, ...POSTGRES_STEP_VARS.fence },
    };
}

/** `restart`: apply settings that need a restart by restarting; `report`: leave them pending and say so. */
export type RestartPolicy = "restart" | "report";

/** What a database host's step needs besides its node: resolved secrets, keys and the host's disks. */
export interface PostgresSecrets {
    restartPolicy: RestartPolicy;
    replicatorPassword: string;
    adminPassword: string;
    archivePrivate: string;
    archivePublic: string;
    /** The peer database host's SSH host key, pinned for the archive pull. */
    peerHostKey: string;
    dataDevices: string[];
    retentionDays: number;
    /**
     * `crosscloud:discardDiverged`: `SYSTEM_ID:TIMELINE:FORK_LSN` of the one divergence whose transactions
     * (saved first) the rejoin of an old primary may discard; `""` for none.
     */
    discardDiverged: string;
}

/** The primary role's step: promotion after a fence, then roles, grants and the standby's slot. */
export function primaryRoleScript(
    node: PostgresNode,
    s: { replicatorPassword: string; adminPassword: string; fencedLsn: string },
): HostScript {
    return {
        title: `PostgreSQL ${node.version} primary role on the ${node.name} database host`,
        body: ["postgres-lib.sh", "postgres-primary.sh"],
        vars: {
            PG_VERSION: node.version,
            PEER_IP: node.peerIp,
            SLOT: slotName(node.peerName),
            REPLICATION: node.replication,
            REPLICATOR_VERIFIER: scramVerifier(REPLICATION_USER, s.replicatorPassword),
            ADMIN_VERIFIER: scramVerifier(ADMIN_USER, s.adminPassword),
            /** Where the fenced old primary's WAL ended (`none` when the fence stopped nothing). */
            FENCED_LSN: s.fencedLsn,
            CATCHUP_TIMEOUT: DEFAULT_CATCHUP_TIMEOUT_SECONDS,
            ...POSTGRES_STEP_VARS.primary,
        },
    };
}

/** One database host's step: disk, packages, cluster, files, and its role's local work. */
export function postgresScript(node: PostgresNode, s: PostgresSecrets): HostScript {
    const etc = `/etc/postgresql/${node.version}/main`;
    const postgres = "postgres:postgres";
    const helper = (name: HelperName): HostFile => ({
        path: `${HELPER_DIR}/${name}`,
        mode: "755",
        owner: "root:root",
        content: renderHelper(name),
    });
    const files: HostFile[] = [
        { path: `${etc}/conf.d/90-crosscloud.conf`, mode: "644", owner: postgres, content: renderPostgresConf(node), flag: "conf" },
        { path: `${etc}/pg_hba.conf`, mode: "640", owner: postgres, content: renderPgHba(node), flag: "hba" },
        {
            path: "/etc/sysctl.d/60-crosscloud-database.conf",
            mode: "644",
            owner: "root:root",
            content: renderDatabaseSysctl(),
            flag: "sysctl",
        },
        helper("archive-wal"),
        helper("serve-wal"),
        helper("fetch-wal"),
        {
            path: `${POSTGRES_HOME}/.ssh/authorized_keys`,
            mode: "600",
            owner: postgres,
            content: `restrict,from="${node.peerIp}",command="${HELPER_DIR}/serve-wal" ${s.archivePublic.trim()} crosscloud-wal-archive\n`,
        },
        { path: ARCHIVE_KEY, mode: "600", owner: postgres, content: s.archivePrivate },
        {
            path: ARCHIVE_KNOWN_HOSTS,
            mode: "644",
            owner: postgres,
            content: `${node.peerIp} ${s.peerHostKey.trim()}\n`,
        },
        { path: `${POSTGRES_HOME}/.pgpass`, mode: "600", owner: postgres, content: renderPgpass(node.peerIp, s.replicatorPassword) },
        {
            path: "/etc/systemd/system/crosscloud-wal-archive-prune.service",
            mode: "644",
            owner: "root:root",
            content: fillTemplate("wal-archive-prune.service", { ARCHIVE_DIR, RETENTION_MINUTES: s.retentionDays * 24 * 60 }),
            flag: "units",
        },
        {
            path: "/etc/systemd/system/crosscloud-wal-archive-prune.timer",
            mode: "644",
            owner: "root:root",
            content: fillTemplate("wal-archive-prune.timer", {}),
            flag: "units",
        },
        // On the primary, a slot invalidated by an outage longer than it keeps is replaced within ~30 s,
        // without waiting for a `pulumi up` (whose unchanged triggers would re-run no step).
        helper("slot-heal"),
        {
            path: "/etc/systemd/system/crosscloud-slot-heal.service",
            mode: "644",
            owner: "root:root",
            content: fillTemplate("slot-heal.service", { HELPER_DIR }),
            flag: "units",
        },
        {
            path: "/etc/systemd/system/crosscloud-slot-heal.timer",
            mode: "644",
            owner: "root:root",
            content: fillTemplate("slot-heal.timer", {}),
            flag: "units",
        },
        // At boot, a primary whose peer was promoted meanwhile starts as a read-only standby.
        helper("boot-fence"),
        {
            path: POSTGRES_ENV,
            mode: "644",
            owner: "root:root",
            content: `PG_VERSION=${node.version}\nPEER_IP=${node.peerIp}\nPEER_NAME=${node.peerName}\nPEER_SLOT=${node.replication === "streaming" ? slotName(node.peerName) : ""}\n`,
        },
        {
            path: "/etc/systemd/system/postgresql@.service.d/crosscloud-boot-fence.conf",
            mode: "644",
            owner: "root:root",
            content: `# Managed by crosscloud (Pulumi).\n[Service]\nExecStartPre=${HELPER_DIR}/boot-fence\n`,
            flag: "units",
        },
        // While running, a primary whose peer was promoted on a newer timeline (a partition) stops.
        helper("fence-watch"),
        {
            path: "/etc/systemd/system/crosscloud-fence-watch.service",
            mode: "644",
            owner: "root:root",
            content: fillTemplate("fence-watch.service", { HELPER_DIR }),
            flag: "units",
        },
        // crosscloud:synchronousStandbyLoss degrade: synchronous off while the standby is gone (enabled then only).
        helper("sync-watch"),
        {
            path: "/etc/systemd/system/crosscloud-sync-watch.service",
            mode: "644",
            owner: "root:root",
            content: fillTemplate("sync-watch.service", { HELPER_DIR }),
            flag: "units",
        },
    ];
    return {
        title: `PostgreSQL ${node.version} ${node.role} on the ${node.name} database host`,
        body: ["postgres-lib.sh", "sync-degrade.sh", "postgres-rejoin.sh", "postgres-node.sh"],
        vars: {
            PG_VERSION: node.version,
            ROLE: node.role,
            WAL_SEGMENT_MB: node.walSegmentSizeMb,
            DATA_DEVICES: s.dataDevices.join(" "),
            PEER_IP: node.peerIp,
            SLOT: slotName(node.name),
            REPLICATION: node.replication,
            RESTART_POLICY: s.restartPolicy,
            DISCARD_DIVERGED: s.discardDiverged,
            SYNCHRONOUS: node.synchronous,
            SYNC_STANDBY_LOSS: node.synchronousStandbyLoss,
            PEER_NAME: node.peerName,
            ...POSTGRES_STEP_VARS.node,
        },
        files,
    };
}

/**
 * The fence of a planned switchover, run on the host that is to be standby: stops PostgreSQL there if it
 * is still a primary, and promotes `peerIp` once it has replayed the stopped primary's last WAL.
 */
export function fenceScript(version: number, site: string, peerIp: string): HostScript {
    return {
        title: `fence: stop PostgreSQL on the ${site} database host if it is still a primary`,
        body: ["postgres-lib.sh", "postgres-fence.sh"],
        vars: { PG_VERSION: version, PEER_IP: peerIp, CATCHUP_TIMEOUT: DEFAULT_CATCHUP_TIMEOUT_SECONDS, ...POSTGRES_STEP_VARS.fence },
    };
}

/** The final check, run on the standby: waits (bounded) until it replicates from `peerIp`, and says how. */
export function replicationCheckScript(replication: PostgresNode["replication"], peerIp: string): HostScript {
    return {
        title: "wait until the standby replicates",
        body: "replication-check.sh",
        vars: { REPLICATION: replication, TIMEOUT: DEFAULT_REPLICATION_CHECK_TIMEOUT_SECONDS, PEER_IP: peerIp },
    };
}
