// The bench's hosts in the lab: the lab's control shell, the WAN cut and captures of labctl, the ESP
// ceiling between the two gateways (wanCeiling.ts), and the program re-run with other config (Lab.up).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { LAB_DIR, LAB_PUBLIC_IPS, gatewayPing, labctl } from "../harness/labCloud";
import { Lab, shell } from "../harness/lab";
import { switchoverUnderLoad } from "../harness/switchover";
import { DEFAULT_IPSEC_CIPHER, IpsecCipher } from "../../scripts/ipsec";
import { BenchHosts } from "./hosts";
import { wanCeiling } from "./wanCeiling";

export const LAB_INSTANCE_TYPE = "lab: one UML CPU per cloud, no VM-type figures";

export function labHosts(lab: Lab): BenchHosts {
    return {
        kind: "lab",
        primary: lab.primary,
        postgresVersion: Number(lab.stack["crosscloud:postgresVersion"] ?? 15),
        log: lab.log,
        step: lab.step,
        shell: (host, script) => shell(host, script),
        gatewayPublic: LAB_PUBLIC_IPS,
        siteCidr: { aws: lab.outputs.awsCidr, azure: lab.outputs.azureCidr },
        databasePrivate: lab.databaseIps,
        pathCheck: {
            from: "aws-database",
            server: "azure-database",
            to: () => Promise.resolve(lab.databaseIps.azure),
            description: "database host to database host",
        },
        async captureWan(body) {
            const pcap = path.join(LAB_DIR, "captures", "bench-pmtu.pcap");
            await labctl(["capture", "start", "bench-pmtu.pcap", "aws"]);
            let value;
            try {
                value = await body();
            } finally {
                await labctl(["capture", "stop", "aws"]);
            }
            const count = (filter: string) =>
                execFileSync("tcpdump", ["-nn", "-r", pcap, filter], { stdio: ["ignore", "pipe", "ignore"], maxBuffer: 1 << 28 })
                    .toString()
                    .split("\n")
                    .filter(Boolean).length;
            const counted = { value, packets: count(""), fragments: count("ip[6:2] & 0x3fff != 0") };
            fs.rmSync(pcap, { force: true });
            return counted;
        },
        cutWan: async (on) => {
            await labctl(["wan", "cut", on ? "on" : "off"]);
        },
        espCeiling: wanCeiling((host, script, input) => shell(host, script, input), LAB_PUBLIC_IPS),
        ceilingWhere: "static SAs between the two gateways' namespaces, one in each kernel, across the same WAN and NAT as the tunnel",
        // Across the WAN the inner addresses are routable only through the SAs: no ESP-less twin.
        ceilingWithoutEsp: false,
        reconfigure: async (config) => {
            const t = Date.now();
            await lab.up(config, () => undefined, { onlyChanged: true });
            return (Date.now() - t) / 1000;
        },
        switchover: (target) => switchoverUnderLoad(lab, target),
        shapeWan: async (netem) => {
            await labctl(["wan", "netem", netem ?? "clear"]);
            return gatewayPing(50);
        },
        wanStats: async () => {
            const out = await labctl(["wan", "stats"]);
            const sites = [...out.matchAll(/^wan \w+: sent (\d+) dropped (\d+)$/gm)];
            if (sites.length !== 2) {
                throw new Error(`labctl wan stats gave no counts for both sites: ${out.trim()}`);
            }
            return sites.reduce((sum, m) => ({ sent: sum.sent + Number(m[1]), dropped: sum.dropped + Number(m[2]) }), {
                sent: 0,
                dropped: 0,
            });
        },
        configuredCipher: () =>
            Promise.resolve((lab.overrides["crosscloud:ipsecCipher"] as IpsecCipher | undefined) ?? DEFAULT_IPSEC_CIPHER),
        // The lab's WAN has no cloud firewall: iperf3 reaches the public addresses as it is.
        plainBaseline: { rule: { description: "none needed in the lab (no cloud firewall)", open: async () => {}, close: async () => {} } },
        facts: async () => ({ machine: await labMachineFacts(), instanceTypes: { all: LAB_INSTANCE_TYPE } }),
    };
}

async function labMachineFacts(): Promise<Record<string, string>> {
    const run = (cmd: string) => {
        try {
            return execFileSync("bash", ["-c", cmd], { stdio: ["ignore", "pipe", "ignore"] })
                .toString()
                .trim();
        } catch {
            return "unknown";
        }
    };
    const inLab = async (cmd: string) => (await shell("aws-gateway", cmd).catch(() => "unknown")).trim();
    return {
        cpu: run("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'"),
        cores: run("nproc"),
        memory: run("free -g | awk '/Mem:/ {print $2 \" GiB\"}'"),
        aesNi: run("grep -qw aes /proc/cpuinfo && echo 'yes (host); not used inside UML' || echo no"),
        kernel: run("uname -sr"),
        os: run(". /etc/os-release; echo $PRETTY_NAME"),
        umlKernel: await inLab("uname -sr"),
        libreswan: await inLab("ipsec --version 2>/dev/null | head -1"),
        postgresql: await inLab("/usr/lib/postgresql/15/bin/postgres --version"),
        iperf3: await inLab("iperf3 --version | head -1"),
        node: process.version,
        otherLoad: run("cat /proc/loadavg"),
        otherLabs:
            run("ip netns list | grep -c '^crosscloud-lab'") +
            " crosscloud lab network namespaces on the machine at the start (this one included)",
    };
}
