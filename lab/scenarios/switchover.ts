// AWS -> Azure -> AWS under a write load whose client counts its commits: after each move every
// commit the client saw must be on the new primary, the write gap is measured and broken down, and
// replication must stream the other way. `switchoverLossy` (npm test) makes the round trip over a WAN
// of 80 ms RTT and 1 % loss each way; the many-move figures per RTT and loss are the bench's.
import { labctl } from "../harness/labCloud";
import { Lab, peerOf, Site } from "../harness/lab";
import { describePhases, switchoverUnderLoad } from "../harness/switchover";
import { LOSSY_WAN } from "./wan";

/**
 * The write outage the issue asks of a move: on a clean link, and over the lossy WAN. Printed, not
 * asserted: on a shared 2-core machine a neighbour's load stretches every step in the one-CPU UMLs
 * (docs/lab.md); the bench's switchover section measures the median and the worst of many moves.
 */
const OUTAGE_TARGET_SECONDS = { clean: 5, lossy: 10 };

export async function switchoverTo(lab: Lab, target: Site, link: keyof typeof OUTAGE_TARGET_SECONDS = "clean"): Promise<void> {
    const source = peerOf(target);
    const over = link === "clean" ? "" : ` over the WAN "${LOSSY_WAN}" both ways`;
    await lab.step(`switchover ${source} -> ${target} under load${over}, zero committed transactions lost`, async () => {
        const move = await switchoverUnderLoad(lab, target);
        const bound = OUTAGE_TARGET_SECONDS[link];
        return `${move.commits} commits counted by the client, all on ${target} (0 lost${move.inDoubt > 0 ? `, ${move.inDoubt} more rows in doubt at the client` : ""}); writes unavailable for ${move.outage.toFixed(1)} s from the last commit on ${source} to the first on ${target} (target ≤ ${bound} s: ${move.outage <= bound ? "met" : "MISSED"}): ${describePhases(move)}; longest gap between any two commits during the run ${move.longestStall.toFixed(1)} s; pulumi up took ${move.upSeconds.toFixed(0)} s; ${source} streams from ${target}; steps (start+duration): ${move.steps}`;
    });
}

/** Away from the current primary's site and back (AWS -> Azure -> AWS on a lab as provisioned). */
export async function switchoverRoundTrip(lab: Lab): Promise<void> {
    const home = lab.primary;
    await switchoverTo(lab, peerOf(home));
    await switchoverTo(lab, home);
}

export async function switchoverLossy(lab: Lab): Promise<void> {
    const home = lab.primary;
    await labctl(["wan", "netem", LOSSY_WAN]);
    try {
        await switchoverTo(lab, peerOf(home), "lossy");
        await switchoverTo(lab, home, "lossy");
    } finally {
        await labctl(["wan", "netem", "clear"]);
    }
}
