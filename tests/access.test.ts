// The access step on a host (scripts/host/admin-access.sh), run for real against a home directory of
// the current user: getent is the only stub, so mode, owner and the atomic replace are the real ones.
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { adminAccessScript } from "../scripts/access";
import { renderHostScript } from "../scripts/render";
import { mockKeyPair } from "../mockcloud/cloudMocks";

const OLD = mockKeyPair("access-old");
const NEW = mockKeyPair("access-new");
const OPERATOR = mockKeyPair("access-operator");

describe("the admin access step (admin-access.sh)", function () {
    let dir: string;
    const user = os.userInfo().username;
    const keysFile = () => path.join(dir, "home", ".ssh", "authorized_keys");

    /** Runs the rendered step with getent answering for `user` with the temporary home. */
    function runStep(revoked: string[]): { status: number | null; stdout: string; stderr: string } {
        const script = renderHostScript(adminAccessScript({ user, authorizedKey: NEW.public.trim(), revokedPrivateKeys: revoked }));
        const result = spawnSync("bash", ["-s"], {
            input: script,
            env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}` },
            encoding: "utf8",
        });
        return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    }

    beforeEach(function () {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "crosscloud-access-"));
        fs.mkdirSync(path.join(dir, "bin"));
        fs.mkdirSync(path.join(dir, "home", ".ssh"), { recursive: true, mode: 0o700 });
        fs.writeFileSync(
            path.join(dir, "bin", "getent"),
            `#!/bin/sh\n[ "$1 $2" = "passwd ${user}" ] && echo "${user}:x:1000:1000::${dir}/home:/bin/bash" && exit 0\nexit 2\n`,
            { mode: 0o755 },
        );
    });
    afterEach(function () {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("authorizes the new key, removes the revoked one (options and comment aside), keeps the operator's, then changes nothing", function () {
        const [oldType, oldBlob] = OLD.public.trim().split(" ");
        fs.writeFileSync(keysFile(), `${OPERATOR.public.trim()}\nno-pty,from="10.0.0.0/8" ${oldType} ${oldBlob} renamed\n`, {
            mode: 0o644,
        });
        const first = runStep([OLD.private]);
        assert.strictEqual(first.status, 0, first.stderr);
        assert.strictEqual(fs.readFileSync(keysFile(), "utf8"), `${OPERATOR.public.trim()}\n${NEW.public.trim()}\n`);
        assert.strictEqual((fs.statSync(keysFile()).mode & 0o777).toString(8), "600");
        assert.match(first.stdout, /^crosscloud: done: 1 changes/m);
        const second = runStep([OLD.private]);
        assert.strictEqual(second.status, 0, second.stderr);
        assert.match(second.stdout, /^crosscloud: done: 0 changes/m);
        assert.deepStrictEqual(fs.readdirSync(path.join(dir, "home", ".ssh")), ["authorized_keys"], "no temporary file left");
    });

    it("creates the file when the image left none", function () {
        const result = runStep([]);
        assert.strictEqual(result.status, 0, result.stderr);
        assert.strictEqual(fs.readFileSync(keysFile(), "utf8"), `${NEW.public.trim()}\n`);
    });

    it("fails naming the user when its home directory does not exist", function () {
        fs.rmSync(path.join(dir, "home"), { recursive: true });
        const result = runStep([]);
        assert.strictEqual(result.status, 1);
        assert.strictEqual(result.stderr.trim(), `crosscloud: error: user ${user} has no home directory`);
    });

    it("fails naming the user when the admin user does not exist", function () {
        fs.writeFileSync(path.join(dir, "bin", "getent"), "#!/bin/sh\nexit 2\n", { mode: 0o755 });
        const result = runStep([]);
        assert.strictEqual(result.status, 1);
        assert.strictEqual(result.stderr.trim(), `crosscloud: error: no user ${user} on this host: the admin user is made at first boot`);
    });
});
