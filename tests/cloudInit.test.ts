// The lab's cloud-init stand-in reads the program's own boot data as cloud-init's ssh module would
// (cc_ssh.handle) and refuses, naming it, anything it does not interpret.
import * as assert from "assert";
import { interpretUserData } from "../lab/harness/cloudInit";
import { renderUserData } from "../scripts/bootstrap";
import { mockKeyPair } from "../mockcloud/cloudMocks";

const HOST = mockKeyPair("host-key");
const REFUSAL = "the lab interprets a #! script, or #cloud-config with ssh_deletekeys, ssh_genkeytypes, ssh_keys only";

describe("the lab's cloud-init stand-in (lab/harness/cloudInit.ts)", function () {
    it("turns the program's boot data into the pinned key pair, the image's keys deleted, nothing generated", function () {
        const boot = interpretUserData(renderUserData({ hostPrivateKey: HOST.private, hostPublicKey: HOST.public }));
        assert.deepStrictEqual(boot, {
            ssh: {
                deleteKeys: true,
                files: [
                    { path: "/etc/ssh/ssh_host_ed25519_key", mode: "600", content: `${HOST.private.trim()}\n` },
                    { path: "/etc/ssh/ssh_host_ed25519_key.pub", mode: "644", content: HOST.public.trim() },
                ],
                generate: [],
            },
        });
    });

    it("applies cc_ssh's defaults: keys deleted and rsa, ecdsa, ed25519 generated when ssh_keys is absent", function () {
        assert.deepStrictEqual(interpretUserData("#cloud-config\n{}\n"), {
            ssh: { deleteKeys: true, files: [], generate: ["rsa", "ecdsa", "ed25519"] },
        });
        assert.deepStrictEqual(interpretUserData("#cloud-config\nssh_deletekeys: false\nssh_genkeytypes: [ed25519]\n"), {
            ssh: { deleteKeys: false, files: [], generate: ["ed25519"] },
        });
    });

    it("passes a #! script on to run in the final stage", function () {
        assert.deepStrictEqual(interpretUserData("#!/bin/sh\ntrue\n"), { script: "#!/bin/sh\ntrue\n" });
    });

    for (const [what, userData, message] of [
        ["another cloud-config module", "#cloud-config\nwrite_files: []\n", "cloud-config keys write_files are not interpreted by the lab"],
        [
            "a host certificate",
            "#cloud-config\nssh_keys:\n  ed25519_certificate: x\n",
            "ssh_keys entry ed25519_certificate is not interpreted by the lab",
        ],
        [
            "a private key without its public half",
            "#cloud-config\nssh_keys:\n  ed25519_private: x\n",
            "ssh_keys has ed25519_private without ed25519_public",
        ],
        [
            "multipart MIME",
            'Content-Type: multipart/mixed; boundary="b"\n',
            `user data starting "Content-Type: multip" is neither a #! script nor #cloud-config`,
        ],
        ["broken YAML", "#cloud-config\nssh_keys: [\n", "the cloud-config is not valid YAML"],
        [
            "an unknown key type to generate",
            "#cloud-config\nssh_genkeytypes: [dsa]\n",
            "ssh_genkeytypes must list key types among rsa, ecdsa, ed25519",
        ],
    ] as const) {
        it(`refuses ${what}, naming it`, function () {
            assert.throws(
                () => interpretUserData(userData),
                (err: Error) => err.message.startsWith(`lab cloud-init: ${message}`) && err.message.endsWith(REFUSAL),
            );
        });
    }
});
