// An outage longer than the slot keeps: with the WAN cut and the load client writing, the primary writes
// several times max_slot_wal_keep_size of WAL. The WAL held back for the slot stays within the setting
// (pg_wal bounded) and the slot is invalidated; the program's slot-heal timer on the primary replaces it
// (no `pulumi up`, no hand); once the tunnel is back the standby restores the missing WAL from the archive
// (restore_command, fetch-wal), then streams through the new slot. No pg_basebackup: the standby's server
// is never restarted. The keep size is lowered to 32MB with ALTER SYSTEM for this scenario and RESET after
// (LAB_SLOT_KEEP_MB overrides it, LAB_SLOT_FILL_MB the WAL written during the cut).
import { labctl } from "../harness/labCloud";
import { Lab, peerOf, psql, shell, waitFor } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { compareAfterLoad, databaseOf, primaryLsn, replayedPast, streaming, tunnelUp, waitHealthy } from "../harness/faults";

const KEEP_MB = Number(process.env.LAB_SLOT_KEEP_MB ?? 32);
const FILL_MB = Number(process.env.LAB_SLOT_FILL_MB ?? 3 * KEEP_MB);
/** Rows of slot_filler a chunk (a row's pad is 960 bytes: about 10 MB of heap, 20-30 MB of WAL measured). */
const CHUNK_ROWS = 10000;

const mb = (bytes: number) => bytes / 1024 / 1024;
/** Bytes of WAL segments older than the last checkpoint's redo point: kept only for the slot (wal_keep_size is 0). */
const HELD_FOR_SLOT_SQL =
    "SELECT coalesce(sum(size), 0) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$' AND name < pg_walfile_name((pg_control_checkpoint()).redo_lsn)";

export async function slotOutage(lab: Lab): Promise<void> {
    await waitHealthy(lab, 120);
    const primary = databaseOf(lab.primary);
    const standby = databaseOf(peerOf(lab.primary));
    const slot = `crosscloud_${peerOf(lab.primary)}`;
    const number = async (host: string, sql: string) => Number((await psql(host, sql)).trim());
    const walDirMb = async () => mb(await number(primary, "SELECT sum(size) FROM pg_ls_waldir()"));
    // The cluster's own segment size (crosscloud:walSegmentSizeMb when it was created).
    const segmentMb = mb(await number(primary, "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'"));
    const postgresLog = `/var/log/postgresql/postgresql-${Number(lab.stack["crosscloud:postgresVersion"] ?? 15)}-main.log`;
    const standbyStarted = (await psql(standby, "SELECT pg_postmaster_start_time()")).trim();
    const standbyLogLines = Number((await shell(standby, `wc -l < ${postgresLog}`)).trim());
    const heal = (since: number) =>
        shell(primary, `journalctl -u crosscloud-slot-heal.service --since @${since} --no-pager -o cat | grep 'replaced' || true`);
    await psql(primary, `ALTER SYSTEM SET max_slot_wal_keep_size = '${KEEP_MB}MB'`);
    await psql(primary, "SELECT pg_reload_conf()");
    const load = new LoadClient(lab);
    try {
        await load.start();
        const cutAt = Math.floor(Date.now() / 1000);
        let cutSeconds = 0;
        let lsnAtEnd = "";
        try {
            await lab.step(`WAN cut under load; the primary writes ${FILL_MB} MB of WAL, max_slot_wal_keep_size ${KEEP_MB}MB`, async () => {
                const t = Date.now();
                const startLsn = await primaryLsn(lab);
                await labctl(["wan", "cut", "on"]);
                let maxWal = 0;
                let maxHeld = 0;
                // Chunks until FILL_MB of WAL are written (rows, full-page images after each checkpoint and the
                // autovacuum's hint bits all count), a checkpoint after each so the slot's bound is applied.
                const writtenMb = async () => mb(await number(primary, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${startLsn}')`));
                // One round trip a chunk (each psql through the lab's control channel costs seconds).
                const chunk = `CREATE TABLE IF NOT EXISTS slot_filler (id bigint, pad text);
                INSERT INTO slot_filler SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, ${CHUNK_ROWS}) g;
                SELECT pg_switch_wal(); CHECKPOINT;
                SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${startLsn}') || '|' || (SELECT sum(size) FROM pg_ls_waldir()) || '|' ||
                    (${HELD_FOR_SLOT_SQL});`;
                for (let written = 0; written < FILL_MB;) {
                    const last = (await shell(primary, "runuser -u postgres -- psql -X -At -q -v ON_ERROR_STOP=1", chunk))
                        .trim()
                        .split("\n")
                        .pop();
                    const [w, wal, held] = (last ?? "").split("|").map(Number);
                    [written, maxWal, maxHeld] = [mb(w), Math.max(maxWal, mb(wal)), Math.max(maxHeld, mb(held))];
                }
                // Invalidated: lost now, or already replaced by the slot-heal timer (every 30 s).
                await waitFor(
                    `slot ${slot} invalidated (wal_status lost, or replaced by crosscloud-slot-heal)`,
                    90,
                    async () => {
                        await psql(primary, "CHECKPOINT");
                        const status = (
                            await psql(primary, `SELECT wal_status FROM pg_replication_slots WHERE slot_name = '${slot}'`)
                        ).trim();
                        return status === "lost" || (await heal(cutAt)).trim() !== "";
                    },
                    2000,
                );
                const written = await writtenMb();
                await psql(primary, "SELECT pg_switch_wal()");
                lsnAtEnd = await primaryLsn(lab);
                cutSeconds = (Date.now() - t) / 1000;
                // The bound: WAL held behind the last checkpoint for the slot never passes the setting (plus
                // the segment the limit falls in); pg_wal as a whole also holds max_wal_size's recycled segments.
                if (maxHeld > KEEP_MB + segmentMb) {
                    throw new Error(`pg_wal held ${maxHeld} MB for the slot, more than max_slot_wal_keep_size ${KEEP_MB}MB + one segment`);
                }
                if (written < 2 * KEEP_MB) {
                    throw new Error(`only ${written.toFixed(0)} MB of WAL written during the cut: not longer than the slot keeps`);
                }
                return (
                    `${written.toFixed(0)} MB of WAL written during the cut; held for the slot at most ${maxHeld} MB ` +
                    `(bound ${KEEP_MB} MB + one ${segmentMb} MB segment); pg_wal at most ${maxWal.toFixed(0)} MB ` +
                    `(max_wal_size ${(await psql(primary, "SHOW max_wal_size")).trim()}); slot ${slot} invalidated`
                );
            });
        } finally {
            await labctl(["wan", "cut", "off"]);
            cutSeconds = cutSeconds || Date.now() / 1000 - cutAt;
        }
        await lab.step(`tunnel back after a ${cutSeconds.toFixed(0)} s cut: the standby catches up from the WAL archive`, async () => {
            const t = Date.now();
            const tunnelSeconds = await waitFor("the tunnel back", 180, tunnelUp, 1000);
            const archived = (await psql(primary, "SELECT last_archived_wal FROM pg_stat_archiver")).trim();
            const caughtUp = await waitFor(
                `the standby to replay past ${lsnAtEnd} (the cut's last WAL)`,
                240,
                () => replayedPast(lab, lsnAtEnd),
                1000,
            );
            const restored = Number(
                (await shell(standby, `tail -n +${standbyLogLines + 1} ${postgresLog} | grep -c 'restored log file' || true`)).trim(),
            );
            if (restored === 0) {
                throw new Error(
                    `the standby caught up without restoring a WAL file from the archive: the scenario did not outlast the slot`,
                );
            }
            return `tunnel ${tunnelSeconds.toFixed(1)} s after the link came back; the standby replayed the cut's WAL ${caughtUp.toFixed(1)} s later (${((Date.now() - t) / 1000).toFixed(1)} s from link back), ${restored} WAL files restored from the archive (up to ${archived})`;
        });
        await lab.step("the standby streams through the slot the program replaced; no base backup; nothing lost", async () => {
            const streamingAfter = await waitFor("the standby streaming again", 180, () => streaming(lab), 1000);
            const slotNow = await waitFor(
                `slot ${slot} reserved and active`,
                90,
                async () =>
                    (
                        await psql(
                            primary,
                            `SELECT wal_status = 'reserved' AND active FROM pg_replication_slots WHERE slot_name = '${slot}'`,
                        )
                    ).trim() === "t",
                1000,
            );
            const replacedBy = (await heal(cutAt)).trim();
            if (replacedBy === "") {
                throw new Error(
                    `slot ${slot} is healthy again but crosscloud-slot-heal did not replace it: ${await psql(primary, "SELECT * FROM pg_replication_slots")}`,
                );
            }
            const startedNow = (await psql(standby, "SELECT pg_postmaster_start_time()")).trim();
            if (startedNow !== standbyStarted) {
                throw new Error(`the standby's server was restarted (${standbyStarted} → ${startedNow}): rebuilt instead of caught up`);
            }
            const basebackups = (
                await shell(
                    standby,
                    `tail -n +${standbyLogLines + 1} ${postgresLog} | grep -ci 'basebackup\\|database system was interrupted' || true`,
                )
            ).trim();
            const commits = await load.stop();
            const compared = await compareAfterLoad(lab, load, commits);
            return `streaming ${streamingAfter.toFixed(1)} s after the catch-up, slot reserved+active ${slotNow.toFixed(1)} s; ${replacedBy.split("\n").length} replacement(s) by crosscloud-slot-heal.timer (${replacedBy.split("\n").pop()}); standby server up since ${standbyStarted} (no restart, ${basebackups} base backup lines); ${compared}`;
        });
    } finally {
        // The lab as it was: default keep size, no filler, load stopped, streaming.
        await load.stop().catch(() => []);
        await psql(primary, "ALTER SYSTEM RESET max_slot_wal_keep_size");
        await psql(primary, "SELECT pg_reload_conf()");
        await psql(primary, "DROP TABLE IF EXISTS slot_filler");
    }
    await lab.step("default restored: max_slot_wal_keep_size reset, filler dropped, streaming", async () => {
        await waitHealthy(lab, 120);
        return `max_slot_wal_keep_size ${(await psql(primary, "SHOW max_slot_wal_keep_size")).trim()}; pg_wal ${(await walDirMb()).toFixed(0)} MB`;
    });
}
