# VPN gateway: Libreswan, forwarding sysctls, MSS clamp and NAT; every part persists across reboots.
# Reads no values. Files: sysctl (CHANGED_sysctl), rules (CHANGED_rules), ipsec (CHANGED_ipsec).

# iptables-persistent asks at install whether to save the current rules: no, ours follow.
debconf-set-selections <<'SELECTIONS'
iptables-persistent iptables-persistent/autosave_v4 boolean false
iptables-persistent iptables-persistent/autosave_v6 boolean false
SELECTIONS
ensure_packages libreswan iptables iptables-persistent
install_files

if [[ $CHANGED_sysctl == 1 || $(sysctl -n net.ipv4.ip_forward) != 1 ]]; then
    sysctl -q -p /etc/sysctl.d/60-crosscloud-gateway.conf
    changed "applied gateway sysctls"
fi
# Load the rules when the file changed, or when the live ruleset lacks them (someone flushed it).
if [[ $CHANGED_rules == 1 ]] || ! iptables -t nat -S POSTROUTING | grep -- '-j MASQUERADE' >/dev/null; then
    iptables-restore </etc/iptables/rules.v4
    changed "loaded /etc/iptables/rules.v4"
fi
ensure_enabled netfilter-persistent ipsec
ensure_running ipsec "$CHANGED_ipsec"
