// The lab's stand-in for the part of cloud-init that the program's boot data uses. It reads the very
// user data the program hands a VM and interprets only what cloud-init's `ssh` module does with it
// (canonical/cloud-init 04eacd06, cloudinit/config/cc_ssh.py `handle`); anything else is refused here,
// loudly, rather than silently skipped: a boot the lab cannot reproduce must not pass in the lab.
// The host applies the result in a unit ordered before sshd, as cloud-init's network stage is.
import * as YAML from "yaml";

/** A file cc_ssh writes. */
export interface BootFile {
    path: string;
    /** Octal mode, as cc_ssh sets it: 600 for private keys, 644 for public ones. */
    mode: string;
    content: string;
}

/** What the host's boot does with its SSH host keys, before sshd starts. */
export interface BootSsh {
    /** `ssh_deletekeys` (default true): remove /etc/ssh/ssh_host_*key* first. */
    deleteKeys: boolean;
    /** `ssh_keys` entries, written as given. */
    files: BootFile[];
    /** Key types generated when missing: `ssh_genkeytypes`, consulted only without `ssh_keys`. */
    generate: string[];
}

export interface BootData {
    /** A `#!` user-data script, run once in cloud-init's final stage. */
    script?: string;
    /** Set for `#cloud-config` user data. */
    ssh?: BootSsh;
}

const KEY_TYPES = ["rsa", "ecdsa", "ed25519"] as const;
const INTERPRETED = ["ssh_deletekeys", "ssh_genkeytypes", "ssh_keys"];

function refuse(what: string): never {
    throw new Error(`lab cloud-init: ${what}; the lab interprets a #! script, or #cloud-config with ${INTERPRETED.join(", ")} only`);
}

/** Interprets user data as cloud-init would, for the part the lab supports; throws on anything else. */
export function interpretUserData(userData: string): BootData {
    if (userData.startsWith("#!")) {
        // cloud-init's default for such a host: the image's keys deleted and new ones generated before
        // sshd; the lab prepares each new host with fresh keys, which is the same thing.
        return { script: userData };
    }
    // cc_ssh reads cloud-config only when the first line is exactly "#cloud-config" (user_data handlers).
    if (!/^#cloud-config\r?\n/.test(userData)) {
        refuse(`user data starting ${JSON.stringify(userData.slice(0, 20))} is neither a #! script nor #cloud-config`);
    }
    const doc = YAML.parseDocument(userData, { uniqueKeys: true });
    if (doc.errors.length > 0) {
        refuse(`the cloud-config is not valid YAML (${doc.errors[0].message})`);
    }
    const cfg: unknown = doc.toJS();
    if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg)) {
        refuse("the cloud-config is not a mapping");
    }
    const config = cfg as Record<string, unknown>;
    const unknown = Object.keys(config).filter((k) => !INTERPRETED.includes(k));
    if (unknown.length > 0) {
        refuse(`cloud-config keys ${unknown.join(", ")} are not interpreted by the lab`);
    }
    const deleteKeys = config.ssh_deletekeys ?? true;
    if (typeof deleteKeys !== "boolean") {
        refuse("ssh_deletekeys is not a boolean");
    }
    const genkeytypes = config.ssh_genkeytypes ?? [...KEY_TYPES];
    if (!Array.isArray(genkeytypes) || genkeytypes.some((t) => !(KEY_TYPES as readonly unknown[]).includes(t))) {
        refuse(`ssh_genkeytypes must list key types among ${KEY_TYPES.join(", ")}`);
    }
    if (config.ssh_keys === undefined) {
        return { ssh: { deleteKeys, files: [], generate: genkeytypes as string[] } };
    }
    if (typeof config.ssh_keys !== "object" || config.ssh_keys === null || Array.isArray(config.ssh_keys)) {
        refuse("ssh_keys is not a mapping");
    }
    const keys = config.ssh_keys as Record<string, unknown>;
    const files: BootFile[] = [];
    for (const [name, value] of Object.entries(keys)) {
        const m = /^(rsa|ecdsa|ed25519)_(private|public)$/.exec(name);
        if (!m) {
            // cc_ssh logs a warning and skips such an entry (or writes a HostCertificate); the lab refuses.
            refuse(`ssh_keys entry ${name} is not interpreted by the lab`);
        }
        if (typeof value !== "string") {
            refuse(`ssh_keys entry ${name} is not a string`);
        }
        const [type, half] = [m[1], m[2]];
        if (half === "private" && keys[`${type}_public`] === undefined) {
            // cc_ssh would derive the public half with ssh-keygen -y; the lab wants both.
            refuse(`ssh_keys has ${name} without ${type}_public`);
        }
        const path = `/etc/ssh/ssh_host_${type}_key${half === "public" ? ".pub" : ""}`;
        files.push({ path, mode: half === "private" ? "600" : "644", content: value });
    }
    // With ssh_keys given, cc_ssh generates nothing (ssh_genkeytypes is not consulted).
    return { ssh: { deleteKeys, files, generate: [] } };
}
