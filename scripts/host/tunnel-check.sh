# Waits, bounded, until this gateway has both the IKE SA and the Child SA of CONNECTION, then checks
# that the peer's range is routable. On failure names the cause from pluto's own log. A configuration
# mismatch (PSK, proposals, subnets) fails the check as soon as it has persisted for MISMATCH_GRACE
# seconds, instead of waiting out TIMEOUT: pluto retries forever and the answer will not change.
# A half-open tunnel (the peer holds SAs this gateway lost, e.g. after both plutos restarted at once)
# is initiated from this side once after REINITIATE_AFTER seconds: pluto itself would wait for the
# peer's liveness probes or the Child SA's expiry (up to salifetime), and the check would time out.
# Reads: CONNECTION, TIMEOUT, PEER_PUBLIC_IP, REMOTE_HOST (an address inside the peer's range).
install_files
MISMATCH_GRACE=20
REINITIATE_AFTER=30
initiated=0
started=$(date +%s)
# pluto's log since this pluto started (at most 10 minutes back): a mismatch logged by the gateway
# step's restart, before this check began, counts too (a Child SA rejected for its subnets is not retried).
pluto_since=$(date -d "$(systemctl show -p ActiveEnterTimestamp --value ipsec 2>/dev/null)" +%s 2>/dev/null || echo 0)
((pluto_since > started - 600)) || pluto_since=$((started - 600))

# grep reads all of whack's output (no -q): under pipefail, grep -q's early exit fails the pipeline with
# whack's SIGPIPE once pluto lists more than a pipe's worth, as with two crossed negotiations' SAs.
ike_up() { ipsec whack --showstates 2>/dev/null | grep "\"${CONNECTION}\".*ESTABLISHED_IKE_SA" >/dev/null; }
child_up() { ipsec whack --trafficstatus 2>/dev/null | grep "\"${CONNECTION}\"" >/dev/null; }
both_up() { ike_up && child_up; }
# This gateway's SAs of CONNECTION by state, e.g. "1 STATE_V2_ESTABLISHED_CHILD_SA", or "none".
states() {
    local found
    found=$(ipsec whack --showstates 2>&1 | grep -F "\"${CONNECTION}\"" | grep -oE 'STATE_[A-Z0-9_]+' | sort | uniq -c | sed -E 's/^ +//' | paste -sd, - || true)
    echo "${found:-none}"
}

# The configuration mismatch pluto logged, as a sentence; nothing when none was logged.
mismatch() {
    local logs
    logs=$(journalctl -u ipsec --since "@${pluto_since}" --no-pager -o cat 2>/dev/null || true)
    if grep -qiE 'AUTHENTICATION_FAILED|authentication failed|PSK authentication' <<<"$logs"; then
        echo "PSK mismatch (AUTHENTICATION_FAILED): the peer rejected our pre-shared key or we rejected its key; both gateways must have the same /etc/ipsec.secrets entry (re-run pulumi up)"
    elif grep -qE 'NO_PROPOSAL_CHOSEN|no local proposal matches' <<<"$logs"; then
        echo "proposal mismatch (NO_PROPOSAL_CHOSEN): the two gateways share no IKE or ESP algorithm; compare ike= and esp= in both /etc/ipsec.conf"
    elif grep -qE 'TS_UNACCEPTABLE|compatible Traffic Selectors' <<<"$logs"; then
        echo "subnet mismatch (TS_UNACCEPTABLE): leftsubnet/rightsubnet differ between the gateways; both must list the two site ranges"
    fi
}

diagnose() {
    local cause
    cause=$(mismatch)
    if ! systemctl is-active --quiet ipsec; then
        echo "pluto is not running on this gateway: see systemctl status ipsec and journalctl -u ipsec"
    elif [[ -n $cause ]]; then
        echo "$cause"
    elif ike_up && ! child_up; then
        echo "IKE SA up but no Child SA: see journalctl -u ipsec"
    elif child_up; then
        echo "a Child SA without its IKE SA: initiating did not replace it; restart ipsec on this gateway (systemctl restart ipsec) and see journalctl -u ipsec"
    else
        echo "no answer from the peer ${PEER_PUBLIC_IP} on UDP 500/4500: check its security group / NSG rules, the route to it, and that pluto runs there"
    fi
}

until both_up; do
    now=$(date +%s)
    if ((now - started >= TIMEOUT)); then
        die "tunnel ${CONNECTION} not established within ${TIMEOUT} s: $(diagnose) (this gateway's SAs: $(states)$( ((initiated)) && echo "; initiated from this side after ${REINITIATE_AFTER} s"))"
    fi
    if ((now - started >= MISMATCH_GRACE)) && cause=$(mismatch) && [[ -n $cause ]]; then
        die "tunnel ${CONNECTION} not established after $((now - started)) s: ${cause}"
    fi
    if ((initiated == 0 && now - started >= REINITIATE_AFTER)); then
        initiated=1
        log "tunnel ${CONNECTION} not up after $((now - started)) s (this gateway's SAs: $(states)): initiating it from this side"
        ipsec whack --initiate --asynchronous --name "$CONNECTION" || log "ipsec whack --initiate exited $?: waiting on pluto's own retries"
    fi
    sleep 1
done
if ! ip route get "$REMOTE_HOST" >/dev/null 2>&1; then
    die "tunnel ${CONNECTION} is up but there is no route to ${REMOTE_HOST}: the gateway needs a route (its default route will do) toward the peer's range"
fi
log "tunnel ${CONNECTION}: IKE SA and Child SA established with ${PEER_PUBLIC_IP}"
log "status: established"
