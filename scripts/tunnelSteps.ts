// The VPN gateway's host steps: pure renderers of what each gateway runs (its files and scripts), shared
// by the OpenswanTunnel component and the lab's fault scenarios.
import { renderGatewayRules, renderGatewaySysctl } from "./gateway";
import { IpsecEndpoints, IpsecTuning, renderIpsecConf, renderIpsecSecrets } from "./ipsec";
import { HostScript } from "./render";

/** How long the tunnel check waits for both SAs before it names the cause. */
export const DEFAULT_CHECK_TIMEOUT_SECONDS = 90;

/** What the gateway step needs of its own side (a GatewayHost has these). */
export interface GatewaySide {
    /** The site's name (`aws`, `azure`). */
    site: string;
    /** The site's whole range. */
    siteCidr: string;
    /** The private subnet NATed by this gateway. */
    databaseSubnet: string;
}

/**
 * The tunnel check step: waits for both SAs, fails naming the cause (also run by the lab's fault
 * scenarios). `remoteHost`: an address of the peer's range to probe through the tunnel (its first host).
 */
export function tunnelCheckScript(connection: string, timeoutSeconds: number, peerPublicIp: string, remoteHost: string): HostScript {
    return {
        title: `wait for the IPsec SAs of ${connection}`,
        body: "tunnel-check.sh",
        vars: { CONNECTION: connection, TIMEOUT: timeoutSeconds, PEER_PUBLIC_IP: peerPublicIp, REMOTE_HOST: remoteHost },
    };
}

/** The gateway step: packages, sysctls, rules, Libreswan config and secret. */
export function gatewayScript(ends: IpsecEndpoints, psk: string, tuning: IpsecTuning, local: GatewaySide): HostScript {
    return {
        title: `configure the ${local.site} VPN gateway for tunnel ${ends.connection}`,
        body: "gateway.sh",
        vars: {},
        files: [
            {
                path: "/etc/sysctl.d/60-crosscloud-gateway.conf",
                mode: "644",
                owner: "root:root",
                content: renderGatewaySysctl(),
                flag: "sysctl",
            },
            {
                path: "/etc/iptables/rules.v4",
                mode: "640",
                owner: "root:root",
                content: renderGatewayRules({ localCidr: local.siteCidr, remoteCidr: ends.remoteCidr, natSubnet: local.databaseSubnet }),
                flag: "rules",
            },
            { path: "/etc/ipsec.conf", mode: "644", owner: "root:root", content: renderIpsecConf(ends, tuning), flag: "ipsec" },
            { path: "/etc/ipsec.secrets", mode: "600", owner: "root:root", content: renderIpsecSecrets(ends, psk), flag: "ipsec" },
        ],
    };
}
