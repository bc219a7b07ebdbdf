// Gateway restarts: pluto killed on one side, each gateway host rebooted. The tunnel and replication
// resume without anyone acting; after a reboot the sysctls, rules and units are back by themselves.
import { labctl } from "../harness/labCloud";
import { Lab, shell, waitFor } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { compareAfterLoad, primaryLsn, replayedPast, tunnelUp, waitHealthy } from "../harness/faults";

/** What a gateway must have again after a reboot; fails naming what is missing. */
async function gatewayPersisted(gw: string): Promise<string> {
    const out = await shell(
        gw,
        [
            "echo forward=$(sysctl -n net.ipv4.ip_forward)",
            "echo redirects=$(sysctl -n net.ipv4.conf.all.send_redirects)",
            "echo masquerade=$(iptables -t nat -S POSTROUTING | grep -c -- '-j MASQUERADE')",
            "echo tcpmss=$(iptables -t mangle -S | grep -c -- TCPMSS)",
            "echo ipsec=$(systemctl is-active ipsec)/$(systemctl is-enabled ipsec)",
            "echo persistent=$(systemctl is-enabled netfilter-persistent)",
        ].join("; "),
    );
    const got = Object.fromEntries(
        out
            .trim()
            .split("\n")
            .map((l) => l.split("=")),
    );
    const missing = [
        got.forward !== "1" && "net.ipv4.ip_forward is not 1",
        !(Number(got.masquerade) > 0) && "no MASQUERADE rule in nat POSTROUTING",
        !(Number(got.tcpmss) > 0) && "no TCPMSS clamp in mangle",
        got.ipsec !== "active/enabled" && `ipsec is ${got.ipsec}`,
        got.persistent !== "enabled" && `netfilter-persistent is ${got.persistent}`,
    ].filter(Boolean);
    if (missing.length > 0) {
        throw new Error(`${gw} after its reboot: ${missing.join("; ")}`);
    }
    return `ip_forward=1, send_redirects=${got.redirects}, MASQUERADE ${got.masquerade}, TCPMSS ${got.tcpmss}, ipsec active+enabled, netfilter-persistent enabled`;
}

/** Seconds from `t0` (the fault) until the tunnel is up again and the standby replayed the primary's WAL of that moment. */
async function recovery(lab: Lab, what: string, t0: number, lsn: string): Promise<string> {
    await waitFor(`the tunnel back after ${what}`, 180, tunnelUp, 500);
    const tunnel = (Date.now() - t0) / 1000;
    await waitFor(`the standby past ${lsn} after ${what}`, 180, () => replayedPast(lab, lsn), 500);
    return `from the fault: tunnel up again ${tunnel.toFixed(1)} s, standby replayed the primary's WAL of that moment ${((Date.now() - t0) / 1000).toFixed(1)} s`;
}

export async function gatewayRestart(lab: Lab): Promise<void> {
    await waitHealthy(lab, 120);
    const load = new LoadClient(lab);
    await load.start();
    await lab.step("pluto killed (SIGKILL) on the AWS gateway, under load", async () => {
        const pid = (await shell("aws-gateway", "pidof pluto")).trim();
        const lsn = await primaryLsn(lab);
        const t0 = Date.now();
        await shell("aws-gateway", `kill -KILL ${pid}`);
        const back = await waitFor(
            "systemd to restart pluto",
            60,
            async () => !["", pid].includes((await shell("aws-gateway", "pidof pluto || true")).trim()),
            500,
        );
        return `pluto ${pid} killed; a new pluto in ${back.toFixed(1)} s (ipsec.service Restart=on-failure); ${await recovery(lab, "the pluto kill", t0, lsn)}`;
    });
    await lab.step("Azure gateway host rebooted, under load", () => rebootGateway(lab, "azure-gateway", "the Azure gateway's reboot"));
    await lab.step("0 committed rows lost, primary and standby identical", async () => compareAfterLoad(lab, load, await load.stop()));
    // The load client lives on the AWS gateway, so its reboot comes after the load.
    await lab.step("AWS gateway host rebooted", () => rebootGateway(lab, "aws-gateway", "the AWS gateway's reboot"));
    await lab.step("the standby streams again", async () => `${(await waitHealthy(lab, 120)).toFixed(1)} s`);
}

/** Reboots a gateway host and reports how long until it, the tunnel and the standby were back. */
async function rebootGateway(lab: Lab, host: string, fault: string): Promise<string> {
    const lsn = await primaryLsn(lab);
    const t = Date.now();
    await labctl(["host-reboot", host, "--wait"]);
    await labctl(["host-wait", host, "180"]);
    const booted = (Date.now() - t) / 1000;
    const rec = await recovery(lab, fault, t, lsn);
    return `host back in ${booted.toFixed(1)} s; ${rec}; ${await gatewayPersisted(host)}`;
}
