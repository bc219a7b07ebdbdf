// Synchronous mode without deadlock. A first `pulumi up` with crosscloud:synchronous remote_apply and
// standby loss `block` on empty database hosts (their clusters and archives dropped, and every command on
// them run as on new VMs; the gateways' commands, unchanged, are kept as the engine keeps them): the
// primary's own statements (roles, grants) must not wait for the standby that a later step of the same `up`
// makes. Then `degrade`: with the standby stopped, a commit waits at most SYNC_DEGRADE_AFTER_SECONDS (plus a
// poll), and once the standby streams again commits wait for it again. The lab is left synchronous
// (degrade): `npm test` runs partitionSync next, which sets `block` and ends asynchronous. The second up
// re-runs only the steps whose inputs changed, as the engine does.
import { ARCHIVE_DIR, POSTGRES_HOME, SYNC_DEGRADED_CONF, SYNC_DEGRADE_AFTER_SECONDS } from "../../scripts/postgres";
import { withinSeconds } from "../../scripts/bound";
import { Lab, SITES, peerOf, psql, shell, waitFor } from "../harness/lab";
import { forgetCommands } from "../harness/labCloud";

/** A first up that has not finished by then is taken for a deadlock (it takes about 2 min in the lab). */
const FIRST_UP_BOUND_SECONDS = 480;

export async function synchronousMode(lab: Lab): Promise<void> {
    const version = Number(lab.outputs.databaseHosts[lab.primary].postgresVersion);
    const unit = `postgresql@${version}-main`;

    await lab.step("first pulumi up on empty database hosts with crosscloud:synchronous remote_apply, standby loss block", async () => {
        await Promise.all(
            SITES.map((site) =>
                shell(
                    `${site}-database`,
                    `pg_dropcluster --stop ${version} main && rm -rf ${ARCHIVE_DIR} ${POSTGRES_HOME}/crosscloud-diverged`,
                ),
            ),
        );
        // Every command on the database hosts: their access steps and the PostgreSQL steps.
        const rerun = forgetCommands(/^(aws|azure)-database-access$|^postgres-/);
        if (rerun.length !== 7) {
            throw new Error(`expected the 7 commands on the database hosts in the lab's command state, found ${rerun.join(", ")}`);
        }
        const started = Date.now();
        const { outputs, cloud } = await withinSeconds(
            lab.up({ "crosscloud:synchronous": "remote_apply", "crosscloud:synchronousStandbyLoss": "block" }, () => undefined, {
                onlyChanged: true,
            }),
            FIRST_UP_BOUND_SECONDS,
            `the first up with synchronous mode did not finish in ${FIRST_UP_BOUND_SECONDS} s: a step waits on the standby (deadlock)`,
        );
        const seconds = (Date.now() - started) / 1000;
        const ran = cloud.commands.map((c) => c.name).sort();
        if (ran.join(" ") !== [...rerun].sort().join(" ")) {
            throw new Error(`the first up ran ${ran.join(", ")}; expected every command on the database hosts: ${rerun.join(", ")}`);
        }
        const primary = `${lab.primary}-database`;
        const standby = peerOf(lab.primary);
        const names = (await psql(primary, "SHOW synchronous_standby_names")).trim();
        const state = (await psql(primary, "SELECT application_name || ' ' || state || ' ' || sync_state FROM pg_stat_replication")).trim();
        if (
            names !== `"${standby}"` ||
            state !== `${standby} streaming sync` ||
            !/standby loss: block/.test(String(outputs.synchronousMode))
        ) {
            throw new Error(
                `after the first up: synchronous_standby_names = ${names}, replication: ${state || "(none)"}, synchronousMode: ${String(outputs.synchronousMode)}`,
            );
        }
        // remote_apply: a commit acknowledged on the primary is visible on the standby at once.
        await psql(
            primary,
            "CREATE TABLE IF NOT EXISTS sync_check (id int PRIMARY KEY); INSERT INTO sync_check VALUES (1) ON CONFLICT DO NOTHING",
        );
        const onStandby = (await psql(`${standby}-database`, "SELECT count(*) FROM sync_check WHERE id = 1")).trim();
        if (onStandby !== "1") {
            throw new Error(`a remote_apply commit on the primary is not on the standby: ${onStandby}`);
        }
        return `completed in ${seconds.toFixed(0)} s (bound ${FIRST_UP_BOUND_SECONDS} s), the ${ran.length} commands on the database hosts run: both clusters created, roles made on the primary while its synchronous standby did not exist yet; synchronous_standby_names = ${names}, ${state}; synchronousMode: ${String(outputs.synchronousMode)}`;
    });

    await lab.step(
        `standby loss degrade: the standby stopped, a commit waits ≤ ${SYNC_DEGRADE_AFTER_SECONDS} s (+ a poll), then synchronous again`,
        async () => {
            const { outputs } = await lab.up({ "crosscloud:synchronousStandbyLoss": "degrade" }, () => undefined, { onlyChanged: true });
            if (!/standby loss: degrade/.test(String(outputs.synchronousMode))) {
                throw new Error(`synchronousMode: ${String(outputs.synchronousMode)}`);
            }
            const primary = `${lab.primary}-database`;
            const standby = `${peerOf(lab.primary)}-database`;
            await shell(standby, `systemctl stop ${unit}`);
            const t0 = Date.now();
            await psql(primary, "INSERT INTO sync_check VALUES (2)");
            const waited = (Date.now() - t0) / 1000;
            if (waited > SYNC_DEGRADE_AFTER_SECONDS + 4) {
                throw new Error(`a commit without the standby waited ${waited.toFixed(1)} s (bound ${SYNC_DEGRADE_AFTER_SECONDS} s + 4 s)`);
            }
            const degraded = (await shell(primary, `cat /etc/postgresql/${version}/main/conf.d/${SYNC_DEGRADED_CONF}`)).trim();
            await shell(standby, `systemctl start ${unit}`);
            await waitFor(
                "the standby streaming synchronously again",
                60,
                async () => (await psql(primary, "SELECT sync_state FROM pg_stat_replication")).trim() === "sync",
            );
            const left = (await shell(primary, `ls /etc/postgresql/${version}/main/conf.d/`)).trim();
            if (left.includes(SYNC_DEGRADED_CONF)) {
                throw new Error(`${SYNC_DEGRADED_CONF} is still there once the standby streams: ${left}`);
            }
            const journal = (
                await shell(primary, "journalctl -u crosscloud-sync-watch -o cat --no-pager | grep 'sync-watch' | tail -n 2")
            ).trim();
            if (!/has not been streaming/.test(journal) || !/streams again/.test(journal)) {
                throw new Error(`sync-watch did not log both switches: ${journal}`);
            }
            await psql(primary, "DROP TABLE sync_check");
            return `a commit with the standby stopped waited ${waited.toFixed(1)} s; override: ${degraded.split("\n").pop()}; the standby back: sync again; ${journal.replace(/\n/g, " / ")}`;
        },
    );
}
