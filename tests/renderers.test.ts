// Pure pieces, table-driven: address plan, shell quoting, script assembly, SCRAM, secrets file.
import * as assert from "assert";
import { execFileSync } from "child_process";
import { createHash, createHmac } from "crypto";
import { hostAddress, siteLayout, subnetOf } from "../components/network";
import { renderIpsecSecrets } from "../scripts/ipsec";
import { renderPgHba, scramKeys, scramVerifier, slotName } from "../scripts/postgres";
import { AWS_PRIMARY_NODE } from "./nodes";
import { renderHostScript, shellQuote } from "../scripts/render";

describe("site layout", function () {
    const cases: [string, string, string, string, string][] = [
        ["10.10.0.0/16", "10.10.0.0/24", "10.10.1.0/24", "10.10.0.10", "10.10.1.10"],
        ["172.16.0.0/20", "172.16.0.0/24", "172.16.1.0/24", "172.16.0.10", "172.16.1.10"],
        ["192.168.64.0/22", "192.168.64.0/24", "192.168.65.0/24", "192.168.64.10", "192.168.65.10"],
        ["10.99.7.0/24", "10.99.7.0/25", "10.99.7.128/25", "10.99.7.10", "10.99.7.138"],
    ];
    for (const [cidr, gatewaySubnet, databaseSubnet, gatewayIp, databaseIp] of cases) {
        it(`cuts ${cidr}`, function () {
            assert.deepStrictEqual(siteLayout(cidr), { cidr, gatewaySubnet, databaseSubnet, gatewayIp, databaseIp });
        });
    }
    it("refuses host numbers outside the range", function () {
        assert.throws(() => hostAddress("10.0.0.0/30", 3), /has no host number 3/);
        assert.strictEqual(subnetOf("10.0.0.0/16", 24, 255), "10.0.255.0/24");
    });
});

describe("shellQuote", function () {
    for (const value of ["plain", "it's", "$HOME `id` $(id)", "line1\nline2", "'", "", "a\\b"]) {
        it(`round-trips ${JSON.stringify(value)} through bash`, function () {
            const echoed = execFileSync("bash", ["-c", `printf %s ${shellQuote(value)}`]).toString();
            assert.strictEqual(echoed, value);
        });
    }
});

describe("renderHostScript", function () {
    it("assembles library, values, files and body into valid bash", function () {
        const script = renderHostScript({
            title: "test",
            body: "tunnel-check.sh",
            vars: { CONNECTION: "t", TIMEOUT: 5 },
            files: [{ path: "/etc/x.conf", mode: "644", owner: "root:root", content: "a=$b\n`c`", flag: "x" }],
        });
        assert.ok(script.startsWith("#!/bin/bash\n# crosscloud: test\n"));
        assert.ok(script.includes("readonly CONNECTION='t'\nreadonly TIMEOUT='5'\nCHANGED_x=0\n"));
        assert.ok(
            script.includes(
                "    if put_file '/etc/x.conf' 644 root:root <<'CROSSCLOUD_EOF'\na=$b\n`c`\nCROSSCLOUD_EOF\n    then CHANGED_x=1; fi",
            ),
        );
        assert.ok(script.trimEnd().endsWith("finish"));
        execFileSync("bash", ["-n"], { input: script });
    });
    it("refuses a file holding the heredoc delimiter, and bad variable names", function () {
        assert.throws(
            () =>
                renderHostScript({
                    title: "t",
                    body: "tunnel-check.sh",
                    vars: {},
                    files: [{ path: "/x", mode: "644", owner: "root:root", content: "CROSSCLOUD_EOF\n" }],
                }),
            /\/x contains the line CROSSCLOUD_EOF/,
        );
        assert.throws(
            () => renderHostScript({ title: "t", body: "tunnel-check.sh", vars: { "A-B": 1 } }),
            /not a shell variable name: A-B/,
        );
    });
});

describe("SCRAM-SHA-256 verifiers", function () {
    it("derive the keys of the RFC 7677 example exchange", function () {
        // RFC 7677 section 3: user "user", password "pencil", 4096 iterations.
        const keys = scramKeys("pencil", Buffer.from("W22ZaJ0SNY7soEsUEjb6gQ==", "base64"), 4096);
        const authMessage =
            "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        const clientSignature = createHmac("sha256", keys.storedKey).update(authMessage).digest();
        const proof = Buffer.from(keys.clientKey.map((b, i) => b ^ clientSignature[i]));
        assert.strictEqual(proof.toString("base64"), "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        assert.strictEqual(
            createHmac("sha256", keys.serverKey).update(authMessage).digest("base64"),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        );
        assert.deepStrictEqual(keys.storedKey, createHash("sha256").update(keys.clientKey).digest());
    });
    it("are stable for a password and differ between roles and passwords", function () {
        const v = scramVerifier("replicator", "x".repeat(40));
        assert.match(v, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
        assert.strictEqual(scramVerifier("replicator", "x".repeat(40)), v);
        assert.notStrictEqual(scramVerifier("crosscloud_admin", "x".repeat(40)), v);
        assert.notStrictEqual(scramVerifier("replicator", "y".repeat(40)), v);
    });
});

describe("small renderers", function () {
    it("refuses a PSK that ipsec.secrets could misread", function () {
        const ends = {
            connection: "t",
            localPrivateIp: "10.0.0.10",
            localPublicIp: "192.0.2.1",
            localCidr: "10.0.0.0/16",
            remotePublicIp: "192.0.2.2",
            remoteCidr: "10.1.0.0/16",
        };
        assert.throws(() => renderIpsecSecrets(ends, `${"a".repeat(40)}"`), /at least 40 alphanumeric/);
        assert.throws(() => renderIpsecSecrets(ends, "a".repeat(39)), /at least 40 alphanumeric/);
        assert.strictEqual(
            renderIpsecSecrets(ends, "a".repeat(40)),
            `# Managed by crosscloud (Pulumi).\n192.0.2.1 192.0.2.2 : PSK "${"a".repeat(40)}"\n`,
        );
    });
    it("names slots after the standby", function () {
        assert.deepStrictEqual(["azure", "aws", "my-site"].map(slotName), ["crosscloud_azure", "crosscloud_aws", "crosscloud_my_site"]);
    });
    it("rejects everything pg_hba does not list, TLS or not", function () {
        const hba = renderPgHba({ ...AWS_PRIMARY_NODE, version: 16, clientCidrs: ["10.10.8.0/24"], maxSlotWalKeepSize: "4GB" });
        const rules = hba
            .split("\n")
            .filter((l) => l && !l.startsWith("#"))
            .map((l) => l.split(/\s+/));
        assert.deepStrictEqual(rules, [
            ["local", "all", "postgres", "peer"],
            ["local", "all", "all", "peer"],
            ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"],
            ["hostssl", "replication", "replicator", "10.20.1.10/32", "scram-sha-256"],
            ["hostssl", "postgres", "replicator", "10.20.1.10/32", "scram-sha-256"],
            // The replication role from an application network (logical replication=database) is refused.
            ["host", "all", "replicator", "0.0.0.0/0", "reject"],
            ["hostssl", "all", "all", "10.10.8.0/24", "scram-sha-256"],
            ["host", "all", "all", "0.0.0.0/0", "reject"],
        ]);
    });
});
