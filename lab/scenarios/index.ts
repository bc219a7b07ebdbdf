// Every lab scenario by the name `npm run lab -- run NAME...` and lab/main.ts know it.
// `npm test` runs TEST_SCENARIOS in this order on one lab.
import { Lab } from "../harness/lab";
import { adminKeyRotation } from "./adminKeyRotation";
import { benchDeployedSmoke, benchSmoke } from "./benchSmoke";
import { databaseRestart } from "./databaseRestart";
import { failovers, siteCrash, unplannedFailover } from "./failover";
import { firstBoot } from "./firstBoot";
import { gatewayRestart } from "./gatewayRestart";
import { hostKeyPinning } from "./hostKeyPinning";
import { idempotency } from "./idempotency";
import { partition, partitionSync } from "./partition";
import { rekey, rekeyLong } from "./rekey";
import { replicationSecurity } from "./replicationSecurity";
import { secretScan } from "./secretScan";
import { slotOutage } from "./slotOutage";
import { switchoverLossy, switchoverRoundTrip } from "./switchover";
import { synchronousMode } from "./synchronousMode";
import { tunnelMismatch } from "./tunnelMismatch";
import { validation } from "./validation";
import { wanCapture } from "./wanCapture";
import { wanCut, wanLossy } from "./wan";

export const SCENARIOS: Record<string, (lab: Lab) => Promise<void>> = {
    validation,
    // The first real pulumi up (issue 13).
    firstBoot,
    adminKeyRotation,
    idempotency,
    switchover: switchoverRoundTrip,
    // Switchover over a real WAN (issue 18): the round trip at 80 ms RTT and 1 % loss each way.
    switchoverLossy,
    failover: unplannedFailover,
    // The two-kernel lab (issue 15): a whole cloud's outage.
    siteCrash,
    // Both, as npm test runs them: the second failover brings the primary home, no switchover back.
    failovers,
    // Partition safety (issue 16): a partition with two writable primaries, fenced and rejoined.
    partition,
    partitionSync,
    synchronousMode,
    // Faults, bad input and security (issue 5).
    wanCapture,
    replicationSecurity,
    hostKeyPinning,
    tunnelMismatch,
    wanCut,
    wanLossy,
    gatewayRestart,
    databaseRestart,
    rekey,
    rekeyLong,
    secretScan,
    slotOutage,
    // CI's bench: the deployed-stack mode against the lab (SSH, as on a cloud); the lab mode's own smoke is long.
    "bench-smoke": benchDeployedSmoke,
    "bench-lab-smoke": benchSmoke,
};

export const TEST_SCENARIOS = [
    "validation",
    "firstBoot",
    "idempotency",
    // The switchover round trip over the lossy WAN (the clean link's figures: npm run bench).
    "switchoverLossy",
    "failovers",
    // In this order: partition leaves the primary on the other side, synchronousMode leaves the lab
    // synchronous, partitionSync brings the primary home and ends asynchronous.
    "partition",
    "synchronousMode",
    "partitionSync",
    "wanCapture",
    "replicationSecurity",
    "hostKeyPinning",
    "tunnelMismatch",
    "wanCut",
    "wanLossy",
    "gatewayRestart",
    "databaseRestart",
    // Leave the lab as found: default keep size and lifetimes restored, streaming.
    "slotOutage",
    "rekey",
    // Also the secret scan (secretScan alone runs its own whole-program up).
    "adminKeyRotation",
    "bench-smoke",
];

/**
 * Long, so not in CI's `npm test`: `LAB_LONG=1 npm test` (or `npm run lab -- run NAME`) adds them.
 * rekeyLong: 75 s windows and the whole program run twice (about 10 min); CI runs `rekey`, its short
 * variant. bench-lab-smoke: the bench's lab mode (about 6.5 min) would double CI's bench time next to
 * bench-smoke, which runs the deployed-stack mode over SSH because no cloud can test that mode; every
 * full `npm run bench` runs the lab mode.
 */
export const LONG_SCENARIOS = ["rekeyLong", "bench-lab-smoke"];
