import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { TUNNEL_TCP_MSS, renderGatewayRules, renderGatewaySysctl } from "../scripts/gateway";
import { DEFAULT_IPSEC_TUNING, IpsecEndpoints, IpsecTuning, renderIpsecConf, renderIpsecSecrets } from "../scripts/ipsec";
import { HostScript } from "../scripts/render";
import { GatewayHost } from "./hosts";
import { hostStep, stepStatus } from "./hostStep";
import { hostAddress } from "./network";
import { checkSitesDisjoint, problems } from "./validation";

export { TUNNEL_TCP_MSS };

/** Length of the pre-shared key: alphanumeric, so it needs no escaping inside ipsec.secrets. */
export const PSK_LENGTH = 48;
/** How long the tunnel check waits for both SAs before it names the cause. */
export const DEFAULT_CHECK_TIMEOUT_SECONDS = 90;

export interface OpenswanTunnelArgs {
    /** The two gateways, in the order the sites were declared (their `site` names the children). */
    gateways: [GatewayHost, GatewayHost];
    /** Admin SSH private key (secret) for the commands that configure the gateways. */
    sshPrivateKey: pulumi.Input<string>;
    /** IKE/ESP proposals and timers; the defaults are AEAD (AES-GCM-256) with IKEv2 liveness. */
    tuning?: Partial<IpsecTuning>;
    /** Seconds the check waits for the SAs. */
    checkTimeoutSeconds?: number;
    /** Resources both gateway steps wait for besides the gateways themselves. */
    dependsOn?: pulumi.Resource[];
}

/**
 * A site-to-site IPsec tunnel between two Libreswan gateways: PSK, firewall holes for IKE/NAT-T from
 * the peer's public IP alone, each gateway's ipsec.conf/ipsec.secrets, sysctls and rules pushed over
 * SSH, and a check that waits for both SAs.
 */
export class OpenswanTunnel extends pulumi.ComponentResource {
    /** The pre-shared key (secret). */
    public readonly psk: pulumi.Output<string>;
    /** Each gateway's rendered ipsec.conf, by site (no secret in it). */
    public readonly ipsecConfs: Record<string, pulumi.Output<string>>;
    /** `established` once both gateways' checks passed. */
    public readonly status: pulumi.Output<string>;
    /** The steps that configure the gateways (NAT for the private subnets comes with them). */
    public readonly gatewaySteps: command.remote.Command[];
    /** The checks; anything that needs the tunnel depends on these. */
    public readonly checks: command.remote.Command[];

    constructor(name: string, args: OpenswanTunnelArgs, opts?: pulumi.ComponentResourceOptions) {
        super("crosscloud:net:OpenswanTunnel", name, {}, opts);
        const [a, b] = args.gateways;
        const found = problems(checkSitesDisjoint(a.siteCidr, b.siteCidr));
        if (found.length > 0) {
            throw new pulumi.ResourceError(found.join("\n"), this);
        }
        const tuning: IpsecTuning = { ...DEFAULT_IPSEC_TUNING, ...args.tuning };
        const timeout = args.checkTimeoutSeconds ?? DEFAULT_CHECK_TIMEOUT_SECONDS;

        const psk = new random.RandomPassword(`${name}-psk`, { length: PSK_LENGTH, special: false }, { parent: this });
        this.psk = psk.result;

        this.ipsecConfs = {};
        this.gatewaySteps = [];
        for (const [local, remote] of [
            [a, b],
            [b, a],
        ]) {
            // IKE and NAT-T only from the peer gateway's public address.
            const ikeRules = [
                ...local.firewall.allow(
                    {
                        name: `${name}-${local.site}-ike`,
                        protocol: "udp",
                        port: 500,
                        sources: [remote.publicIp.apply((ip) => `${ip}/32`)],
                        description: `IKE from the ${remote.site} gateway`,
                    },
                    this,
                ),
                ...local.firewall.allow(
                    {
                        name: `${name}-${local.site}-nat-t`,
                        protocol: "udp",
                        port: 4500,
                        sources: [remote.publicIp.apply((ip) => `${ip}/32`)],
                        description: `IKE and ESP in UDP from the ${remote.site} gateway`,
                    },
                    this,
                ),
            ];
            const endpoints = pulumi.all([local.publicIp, remote.publicIp]).apply(([localPublicIp, remotePublicIp]): IpsecEndpoints => ({
                connection: name,
                localPrivateIp: local.privateIp,
                localPublicIp,
                localCidr: local.siteCidr,
                remotePublicIp,
                remoteCidr: remote.siteCidr,
            }));
            this.ipsecConfs[local.site] = endpoints.apply((ends) => renderIpsecConf(ends, tuning));
            const script = pulumi.all([endpoints, psk.result]).apply(([ends, key]) => gatewayScript(ends, key, tuning, local));
            this.gatewaySteps.push(
                hostStep(
                    `${name}-${local.site}-gateway`,
                    { host: local.ssh, privateKey: args.sshPrivateKey, script },
                    { parent: this, dependsOn: [...local.ready, ...ikeRules, ...(args.dependsOn ?? [])] },
                ),
            );
        }

        this.checks = [
            [a, b],
            [b, a],
        ].map(([local, remote]) =>
            hostStep(
                `${name}-${local.site}-check`,
                {
                    host: local.ssh,
                    privateKey: args.sshPrivateKey,
                    script: remote.publicIp.apply((peer) => tunnelCheckScript(name, timeout, peer, remote.siteCidr)),
                },
                // Both ends must be configured before either can see the SAs.
                { parent: this, dependsOn: this.gatewaySteps },
            ),
        );
        this.status = pulumi
            .all(this.checks.map(stepStatus))
            .apply((all) => (all.every((s) => s === "established") ? "established" : all.join(", ")));

        this.registerOutputs({ psk: this.psk, ipsecConfs: this.ipsecConfs, status: this.status });
    }
}

/** The tunnel check step: waits for both SAs, fails naming the cause (also run by the lab's fault scenarios). */
export function tunnelCheckScript(connection: string, timeoutSeconds: number, peerPublicIp: string, remoteCidr: string): HostScript {
    return {
        title: `wait for the IPsec SAs of ${connection}`,
        body: "tunnel-check.sh",
        vars: { CONNECTION: connection, TIMEOUT: timeoutSeconds, PEER_PUBLIC_IP: peerPublicIp, REMOTE_HOST: hostAddress(remoteCidr, 1) },
    };
}

/** The gateway step: packages, sysctls, rules, Libreswan config and secret. */
function gatewayScript(ends: IpsecEndpoints, psk: string, tuning: IpsecTuning, local: GatewayHost): HostScript {
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
