// Values defined once in scripts/ and repeated, out of necessity, where TypeScript cannot reach.
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { DEFAULT_IPSEC_CIPHER } from "../scripts/ipsec";

const ROOT = path.join(__dirname, "..");

describe("constants defined once", function () {
    it("Pulumi.yaml's default cipher is DEFAULT_IPSEC_CIPHER (YAML can only repeat it)", function () {
        const project = YAML.parse(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8")) as {
            config: Record<string, { default?: unknown }>;
        };
        assert.strictEqual(project.config["crosscloud:ipsecCipher"].default, DEFAULT_IPSEC_CIPHER);
    });
});
