// The admin key on a site's hosts after their first boot: one step per host puts crosscloud:sshPublicKey
// into the admin user's authorized_keys (and, during a rotation, removes the previous key). Every other
// step of the host waits for it, so a rotated key is in place before anything logs in with it.
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { adminAccessScript } from "../scripts/access";
import { SshHost } from "./hosts";
import { hostStep } from "./hostStep";

export interface AdminKeys {
    /** crosscloud:sshPublicKey: the key the hosts authorize. */
    publicKey: string;
    /** crosscloud:sshPrivateKey (secret): every step logs in with it. */
    privateKey: pulumi.Input<string>;
    /**
     * crosscloud:previousSshPrivateKey (secret), set only for the `up` that rotates the admin key: the
     * access steps log in to their host with it (the host still holds only the previous key) and remove it.
     */
    previousPrivateKey?: pulumi.Input<string>;
}

/** A host as the access step needs it. */
export interface AccessHost {
    ssh: SshHost;
    /** What must exist before the host can be logged in to (instance, address, rules). */
    ready: pulumi.Resource[];
}

/**
 * The access step of `host`, named `${name}-access`. Through a jump host it logs in to the jump host
 * with the current key, so it runs after `jumpAccess` (the gateway's own access step).
 */
export function adminAccessStep(
    name: string,
    host: AccessHost,
    keys: AdminKeys,
    parent: pulumi.Resource,
    jumpAccess?: command.remote.Command,
): command.remote.Command {
    const previous = keys.previousPrivateKey === undefined ? pulumi.output("") : pulumi.output(keys.previousPrivateKey);
    const script = previous.apply((prev) =>
        adminAccessScript({ user: host.ssh.user, authorizedKey: keys.publicKey, revokedPrivateKeys: prev ? [prev] : [] }),
    );
    return hostStep(
        `${name}-access`,
        {
            host: host.ssh,
            privateKey: keys.previousPrivateKey ?? keys.privateKey,
            proxyPrivateKey: keys.privateKey,
            script,
        },
        { parent, dependsOn: [...host.ready, ...(jumpAccess ? [jumpAccess] : [])] },
    );
}
