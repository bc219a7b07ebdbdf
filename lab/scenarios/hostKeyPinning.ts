// No trust on first use: every connection the program makes pins the host key it generated and placed
// at boot, the jump host's too. A host presenting another key is refused with a clear error.
import { ConnectionLike, runRemoteCommand } from "../../scripts/ssh";
import { Lab, shell } from "../harness/lab";
import { databaseConnection, gatewayConnection } from "../harness/faults";

const KEY = "/etc/ssh/ssh_host_ed25519_key";

/** Gives `host` a fresh host key (the pinned one is kept aside); `restore` puts the pinned one back. */
const swapKey = (host: string) =>
    shell(
        host,
        `mv ${KEY} /root/pinned_host_key && mv ${KEY}.pub /root/pinned_host_key.pub && ssh-keygen -q -t ed25519 -N '' -f ${KEY} && systemctl restart ssh`,
    );
const restoreKey = (host: string) =>
    shell(
        host,
        `if [ -f /root/pinned_host_key ]; then mv /root/pinned_host_key ${KEY} && mv /root/pinned_host_key.pub ${KEY}.pub && systemctl restart ssh; fi`,
    );

/** Resolves to the error a connection fails with; fails if it succeeds. */
async function refusal(c: ConnectionLike, what: string): Promise<string> {
    try {
        await runRemoteCommand(`hostkey-${what}`, { ...c, dialErrorLimit: 0 }, "true");
    } catch (err) {
        const message = (err as Error).message;
        if (!/host key mismatch/.test(message)) {
            throw new Error(`${what}: refused, but not for its host key: ${message}`);
        }
        return message.replace(/^could not dial .* after \d+ attempts: /, "");
    }
    throw new Error(`${what}: the connection succeeded although the host presented another key`);
}

export async function hostKeyPinning(lab: Lab): Promise<void> {
    const site = "azure";
    const gateway = `${site}-gateway`;
    const database = `${site}-database`;
    await lab.step("the program's pinned connections work (gateway, and database via the gateway)", async () => {
        await runRemoteCommand("hostkey-control", gatewayConnection(lab, site), "true");
        await runRemoteCommand("hostkey-control", databaseConnection(lab, site), "true");
        const c = databaseConnection(lab, site);
        return `pinned: ${c.proxy!.host} ${c.proxy!.hostKey!.slice(0, 30)}…, ${c.host} ${c.hostKey!.slice(0, 30)}…`;
    });
    try {
        await lab.step(`${gateway} presents another host key: refused, directly and as jump host`, async () => {
            await swapKey(gateway);
            try {
                const direct = await refusal(gatewayConnection(lab, site), "gateway");
                const jumped = await refusal(databaseConnection(lab, site), "database via gateway");
                return `direct: ${direct} | via jump: ${jumped === direct ? "the same" : jumped}`;
            } finally {
                await restoreKey(gateway);
            }
        });
        await lab.step(`${database} presents another host key: refused behind a good jump host`, async () => {
            await swapKey(database);
            try {
                return await refusal(databaseConnection(lab, site), "database via gateway");
            } finally {
                await restoreKey(database);
            }
        });
    } finally {
        await restoreKey(gateway);
        await restoreKey(database);
    }
    await lab.step("pinned keys restored: the program connects again", async () => {
        await runRemoteCommand("hostkey-control", databaseConnection(lab, site), "true");
        return "gateway and database connections succeed";
    });
}
