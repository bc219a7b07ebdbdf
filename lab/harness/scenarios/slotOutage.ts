// An outage longer than the slot keeps: with the WAN cut, the primary writes more WAL than
// max_slot_wal_keep_size; its pg_wal stays bounded and the slot is invalidated. Once the tunnel is back
// the standby catches up from the WAL archive (restore_command), and the next `pulumi up` recreates the
// slot (the program, not a hand); no pg_basebackup. CI variant: the keep size is lowered to 32MB with
// ALTER SYSTEM for this scenario (RESET after); LAB_SLOT_KEEP overrides it, LAB_SLOT_FILL_ROWS the WAL written.
import { labctl } from "../labCloud";
import { Lab, peerOf, psql, waitFor } from "../lab";
import { checksum, databaseOf, primaryLsn, replayedPast, streaming, tunnelUp, waitHealthy } from "../faults";

const KEEP = process.env.LAB_SLOT_KEEP ?? "32MB";
const FILL_ROWS = Number(process.env.LAB_SLOT_FILL_ROWS ?? 60000);

export async function slotOutage(lab: Lab): Promise<void> {
    await waitHealthy(lab, 120);
    const primary = databaseOf(lab.primary);
    const slot = `crosscloud_${peerOf(lab.primary)}`;
    const walDir = () =>
        psql(primary, "SELECT pg_size_pretty(sum(size)) || ' in ' || count(*) || ' files' FROM pg_ls_waldir()").then((s) => s.trim());
    await psql(primary, `ALTER SYSTEM SET max_slot_wal_keep_size = '${KEEP}'`);
    await psql(primary, "SELECT pg_reload_conf()");
    let lsnAtEnd = "";
    try {
        await lab.step(`WAN cut; the primary writes past max_slot_wal_keep_size ${KEEP}`, async () => {
            const before = await walDir();
            await labctl(["wan", "cut", "on"]);
            await psql(primary, "CREATE TABLE IF NOT EXISTS slot_filler (id bigint, pad text)");
            for (let i = 0; i < 3; i++) {
                await psql(primary, `INSERT INTO slot_filler SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, ${FILL_ROWS}) g`);
                await psql(primary, "SELECT pg_switch_wal(); CHECKPOINT");
            }
            await waitFor(
                `slot ${slot} invalidated (wal_status lost)`,
                120,
                async () => {
                    await psql(primary, "CHECKPOINT");
                    return (
                        (await psql(primary, `SELECT wal_status FROM pg_replication_slots WHERE slot_name = '${slot}'`)).trim() === "lost"
                    );
                },
                2000,
            );
            const after = await walDir();
            const maxWal = (await psql(primary, "SHOW max_wal_size")).trim();
            return `pg_wal ${before} before, ${after} after (max_wal_size ${maxWal}, keep ${KEEP}); slot ${slot} wal_status lost`;
        });
    } finally {
        await labctl(["wan", "cut", "off"]);
    }
    await lab.step("tunnel back: the standby catches up from the WAL archive (restore_command)", async () => {
        await psql(primary, "SELECT pg_switch_wal()");
        lsnAtEnd = await primaryLsn(lab);
        await waitFor("the tunnel back", 180, tunnelUp, 1000);
        // Everything up to the last archived segment comes from the archive; the tail waits for the slot.
        const archived = (await psql(primary, "SELECT last_archived_wal FROM pg_stat_archiver")).trim();
        const t = Date.now();
        await waitFor(
            `the standby to restore ${archived} from the archive`,
            300,
            async () => {
                const replayed = (await psql(databaseOf(peerOf(lab.primary)), "SELECT pg_walfile_name(pg_last_wal_replay_lsn())")).trim();
                return replayed >= archived.slice(0, 24) || (await replayedPast(lab, lsnAtEnd));
            },
            2000,
        );
        return `replayed up to the archived ${archived} in ${((Date.now() - t) / 1000).toFixed(1)} s`;
    });
    await lab.step("pulumi up recreates the invalidated slot; the standby streams again, no basebackup", async () => {
        const { cloud } = await lab.up();
        const rebuilt = cloud.commands.filter((c) => /basebackup|rebuil/i.test(c.stdout)).map((c) => c.name);
        if (rebuilt.length > 0) {
            throw new Error(`a step rebuilt the standby: ${rebuilt.join(", ")}`);
        }
        const recreated = cloud.commands.some((c) => /dropped invalidated .* replication slot/.test(c.stdout));
        await waitFor("the standby streaming from the recreated slot", 180, () => streaming(lab), 2000);
        await waitFor(`the standby past ${lsnAtEnd}`, 180, () => replayedPast(lab, lsnAtEnd), 1000);
        const slotNow = (
            await psql(primary, `SELECT wal_status || ' active=' || active FROM pg_replication_slots WHERE slot_name = '${slot}'`)
        ).trim();
        const a = await checksum(lab.primary);
        const b = await checksum(peerOf(lab.primary));
        if (a !== b) {
            throw new Error(`primary ${a}, standby ${b}`);
        }
        return `program ${recreated ? "dropped and recreated" : "did NOT recreate"} ${slot}: ${slotNow}; no basebackup; both sides ${a}; pg_wal now ${await walDir()}`;
    });
    await psql(primary, "ALTER SYSTEM RESET max_slot_wal_keep_size; DROP TABLE IF EXISTS slot_filler");
    await psql(primary, "SELECT pg_reload_conf()");
}
