// No secret (PSK, passwords, private keys) in any process's command line, any host log, any command's
// stdout/stderr, or a non-secret output. Command lines are sampled on all four hosts while the whole
// program runs again and the load writes; logs and outputs are read afterwards. The secrets are read
// into this process and searched for here: they never travel to a host on a command line.
// `npm test` runs the scan inside adminKeyRotation (scanForSecrets): its rotating `up` runs the whole
// program under load with two private keys in the config, so a separate whole-program `up` adds nothing.
import * as fs from "fs";
import * as path from "path";
import { LAB_DIR } from "../harness/labCloud";
import { Lab, shell } from "../harness/lab";
import { LoadClient } from "../harness/load";
import { compareAfterLoad, sleep, waitHealthy } from "../harness/faults";

const HOSTS = ["aws-gateway", "azure-gateway", "aws-database", "azure-database"];
/** Outputs the program marks secret: not scanned. */
const SECRET_OUTPUTS = new Set(["primaryConnectionString"]);

/** Collects every secret of the lab stack, by name, as strings to search for. */
export async function collectSecrets(lab: Lab): Promise<Map<string, string>> {
    const secrets = new Map<string, string>();
    const psk = /PSK "([^"]+)"/.exec(await shell("aws-gateway", "cat /etc/ipsec.secrets"))?.[1];
    if (!psk) {
        throw new Error("no PSK found in the AWS gateway's /etc/ipsec.secrets");
    }
    secrets.set("IPsec PSK", psk);
    secrets.set("admin password", decodeURIComponent(new URL(lab.outputs.primaryConnectionString).password));
    const pgpass = (await shell(`${lab.primary === "aws" ? "azure" : "aws"}-database`, "cat /var/lib/postgresql/.pgpass"))
        .trim()
        .split("\n");
    for (const line of pgpass) {
        secrets.set(`replication password (${line.split(":")[3]})`, line.split(":").slice(4).join(":"));
    }
    // Private keys: each key's longest base64 lines (any one of them leaking is a leak).
    const keys: [string, string][] = [["admin SSH private key", lab.adminKey.private]];
    const generated = path.join(LAB_DIR, "generated-keys.json");
    if (fs.existsSync(generated)) {
        for (const [name, pair] of Object.entries(JSON.parse(fs.readFileSync(generated, "utf8")) as Record<string, { private: string }>)) {
            keys.push([`generated private key ${name}`, pair.private]);
        }
    }
    for (const [name, pem] of keys) {
        for (const [lineName, line] of privateKeyLines(name, pem)) {
            secrets.set(lineName, line);
        }
    }
    for (const [name, value] of secrets) {
        if (value.length < 12) {
            throw new Error(`secret ${name} is too short to search for reliably (${value.length} characters)`);
        }
    }
    return secrets;
}

function findLeaks(secrets: Map<string, string>, where: string, text: string): string[] {
    return [...secrets].filter(([, value]) => text.includes(value)).map(([name]) => `${name} in ${where}`);
}

/** Seconds between samples. */
const SAMPLE_SECONDS = Number(process.env.LAB_SECRET_SAMPLE_SECONDS ?? 0.2);

/**
 * A loop on a host appending every distinct process command line, until /run/lab-cmdlines.stop. One
 * perl process reads /proc itself: the earlier shell loop forked a `tr` per process per sample, which
 * on the lab's one CPU stretched the program's run under it from ~2 to ~10 minutes at 1 s sampling.
 */
const SAMPLER = `rm -f /run/lab-cmdlines.stop /run/lab-cmdlines.txt
setsid nohup perl -e '
    $| = 1;
    my %seen;
    until (-e "/run/lab-cmdlines.stop") {
        for my $f (glob "/proc/[0-9]*/cmdline") {
            open(my $h, "<", $f) or next;
            my $c = do { local $/; <$h> };
            next unless defined $c && length $c;
            $c =~ tr/\\0\\n/  /;
            print "$c\\n" unless $seen{$c}++;
        }
        select(undef, undef, undef, ${SAMPLE_SECONDS});
    }' >/run/lab-cmdlines.txt 2>/dev/null </dev/null &`;

/**
 * Runs `body` (which runs the program) with every process's command line sampled on all four hosts, then
 * searches the samples, the host logs, every command's output and the non-secret outputs for `secrets`,
 * each check a step. `body` returns its step's detail.
 */
export async function scanForSecrets(lab: Lab, secrets: Map<string, string>, name: string, body: () => Promise<string>): Promise<void> {
    const leaks: string[] = [];
    let sampled = 0;
    await lab.step(`${name}; command lines on all hosts sampled every ${SAMPLE_SECONDS} s`, async () => {
        await Promise.all(HOSTS.map((h) => shell(h, SAMPLER)));
        let detail: string;
        try {
            detail = await body();
        } finally {
            await Promise.all(HOSTS.map((h) => shell(h, "touch /run/lab-cmdlines.stop")));
            await sleep(1500);
        }
        for (const h of HOSTS) {
            const lines = await shell(h, "cat /run/lab-cmdlines.txt");
            sampled += lines.split("\n").filter(Boolean).length;
            leaks.push(...findLeaks(secrets, `a command line on ${h}`, lines));
        }
        return `${detail}; ${sampled} distinct command lines sampled on 4 hosts`;
    });
    await lab.step("host logs: the journal and /var/log of every host", async () => {
        let bytes = 0;
        for (const h of HOSTS) {
            const logs = await shell(
                h,
                "journalctl --no-pager -o cat 2>/dev/null; find /var/log -type f ! -name '*.gz' ! -name 'wtmp' ! -name 'btmp' ! -name 'lastlog' -exec cat {} + 2>/dev/null; true",
            );
            bytes += logs.length;
            leaks.push(...findLeaks(secrets, `the logs of ${h}`, logs));
        }
        return `${(bytes / 1e6).toFixed(1)} MB of host logs read`;
    });
    await lab.step("every command's stdout/stderr and the non-secret outputs", () => {
        const dir = path.join(LAB_DIR, "logs", "commands");
        const files = fs.readdirSync(dir);
        for (const f of files) {
            leaks.push(...findLeaks(secrets, `command output ${f}`, fs.readFileSync(path.join(dir, f), "utf8")));
        }
        const outputs = Object.entries(lab.outputs).filter(([k]) => !SECRET_OUTPUTS.has(k));
        leaks.push(...findLeaks(secrets, "the non-secret outputs", JSON.stringify(Object.fromEntries(outputs))));
        return Promise.resolve(
            `${files.length} command logs, ${outputs.length} outputs (${[...SECRET_OUTPUTS].join(", ")} is secret and skipped)`,
        );
    });
    await lab.step(`no secret found (${secrets.size} searched for)`, () => {
        if (leaks.length > 0) {
            throw new Error(`secrets leaked: ${[...new Set(leaks)].join("; ")}`);
        }
        return Promise.resolve(
            `${[...new Set([...secrets.keys()].map((k) => k.replace(/ \(line \d+\)$/, "")))].join(", ")}: none in ${sampled} command lines, host logs, command output or outputs`,
        );
    });
}

/** The private key lines of `pem` to search for, each named `name (line N)`. */
export function privateKeyLines(name: string, pem: string): [string, string][] {
    return pem
        .split("\n")
        .filter((l) => /^[A-Za-z0-9+/=]{40,}$/.test(l))
        .map((line, i) => [`${name} (line ${i + 1})`, line]);
}

export async function secretScan(lab: Lab): Promise<void> {
    await waitHealthy(lab, 120);
    const secrets = await collectSecrets(lab);
    await scanForSecrets(lab, secrets, "the whole program runs again while the load writes", async () => {
        const load = new LoadClient(lab);
        await load.start();
        let commands: number;
        try {
            commands = (await lab.up()).cloud.commands.length;
        } catch (err) {
            await load.stop().catch(() => []);
            throw err;
        }
        const commits = await load.stop();
        return `${commands} program commands ran; ${await compareAfterLoad(lab, load, commits)}`;
    });
}
