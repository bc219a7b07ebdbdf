// npm run bench: the figures' statistics, the targets, and the deployed-stack plan (no cloud here).
import * as assert from "assert";
import { planDeployed } from "../lab/bench/deployed";
import { percentile, spread } from "../lab/bench/stats";

const host = (address: string) => ({
    address,
    user: "ubuntu",
    hostKey: "ssh-ed25519 AAAAdb",
    via: { address: "198.51.100.10", user: "ubuntu", hostKey: "ssh-ed25519 AAAAgw" },
});
const OUTPUTS = {
    awsGatewayPublicIp: "198.51.100.10",
    azureGatewayPublicIp: "203.0.113.10",
    primary: "aws",
    primaryPrivateIp: "10.10.1.10",
    standbyPrivateIp: "10.20.1.10",
    databaseHosts: { aws: host("10.10.1.10"), azure: host("10.20.1.10") },
};

describe("npm run bench", function () {
    it("reports the median with its spread, and interpolated percentiles", function () {
        assert.deepStrictEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
        assert.strictEqual(percentile([1, 2, 3, 4], 50), 2.5);
        assert.strictEqual(percentile([0, 10], 99), 9.9);
    });

    it("plans a deployed stack from its outputs, tunnel figures only unless the plain baseline is opted in", function () {
        const plan = planDeployed(OUTPUTS, { allowPlainBaseline: false, instanceTypes: { awsDbType: "r6i.large" } });
        assert.deepStrictEqual(plan.gateways, { aws: "198.51.100.10", azure: "203.0.113.10" });
        assert.strictEqual(plan.plainBaseline, false);
        assert.ok(plan.runs.some((r) => /plain-link baseline skipped: not opted in/.test(r)));
        assert.ok(plan.runs.every((r) => !/temporary rule/.test(r)));
        assert.ok(plan.runs[0].endsWith("on awsDbType=r6i.large"));
        assert.ok(
            planDeployed(OUTPUTS, { allowPlainBaseline: true }).runs.some((r) =>
                /temporary rule: TCP 5201 from the peer gateway only/.test(r),
            ),
        );
    });

    it("refuses outputs without pinned host keys or the stack's addresses", function () {
        const { via: _via, ...direct } = host("10.20.1.10");
        void _via;
        assert.throws(
            () => planDeployed({ ...OUTPUTS, databaseHosts: { aws: host("10.10.1.10"), azure: direct } }, { allowPlainBaseline: false }),
            /databaseHosts.azure has no pinned host key or jump host/,
        );
        assert.throws(
            () => planDeployed({ primary: "aws" }, { allowPlainBaseline: false }),
            /lack awsGatewayPublicIp, azureGatewayPublicIp, primaryPrivateIp, standbyPrivateIp, databaseHosts/,
        );
    });
});
