// npm run failover -- SITE [--hosts FILE] [--key FILE]
// Unplanned failover: promotes the standby on SITE at once, without waiting for the other side (whose
// cloud may be unreachable, so `pulumi up` cannot run). Uses the program's own host script and pinned
// host keys: FILE is `pulumi stack output --json databaseHosts`, the key the admin private key.
// Afterwards set crosscloud:primary to SITE; the next `pulumi up` rejoins the old primary as a standby
// (the boot fence keeps it read-only meanwhile).
import * as fs from "fs";
import { promoteScript } from "../scripts/postgresSteps";
import { RUN_SCRIPT_FROM_STDIN, renderHostScript } from "../scripts/render";
import { SshHostOutput, connectionFor, runRemoteCommand } from "../scripts/ssh";

async function main(argv: string[]): Promise<void> {
    const [site] = argv.filter((a) => !a.startsWith("--"));
    const option = (name: string) => {
        const i = argv.indexOf(name);
        return i >= 0 ? argv[i + 1] : undefined;
    };
    const hostsFile = option("--hosts");
    const keyFile = option("--key");
    if (!site || !hostsFile || !keyFile) {
        throw new Error(
            "usage: npm run failover -- SITE --hosts HOSTS.json --key PRIVATE_KEY   (HOSTS.json: pulumi stack output --json databaseHosts)",
        );
    }
    const hosts = JSON.parse(fs.readFileSync(hostsFile, "utf8")) as Record<string, SshHostOutput & { postgresVersion: number }>;
    const host = hosts[site];
    if (!host) {
        throw new Error(`no database host for site ${site} in ${hostsFile}: sites are ${Object.keys(hosts).join(", ")}`);
    }
    const script = renderHostScript(promoteScript(host.postgresVersion));
    const result = await runRemoteCommand(
        `failover to ${site}`,
        connectionFor(host, fs.readFileSync(keyFile, "utf8")),
        RUN_SCRIPT_FROM_STDIN,
        script,
    );
    process.stdout.write(result.stdout);
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((err: unknown) => {
        console.error(`failover: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
    });
}
