// Database restarts under write load: the standby's and the primary's PostgreSQL restarted, then each
// database host rebooted. Replication resumes from the slot by itself, and nothing committed is lost.
import { labctl } from "../harness/labCloud";
import { Lab, peerOf, psql, shell, waitFor } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { compareAfterLoad, databaseOf, primaryLsn, replayedPast, streaming, waitHealthy } from "../harness/faults";

/** The primary's replication slots: name, active, wal_status. */
const slots = async (lab: Lab) =>
    (
        await psql(
            databaseOf(lab.primary),
            "SELECT slot_name || ' active=' || active || ' ' || coalesce(wal_status, '') FROM pg_replication_slots",
        )
    )
        .trim()
        .replace(/\n/g, ", ");

/** Waits until the standby streams from the slot again and replayed what the primary had when the fault began. */
async function resumed(lab: Lab, lsn: string, what: string): Promise<string> {
    const t = Date.now();
    await waitFor(`the standby streaming again after ${what}`, 240, () => streaming(lab), 1000);
    const stream = (Date.now() - t) / 1000;
    await waitFor(`the standby past ${lsn} after ${what}`, 180, () => replayedPast(lab, lsn), 500);
    const slot = await slots(lab);
    if (!/active=true/.test(slot)) {
        throw new Error(`after ${what} the slot is not in use: ${slot}`);
    }
    return `streaming again ${stream.toFixed(1)} s, caught up ${((Date.now() - t) / 1000).toFixed(1)} s after it came back; slot ${slot}`;
}

export async function databaseRestart(lab: Lab): Promise<void> {
    await waitHealthy(lab, 120);
    const primary = databaseOf(lab.primary);
    const standby = databaseOf(peerOf(lab.primary));
    const load = new LoadClient(lab);
    await load.start();
    for (const [host, role] of [
        [standby, "standby"],
        [primary, "primary"],
    ] as const) {
        await lab.step(`${role}'s PostgreSQL restarted (${host}), under load`, async () => {
            const lsn = await primaryLsn(lab);
            const t = Date.now();
            await shell(host, "systemctl restart postgresql");
            const restart = (Date.now() - t) / 1000;
            return `restart ${restart.toFixed(1)} s; ${await resumed(lab, lsn, `the ${role}'s restart`)}`;
        });
    }
    for (const [host, role] of [
        [standby, "standby"],
        [primary, "primary"],
    ] as const) {
        await lab.step(`${role} host rebooted (${host}), under load`, async () => {
            const lsn = await primaryLsn(lab);
            const t = Date.now();
            await labctl(["host-reboot", host, "--wait"]);
            await labctl(["host-wait", host, "180"]);
            const booted = (Date.now() - t) / 1000;
            const units = (
                await shell(
                    host,
                    "systemctl is-enabled postgresql; systemctl is-active postgresql; findmnt -n -o SOURCE /var/lib/postgresql || echo 'no data disk mount'",
                )
            )
                .trim()
                .replace(/\n/g, ", ");
            return `host back ${booted.toFixed(1)} s (postgresql ${units}); ${await resumed(lab, lsn, `the ${role} host's reboot`)}`;
        });
    }
    await lab.step("writes resumed on the primary, 0 committed rows lost, both sides identical", async () => {
        const before = (await load.commits()).length;
        await waitFor("new commits on the primary after its reboot", 120, async () => (await load.commits()).length > before + 3);
        return compareAfterLoad(lab, load, await load.stop());
    });
}
