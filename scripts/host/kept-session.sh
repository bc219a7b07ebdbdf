# A kept psql session: each question is a line on it and "\echo ." marks the end of the answer, so a
# poll costs one round trip, not a new psql (a TLS handshake through the tunnel, or a process start that
# costs as much as the poll's interval on a small VM). Call session_sql directly, not in $(...): a
# subshell would start, and lose, a session per question.
# Reads SESSION_PSQL (the psql command line, an array), SESSION_READ_TIMEOUT (seconds an answer may
# take) and SESSION_OPEN_TIMEOUT (seconds the first answer of a new session may take: psql's start and
# its connection come first, TCP, TLS and SCRAM through the tunnel, seconds on a small busy VM; a bound
# as short as a round trip's killed every new session before it answered, so a fence-watch never saw
# its peer again once the tunnel was back).
# SESSION_PROBE (an array, optional): run before a new session; when it fails no psql is started. A
# connect through a cut tunnel waits on the kernel's SYN retransmissions (1, 3, 7 s apart), so a psql
# started during the cut answers seconds after the tunnel is back; a probe bounded at a second retried
# twice a second reaches the peer within about a second of it.
# session_sql SQL: the answer's last line in $answer; returns 1, the session closed, when none came in time.
session_sql() {
    local line timeout=$SESSION_READ_TIMEOUT
    answer=""
    if [[ -z ${SESSION_PID:-} ]]; then
        if [[ -v SESSION_PROBE ]] && ! "${SESSION_PROBE[@]}" 2>/dev/null; then
            return 1
        fi
        coproc SESSION { exec "${SESSION_PSQL[@]}" 2>/dev/null; }
        timeout=$SESSION_OPEN_TIMEOUT
    fi
    if printf '%s;\n\\echo .\n' "$1" 1>&"${SESSION[1]}" 2>/dev/null; then
        while IFS= read -r -t "$timeout" line <&"${SESSION[0]}"; do
            [[ $line == . ]] && return 0
            answer=$line
        done
    fi
    close_session
    return 1
}
close_session() {
    if [[ -n ${SESSION_PID:-} ]]; then
        kill "$SESSION_PID" 2>/dev/null
        wait "$SESSION_PID" 2>/dev/null
    fi
    unset SESSION_PID
}
