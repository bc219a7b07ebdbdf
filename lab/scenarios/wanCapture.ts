// A WAN capture during write load and replication: nothing but UDP 500/4500 between the two public
// addresses (no cleartext PostgreSQL, no other protocol).
import * as path from "path";
import { LAB_DIR, labctl } from "../harness/labCloud";
import { Lab } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { checksum, compareAfterLoad, sleep, waitHealthy } from "../harness/faults";
import { assertOnlyTunnelTraffic } from "./validation";

const CAPTURE_SECONDS = Number(process.env.LAB_CAPTURE_SECONDS ?? 30);

export async function wanCapture(lab: Lab): Promise<void> {
    await waitHealthy(lab, 120);
    const load = new LoadClient(lab);
    await load.start();
    const file = "wan-load.pcap";
    let commits = 0;
    await lab.step(`capture on both WAN links for ${CAPTURE_SECONDS} s under write load`, async () => {
        const before = (await load.commits()).length;
        await labctl(["capture", "start", `aws-${file}`, "aws"]);
        await labctl(["capture", "start", `azure-${file}`, "azure"]);
        try {
            await sleep(CAPTURE_SECONDS * 1000);
        } finally {
            await labctl(["capture", "stop", "aws"]);
            await labctl(["capture", "stop", "azure"]);
        }
        commits = (await load.commits()).length - before;
        if (commits === 0) {
            throw new Error("no commits during the capture: the load did not run");
        }
        return `${commits} commits replicated during the capture (standby ${await checksum(lab.primary === "aws" ? "azure" : "aws")})`;
    });
    for (const site of ["aws", "azure"]) {
        await lab.step(`the ${site} WAN link carried only IKE/ESP-in-UDP`, () =>
            Promise.resolve(assertOnlyTunnelTraffic(path.join(LAB_DIR, "captures", `${site}-${file}`))),
        );
    }
    await lab.step("0 committed rows lost, primary and standby identical", async () => compareAfterLoad(lab, load, await load.stop()));
}
