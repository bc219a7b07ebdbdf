# Waits, bounded, until this gateway has both the IKE SA and the Child SA of CONNECTION, then checks
# that the peer's range is routable. On failure names the cause from pluto's own log.
# Reads: CONNECTION, TIMEOUT, PEER_PUBLIC_IP, REMOTE_HOST (an address inside the peer's range).
install_files
since="@$(date +%s)"

ike_up() { ipsec whack --showstates 2>/dev/null | grep -q "\"${CONNECTION}\".*ESTABLISHED_IKE_SA"; }
child_up() { ipsec whack --trafficstatus 2>/dev/null | grep -q "\"${CONNECTION}\""; }
both_up() { ike_up && child_up; }

diagnose() {
    local logs
    logs=$(journalctl -u ipsec --since "$since" --no-pager -o cat 2>/dev/null || true)
    if ! systemctl is-active --quiet ipsec; then
        echo "pluto is not running on this gateway: see systemctl status ipsec and journalctl -u ipsec"
    elif grep -qiE 'AUTHENTICATION_FAILED|authentication failed|PSK authentication' <<<"$logs"; then
        echo "PSK mismatch: the peer rejected our pre-shared key or we rejected its key; both gateways must have the same /etc/ipsec.secrets entry (re-run pulumi up)"
    elif grep -q 'NO_PROPOSAL_CHOSEN' <<<"$logs"; then
        echo "proposal mismatch (NO_PROPOSAL_CHOSEN): the two gateways share no IKE or ESP algorithm; compare ike= and esp= in both /etc/ipsec.conf"
    elif grep -q 'TS_UNACCEPTABLE' <<<"$logs"; then
        echo "subnet mismatch (TS_UNACCEPTABLE): leftsubnet/rightsubnet differ between the gateways; both must list the two site ranges"
    elif ike_up && ! child_up; then
        echo "IKE SA up but no Child SA: see journalctl -u ipsec"
    else
        echo "no answer from the peer ${PEER_PUBLIC_IP} on UDP 500/4500: check its security group / NSG rules, the route to it, and that pluto runs there"
    fi
}

if ! wait_until "$TIMEOUT" both_up; then
    die "tunnel ${CONNECTION} not established within ${TIMEOUT} s: $(diagnose)"
fi
if ! ip route get "$REMOTE_HOST" >/dev/null 2>&1; then
    die "tunnel ${CONNECTION} is up but there is no route to ${REMOTE_HOST}: the gateway needs a route (its default route will do) toward the peer's range"
fi
log "tunnel ${CONNECTION}: IKE SA and Child SA established with ${PEER_PUBLIC_IP}"
log "status: established"
