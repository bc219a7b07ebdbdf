// Replication runs over TLS with SCRAM-SHA-256; a connection without TLS, or from any other address,
// is refused by the primary even with the right password.
import { Lab, peerOf, psql, shell } from "../harness/lab";
import { databaseOf, waitHealthy } from "../harness/faults";

const PASSFILE = "/var/lib/postgresql/.pgpass";

/** psql as postgres on `host` with `conninfo`; resolves to [ok, last line of output]. */
async function tryConnect(host: string, conninfo: string, sql: string): Promise<[boolean, string]> {
    const out = await shell(
        host,
        `runuser -u postgres -- psql -X -At -P pager=off ${JSON.stringify(conninfo)} -c ${JSON.stringify(sql)} 2>&1; echo "exit=$?"`,
    );
    const lines = out.trim().split("\n");
    const ok = lines.pop() === "exit=0";
    return [ok, lines.filter(Boolean).pop() ?? ""];
}

export async function replicationSecurity(lab: Lab): Promise<void> {
    await waitHealthy(lab, 120);
    const primary = databaseOf(lab.primary);
    const standby = databaseOf(peerOf(lab.primary));
    const primaryIp = lab.databaseIps[lab.primary];

    await lab.step("the standby's WAL receiver connection uses TLS, the role SCRAM-SHA-256", async () => {
        const tls = (
            await psql(
                primary,
                "SELECT r.application_name || ' ssl=' || s.ssl || ' ' || coalesce(s.version, '') || ' ' || coalesce(s.cipher, '') FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)",
            )
        ).trim();
        if (!/ ssl=true /.test(tls)) {
            throw new Error(`the replication connection is not TLS: ${tls || "(no WAL sender)"}`);
        }
        const scram = (
            await psql(primary, "SELECT rolname || ' ' || split_part(rolpassword, '$', 1) FROM pg_authid WHERE rolname = 'replicator'")
        ).trim();
        if (scram !== "replicator SCRAM-SHA-256") {
            throw new Error(`the replication role's password is not a SCRAM verifier: ${scram}`);
        }
        const hba = (
            await psql(
                primary,
                "SELECT type || ' ' || array_to_string(database, ',') || ' ' || coalesce(address, '') || ' ' || auth_method FROM pg_hba_file_rules WHERE 'replicator' = ANY(user_name) OR 'replication' = ANY(database)",
            )
        )
            .trim()
            .split("\n");
        const weak = hba.filter((l) => !/^hostssl .* scram-sha-256$/.test(l) && !/ reject$/.test(l));
        if (weak.length > 0) {
            throw new Error(`pg_hba.conf admits replication without TLS + SCRAM: ${weak.join("; ")}`);
        }
        return `${tls}; ${scram}; pg_hba: ${hba.join("; ")}`;
    });

    await lab.step("with TLS from the standby's address: accepted (the control)", async () => {
        const [ok, line] = await tryConnect(
            standby,
            `host=${primaryIp} user=replicator dbname=postgres replication=database sslmode=require passfile=${PASSFILE}`,
            "IDENTIFY_SYSTEM",
        );
        if (!ok) {
            throw new Error(`the standby could not connect with TLS: ${line}`);
        }
        return `IDENTIFY_SYSTEM answered over TLS`;
    });

    await lab.step("without TLS from the standby's address: refused", async () => {
        const [ok, line] = await tryConnect(
            standby,
            `host=${primaryIp} user=replicator dbname=postgres replication=database sslmode=disable passfile=${PASSFILE}`,
            "IDENTIFY_SYSTEM",
        );
        if (ok || !/no encryption|rejects connection|no pg_hba.conf entry/.test(line)) {
            throw new Error(`a replication connection without TLS was not refused as expected: ${ok ? "accepted" : line}`);
        }
        return line.replace(/^psql: error: /, "");
    });

    await lab.step("with TLS and the right password from other addresses: refused", async () => {
        const results: string[] = [];
        // The replication password travels on stdin into a passfile; never on a command line.
        const pgpass = await shell(standby, `cat ${PASSFILE}`);
        // Both gateways sit in the lab's application networks (crosscloud:clientCidrs 10.10.0.0/24, 10.20.0.0/24).
        for (const host of ["azure-gateway", "aws-gateway"]) {
            await shell(
                host,
                `umask 077; cat > /run/lab-replicator.pgpass; chown postgres /run/lab-replicator.pgpass 2>/dev/null || true`,
                pgpass,
            );
            try {
                for (const mode of ["true", "database"]) {
                    const [ok, line] = await tryConnect(
                        host,
                        `host=${primaryIp} user=replicator dbname=postgres replication=${mode} sslmode=require passfile=/run/lab-replicator.pgpass connect_timeout=5`,
                        "IDENTIFY_SYSTEM",
                    );
                    if (ok || !/rejects connection|no pg_hba.conf entry/.test(line)) {
                        throw new Error(
                            `a replication=${mode} connection from ${host} was not refused by pg_hba: ${ok ? "accepted" : line}`,
                        );
                    }
                    results.push(`${host} replication=${mode}: ${line.replace(/^psql: error: /, "").replace(/^.*FATAL: +/, "FATAL: ")}`);
                }
            } finally {
                await shell(host, "rm -f /run/lab-replicator.pgpass");
            }
        }
        return results.join(" | ");
    });
}
