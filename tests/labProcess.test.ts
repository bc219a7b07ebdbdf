// The lab's cloud API calls (labctl via ctl.sh) run as child processes. One that exits without reading its
// stdin must not take the harness down with an unhandled EPIPE (seen in CI: `wan cut off`, answered on the
// machine without reading stdin, killed the lab run in slotOutage).
import * as assert from "assert";
import { runProcess } from "../lab/harness/labCloud";

describe("the lab's process runner (lab/harness/labCloud.ts runProcess)", function () {
    it("resolves when the command exits 0 without reading a large input (EPIPE on our write)", async function () {
        // 4 MiB outgrows any pipe buffer, so the write meets a closed pipe every time.
        const out = await runProcess("sh", ["-c", "echo done"], "x".repeat(4 << 20), "sh");
        assert.strictEqual(out, "done\n");
    });

    it("rejects with the command's stderr and status when it fails without reading its input", async function () {
        await assert.rejects(runProcess("sh", ["-c", "echo broken >&2; exit 3"], "x".repeat(4 << 20), "ctl wan cut off"), {
            message: "ctl wan cut off failed (3): broken",
        });
    });

    it("gives a command without input an empty stdin (EOF), and passes input through when given", async function () {
        assert.strictEqual(await runProcess("cat", [], undefined, "cat"), "");
        assert.strictEqual(await runProcess("cat", [], "key material\n", "cat"), "key material\n");
    });
});
