// npm run failover -- SITE [--hosts FILE] [--key FILE] [--fence-timeout SECONDS]
// npm run failover -- --fence-only SITE --hosts FILE --key FILE
// Unplanned failover: promotes the standby on SITE without waiting for the other side (whose cloud may be
// unreachable, so `pulumi up` cannot run). First it tries, within --fence-timeout (default 15 s), to reach
// the old primary and stop it (fenced: it comes back read-only); when it cannot, it says so on its own
// line, with what follows and the command that fences it later (--fence-only). Uses the program's own
// host scripts and pinned host keys: FILE is `pulumi stack output --json databaseHosts`, the key the
// admin private key. Afterwards set crosscloud:primary to SITE; the next `pulumi up` rejoins the old
// primary as a standby, saving what it wrote after the promotion before anything is discarded.
import * as fs from "fs";
import { failoverFenceScript, promoteScript } from "../scripts/postgresSteps";
import { RUN_SCRIPT_FROM_STDIN, renderHostScript } from "../scripts/render";
import { withinSeconds } from "../scripts/bound";
import { SshHostOutput, connectionFor, runRemoteCommand } from "../scripts/ssh";

export const DEFAULT_FENCE_TIMEOUT_SECONDS = 15;
type Hosts = Record<string, SshHostOutput & { postgresVersion: number }>;

/** Runs the fence on `site`'s host, bounded: resolves with its output, rejects with why it could not. */
async function fence(hosts: Hosts, site: string, key: string, timeoutSeconds: number): Promise<string> {
    const host = hosts[site];
    // One attempt, a short dial: a cloud that is gone must not hold the promotion for long.
    const connection = { ...connectionFor(host, key), dialErrorLimit: 0, perDialTimeout: Math.min(timeoutSeconds, 10) };
    const run = runRemoteCommand(
        `fence ${site}`,
        connection,
        RUN_SCRIPT_FROM_STDIN,
        renderHostScript(failoverFenceScript(host.postgresVersion)),
    );
    return (await withinSeconds(run, timeoutSeconds, `no answer within ${timeoutSeconds} s`)).stdout;
}

export function notFencedLines(oldSite: string, reason: string, fenceCommand: string): string[] {
    return [
        `crosscloud: warning: the old primary on ${oldSite} was NOT fenced: ${reason}`,
        `crosscloud: warning: if clients can still reach it, it may still be taking writes: two primaries until it is stopped. Its fence-watch stops it within seconds of seeing this promotion once the tunnel is back; the next pulumi up saves what it committed after the promotion before anything is discarded.`,
        `crosscloud: warning: to fence it as soon as it can be reached: ${fenceCommand}`,
    ];
}

async function main(argv: string[]): Promise<void> {
    const option = (name: string) => {
        const i = argv.indexOf(name);
        return i >= 0 ? argv[i + 1] : undefined;
    };
    const fenceOnly = option("--fence-only");
    const values = new Set(["--hosts", "--key", "--fence-timeout", "--fence-only"].map(option));
    const [site] = argv.filter((a) => !a.startsWith("--") && !values.has(a));
    const hostsFile = option("--hosts");
    const keyFile = option("--key");
    const fenceTimeout = Number(option("--fence-timeout") ?? DEFAULT_FENCE_TIMEOUT_SECONDS);
    if ((!site && !fenceOnly) || !hostsFile || !keyFile || !(fenceTimeout > 0)) {
        throw new Error(
            "usage: npm run failover -- SITE --hosts HOSTS.json --key PRIVATE_KEY [--fence-timeout SECONDS]   (HOSTS.json: pulumi stack output --json databaseHosts)\n" +
                "       npm run failover -- --fence-only OLD_SITE --hosts HOSTS.json --key PRIVATE_KEY",
        );
    }
    const hosts = JSON.parse(fs.readFileSync(hostsFile, "utf8")) as Hosts;
    const key = fs.readFileSync(keyFile, "utf8");
    const known = (s: string) => {
        if (!hosts[s]) {
            throw new Error(`no database host for site ${s} in ${hostsFile}: sites are ${Object.keys(hosts).join(", ")}`);
        }
    };
    if (fenceOnly) {
        known(fenceOnly);
        process.stdout.write(await fence(hosts, fenceOnly, key, fenceTimeout));
        return;
    }
    known(site);
    const oldSite = Object.keys(hosts).find((s) => s !== site)!;
    try {
        process.stdout.write(await fence(hosts, oldSite, key, fenceTimeout));
    } catch (err) {
        const reason = (err instanceof Error ? err.message : String(err)).split("\n")[0];
        const command = `npm run failover -- --fence-only ${oldSite} --hosts ${hostsFile} --key ${keyFile}`;
        process.stdout.write(notFencedLines(oldSite, reason, command).join("\n") + "\n");
    }
    const result = await runRemoteCommand(
        `failover to ${site}`,
        connectionFor(hosts[site], key),
        RUN_SCRIPT_FROM_STDIN,
        renderHostScript(promoteScript(hosts[site].postgresVersion)),
    );
    process.stdout.write(result.stdout);
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        // A fence that never answered leaves its connection open: the failover is done, so end.
        () => process.exit(0),
        (err: unknown) => {
            console.error(`failover: ${err instanceof Error ? err.message : String(err)}`);
            process.exit(1);
        },
    );
}
