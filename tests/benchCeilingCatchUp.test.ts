// npm run bench, the parts that need no lab: the lab's ESP ceiling between the two gateways
// (rendered SAs and policies, keys only on stdin, teardown undoing setup, teardown after a failed
// setup) and the catch-up after a WAN cut (two LSN series joined by time).
import * as assert from "assert";
import { spawnSync } from "child_process";
import { BenchRun, SMOKE, measureCeiling } from "../lab/bench/bench";
import { BenchHost, BenchHosts } from "../lab/bench/hosts";
import { LsnSample, bytesBehind, findCatchUp, requireCatchUp } from "../lab/bench/catchUp";
import { CeilingEnds, ceilingKeys, ceilingSetup, ceilingTeardown, wanCeiling } from "../lab/bench/wanCeiling";

const ENDS: CeilingEnds = {
    aws: { private: "10.10.0.10", public: "198.51.100.10" },
    azure: { private: "10.20.0.10", public: "203.0.113.10" },
};
/** Deterministic "random" bytes: each draw filled with the next byte value. */
function fakeRandom(): (n: number) => Buffer {
    let draw = 0;
    return (n) => Buffer.alloc(n, ++draw);
}

describe("npm run bench: the lab's ESP ceiling across the WAN", function () {
    it("renders one side's SAs and policies: own private → peer public out, peer public → own private in, ESP in UDP 4500", function () {
        const keys = { aws: ["11".repeat(36)], azure: ["22".repeat(36)] };
        assert.strictEqual(
            ceilingSetup("aws", ENDS, "aes-gcm-256", keys, true),
            [
                "address add 10.255.1.1/32 dev lo",
                `xfrm state add src 10.10.0.10 dst 203.0.113.10 proto esp spi 0xbe0c0001 reqid 0xbe0c0001 mode tunnel replay-window 128 flag esn aead rfc4106(gcm(aes)) 0x${"11".repeat(36)} 128 encap espinudp 4500 4500 0.0.0.0`,
                `xfrm state add src 203.0.113.10 dst 10.10.0.10 proto esp spi 0xbe0c0002 reqid 0xbe0c0002 mode tunnel replay-window 128 flag esn aead rfc4106(gcm(aes)) 0x${"22".repeat(36)} 128 encap espinudp 4500 4500 0.0.0.0`,
                "xfrm policy add src 10.255.1.1/32 dst 10.255.2.1/32 dir out tmpl src 10.10.0.10 dst 203.0.113.10 proto esp reqid 0xbe0c0001 mode tunnel",
                "xfrm policy add src 10.255.2.1/32 dst 10.255.1.1/32 dir in tmpl src 203.0.113.10 dst 10.10.0.10 proto esp reqid 0xbe0c0002 mode tunnel",
                "",
            ].join("\n"),
        );
        // The Azure side mirrors it: the AWS→Azure SA (same SPI and key) arrives from AWS's public address.
        const azure = ceilingSetup("azure", ENDS, "aes-cbc-sha1", { aws: ["aa", "bb"], azure: ["cc", "dd"] }, false).split("\n");
        assert.deepStrictEqual(azure.slice(0, 3), [
            "address add 10.255.2.1/32 dev lo",
            "xfrm state add src 10.20.0.10 dst 198.51.100.10 proto esp spi 0xbe0c0002 reqid 0xbe0c0002 mode tunnel enc cbc(aes) 0xcc auth-trunc hmac(sha1) 0xdd 96 encap espinudp 4500 4500 0.0.0.0",
            "xfrm state add src 198.51.100.10 dst 10.20.0.10 proto esp spi 0xbe0c0001 reqid 0xbe0c0001 mode tunnel enc cbc(aes) 0xaa auth-trunc hmac(sha1) 0xbb 96 encap espinudp 4500 4500 0.0.0.0",
        ]);
    });

    it("draws keys of each suite's size, fresh for each direction", function () {
        const k = ceilingKeys("aes-cbc-sha1");
        assert.deepStrictEqual(
            k.aws.map((x) => x.length / 2),
            [16, 20],
        );
        assert.notDeepStrictEqual(k.aws, k.azure);
        assert.strictEqual(ceilingKeys("chacha20-poly1305").aws[0].length, 72);
    });

    it("tears down exactly what setup added, by SPI and selector, and never flushes", function () {
        for (const side of ["aws", "azure"] as const) {
            const added = ceilingSetup(side, ENDS, "aes-gcm-128", { aws: ["01"], azure: ["02"] }, true)
                .split("\n")
                .filter(Boolean)
                .map((line) => {
                    // What identifies each added item: address and device, state ID, policy selector and direction.
                    const state = /^xfrm state add (src \S+ dst \S+ proto esp spi \S+)/.exec(line);
                    const policy = /^xfrm policy add (src \S+ dst \S+ dir \S+)/.exec(line);
                    const address = /^address add (\S+ dev lo)$/.exec(line);
                    return state
                        ? `xfrm state delete ${state[1]}`
                        : policy
                          ? `xfrm policy delete ${policy[1]}`
                          : `address delete ${address![1]}`;
                });
            const script = ceilingTeardown(side, ENDS);
            const removed = [...script.matchAll(/^ip (.+ delete .+?) 2>\/dev\/null \|\| true$/gm)].map((m) => m[1]);
            assert.deepStrictEqual(removed.sort(), added.sort());
            assert.ok(!/flush|deleteall/.test(script), script);
            // Then it checks those same items are gone, and fails naming them otherwise.
            const left = /^left="\$\((.*)\)"$/m.exec(script)![1].split("; ");
            assert.deepStrictEqual(left.filter((c) => c.startsWith("ip xfrm state list")).sort(), [
                "ip xfrm state list proto esp spi 0xbe0c0001",
                "ip xfrm state list proto esp spi 0xbe0c0002",
            ]);
            assert.strictEqual(left.length, 5);
            assert.match(script, /exit 1; fi\n$/);
            assert.strictEqual(/iperf/.test(script), side === "azure");
            const check = spawnSync("shellcheck", ["-s", "bash", "-"], { input: script, encoding: "utf8" });
            assert.strictEqual(check.status, 0, check.stdout);
        }
    });

    it("sends the keys only on stdin, sets up both sides after clearing leftovers, and measures from the AWS inner address", async function () {
        const calls: { host: BenchHost; script: string; input?: string }[] = [];
        const ceiling = wanCeiling(
            (host, script, input) => {
                calls.push({ host, script, input });
                if (script.startsWith("ip -4 -o route get")) {
                    return Promise.resolve(
                        `${script.split(" ").pop()} via 10.0.0.1 dev eth0 src ${ENDS[host.startsWith("aws") ? "aws" : "azure"].private} uid 0`,
                    );
                }
                return Promise.resolve(script.startsWith("ip xfrm state list") ? "aead rfc4106(gcm(aes)) <key> 128\n" : "");
            },
            { aws: ENDS.aws.public, azure: ENDS.azure.public },
            fakeRandom(),
        );
        assert.strictEqual(await ceiling(["setup", "aes-gcm-256", "esn"]), "aead rfc4106(gcm(aes)) <key> 128\n");
        await ceiling(["iperf", "-J", "-t", "4"]);
        await ceiling(["teardown"]);

        const batches = calls.filter((c) => c.script === "ip -batch -");
        assert.deepStrictEqual(
            batches.map((c) => c.host),
            ["aws-gateway", "azure-gateway"],
        );
        const keys = [...batches[0].input!.matchAll(/0x([0-9a-f]{72})/g)].map((m) => m[1]);
        assert.strictEqual(new Set(keys).size, 2, "one key per direction");
        assert.deepStrictEqual([...batches[1].input!.matchAll(/0x([0-9a-f]{72})/g)].map((m) => m[1]).sort(), [...keys].sort());
        for (const c of calls) {
            for (const key of keys) {
                assert.ok(!c.script.includes(key), `a key in the command line of: ${c.script}`);
            }
        }
        // Order: both private addresses read, both sides cleared, set up, iperf3 server, reachability, ...
        const teardowns = calls.map((c, i) => (/left on/.test(c.script) ? i : -1)).filter((i) => i >= 0);
        assert.strictEqual(teardowns.length, 4);
        assert.ok(teardowns[1] < calls.indexOf(batches[0]), "leftovers cleared before setup");
        assert.ok(calls.some((c) => c.host === "azure-gateway" && /^iperf3 -s -D -B 10\.255\.2\.1 -p 5202 /.test(c.script)));
        assert.ok(calls.some((c) => c.host === "aws-gateway" && c.script === "iperf3 -c 10.255.2.1 -p 5202 -B 10.255.1.1 -J -t 4"));
        assert.deepStrictEqual(
            calls.slice(teardowns[2]).map((c) => c.host),
            ["aws-gateway", "azure-gateway"],
        );
        await assert.rejects(ceiling(["setup", "plain"]), /no plain across the WAN/);
    });

    it("tears the ceiling down when its setup fails half way", async function () {
        const asked: string[][] = [];
        const hosts = {
            log: () => undefined,
            espCeiling: (args: string[]) => {
                asked.push(args);
                return args[0] === "setup" ? Promise.reject(new Error("azure side: RTNETLINK answers: File exists")) : Promise.resolve("");
            },
        } as unknown as BenchHosts;
        const run = {
            hosts,
            opts: { ...SMOKE, out: "" },
            result: { tcp: [], ceilingCipher: {} },
            save: () => undefined,
        } as unknown as BenchRun;
        await assert.rejects(measureCeiling(run, "aes-gcm-256"), /File exists/);
        assert.deepStrictEqual(asked, [["setup", "aes-gcm-256", "esn"], ["teardown"]]);
    });
});

/** Samples every 0.1 s over [from, to], t kept exact as tenths. */
const at = (from: number, to: number, lsn: (t: number) => number): LsnSample[] =>
    Array.from({ length: Math.round((to - from) * 10) + 1 }, (_, i) => {
        const t = (Math.round(from * 10) + i) / 10;
        return { t, lsn: lsn(t) };
    });

describe("npm run bench: catch-up after a WAN cut", function () {
    // The primary writes R bytes/s throughout (steady load from t = -5); the cut is 0..30 s.
    const R = 100_000;
    const P = (t: number) => 1_000_000 + R * (t + 5);
    const primary = at(-5, 60, P);
    // Replay stalls at the cut, then runs at 3 R from t = 30: it reaches the primary's LSN of 1 s
    // earlier when 3 R (t - 30) >= R (t - 1), i.e. at t = 44.5.
    const replay = (t: number) => (t < 0 ? P(t) : t < 30 ? P(0) : Math.min(P(t), P(0) + 3 * R * (t - 30)));

    it("is zero behind and caught up at once when the standby keeps up", function () {
        const standby = at(-5, 60, P);
        const c = findCatchUp(primary, standby, 30)!;
        assert.ok(c.series.every((s) => s.bytesBehind === 0));
        assert.deepStrictEqual([c.caughtUpAt, c.catchUpSeconds, c.walReplayedBytes, c.bytesBehindAtRestore], [30, 0, 0, 0]);
    });

    it("joins the series by time, and times the catch-up and the WAL replayed from the link's return", function () {
        // The standby samples 0.05 s off the primary's instants: joined by interpolation.
        const standby = at(-4, 60, replay).map((s) => ({ t: s.t + 0.05, lsn: replay(s.t + 0.05) }));
        const c = requireCatchUp(primary, standby, 30, 300);
        assert.strictEqual(Number(c.caughtUpAt.toFixed(2)), 44.55);
        assert.strictEqual(Number(c.catchUpSeconds.toFixed(2)), 14.55);
        // From the standby's sample at the restore (t = 29.95: still P(0)) to the one at catch-up.
        assert.strictEqual(Math.round(c.walReplayedBytes), Math.round(3 * R * 14.55));
        assert.strictEqual(Math.round(c.bytesBehindAtRestore), Math.round(R * 29.95));
        const behind = (t: number) => c.series.find((s) => Math.abs(s.t - t) < 0.01)!.bytesBehind;
        assert.strictEqual(Math.round(behind(20.05)), Math.round(R * 20.05));
        assert.strictEqual(Math.round(behind(59.95)), 0);
        // No joined point where the primary's series does not reach: cut at t = -3, only the standby's
        // samples at -3.95 ... -3.05 remain.
        assert.strictEqual(bytesBehind(primary.slice(0, 21), standby).length, 10);
        // Caught up, but after the bound: an error.
        assert.throws(() => requireCatchUp(primary, standby, 30, 10), /not back under 1 s behind within 10 s/);
    });

    it("fails clearly when the standby never gets back under 1 s behind", function () {
        const standby = at(-5, 60, (t) => (t < 30 ? replay(t) : P(0) + 0.5 * R * (t - 30)));
        assert.strictEqual(findCatchUp(primary, standby, 30), undefined);
        assert.throws(
            () => requireCatchUp(primary, standby, 30, 300),
            /^Error: the standby was not back under 1 s behind within 300 s of the link's return \(at t = 60.0 s it was 4.5 MB behind\)$/,
        );
    });
});
