// What a VM is handed at boot (EC2 user data, Azure custom data): a `#cloud-config` that gives the
// host the SSH host key the program generated, so that every connection pins it (no trust on first
// use). Boot data is read once, at the first boot: the instances ignore later changes of it.
//
// Why cloud-config and not a script: cloud-init's `ssh` module is one of `cloud_init_modules` (its
// network stage), whose unit is ordered `Before=sshd.service` and, on Ubuntu, `Before=sysinit.target`
// (so before ssh.socket listens); a user-data script runs in the final stage, after sshd already
// answered with a key of its own. Through a jump host pulumi-command does not survive that window.
// (canonical/cloud-init 04eacd06: config/cloud.cfg.tmpl, systemd/cloud-init-network.service.tmpl,
// cloudinit/config/cc_ssh.py.)

export interface HostIdentity {
    /** OpenSSH private host key (secret). */
    hostPrivateKey: string;
    /** The matching `ssh-ed25519 AAAA...` line. */
    hostPublicKey: string;
}

/**
 * The first-boot cloud-config. `ssh_deletekeys` removes the image's own host keys, `ssh_keys`
 * writes the pinned Ed25519 pair (cc_ssh: private 0600, public 0644), and `ssh_genkeytypes: []`
 * makes sure no other key is generated, so sshd can only ever present the pinned key.
 */
export function renderUserData(identity: HostIdentity): string {
    const privateKey = identity.hostPrivateKey.trim();
    const publicKey = identity.hostPublicKey.trim();
    if (!privateKey.startsWith("-----BEGIN OPENSSH PRIVATE KEY-----") || !publicKey.startsWith("ssh-ed25519 ")) {
        throw new Error("renderUserData: expects an OpenSSH Ed25519 host key pair");
    }
    return [
        "#cloud-config",
        "# crosscloud: the SSH host key the program generated and pins, installed before sshd starts.",
        "ssh_deletekeys: true",
        "ssh_genkeytypes: []",
        "ssh_keys:",
        "  ed25519_private: |",
        ...privateKey.split("\n").map((line) => `    ${line}`),
        // JSON strings are YAML: no character of the key line can change its meaning.
        `  ed25519_public: ${JSON.stringify(publicKey)}`,
        "",
    ].join("\n");
}
