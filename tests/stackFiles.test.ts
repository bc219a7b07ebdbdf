// The shipped Pulumi.yaml and stack files as the Pulumi CLI loads them (tests/cliConfig.ts), then the
// whole program on what the CLI would hand it: `pulumi up` must get past the CLI's config checks.
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { generateEd25519KeyPair } from "../scripts/ssh";
import { ConfigSet, loadStack } from "./cliConfig";
import { DEFAULT_CLOUD, cloudCalls, cloudResources, legacyAws } from "../mockcloud/cloudMocks";
import { named, ofType, withWarnings } from "./inspect";
import { GENERATED_KEYS } from "./stacks";
import { ProgramRun, runProgram } from "../mockcloud/programRunner";

const ROOT = path.resolve(__dirname, "..");
const PULUMI_YAML = path.join(ROOT, "Pulumi.yaml");

const README_ADMIN_CIDR = "198.51.100.23/32";
/** README "Deploying for real": the `pulumi config set` commands, with a fresh key pair as ~/.ssh/id_ed25519. */
function readmeSets(pair: { public: string; private: string }): ConfigSet[] {
    return [
        { key: "aws:region", value: "eu-west-1" },
        { key: "azure-native:location", value: "westeurope" },
        { key: "crosscloud:adminCidrs[0]", value: README_ADMIN_CIDR, path: true },
        // "$(cat ~/.ssh/id_ed25519.pub)": the shell drops the trailing newline.
        { key: "crosscloud:sshPublicKey", value: pair.public.replace(/\n+$/, "") },
        // `--secret ... < ~/.ssh/id_ed25519`: read from stdin, one trailing newline dropped.
        { key: "crosscloud:sshPrivateKey", value: pair.private, secret: true, stdin: true },
    ];
}

/** Runs the program on what the loader produced, recording the warnings it logs. */
async function runLoaded(
    loaded: { config: Record<string, string>; secretKeys: string[] },
    cloud = DEFAULT_CLOUD,
): Promise<{ r: ProgramRun; warnings: string[] }> {
    const { result: r, warnings } = await withWarnings(() =>
        runProgram({
            config: loaded.config,
            secretKeys: loaded.secretKeys,
            newResource: cloudResources(GENERATED_KEYS, cloud),
            call: cloudCalls(cloud),
        }),
    );
    return { r, warnings };
}

/** Loads the dev stack against a copy of Pulumi.yaml with `declaration` added at the top of its config. */
function loadWithDeclaration(declaration: string, sets: ConfigSet[]): ReturnType<typeof loadStack> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-cfg-"));
    try {
        const projectFile = path.join(dir, "Pulumi.yaml");
        fs.writeFileSync(projectFile, fs.readFileSync(PULUMI_YAML, "utf8").replace("\nconfig:\n", `\nconfig:\n${declaration}`));
        return loadStack({ projectFile, stackName: "dev", stackFile: path.join(ROOT, "Pulumi.dev.yaml"), sets });
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

const SOURCE_KEYS = [
    "sourceDatabaseRouteTableId",
    "sourceDatabaseSubnetId",
    "sourceGatewayPrivateIp",
    "sourceGatewaySubnetId",
    "sourcePrimaryHostKey",
    "sourcePrimaryInstanceId",
    "sourcePrimarySecurityGroupId",
    "sourceStack",
    "sourceVpcId",
];

describe("the shipped Pulumi.dev.yaml and the README's config set, as the CLI loads them", function () {
    const pair = generateEd25519KeyPair("crosscloud-readme");
    let loaded: ReturnType<typeof loadStack>;
    let r: ProgramRun;
    let warnings: string[];
    before(async function () {
        loaded = loadStack({ projectFile: PULUMI_YAML, stackName: "dev", sets: readmeSets(pair) });
        ({ r, warnings } = await runLoaded(loaded));
    });

    it("passes the CLI's checks: every optional key has a default, the unused ones empty", function () {
        assert.deepStrictEqual(
            SOURCE_KEYS.map((k) => loaded.config[`crosscloud:${k}`]),
            SOURCE_KEYS.map(() => ""),
        );
        assert.deepStrictEqual(
            [
                loaded.config["crosscloud:adminCidrs"],
                loaded.config["crosscloud:allowPrimaryRestart"],
                loaded.config["crosscloud:ipsecLifetimes"],
            ],
            [`["${README_ADMIN_CIDR}"]`, "false", '{"ike":"8h","sa":"1h"}'],
        );
    });

    it("hands sshPrivateKey over as the only secret, without the file's trailing newline", function () {
        assert.deepStrictEqual(loaded.secretKeys, ["crosscloud:sshPrivateKey"]);
        assert.strictEqual(loaded.config["crosscloud:sshPrivateKey"], pair.private.replace(/\n$/, ""));
    });

    it("runs the whole program: the VPC gets 10.10.0.0/16, the README's key and admin address are used, the key stays secret", function () {
        assert.deepStrictEqual(
            ofType(r, "aws:ec2/vpc:Vpc").map((v) => v.inputs.cidrBlock),
            ["10.10.0.0/16"],
        );
        assert.deepStrictEqual([r.outputs.awsCidr, r.outputs.azureCidr, r.outputs.awsSource], ["10.10.0.0/16", "10.20.0.0/16", "created"]);
        assert.strictEqual(named(r, "aws-admin-key").inputs.publicKey, pair.public.replace(/\n+$/, ""));
        assert.strictEqual(named(r, "aws-gateway-ssh-0").inputs.cidrIpv4, README_ADMIN_CIDR);
        assert.deepStrictEqual(warnings, []);
        const node = named(r, "postgres-azure-node");
        assert.deepStrictEqual(
            [node.inputs.connection.privateKey, node.secretInputs.includes("connection")],
            [pair.private.replace(/\n$/, ""), true],
        );
    });

    it("stops without the README's secret, as the CLI does", function () {
        assert.throws(() => loadStack({ projectFile: PULUMI_YAML, stackName: "dev", sets: readmeSets(pair).slice(0, 4) }), {
            message: "validating stack config: Stack 'dev' is missing configuration value 'crosscloud:sshPrivateKey'",
        });
    });

    it("stops on a key added to Pulumi.yaml with neither default nor value", function () {
        const added = "  crosscloud:someNewOption:\n    type: string\n    description: Optional, but declared without a default.\n";
        assert.throws(() => loadWithDeclaration(added, readmeSets(pair)), {
            message: "validating stack config: Stack 'dev' is missing configuration value 'crosscloud:someNewOption'",
        });
    });
});

describe("rotating the admin key with the README's commands, as the CLI loads them", function () {
    const old = generateEd25519KeyPair("crosscloud-old");
    const rotated = generateEd25519KeyPair("crosscloud-new");
    it("takes the new pair and crosscloud:previousSshPrivateKey as secrets, and the access steps log in with the previous key", async function () {
        const loaded = loadStack({
            projectFile: PULUMI_YAML,
            stackName: "dev",
            sets: [
                ...readmeSets(old),
                // README "Rotating the admin key"
                { key: "crosscloud:sshPublicKey", value: rotated.public.replace(/\n+$/, "") },
                { key: "crosscloud:sshPrivateKey", value: rotated.private, secret: true, stdin: true },
                { key: "crosscloud:previousSshPrivateKey", value: old.private, secret: true, stdin: true },
            ],
        });
        assert.deepStrictEqual(loaded.secretKeys.sort(), ["crosscloud:previousSshPrivateKey", "crosscloud:sshPrivateKey"]);
        const { r } = await runLoaded(loaded);
        assert.deepStrictEqual(
            ["aws-gateway-access", "postgres-azure-node"].map((n) => named(r, n).inputs.connection.privateKey),
            [old.private.replace(/\n$/, ""), rotated.private.replace(/\n$/, "")],
        );
    });
    it("a Pulumi.yaml that declared previousSshPrivateKey as a secret with a default would stop the CLI", function () {
        const declared = '  crosscloud:previousSshPrivateKey:\n    type: string\n    secret: true\n    default: ""\n';
        assert.throws(() => loadWithDeclaration(declared, readmeSets(old)), {
            message:
                "validating stack config: Stack 'dev' with configuration key 'crosscloud:previousSshPrivateKey' must be encrypted as it's secret",
        });
    });
});

describe("an existing-environment stack file (tests/fixtures/Pulumi.existing.yaml), as the CLI loads it", function () {
    const pair = generateEd25519KeyPair("crosscloud-existing");
    let loaded: ReturnType<typeof loadStack>;
    let r: ProgramRun;
    let warnings: string[];
    before(async function () {
        loaded = loadStack({
            projectFile: PULUMI_YAML,
            stackName: "existing",
            stackFile: path.join(__dirname, "fixtures", "Pulumi.existing.yaml"),
            sets: readmeSets(pair).slice(3),
        });
        ({ r, warnings } = await runLoaded(loaded, { ...DEFAULT_CLOUD, existingAws: legacyAws() }));
    });

    it("gets awsCidr empty from the project default", function () {
        assert.strictEqual(loaded.config["crosscloud:awsCidr"], "");
    });

    it("runs on the existing VPC's range 172.31.0.0/16, creating no VPC", function () {
        assert.deepStrictEqual(ofType(r, "aws:ec2/vpc:Vpc"), []);
        assert.deepStrictEqual([r.outputs.awsCidr, r.outputs.awsSource], ["172.31.0.0/16", "existing (config)"]);
        assert.strictEqual(named(r, "aws-gateway").inputs.privateIp, "172.31.0.10");
    });

    it("only warns that the existing primary will not be restarted (allowPrimaryRestart keeps its default false)", function () {
        assert.deepStrictEqual(warnings, [
            'PostgreSQL on the existing aws database host will not be restarted: settings that need a restart (archive_mode, wal_log_hints, listen_addresses, ...) stay pending and its step prints "crosscloud: restart-needed: <settings>"; set crosscloud:allowPrimaryRestart to true to allow the restart.',
        ]);
    });
});
