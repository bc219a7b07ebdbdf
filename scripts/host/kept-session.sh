# A kept psql session: each question is a line on it and "\echo ." marks the end of the answer, so a
# poll costs one round trip, not a new psql (a TLS handshake through the tunnel, or a process start that
# costs as much as the poll's interval on a small VM). Call session_sql directly, not in $(...): a
# subshell would start, and lose, a session per question.
# Reads SESSION_PSQL (the psql command line, an array) and SESSION_READ_TIMEOUT (seconds an answer may take).
# session_sql SQL: the answer's last line in $answer; returns 1, the session closed, when none came in time.
session_sql() {
    local line
    answer=""
    if [[ -z ${SESSION_PID:-} ]]; then
        coproc SESSION { exec "${SESSION_PSQL[@]}" 2>/dev/null; }
    fi
    if printf '%s;\n\\echo .\n' "$1" 1>&"${SESSION[1]}" 2>/dev/null; then
        while IFS= read -r -t "$SESSION_READ_TIMEOUT" line <&"${SESSION[0]}"; do
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
