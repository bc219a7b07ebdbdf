// The original's "environment validation": SAs up, TCP through the tunnel, a row replicated,
// the standby streaming, and a WAN that carries nothing but IKE and ESP-in-UDP.
import { execFileSync } from "child_process";
import { randomUUID } from "crypto";
import * as path from "path";
import { LAB_DIR, LAB_PUBLIC_IPS, labctl } from "../harness/labCloud";
import { Lab, peerOf, psql, shell, waitFor } from "../harness/lab";

export async function validation(lab: Lab): Promise<void> {
    const primary = `${lab.primary}-database`;
    const standby = `${peerOf(lab.primary)}-database`;
    const { outputs } = lab;

    await lab.step("IKE and Child SAs on both gateways", async () => {
        for (const gw of ["aws-gateway", "azure-gateway"]) {
            const states = await shell(gw, "ipsec whack --showstates; ipsec whack --trafficstatus");
            if (!/ESTABLISHED_IKE_SA/.test(states) || !/ESTABLISHED_CHILD_SA/.test(states)) {
                throw new Error(`${gw} lacks an IKE or Child SA:\n${states}`);
            }
        }
        return "both gateways: ESTABLISHED_IKE_SA and ESTABLISHED_CHILD_SA";
    });

    await lab.step("TCP between the database hosts through the tunnel", async () => {
        await shell(primary, `timeout 5 bash -c '</dev/tcp/${outputs.standbyPrivateIp}/5432'`);
        await shell(standby, `timeout 5 bash -c '</dev/tcp/${outputs.primaryPrivateIp}/5432'`);
        return `${outputs.primaryPrivateIp} <-> ${outputs.standbyPrivateIp}:5432 connect both ways`;
    });

    const capture = "wan-validation.pcap";
    await labctl(["capture", "start", capture, "aws"]);
    await lab.step("a row written on the primary is read on the standby", async () => {
        const id = randomUUID();
        await psql(
            primary,
            `CREATE TABLE IF NOT EXISTS lab_check (id text PRIMARY KEY, at timestamptz DEFAULT now()); INSERT INTO lab_check (id) VALUES ('${id}')`,
        );
        const seconds = await waitFor(
            `row ${id} on the standby`,
            30,
            async () => (await psql(standby, `SELECT count(*) FROM lab_check WHERE id = '${id}'`)).trim() === "1",
            100,
        );
        return `row ${id.slice(0, 8)} visible on the standby after ${(seconds * 1000).toFixed(0)} ms`;
    });
    await lab.step("pg_stat_replication shows the standby streaming", async () => {
        const rows = (await psql(primary, "SELECT application_name, state, sync_state FROM pg_stat_replication")).trim();
        if (!new RegExp(`^${peerOf(lab.primary)}\\|streaming\\|`, "m").test(rows)) {
            throw new Error(`pg_stat_replication on the primary: ${rows || "(empty)"}`);
        }
        return rows.replace(/\n/g, "; ");
    });
    await labctl(["capture", "stop", "aws"]);
    await lab.step("the WAN carries only IKE/ESP-in-UDP between the two public addresses", () =>
        Promise.resolve(assertOnlyTunnelTraffic(path.join(LAB_DIR, "captures", capture))),
    );
}

/** Each WAN link's two ends: the internet's router (the machine's wan-SITE TAP) and the site router (lab/infra/common.sh). */
const WAN_LINK_ENDS = [
    ["192.0.2.9", "192.0.2.10"],
    ["192.0.2.13", "192.0.2.14"],
];

/**
 * Reads a WAN capture; fails listing the first packets that are not IKE/NAT-T between the two gateways.
 * The capture is taken on an Ethernet link (the WAN TAP), so the two routers' ARP for each other is
 * there too: allowed between exactly those two addresses, counted apart (it carries no IP payload).
 */
export function assertOnlyTunnelTraffic(file: string): string {
    const read = (filter: string) =>
        execFileSync("tcpdump", ["-nn", "-r", file, filter], { stdio: ["ignore", "pipe", "ignore"] })
            .toString()
            .trim();
    const count = (filter: string) => read(filter).split("\n").filter(Boolean).length;
    const tunnel = `udp and (port 500 or port 4500) and host ${LAB_PUBLIC_IPS.aws} and host ${LAB_PUBLIC_IPS.azure}`;
    const routersArp = `arp and (${WAN_LINK_ENDS.map(([a, b]) => `(host ${a} and host ${b})`).join(" or ")})`;
    const total = count("");
    const other = read(`not (${tunnel}) and not (${routersArp})`);
    if (total === 0) {
        throw new Error("the capture saw no packets at all");
    }
    if (other) {
        throw new Error(`the WAN carried other traffic:\n${other.split("\n").slice(0, 10).join("\n")}`);
    }
    const arp = count(routersArp);
    return `${total - arp} packets, all UDP 500/4500 between ${LAB_PUBLIC_IPS.aws} and ${LAB_PUBLIC_IPS.azure}${arp ? ` (and ${arp} ARP between the WAN link's two routers)` : ""}; no cleartext PostgreSQL`;
}
