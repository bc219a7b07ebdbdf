// Libreswan 4.x configuration of one gateway (Ubuntu 24.04 ships 4.14, Debian 12 4.10).
// Written in 4.x syntax: `ikev2=yes` (Openswan's `ikev2=insist` is an alias now), `encapsulation=`
// (was `forceencaps=`), `salifetime=` (was `keylife=`); no IKEv1-only options.

/** What one gateway knows about itself and its peer. */
export interface IpsecEndpoints {
    /** Connection name in ipsec.conf and in `ipsec trafficstatus`. */
    connection: string;
    /** The address the gateway's NIC has (clouds give it a private one behind 1:1 NAT). */
    localPrivateIp: string;
    /** The address the peer sees: the EIP / Azure public IP. Used as our IKE identity. */
    localPublicIp: string;
    localCidr: string;
    remotePublicIp: string;
    remoteCidr: string;
}

/** Proposals and timers; the defaults are the product's, the benchmark overrides them on its own stacks. */
export interface IpsecTuning {
    /** IKE proposal: AEAD cipher, PRF, DH group. */
    ike: string;
    /** ESP proposal (AEAD: no separate integrity). */
    esp: string;
    /** IKEv2 liveness probe interval, seconds. */
    dpdDelay: number;
    /** Silence after which the peer is declared dead and the SAs renegotiated, seconds. */
    dpdTimeout: number;
    ikeLifetime: string;
    saLifetime: string;
}

/**
 * Cipher suites `crosscloud:ipsecCipher` can pick. AES-GCM-256 is the product's default; AES-CBC with
 * HMAC-SHA1 is the Openswan-era baseline the benchmark compares against, not a recommendation.
 */
export const IPSEC_CIPHERS = {
    "aes-gcm-256": { ike: "aes_gcm256-sha2_256;dh19", esp: "aes_gcm256" },
    "aes-gcm-128": { ike: "aes_gcm128-sha2_256;dh19", esp: "aes_gcm128" },
    "chacha20-poly1305": { ike: "chacha20_poly1305-sha2_256;dh19", esp: "chacha20_poly1305" },
    "aes-cbc-sha1": { ike: "aes128-sha1;modp2048", esp: "aes128-sha1" },
} as const satisfies Record<string, Pick<IpsecTuning, "ike" | "esp">>;
export type IpsecCipher = keyof typeof IPSEC_CIPHERS;
export const DEFAULT_IPSEC_CIPHER: IpsecCipher = "aes-gcm-256";

export const DEFAULT_IPSEC_TUNING: IpsecTuning = {
    ...IPSEC_CIPHERS[DEFAULT_IPSEC_CIPHER],
    dpdDelay: 10,
    dpdTimeout: 30,
    ikeLifetime: "8h",
    saLifetime: "1h",
};

/** /etc/ipsec.conf for one gateway. */
export function renderIpsecConf(ends: IpsecEndpoints, tuning: IpsecTuning = DEFAULT_IPSEC_TUNING): string {
    return `# Managed by crosscloud (Pulumi): local edits are overwritten on the next \`pulumi up\`.
config setup
    # No logfile=: pluto logs to the journal (journalctl -u ipsec), where the tunnel check reads failures.
    plutodebug=none

conn ${ends.connection}
    # IKEv2 only, pre-shared key (ipsec.secrets), ${/^(aes_gcm|chacha20)/.test(tuning.esp) ? "AEAD proposals for both IKE and ESP" : "legacy (non-AEAD) proposals, from crosscloud:ipsecCipher"}.
    ikev2=yes
    authby=secret
    ike=${tuning.ike}
    esp=${tuning.esp}
    pfs=yes
    # Both gateways sit behind the clouds' 1:1 NAT: bind the private address, identify by the public one.
    left=${ends.localPrivateIp}
    leftid=${ends.localPublicIp}
    leftsubnet=${ends.localCidr}
    right=${ends.remotePublicIp}
    rightid=${ends.remotePublicIp}
    rightsubnet=${ends.remoteCidr}
    # ESP inside UDP 4500 always: cloud NAT and security groups pass UDP, not IP protocol 50.
    encapsulation=yes
    # IKEv2 liveness: probe every ${tuning.dpdDelay} s, renegotiate after ${tuning.dpdTimeout} s of silence.
    # Libreswan 4.x IKEv2 ignores dpdtimeout= (pluto warns so): a probe whose retransmits time out after
    # retransmit-timeout (default 60 s) declares the peer dead (measured in the lab's WAN-cut scenario).
    dpddelay=${tuning.dpdDelay}
    retransmit-timeout=${tuning.dpdTimeout}s
    dpdaction=restart
    keyingtries=%forever
    ikelifetime=${tuning.ikeLifetime}
    salifetime=${tuning.saLifetime}
    fragmentation=yes
    auto=start
`;
}

/** /etc/ipsec.secrets: the PSK between the two public identities. The PSK is alphanumeric (see OpenswanTunnel). */
export function renderIpsecSecrets(ends: IpsecEndpoints, psk: string): string {
    if (!/^[A-Za-z0-9]{40,}$/.test(psk)) {
        throw new Error("the PSK must be at least 40 alphanumeric characters");
    }
    return `# Managed by crosscloud (Pulumi).
${ends.localPublicIp} ${ends.remotePublicIp} : PSK "${psk}"
`;
}
