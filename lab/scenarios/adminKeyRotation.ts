// Rotating the admin key on a running stack, as the README's runbook says: set the new key pair and
// crosscloud:previousSshPrivateKey, `pulumi up`, then remove previousSshPrivateKey and `up` again.
// Under load: the new key works on all four hosts (directly and through the jump host), the old one
// is refused, no host rebooted, no commit lost. The secret scan (secretScan.ts) runs around it: the
// rotating `up` runs the whole program under load with both private keys in the config, the richest
// moment for a leak, so `npm test` needs no other whole-program `up` for the scan.
import { ConnectionLike, generateEd25519KeyPair, runRemoteCommand } from "../../scripts/ssh";
import { compareAfterLoad, databaseConnection, gatewayConnection } from "../harness/faults";
import { knownCommands } from "../harness/labCloud";
import { Lab, SITES, Site, shell } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { collectSecrets, privateKeyLines, scanForSecrets } from "./secretScan";

const HOSTS = SITES.flatMap((s) => [`${s}-gateway`, `${s}-database`]);

/** The host's boot: its PID 1's start time (clock ticks since the kernel booted), new on every (re)boot. */
const bootMark = async (host: string) => (await shell(host, "cut -d' ' -f22 /proc/1/stat")).trim();

/**
 * Both connections of a site, one dial each: the gateway with `key`, and the database host with `key`
 * through the gateway logged in to with `jumpKey` (so a refusal there is the database host's own).
 */
function connections(lab: Lab, site: Site, key: string, jumpKey = key): [string, ConnectionLike][] {
    const gateway = (privateKey: string) => ({ ...gatewayConnection(lab, site), privateKey, dialErrorLimit: 0 });
    return [
        [`${site}-gateway`, gateway(key)],
        [`${site}-database`, { ...databaseConnection(lab, site), privateKey: key, dialErrorLimit: 0, proxy: gateway(jumpKey) }],
    ];
}

export async function adminKeyRotation(lab: Lab): Promise<void> {
    const secrets = await collectSecrets(lab);
    const newKey = generateEd25519KeyPair("crosscloud-lab-admin-rotated");
    for (const [name, line] of privateKeyLines("rotated admin SSH private key", newKey.private)) {
        secrets.set(name, line);
    }
    await scanForSecrets(lab, secrets, "the admin key rotated under load", () => rotate(lab, newKey));
}

/** The rotation's steps; returns what the scan's step reports of it. */
async function rotate(lab: Lab, newKey: { private: string; public: string }): Promise<string> {
    const load = new LoadClient(lab);
    const oldKey = lab.adminKey;
    const everyCommand = knownCommands();
    const boots = Object.fromEntries(await Promise.all(HOSTS.map(async (h) => [h, await bootMark(h)] as const)));
    await load.start();
    try {
        await lab.step("pulumi up with the new key pair and crosscloud:previousSshPrivateKey", async () => {
            lab.setAdminKey(newKey);
            const { cloud } = await lab.up({ "crosscloud:previousSshPrivateKey": oldKey.private }, lab.log, { onlyChanged: true });
            // The scan around it counts on this: the whole program ran.
            const ran = cloud.commands.map((c) => c.name).sort();
            if (ran.join(" ") !== everyCommand.join(" ")) {
                throw new Error(`expected every command to run with the new key (${everyCommand.join(", ")}), ran: ${ran.join(", ")}`);
            }
            const access = cloud.commands.filter((c) => c.name.endsWith("-access"));
            const changed = access.filter((c) => /^crosscloud: done: 1 changes/m.test(c.stdout)).map((c) => c.name);
            if (changed.length !== 4) {
                throw new Error(`expected the 4 access steps to change authorized_keys, changed: ${changed.join(", ") || "none"}`);
            }
            // pulumi-command re-runs every Command whose connection changed: all of them, with the new key.
            return `${cloud.commands.length} steps ran (the connection of each changed); authorized_keys changed by ${changed.join(", ")}`;
        });
    } finally {
        lab.unset("crosscloud:previousSshPrivateKey");
    }
    await lab.step("the new key logs in to all four hosts, directly and through the jump host", async () => {
        for (const site of SITES) {
            for (const [what, c] of connections(lab, site, newKey.private)) {
                await runRemoteCommand(`rotation-new-${what}`, c, "true").catch((err: Error) => {
                    throw new Error(`${what}: the new key was refused: ${err.message}`);
                });
            }
        }
        return "4 hosts";
    });
    await lab.step("the old key is refused on all four hosts", async () => {
        const refusals: string[] = [];
        for (const site of SITES) {
            // The jump host is logged in to with the new key: the database host itself must refuse the old one.
            for (const [what, c] of connections(lab, site, oldKey.private, newKey.private)) {
                const refused = await runRemoteCommand(`rotation-old-${what}`, c, "true").then(
                    () => undefined,
                    (err: Error) => err.message,
                );
                if (refused === undefined) {
                    throw new Error(`${what}: the old key still logs in`);
                }
                if (!/authentication methods failed/.test(refused)) {
                    throw new Error(`${what}: refused, but not for its key: ${refused}`);
                }
                refusals.push(what);
            }
        }
        return `refused by ${refusals.join(", ")} (All configured authentication methods failed)`;
    });
    await lab.step("pulumi config rm crosscloud:previousSshPrivateKey; pulumi up: only the access steps run, 0 changes", async () => {
        const { cloud } = await lab.up({}, lab.log, { onlyChanged: true });
        const ran = cloud.commands.map((c) => c.name).sort();
        const expected = HOSTS.map((h) => `${h}-access`).sort();
        if (JSON.stringify(ran) !== JSON.stringify(expected)) {
            throw new Error(`expected only ${expected.join(", ")} to run, ran: ${ran.join(", ")}`);
        }
        const changing = cloud.commands.filter((c) => !/^crosscloud: done: 0 changes/m.test(c.stdout)).map((c) => c.name);
        if (changing.length > 0) {
            throw new Error(`access steps changed hosts again: ${changing.join(", ")}`);
        }
        return `${ran.join(", ")}: 0 changes`;
    });
    await lab.step("no host rebooted, no commit lost", async () => {
        const commits = await load.stop();
        const rebooted = [];
        for (const h of HOSTS) {
            if ((await bootMark(h)) !== boots[h]) {
                rebooted.push(h);
            }
        }
        if (rebooted.length > 0) {
            throw new Error(`hosts rebooted during the rotation: ${rebooted.join(", ")}`);
        }
        const { present } = await load.assertNoneLost(lab.primary, commits);
        return `${commits.length} commits, 0 lost (${present} rows on ${lab.primary}); ${await compareAfterLoad(lab, load, commits)}; boot marks unchanged on ${HOSTS.length} hosts`;
    });
    return `the rotating up ran all ${everyCommand.length} commands under load, the next one the 4 access steps`;
}
