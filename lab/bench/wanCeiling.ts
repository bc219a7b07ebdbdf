// The kernel ESP ceiling in the lab, like for like with the tunnel: static-key `ip xfrm` SAs (no IKE)
// between the two gateways' own network namespaces, one in each site's kernel, across the same WAN and
// 1:1 NAT as Libreswan's SAs, with the same ESP-in-UDP 4500 encapsulation (and ESN with a 128-packet
// replay window, as Libreswan's SAs have). Traffic runs between inner addresses on each gateway's lo.
//
// Outer addresses: each gateway sends from its private address to the peer's public one, and receives
// from the peer's public address on its private one (the site routers' 1:1 NAT rewrites both ends), as
// pluto's SAs do. Receiving needs a UDP socket marked UDP_ENCAP_ESPINUDP on 4500: pluto holds one on
// each gateway, and the kernel hands every non-IKE datagram on it to xfrm, which finds the SA by its
// SPI; so no socket of our own (binding 4500 would fail beside pluto's anyway).
//
// Why nothing on the gateway blocks it (scripts/gateway.ts renderGatewayRules, loaded by
// scripts/host/gateway.sh): the gateways' rules.v4 has only mangle (the MSS clamp, FORWARD between the
// site CIDRs: the ceiling's traffic is local, OUTPUT/INPUT) and nat (RETURN/MASQUERADE for the database
// subnet: neither the inner 10.255.x addresses nor the gateway's own address are in it); the filter
// table is left empty (ACCEPT). The outer packets are UDP 4500 between the gateways' addresses, the
// same 5-tuple as pluto's NAT-T flow, so the cloud firewall rule (UDP 4500 from the peer's public /32)
// and the routers' NAT conntrack entry admit them as they admit the tunnel. rp_filter is loose (2), so
// decrypted packets from the peer's inner address pass (the default route covers it).
//
// SPIs 0xbe0c0001/2 and reqids equal to them: pluto draws its SPIs at random and allocates reqids
// upward from 16384, so neither can be hit by accident (a clash would fail the add, not replace).
// Policies select only the two /32 inner addresses: no overlap with the tunnel's site-CIDR policies.
// Keys are random per setup, drawn here and sent on stdin to `ip -batch -`, so they are in no argv.
import { randomBytes } from "crypto";
import type { Site } from "../harness/lab";
import { IPSEC_CIPHERS, IpsecCipher } from "../../scripts/ipsec";
import type { BenchHost } from "./hosts";

export const CEILING_INNER: Record<Site, string> = { aws: "10.255.1.1", azure: "10.255.2.1" };
/** SPI (and reqid) of the SA that carries traffic from a site to its peer. */
export const CEILING_SPI: Record<Site, string> = { aws: "0xbe0c0001", azure: "0xbe0c0002" };
/** Not 5201: the bench's own iperf3 server already listens there on every address of the gateway. */
export const CEILING_IPERF_PORT = 5202;
const IPERF_PID = "/run/bench-esp-iperf.pid";

/** Each gateway's private address (its NIC's) and public one (the 1:1 NAT's). */
export type CeilingEnds = Record<Site, { private: string; public: string }>;
/** Key material per direction, named by the sending site: one hex string per key the cipher takes. */
export type CeilingKeys = Record<Site, string[]>;

/** Key sizes in bytes (AEAD: key + 4-byte salt) and how `ip xfrm` names each suite. */
const ALGORITHMS: Record<IpsecCipher, { bytes: number[]; line: (k: string[]) => string }> = {
    "aes-gcm-256": { bytes: [36], line: (k) => `aead rfc4106(gcm(aes)) 0x${k[0]} 128` },
    "aes-gcm-128": { bytes: [20], line: (k) => `aead rfc4106(gcm(aes)) 0x${k[0]} 128` },
    "chacha20-poly1305": { bytes: [36], line: (k) => `aead rfc7539esp(chacha20,poly1305) 0x${k[0]} 128` },
    "aes-cbc-sha1": { bytes: [16, 20], line: (k) => `enc cbc(aes) 0x${k[0]} auth-trunc hmac(sha1) 0x${k[1]} 96` },
};

const isCipher = (c: string): c is IpsecCipher => c in IPSEC_CIPHERS;
const other = (site: Site): Site => (site === "aws" ? "azure" : "aws");

/** Fresh keys for both directions (node's CSPRNG; `random` only for tests). */
export function ceilingKeys(cipher: IpsecCipher, random: (n: number) => Buffer = randomBytes): CeilingKeys {
    const draw = () => ALGORITHMS[cipher].bytes.map((n) => random(n).toString("hex"));
    return { aws: draw(), azure: draw() };
}

/** The SAs one side holds: outbound (own private → peer public) and inbound (peer public → own private). */
function sas(side: Site, ends: CeilingEnds) {
    const peer = other(side);
    return [
        { src: ends[side].private, dst: ends[peer].public, spi: CEILING_SPI[side], from: side },
        { src: ends[peer].public, dst: ends[side].private, spi: CEILING_SPI[peer], from: peer },
    ];
}

/** The policies one side holds: its inner address to the peer's out, the reverse in. */
function policies(side: Site) {
    const peer = other(side);
    return [
        { src: CEILING_INNER[side], dst: CEILING_INNER[peer], dir: "out" },
        { src: CEILING_INNER[peer], dst: CEILING_INNER[side], dir: "in" },
    ];
}

/** `ip -batch -` input that sets up one side (holds keys: stdin only). */
export function ceilingSetup(side: Site, ends: CeilingEnds, cipher: IpsecCipher, keys: CeilingKeys, esn: boolean): string {
    const extra = esn ? " replay-window 128 flag esn" : "";
    const sa = sas(side, ends);
    return [
        `address add ${CEILING_INNER[side]}/32 dev lo`,
        ...sa.map(
            (s) =>
                `xfrm state add src ${s.src} dst ${s.dst} proto esp spi ${s.spi} reqid ${s.spi} mode tunnel${extra} ${ALGORITHMS[cipher].line(keys[s.from])} encap espinudp 4500 4500 0.0.0.0`,
        ),
        ...policies(side).map((p, i) => {
            const s = sa[i];
            return `xfrm policy add src ${p.src}/32 dst ${p.dst}/32 dir ${p.dir} tmpl src ${s.src} dst ${s.dst} proto esp reqid ${s.spi} mode tunnel`;
        }),
        "",
    ].join("\n");
}

/**
 * A root script that removes from one side exactly what ceilingSetup added (by SPI and selector:
 * never a flush, which would take the product's tunnel too) and the iperf3 server on the Azure side,
 * then fails naming anything still there. Absent items are fine: it also clears a killed run's leftovers.
 */
export function ceilingTeardown(side: Site, ends: CeilingEnds): string {
    const quiet = (cmd: string) => `${cmd} 2>/dev/null || true`;
    const inner = `${CEILING_INNER[side]}/32`;
    return [
        ...(side === "azure" ? [`[ -s ${IPERF_PID} ] && kill "$(cat ${IPERF_PID})" 2>/dev/null; rm -f ${IPERF_PID}`] : []),
        ...policies(side).map((p) => quiet(`ip xfrm policy delete src ${p.src}/32 dst ${p.dst}/32 dir ${p.dir}`)),
        ...sas(side, ends).map((s) => quiet(`ip xfrm state delete src ${s.src} dst ${s.dst} proto esp spi ${s.spi}`)),
        quiet(`ip address delete ${inner} dev lo`),
        `left="$(${[
            ...sas(side, ends).map((s) => `ip xfrm state list proto esp spi ${s.spi}`),
            ...policies(side).map((p) => `ip xfrm policy list src ${p.src}/32 dst ${p.dst}/32 dir ${p.dir}`),
            `ip -o address show dev lo to ${inner}`,
        ].join("; ")})"`,
        `if [ -n "$left" ]; then echo "esp ceiling: left on ${side}-gateway: $left" >&2; exit 1; fi`,
        "",
    ].join("\n");
}

/** Runs a root script on a lab host, with `input` on its stdin. */
export type CeilingShell = (host: BenchHost, script: string, input?: string) => Promise<string>;

const GATEWAY: Record<Site, BenchHost> = { aws: "aws-gateway", azure: "azure-gateway" };

/**
 * BenchHosts.espCeiling for the lab: `setup CIPHER [esn]` | `iperf ARGS...` | `teardown`, as
 * esp-ceiling.sh takes them, with iperf3 from the AWS gateway's inner address to a server on the Azure
 * gateway's. `publicIps`: the gateways' public addresses; the private ones are read on the gateways.
 */
export function wanCeiling(
    shell: CeilingShell,
    publicIps: Record<Site, string>,
    random: (n: number) => Buffer = randomBytes,
): (args: string[]) => Promise<string> {
    let ends: CeilingEnds | undefined;
    const readEnds = async (): Promise<CeilingEnds> => {
        // The address each gateway sends to its peer from: its private one, the tunnel's `left`.
        const privateOf = async (side: Site) => {
            const route = await shell(GATEWAY[side], `ip -4 -o route get ${publicIps[other(side)]}`);
            const src = / src (\S+)/.exec(route)?.[1];
            if (!src) {
                throw new Error(`esp ceiling: ${side}-gateway has no source address toward ${publicIps[other(side)]}: ${route.trim()}`);
            }
            return src;
        };
        return {
            aws: { private: await privateOf("aws"), public: publicIps.aws },
            azure: { private: await privateOf("azure"), public: publicIps.azure },
        };
    };
    const teardown = async (e: CeilingEnds) => {
        // Both sides, even when one fails: then report every failure.
        const failed: string[] = [];
        for (const side of ["aws", "azure"] as const) {
            await shell(GATEWAY[side], ceilingTeardown(side, e)).catch((err: Error) => failed.push(err.message));
        }
        if (failed.length > 0) {
            throw new Error(failed.join("; "));
        }
    };
    return async ([command, ...rest]) => {
        if (command === "setup") {
            const [cipher, esn] = rest;
            if (!isCipher(cipher)) {
                throw new Error(`esp ceiling: no ${cipher} across the WAN (the inner addresses are routable only through the SAs)`);
            }
            ends = await readEnds();
            await teardown(ends);
            const keys = ceilingKeys(cipher, random);
            for (const side of ["aws", "azure"] as const) {
                await shell(GATEWAY[side], "ip -batch -", ceilingSetup(side, ends, cipher, keys, esn === "esn"));
            }
            await shell(
                GATEWAY.azure,
                `iperf3 -s -D -B ${CEILING_INNER.azure} -p ${CEILING_IPERF_PORT} -I ${IPERF_PID}
for _ in $(seq 50); do ss -Hltn 'sport = :${CEILING_IPERF_PORT}' | grep . >/dev/null && break; sleep 0.1; done`,
            );
            await shell(
                GATEWAY.aws,
                `ping -c 3 -i 0.5 -W 2 -I ${CEILING_INNER.aws} ${CEILING_INNER.azure} >/dev/null || { echo "esp ceiling: ${CEILING_INNER.azure} unreachable through the static SAs from ${CEILING_INNER.aws}" >&2; exit 1; }`,
            );
            // What the kernel took, keys masked (as esp-ceiling.sh reports it).
            return shell(
                GATEWAY.aws,
                `ip xfrm state list proto esp spi ${CEILING_SPI.aws} | grep -E '^\\s+(aead|enc|auth|auth-trunc) ' | sed -E 's/0x[0-9a-f]+/<key>/' | sort -u | paste -sd ' '`,
            );
        }
        if (command === "iperf") {
            return shell(
                GATEWAY.aws,
                `iperf3 -c ${CEILING_INNER.azure} -p ${CEILING_IPERF_PORT} -B ${CEILING_INNER.aws} ${rest.join(" ")}`,
            );
        }
        if (command === "teardown") {
            await teardown(ends ?? (await readEnds()));
            ends = undefined;
            return "";
        }
        throw new Error(`esp ceiling: unknown command ${command}`);
    };
}
