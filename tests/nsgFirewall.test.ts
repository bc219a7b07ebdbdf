// The NSG firewall alone, under Pulumi mocks: each rule's priority comes from its kind, whatever other
// rules exist and in whatever order they are added, and the new numbers never equal an old one.
import * as assert from "assert";
import * as network from "@pulumi/azure-native/network";
import * as pulumi from "@pulumi/pulumi";
import {
    ADDED_RULE_PRIORITY_RANGE,
    DENY_RULE_PRIORITY,
    NSG_RULE_PRIORITIES,
    NsgFirewall,
    SITE_RULE_PRIORITY,
} from "../components/azureSite";
import { InboundRule, InboundRuleKind } from "../components/hosts";

/** Every priority the call-order scheme (before NSG_RULE_PRIORITIES) could give an NSG of fewer than 81 added rules. */
const OLD_PRIORITIES = new Set([
    SITE_RULE_PRIORITY,
    SITE_RULE_PRIORITY + 10,
    DENY_RULE_PRIORITY,
    ...Array.from({ length: 80 }, (_, i) => 200 + 10 * i),
]);

const rule = (kind: InboundRuleKind): InboundRule => ({
    name: `test-${kind}`,
    kind,
    protocol: "tcp",
    port: 5432,
    sources: ["10.10.1.10/32"],
    description: kind,
});

/**
 * Runs `body` with one NSG firewall under mocks; the priority each NSG rule was registered with, by name.
 * @param body What to do with the firewall and the parent its rules get.
 */
async function withFirewall(body: (firewall: NsgFirewall, parent: pulumi.Resource) => void): Promise<Record<string, number>> {
    const registered: Record<string, number> = {};
    await pulumi.runtime.setMocks(
        {
            // eslint-disable-next-line @typescript-eslint/require-await -- the mock monitor awaits whatever it gets
            newResource: async (args) => {
                if (args.type === "azure-native:network:SecurityRule") {
                    registered[args.name] = args.inputs.priority as number;
                }
                return { id: `${args.name}-id`, state: args.inputs };
            },
            call: (args) => {
                throw new Error(`unexpected call ${args.token}`);
            },
        },
        "nsg-test",
        "test",
        false,
    );
    const parent = new pulumi.ComponentResource("test:index:Parent", "test");
    const nsg = new network.NetworkSecurityGroup("test-nsg", { resourceGroupName: "rg" }, { parent });
    try {
        body(new NsgFirewall("rg", nsg, "10.20.1.10"), parent);
    } finally {
        await pulumi.runtime.disconnect();
    }
    return registered;
}

/** Adds rules of `kinds`, in that order, to one NSG firewall. */
function priorities(kinds: InboundRuleKind[]): Promise<Record<string, number>> {
    return withFirewall((firewall, parent) => kinds.forEach((kind) => firewall.allow(rule(kind), parent)));
}

describe("NsgFirewall: a fixed priority per kind of rule", function () {
    it("adding a rule first leaves every other rule's priority unchanged, in any order", async function () {
        const base = await priorities(["postgres-from-peer", "archive-from-peer"]);
        const more = await priorities(["postgres-from-clients", "postgres-from-peer", "archive-from-peer"]);
        const reversed = await priorities(["archive-from-peer", "postgres-from-peer"]);
        assert.deepStrictEqual(base, { "test-postgres-from-peer": 1200, "test-archive-from-peer": 1210 });
        assert.deepStrictEqual(more, { ...base, "test-postgres-from-clients": 1220 });
        assert.deepStrictEqual(reversed, base);
    });

    it("refuses a second rule of one kind in one NSG (they would share a priority)", async function () {
        await withFirewall((firewall, parent) => {
            firewall.allow({ ...rule("ike"), name: "tunnel-azure-ike" }, parent);
            assert.throws(
                () => firewall.allow({ ...rule("ike"), name: "other-ike" }, parent),
                /other-ike and tunnel-azure-ike are both "ike" rules/,
            );
        });
    });

    it("numbers every kind uniquely inside 1000-1999, disjoint from every number the call-order scheme gave", function () {
        const numbers = Object.values(NSG_RULE_PRIORITIES);
        assert.strictEqual(new Set(numbers).size, numbers.length, "two kinds share a priority");
        for (const [kind, p] of Object.entries(NSG_RULE_PRIORITIES)) {
            assert.ok(p >= ADDED_RULE_PRIORITY_RANGE.first && p <= ADDED_RULE_PRIORITY_RANGE.last, `${kind}: ${p}`);
            assert.ok(!OLD_PRIORITIES.has(p), `${kind}: ${p} was an old priority`);
        }
        // The range itself lies between the site's own rules and the deny, inside Azure's 100-4096.
        assert.ok(ADDED_RULE_PRIORITY_RANGE.first > 990 && ADDED_RULE_PRIORITY_RANGE.last < DENY_RULE_PRIORITY);
    });
});
