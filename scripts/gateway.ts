// Kernel settings and packet rules of a VPN gateway. Both are files the OS loads at boot
// (/etc/sysctl.d, /etc/iptables/rules.v4 via netfilter-persistent), so a reboot keeps them.

/**
 * TCP MSS for connections through the tunnel. The internet path carries 1500-byte packets; ESP in
 * UDP 4500 with AES-GCM adds 20 (outer IP) + 8 (UDP) + 8 (ESP header) + 8 (IV) + 2..5 (pad, trailer)
 * + 16 (ICV) = up to 65 bytes, AES-CBC + HMAC-SHA1 up to 73. 1500 - 73 - 40 (inner IP + TCP) = 1387;
 * 1360 leaves room for IP/TCP options. Fixed rather than clamp-to-PMTU because EC2 interfaces say
 * 9001 and would let the clamp pick a far too large value.
 */
export const TUNNEL_TCP_MSS = 1360;

export interface GatewayRules {
    /** The site's own range. */
    localCidr: string;
    /** The peer site's range, reached through the tunnel. */
    remoteCidr: string;
    /** The private subnet whose hosts reach the internet through this gateway's NAT. */
    natSubnet: string;
}

/** /etc/sysctl.d/60-crosscloud-gateway.conf */
export function renderGatewaySysctl(): string {
    return `# Managed by crosscloud (Pulumi): this host forwards between its site and the IPsec tunnel.
net.ipv4.ip_forward = 1
# A router must neither send nor accept ICMP redirects (they would bypass the tunnel).
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.default.send_redirects = 0
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
# Loose reverse-path filtering: decrypted packets arrive on the same NIC as the tunnel itself;
# strict mode would drop them, none would accept sources from nowhere.
net.ipv4.conf.all.rp_filter = 2
net.ipv4.conf.default.rp_filter = 2
`;
}

/**
 * /etc/iptables/rules.v4, loaded whole with iptables-restore (atomic, and a re-run replaces rather
 * than appends). The gateway is dedicated to this job, so it owns its whole ruleset.
 */
export function renderGatewayRules(r: GatewayRules): string {
    return `# Managed by crosscloud (Pulumi).
*mangle
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
# Clamp TCP through the tunnel to fit a 1500-byte internet path after ESP-in-UDP overhead.
-A FORWARD -s ${r.localCidr} -d ${r.remoteCidr} -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss ${TUNNEL_TCP_MSS}
-A FORWARD -s ${r.remoteCidr} -d ${r.localCidr} -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss ${TUNNEL_TCP_MSS}
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
# Traffic to the peer site keeps its address: the IPsec policy matches it and carries it.
-A POSTROUTING -s ${r.natSubnet} -d ${r.remoteCidr} -j RETURN
# The private subnet reaches the internet (package mirrors) through this gateway.
-A POSTROUTING -s ${r.natSubnet} ! -d ${r.localCidr} -j MASQUERADE
COMMIT
`;
}
