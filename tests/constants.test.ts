// Values defined once in scripts/ and repeated, out of necessity, where TypeScript cannot reach.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { DEFAULT_IPSEC_CIPHER } from "../scripts/ipsec";
import {
    ADMIN_USER,
    ARCHIVE_DIR,
    ARCHIVE_KEY,
    ARCHIVE_KNOWN_HOSTS,
    HELPER_DIR,
    POSTGRES_ENV,
    POSTGRES_HOME,
    PROMOTING_FLAG,
    REPLICATION_CONNINFO,
    REPLICATION_USER,
    PostgresNode,
} from "../scripts/postgres";
import { fenceScript, postgresScript, primaryRoleScript, promoteScript } from "../scripts/postgresSteps";
import { AWS_PRIMARY_NODE } from "./nodes";
import { HostScript, fillTemplate, hostTemplate, renderInstalledScript } from "../scripts/render";

const ROOT = path.join(__dirname, "..");
const HOST_DIR = path.join(ROOT, "scripts", "host");

describe("constants defined once", function () {
    it("Pulumi.yaml's default cipher is DEFAULT_IPSEC_CIPHER (YAML can only repeat it)", function () {
        const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
            config: Record<string, { default?: unknown }>;
        };
        assert.strictEqual(project.config["crosscloud:ipsecCipher"].default, DEFAULT_IPSEC_CIPHER);
    });

    it("no host template repeats a host constant: each reads it as a variable", function () {
        const constants: Record<string, string | RegExp> = {
            POSTGRES_HOME,
            ARCHIVE_DIR,
            ARCHIVE_KEY,
            ARCHIVE_KNOWN_HOSTS,
            HELPER_DIR,
            POSTGRES_ENV,
            PROMOTING_FLAG,
            REPLICATION_CONNINFO,
            REPLICATION_USER: new RegExp(`\\b${REPLICATION_USER}\\b`),
            ADMIN_USER: new RegExp(`\\b${ADMIN_USER}\\b`),
        };
        const found = fs.readdirSync(HOST_DIR).flatMap((file) => {
            const text = fs.readFileSync(path.join(HOST_DIR, file), "utf8");
            return Object.entries(constants)
                .filter(([, value]) => (typeof value === "string" ? text.includes(value) : value.test(text)))
                .map(([name]) => `${file}: ${name}`);
        });
        assert.deepStrictEqual(found, []);
    });

    it("each PostgreSQL step is given every host constant its parts read (shellcheck flags one given but not read)", function () {
        const node: PostgresNode = { ...AWS_PRIMARY_NODE, version: 16 };
        const steps: Record<string, HostScript> = {
            node: postgresScript(node, {
                restartPolicy: "report",
                replicatorPassword: "r",
                adminPassword: "a",
                archivePrivate: "private",
                archivePublic: "ssh-ed25519 AAAA",
                peerHostKey: "ssh-ed25519 BBBB",
                dataDevices: ["/dev/sdc"],
                retentionDays: 7,
                discardDiverged: "",
            }),
            primary: primaryRoleScript(node, { replicatorPassword: "r", adminPassword: "a", fencedLsn: "none" }),
            fence: fenceScript(16, "azure", "10.10.2.10"),
            promote: promoteScript(16),
        };
        const names = [
            "POSTGRES_HOME",
            "ARCHIVE_DIR",
            "ARCHIVE_KEY",
            "ARCHIVE_KNOWN_HOSTS",
            "HELPER_DIR",
            "POSTGRES_ENV",
            "PROMOTING_FLAG",
            "REPLICATION_CONNINFO",
            "REPLICATION_USER",
            "ADMIN_USER",
        ];
        const missing = Object.entries(steps).flatMap(([step, script]) => {
            const text = [script.body].flat().map(hostTemplate).join("\n");
            return names
                .filter((name) => new RegExp(`\\$\\{?${name}\\b`).test(text) && !(name in script.vars))
                .map((name) => `${step}: ${name}`);
        });
        assert.deepStrictEqual(missing, []);
    });

    it("an installed script gets its values in place of its values line; a unit gets every @NAME@ filled", function () {
        const serveWal = renderInstalledScript("serve-wal.sh", { ARCHIVE_DIR });
        assert.match(serveWal, /^set -euo pipefail\n# --- values\nreadonly ARCHIVE_DIR='\/var\/lib\/postgresql\/wal-archive'\n/m);
        assert.throws(() => renderInstalledScript("lib.sh", {}), /lib\.sh has no "# --- values" line/);
        assert.match(fillTemplate("slot-heal.service", { HELPER_DIR }), /^ExecStart=\/usr\/local\/lib\/crosscloud\/slot-heal$/m);
        assert.throws(() => fillTemplate("wal-archive-prune.service", { ARCHIVE_DIR }), /no value for @RETENTION_MINUTES@/);
    });
});
