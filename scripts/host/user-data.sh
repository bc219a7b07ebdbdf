#!/bin/bash
# crosscloud first boot (cloud-init runs it once, as root): install the SSH host key the program
# generated, so that every connection the program makes pins it (no trust on first use).
set -euo pipefail
umask 077
install -d -m 755 /etc/ssh/sshd_config.d
printf '%s\n' "$CROSSCLOUD_HOST_KEY" >/etc/ssh/ssh_host_ed25519_key
printf '%s\n' "$CROSSCLOUD_HOST_PUBLIC_KEY" >/etc/ssh/ssh_host_ed25519_key.pub
chmod 600 /etc/ssh/ssh_host_ed25519_key
chmod 644 /etc/ssh/ssh_host_ed25519_key.pub
# Offer only the pinned key: a client that prefers another algorithm would otherwise see a key it
# cannot check.
rm -f /etc/ssh/ssh_host_rsa_key* /etc/ssh/ssh_host_ecdsa_key* /etc/ssh/ssh_host_dsa_key*
printf 'HostKey /etc/ssh/ssh_host_ed25519_key\n' >/etc/ssh/sshd_config.d/10-crosscloud-host-key.conf
chmod 644 /etc/ssh/sshd_config.d/10-crosscloud-host-key.conf
systemctl try-restart ssh.service
