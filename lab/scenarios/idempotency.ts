// Running the whole program again on a provisioned lab changes nothing and fails nothing.
import { Lab } from "../harness/lab";

export async function idempotency(lab: Lab): Promise<void> {
    await lab.step("pulumi up again changes nothing", async () => {
        const { cloud } = await lab.up();
        const changed = cloud.commands
            .map((c) => ({ name: c.name, changes: Number(/^crosscloud: done: (\d+) changes/m.exec(c.stdout)?.[1] ?? NaN) }))
            .filter((c) => c.changes !== 0);
        if (changed.length > 0) {
            throw new Error(
                `the second run changed hosts: ${changed.map((c) => `${c.name} (${c.changes})`).join(", ")}; see .lab/logs/commands/`,
            );
        }
        return `all ${cloud.commands.length} commands ran again and reported 0 changes`;
    });
}
