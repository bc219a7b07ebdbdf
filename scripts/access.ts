// The admin login of a host: which public keys its admin user's authorized_keys holds. Boot data
// installs the first key once (EC2 key pair, Azure osProfile, both ignored after creation); from then
// on this step manages it, so a new crosscloud:sshPublicKey reaches running hosts without replacing them.
import { utils as sshUtils } from "ssh2";
import { HostScript } from "./render";

export interface AdminAccess {
    /** The admin user (`ubuntu` on EC2, `azureuser` on Azure). */
    user: string;
    /** The OpenSSH public key line to authorize (crosscloud:sshPublicKey). */
    authorizedKey: string;
    /** Private keys whose public halves are removed (crosscloud:previousSshPrivateKey during a rotation). */
    revokedPrivateKeys: string[];
}

/** `type base64` of an OpenSSH key (public line or private key): what authorized_keys matches on. */
export function keyId(key: string): string {
    const parsed = sshUtils.parseKey(key);
    if (parsed instanceof Error || Array.isArray(parsed)) {
        throw new Error(`not an OpenSSH key: ${parsed instanceof Error ? parsed.message : "several keys"}`);
    }
    return `${parsed.type} ${parsed.getPublicSSH().toString("base64")}`;
}

/** The step that makes `authorizedKey` the admin key and removes the revoked ones; other lines stay. */
export function adminAccessScript(a: AdminAccess): HostScript {
    const authorized = keyId(a.authorizedKey);
    const revoked = a.revokedPrivateKeys.map(keyId).filter((id) => id !== authorized);
    return {
        title: `admin access: the authorized SSH keys of ${a.user}`,
        body: "admin-access.sh",
        vars: {
            ADMIN_USER: a.user,
            AUTHORIZED_KEY_LINE: a.authorizedKey.trim(),
            AUTHORIZED_KEY_ID: authorized,
            REVOKED_KEY_IDS: revoked.join("\n"),
        },
    };
}
