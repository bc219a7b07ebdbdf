// PostgreSQL configuration of the two database hosts. Both hosts get the same shape (so a later
// switchover only moves the standby role): the role decides standby settings alone.
import { createHash, createHmac, pbkdf2Sync } from "crypto";

export type PostgresRole = "primary" | "standby";

// Host constants: defined here once, rendered into the host scripts as shell variables (postgresSteps.ts).
/** The replication login; also used by pg_rewind over an ordinary connection. */
export const REPLICATION_USER = "replicator";
/** The administrative login handed out in the connection string. */
export const ADMIN_USER = "crosscloud_admin";
/** The postgres user's home (the data disk's mount point): .pgpass and the archive-pull key live here. */
export const POSTGRES_HOME = "/var/lib/postgresql";
/** WAL archive: on the data disk, outside PGDATA and pg_wal, with its own retention. */
export const ARCHIVE_DIR = `${POSTGRES_HOME}/wal-archive`;
/** The archive-pull key's private half and the peer's pinned host key, for fetch-wal. */
export const ARCHIVE_KEY = `${POSTGRES_HOME}/.ssh/crosscloud_wal`;
export const ARCHIVE_KNOWN_HOSTS = `${POSTGRES_HOME}/.ssh/known_hosts_crosscloud`;
/** Helper scripts installed on both database hosts. */
export const HELPER_DIR = "/usr/local/lib/crosscloud";
/** What the boot fence and slot-heal know of the pair (PG_VERSION, PEER_IP, PEER_SLOT), sourced by them. */
export const POSTGRES_ENV = "/etc/crosscloud/postgres.env";
/** Present while a promotion runs (in /run: gone at boot): fetch-wal then gives up at once. */
export const PROMOTING_FLAG = "/run/crosscloud/promoting";
/**
 * The replication login's connection to the peer, less its `host=`: primary_conninfo and the host
 * scripts' own peer connections add the host and what they need (timeouts, dbname).
 */
export const REPLICATION_CONNINFO = `port=5432 user=${REPLICATION_USER} passfile=${POSTGRES_HOME}/.pgpass sslmode=require`;

export interface PostgresNode {
    version: number;
    role: PostgresRole;
    /** This host's name in replication (`application_name`, slot name), e.g. "azure". */
    name: string;
    /** This host's private address: the only one PostgreSQL listens on besides localhost. */
    listenIp: string;
    /** The other database host (the standby's primary, or the primary's standby). */
    peerName: string;
    peerIp: string;
    replication: "streaming" | "log-shipping";
    synchronous: "off" | "remote_write" | "on" | "remote_apply";
    /** With a synchronous level: `block` or `degrade` while the standby is gone ("" when off). */
    synchronousStandbyLoss: "block" | "degrade" | "";
    /** Application networks allowed in (hostssl + scram-sha-256). */
    clientCidrs: string[];
    /** Cap on WAL a replication slot may hold in pg_wal; past it the standby catches up from the archive. */
    maxSlotWalKeepSize: string;
    /** WAL segment size (MB) of a cluster this host creates; a base backup brings the primary's instead. */
    walSegmentSizeMb: number;
}

/**
 * In `degrade` mode, how long a primary's commits may wait for a standby that is not streaming before
 * the sync-watch helper turns synchronous replication off (until the standby streams again).
 */
export const SYNC_DEGRADE_AFTER_SECONDS = 5;

/** conf.d file the sync-watch helper writes while a `degrade` primary runs asynchronously. */
export const SYNC_DEGRADED_CONF = "95-crosscloud-degraded.conf";

/** The physical replication slot a standby named `standbyName` uses on its primary. */
export function slotName(standbyName: string): string {
    return `crosscloud_${standbyName.replace(/[^a-z0-9_]/g, "_")}`;
}

/** conf.d/90-crosscloud.conf: settings of both roles, plus the standby's. */
export function renderPostgresConf(node: PostgresNode): string {
    const sync = node.role === "primary" && node.synchronous !== "off";
    const lines = [
        "# Managed by crosscloud (Pulumi): local edits are overwritten on the next `pulumi up`.",
        `listen_addresses = 'localhost,${node.listenIp}'`,
        "password_encryption = 'scram-sha-256'",
        "ssl = on",
        // The host's own certificate (ssl-cert's snakeoil); replication checks TLS is on (sslmode=require).
        "ssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem'",
        "ssl_key_file = '/etc/ssl/private/ssl-cert-snakeoil.key'",
        "wal_level = replica",
        "# pg_rewind needs hint bits in WAL to turn an old primary into a standby after a switchover.",
        "wal_log_hints = on",
        "max_wal_senders = 10",
        "max_replication_slots = 10",
        `max_slot_wal_keep_size = '${node.maxSlotWalKeepSize}'`,
        "# A walsender whose standby vanished mid-send (a WAN cut) blocks in its socket write until TCP gives up",
        "# (~15 min), and a checkpoint invalidating its slot waits for it: no checkpoint, pg_wal past the slot's",
        "# bound. Unacknowledged data ends such a connection after 60 s instead (the lab's slotOutage scenario).",
        "tcp_user_timeout = '60s'",
        "# PostgreSQL's default checkpoint spacing, stated: initdb scales these with the WAL segment size",
        "# (crosscloud:walSegmentSizeMb 4 would give 256MB), which should not change how often checkpoints run.",
        "max_wal_size = '1GB'",
        "min_wal_size = '80MB'",
        "hot_standby = on",
        "hot_standby_feedback = on",
        "# Every finished segment goes to the archive on the data disk (the catch-up path after long outages).",
        "archive_mode = on",
        `archive_command = '${HELPER_DIR}/archive-wal %p %f'`,
        // Log shipping alone sees only finished segments: bound the lag to a minute.
        `archive_timeout = ${node.replication === "log-shipping" ? 60 : 0}`,
        sync
            ? [
                  `# Zero-loss mode: commits wait for the standby (${node.synchronous}).`,
                  node.synchronousStandbyLoss === "degrade"
                      ? `# While it is gone (${SYNC_DEGRADE_AFTER_SECONDS} s without streaming), crosscloud's sync-watch writes ${SYNC_DEGRADED_CONF}: asynchronous until it streams again.`
                      : "# While it is gone, writes wait (crosscloud:synchronousStandbyLoss block). crosscloud's own statements commit locally.",
                  `synchronous_standby_names = '"${node.peerName}"'`,
                  `synchronous_commit = ${node.synchronous}`,
              ].join("\n")
            : "synchronous_standby_names = ''\nsynchronous_commit = on",
    ];
    if (node.role === "standby") {
        // recovery_target_timeline is left at its default, 'latest': a restart-only setting that the
        // primary lacked would make every promotion restart the new primary.
        lines.push(`# Standby of the primary at ${node.peerIp}.`);
        if (node.replication === "streaming") {
            lines.push(
                `primary_conninfo = 'host=${node.peerIp} ${REPLICATION_CONNINFO} application_name=${node.name}'`,
                `primary_slot_name = '${slotName(node.name)}'`,
            );
        }
        lines.push(
            "# /bin/sh first declines what fetch-wal would decline without asking the peer (a promotion under way,",
            "# streaming wrote to pg_wal in the last 3 s): fetch-wal is a bash script, and its start alone cost",
            "# tenths of a second on a small VM twice in every promotion (the timeline-history lookups), inside a",
            "# switchover's write outage. fetch-wal makes the same checks again.",
            `restore_command = '${restoreCommand(node.peerIp)}'`,
            "# A promotion that arrives while the standby looks for WAL (the old primary just stopped) is acted on only",
            "# after this retry wait (PostgreSQL 15 sleeps it out even once promoted: 4.8 s of a 12 s switchover in the",
            "# lab at the default 5s). 1s bounds that; the cost is a retry a second while no source has WAL.",
            "wal_retrieve_retry_interval = '1s'",
        );
    }
    return `${lines.join("\n")}\n`;
}

/**
 * The standby's restore_command (PostgreSQL runs it with /bin/sh -c in the data directory): the cheap checks
 * of fetch-wal.sh in the shell itself, then fetch-wal. Double quotes only: it sits in a single-quoted
 * postgresql.conf string.
 */
export function restoreCommand(peerIp: string): string {
    // Streamed since fetch-wal's last restore (its mark, once it has restored anything), in the last 3 s.
    const recentlyStreamed = `find pg_wal -maxdepth 1 -name "0*" -newermt "-3 seconds" $since_restore -print -quit 2>/dev/null`;
    return (
        'since_restore=; [ ! -e crosscloud.restored ] || since_restore="-newer crosscloud.restored"; ' +
        [
            `[ ! -e ${PROMOTING_FLAG} ]`,
            "[ ! -e promote ]",
            `[ -z "$(${recentlyStreamed})" ]`,
            `exec ${HELPER_DIR}/fetch-wal ${peerIp} %f %p`,
        ].join(" && ")
    );
}

/** /etc/sysctl.d/60-crosscloud-database.conf on each database host. */
export function renderDatabaseSysctl(): string {
    return [
        "# Managed by crosscloud (Pulumi).",
        "# BBR instead of CUBIC: on a lossy, high-latency path between clouds CUBIC's rate falls to a few",
        "# Mbit/s (about MSS/RTT x 1.22/sqrt(loss): 2 Mbit/s at 80 ms and 1 % loss), and a switchover's rejoin",
        "# (pg_rewind), a base backup or a catch-up after a cut then waits on it. The kernel loads tcp_bbr",
        "# when this is set.",
        "net.ipv4.tcp_congestion_control = bbr",
        "",
    ].join("\n");
}

/** pg_hba.conf: local peer auth, TLS + SCRAM for the peer's replication and for clients, nothing else. */
export function renderPgHba(node: PostgresNode): string {
    const row = (type: string, db: string, user: string, address: string, method: string) =>
        `${type.padEnd(9)}${db.padEnd(13)}${user.padEnd(18)}${address.padEnd(20)}${method}`.trimEnd();
    const peer = `${node.peerIp}/32`;
    return [
        "# Managed by crosscloud (Pulumi).",
        row("# TYPE", "DATABASE", "USER", "ADDRESS", "METHOD"),
        row("local", "all", "postgres", "", "peer"),
        row("local", "all", "all", "", "peer"),
        row("host", "all", "all", "127.0.0.1/32", "scram-sha-256"),
        "# The other database host, through the tunnel: streaming replication, and pg_rewind.",
        row("hostssl", "replication", REPLICATION_USER, peer, "scram-sha-256"),
        row("hostssl", "postgres", REPLICATION_USER, peer, "scram-sha-256"),
        // Without this, the client lines' "all all" would admit the replication role from an application
        // network, where a logical replication connection (replication=database) could stream every change.
        "# The replication role from anywhere else is refused, application networks included.",
        row("host", "all", REPLICATION_USER, "0.0.0.0/0", "reject"),
        ...(node.clientCidrs.length > 0 ? ["# Applications (crosscloud:clientCidrs)."] : []),
        ...node.clientCidrs.map((cidr) => row("hostssl", "all", "all", cidr, "scram-sha-256")),
        "# Anything else, and anything without TLS, is refused.",
        row("host", "all", "all", "0.0.0.0/0", "reject"),
        "",
    ].join("\n");
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802/7677, 4096 iterations).
 * Setting the verifier instead of the password keeps the password out of SQL text and server logs.
 * The salt is derived from password and role, so the same inputs give the same verifier and a
 * re-run changes nothing.
 */
export function scramVerifier(role: string, password: string): string {
    const salt = createHmac("sha256", password).update(`crosscloud-salt:${role}`).digest().subarray(0, 16);
    const keys = scramKeys(password, salt, SCRAM_ITERATIONS);
    return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString("base64")}$${keys.storedKey.toString("base64")}:${keys.serverKey.toString("base64")}`;
}

/** PostgreSQL's default iteration count (scram_iterations). */
export const SCRAM_ITERATIONS = 4096;

/** StoredKey and ServerKey of RFC 5802 for a password (ASCII, as the program's are) and salt. */
export function scramKeys(password: string, salt: Buffer, iterations: number): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
    const salted = pbkdf2Sync(password.normalize("NFKC"), salt, iterations, 32, "sha256");
    const clientKey = createHmac("sha256", salted).update("Client Key").digest();
    return {
        clientKey,
        storedKey: createHash("sha256").update(clientKey).digest(),
        serverKey: createHmac("sha256", salted).update("Server Key").digest(),
    };
}

/** `.pgpass` of the postgres user: the replication password for the peer (both directions). */
export function renderPgpass(peerIp: string, password: string): string {
    return [
        `${peerIp}:5432:replication:${REPLICATION_USER}:${password}`,
        `${peerIp}:5432:postgres:${REPLICATION_USER}:${password}`,
        "",
    ].join("\n");
}
