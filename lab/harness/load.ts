// The lab's write load: lab/load/client.sh on a gateway (the AWS one unless a scenario needs the load to
// outlive the AWS cloud; each reaches both database hosts, directly and through the tunnel), one INSERT
// per transaction on a kept session, logging every commit the server confirmed. Scenarios start it,
// stop it, and compare what it counted with what a server holds.
import * as fs from "fs";
import * as path from "path";
import { labctl } from "./labCloud";
import { Lab, psql, shell, Site, waitFor } from "./lab";

export interface Commit {
    id: number;
    at: number;
    host: string;
}

export class LoadClient {
    private installed = false;
    private firstId = 0;

    /** `host`: the gateway the client runs on (in crosscloud:clientCidrs, so admitted by pg_hba). */
    constructor(
        private readonly lab: Lab,
        readonly host = "aws-gateway",
    ) {}

    private async install(): Promise<void> {
        if (this.installed) {
            return;
        }
        const password = new URL(this.lab.outputs.primaryConnectionString).password;
        await psql(
            `${this.lab.primary}-database`,
            "CREATE TABLE IF NOT EXISTS load_check (id bigint PRIMARY KEY, at timestamptz DEFAULT now()); GRANT SELECT, INSERT ON load_check TO crosscloud_admin",
        );
        await shell(this.host, "bash -c 'umask 077; cat > /run/load.env'", `PGPASSWORD=${password}\n`);
        const script = fs.readFileSync(path.join(__dirname, "..", "load", "client.sh"), "utf8");
        await labctl(
            ["shell", this.host, "bash -s"],
            `cat > /usr/local/bin/lab-load-client <<'LOAD'\n${script}LOAD\nchmod 755 /usr/local/bin/lab-load-client\n`,
        );
        this.installed = true;
    }

    /** Starts writing (ids from a fresh block of a million) and waits for the first commits. */
    async start(): Promise<void> {
        await this.install();
        // A client a failed scenario left running would write into this run's log with ids outside its
        // block (seen: "435 committed transactions are missing", all of them the older client's).
        if ((await shell(this.host, "pgrep -f lab-load-clien[t] || true")).trim() !== "") {
            this.lab.log(`a load client is still running on ${this.host} (a failed scenario's): stopping it first`);
            await this.stop();
        }
        this.firstId = Number(BigInt(Date.now()) % 1_000_000n) * 1_000_000 + 1_000_000;
        const ips = this.lab.databaseIps;
        const primary = this.lab.primary;
        await shell(this.host, "rm -f /run/load.stop /var/log/load.committed");
        await shell(
            this.host,
            `setsid nohup lab-load-client ${ips[primary]} ${ips[primary === "aws" ? "azure" : "aws"]} ${this.firstId} >/dev/null 2>&1 < /dev/null &`,
        );
        await waitFor("the load client's first commits", 60, async () => (await this.commits()).length >= 5);
    }

    /** Every commit the client has counted so far. */
    async commits(): Promise<Commit[]> {
        return (await shell(this.host, "cat /var/log/load.committed"))
            .trim()
            .split("\n")
            .filter(Boolean)
            .map((line) => line.split(" "))
            .map(([id, at, host]) => ({ id: Number(id), at: Number(at), host }));
    }

    async stop(): Promise<Commit[]> {
        await shell(this.host, "touch /run/load.stop");
        await waitFor(
            "the load client to stop",
            30,
            async () => (await shell(this.host, "pgrep -f lab-load-clien[t] || true")).trim() === "",
        );
        return this.commits();
    }

    /** Ids of this run's rows present on a site's database. */
    async rowsOn(site: Site): Promise<Set<number>> {
        return new Set(
            (await psql(`${site}-database`, `SELECT id FROM load_check WHERE id >= ${this.firstId} AND id < ${this.firstId + 1_000_000}`))
                .trim()
                .split("\n")
                .filter(Boolean)
                .map(Number),
        );
    }

    /** Fails naming the missing ids when a commit the client counted is not on `site`. */
    async assertNoneLost(site: Site, commits: Commit[]): Promise<{ present: number; inDoubt: number }> {
        const present = await this.rowsOn(site);
        const lost = commits.filter((c) => !present.has(c.id));
        if (lost.length > 0) {
            throw new Error(
                `${lost.length} committed transactions are missing on ${site}: ids ${lost
                    .slice(0, 10)
                    .map((c) => c.id)
                    .join(", ")}`,
            );
        }
        return { present: present.size, inDoubt: present.size - commits.length };
    }

    /**
     * The switch itself: from the last commit the client saw on the old primary to its first on the
     * new one (seconds), or undefined when it never wrote to both.
     */
    static switchGap(commits: Commit[], oldHost: string, newHost: string): number | undefined {
        const firstOnNew = commits.find((c) => c.host === newHost);
        const lastOnOld = commits.filter((c) => c.host === oldHost && firstOnNew !== undefined && c.at < firstOnNew.at).pop();
        return firstOnNew && lastOnOld ? firstOnNew.at - lastOnOld.at : undefined;
    }

    /** The longest gap between two consecutive commits within [from, to] (epoch seconds). */
    static longestGap(commits: Commit[], from: number, to: number): number {
        const during = commits.filter((c) => c.at >= from && c.at <= to);
        let gap = 0;
        for (let i = 1; i < during.length; i++) {
            gap = Math.max(gap, during[i].at - during[i - 1].at);
        }
        return gap;
    }
}
