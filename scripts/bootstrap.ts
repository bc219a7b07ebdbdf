// What a VM is handed at boot (EC2 user data, Azure custom data): a plain shell script, which
// cloud-init runs once on Ubuntu and the lab runs the same way at its hosts' first boot.
import { hostTemplate, shellQuote } from "./render";

export interface HostIdentity {
    /** OpenSSH private host key (secret). */
    hostPrivateKey: string;
    /** The matching `ssh-ed25519 AAAA...` line. */
    hostPublicKey: string;
}

/** The first-boot script: the host key as values, then scripts/host/user-data.sh. */
export function renderUserData(identity: HostIdentity): string {
    const [shebang, ...rest] = hostTemplate("user-data.sh").split("\n");
    return [
        shebang,
        `CROSSCLOUD_HOST_KEY=${shellQuote(identity.hostPrivateKey.trim())}`,
        `CROSSCLOUD_HOST_PUBLIC_KEY=${shellQuote(identity.hostPublicKey.trim())}`,
        ...rest,
    ].join("\n");
}
