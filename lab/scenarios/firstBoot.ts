// The first boot as pulumi-command meets it: each host's pinned key is in place before its sshd ever
// answers (cloud-init's ssh module runs before sshd), so a connection through the jump host, which
// pulumi-command v1.2.1 does not retry after a failed handshake, succeeds at the first attempt.
// Provisioning already dialled every database host that way with the same strict runner; this checks
// the hosts' own record of that boot and dials once more with no retry at all.
import { runRemoteCommand } from "../../scripts/ssh";
import { databaseConnection, gatewayConnection } from "../harness/faults";
import { Lab, SITES, shell } from "../harness/lab";

export async function firstBoot(lab: Lab): Promise<void> {
    for (const site of SITES) {
        const pinned = {
            [`${site}-gateway`]: gatewayConnection(lab, site).hostKey!,
            [`${site}-database`]: databaseConnection(lab, site).hostKey!,
        };
        for (const [host, hostKey] of Object.entries(pinned)) {
            await lab.step(`${host}: the pinned host key was installed before sshd started, and is its only key`, async () => {
                const log = await shell(host, "grep '^lab cloud-init ssh: ' /var/log/cloud-init.log");
                const lines = log.trim().split("\n");
                if (lines.length !== 1 || !/ sshd running before: no$/.test(lines[0])) {
                    throw new Error(`${host}: cloud-init's ssh step did not run exactly once before sshd: ${log.trim()}`);
                }
                const files = (await shell(host, "cd /etc/ssh && ls ssh_host_*key*")).trim().split("\n");
                if (files.join(" ") !== "ssh_host_ed25519_key ssh_host_ed25519_key.pub") {
                    throw new Error(`${host}: host keys other than the pinned one exist: ${files.join(" ")}`);
                }
                const served = (await shell(host, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")).trim();
                if (served !== hostKey.split(" ").slice(0, 2).join(" ")) {
                    throw new Error(`${host}: /etc/ssh holds ${served}, not the pinned ${hostKey}`);
                }
                return lines[0].replace(/^lab cloud-init ssh: /, "");
            });
        }
        await lab.step(`${site}-database through ${site}-gateway: one dial, no retry, pinned keys on both`, async () => {
            const c = databaseConnection(lab, site);
            const started = Date.now();
            await runRemoteCommand("first-boot-check", { ...c, dialErrorLimit: 0, proxy: { ...c.proxy!, dialErrorLimit: 0 } }, "true");
            return `connected in ${((Date.now() - started) / 1000).toFixed(1)} s`;
        });
    }
}
