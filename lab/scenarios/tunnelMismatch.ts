// Bad configuration reaching a gateway: a wrong PSK, a proposal the peer does not accept, a subnet the
// peer does not route. The program's own tunnel check (the step `pulumi up` runs, over its pinned SSH
// connection) must fail within 60 s naming the cause, not hang until its timeout. Each case edits the
// Azure gateway's files by hand (the program always renders matching pairs) and restores them after.
import { hostAddress } from "../../components/network";
import { RUN_SCRIPT_FROM_STDIN, renderHostScript } from "../../scripts/render";
import { runRemoteCommand } from "../../scripts/ssh";
import { DEFAULT_CHECK_TIMEOUT_SECONDS, tunnelCheckScript } from "../../scripts/tunnelSteps";
import { LAB_PUBLIC_IPS } from "../harness/labCloud";
import { Lab, SITES, Site, peerOf, shell } from "../harness/lab";
import { gatewayConnection, waitHealthy } from "../harness/faults";

const LIMIT_SECONDS = 60;

interface Mismatch {
    name: string;
    /** What the check's message must say. */
    cause: RegExp;
    /** Shell edit on the Azure gateway (never prints a secret). */
    edit: string;
}

const CASES: Mismatch[] = [
    { name: "PSK mismatch", cause: /PSK mismatch/, edit: `sed -i 's/PSK "/PSK "wrong/' /etc/ipsec.secrets` },
    {
        name: "proposal mismatch",
        cause: /proposal mismatch/,
        edit: "sed -i -e 's/^    ike=.*/    ike=aes_gcm128-sha2_512;dh20/' -e 's/^    esp=.*/    esp=aes_gcm128/' /etc/ipsec.conf",
    },
    {
        name: "subnet mismatch",
        cause: /subnet mismatch/,
        edit: "sed -i 's#^    rightsubnet=.*#    rightsubnet=10.30.0.0/16#' /etc/ipsec.conf",
    },
];

const cidrOf = (lab: Lab, site: Site) => String(site === "aws" ? lab.outputs.awsCidr : lab.outputs.azureCidr);

/** Runs the program's tunnel check on a site's gateway; resolves to [ok, seconds, message]. */
async function runCheck(lab: Lab, site: Site): Promise<[boolean, number, string]> {
    const peer = peerOf(site);
    const script = renderHostScript(
        tunnelCheckScript("tunnel", DEFAULT_CHECK_TIMEOUT_SECONDS, LAB_PUBLIC_IPS[peer], hostAddress(cidrOf(lab, peer), 1)),
    );
    const t = Date.now();
    try {
        const out = await runRemoteCommand(`tunnel-${site}-check`, gatewayConnection(lab, site), RUN_SCRIPT_FROM_STDIN, script);
        return [true, (Date.now() - t) / 1000, out.stdout.trim().split("\n").pop() ?? ""];
    } catch (err) {
        return [
            false,
            (Date.now() - t) / 1000,
            (err as Error).message
                .split("\n")
                .filter((l) => /error|tunnel/i.test(l))
                .pop() ?? String(err),
        ];
    }
}

const restartBoth = () => Promise.all(["aws-gateway", "azure-gateway"].map((gw) => shell(gw, "systemctl restart ipsec")));

export async function tunnelMismatch(lab: Lab): Promise<void> {
    await waitHealthy(lab, 120);
    await shell(
        "azure-gateway",
        "install -m 600 /etc/ipsec.conf /root/ipsec.conf.good && install -m 600 /etc/ipsec.secrets /root/ipsec.secrets.good",
    );
    try {
        for (const c of CASES) {
            await lab.step(`${c.name}: the program's tunnel check fails fast, naming it`, async () => {
                await shell("azure-gateway", c.edit);
                await restartBoth();
                const results = await Promise.all(SITES.map((s) => runCheck(lab, s)));
                const lines = results.map(
                    ([ok, seconds, message], i) => `${SITES[i]}: ${ok ? "PASSED (!)" : "failed"} after ${seconds.toFixed(1)} s: ${message}`,
                );
                await shell(
                    "azure-gateway",
                    "install -m 644 /root/ipsec.conf.good /etc/ipsec.conf && install -m 600 /root/ipsec.secrets.good /etc/ipsec.secrets",
                );
                const bad = results.filter(([ok, seconds, message]) => ok || seconds > LIMIT_SECONDS || !c.cause.test(message));
                if (bad.length > 0) {
                    throw new Error(
                        `${c.name}: expected both checks to fail within ${LIMIT_SECONDS} s naming ${c.cause}:\n${lines.join("\n")}`,
                    );
                }
                return lines.join(" | ");
            });
        }
    } finally {
        await shell(
            "azure-gateway",
            "install -m 644 /root/ipsec.conf.good /etc/ipsec.conf && install -m 600 /root/ipsec.secrets.good /etc/ipsec.secrets",
        );
        await restartBoth();
    }
    await lab.step("good configuration restored: the check passes, the standby streams", async () => {
        const results = await Promise.all(SITES.map((s) => runCheck(lab, s)));
        const failed = results.filter(([ok]) => !ok);
        if (failed.length > 0) {
            throw new Error(`the tunnel check still fails after restoring: ${failed.map((r) => r[2]).join("; ")}`);
        }
        const healthy = await waitHealthy(lab, 120);
        return `checks passed in ${results.map((r) => `${r[1].toFixed(1)} s`).join(" / ")}; streaming ${healthy.toFixed(1)} s later`;
    });
}
