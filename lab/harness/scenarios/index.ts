// Every lab scenario by the name `npm run lab -- run NAME...` and lab/harness/main.ts know it.
// `npm test` runs TEST_SCENARIOS in this order on one lab.
import { Lab } from "../lab";
import { benchSmoke } from "./benchSmoke";
import { unplannedFailover } from "./failover";
import { idempotency } from "./idempotency";
import { switchoverRoundTrip } from "./switchover";
import { validation } from "./validation";

export const SCENARIOS: Record<string, (lab: Lab) => Promise<void>> = {
    validation,
    idempotency,
    switchover: switchoverRoundTrip,
    failover: unplannedFailover,
    "bench-smoke": benchSmoke,
};

export const TEST_SCENARIOS = ["validation", "idempotency", "switchover", "failover", "bench-smoke"];
