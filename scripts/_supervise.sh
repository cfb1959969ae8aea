# Shared by scripts/run: run processes side by side and stop them all when one ends. Sourced.
# Portable to bash 3.2 (macOS's /bin/bash), which has no `wait -n` (bash >= 4.3): the processes
# are looked at once a second, and that second's sleep is itself waited for, so a trapped
# Ctrl+C or SIGTERM is handled at once rather than after the sleep.

# stop_all PID...: send each process SIGTERM and wait for them.
stop_all() {
    kill -TERM "$@" 2>/dev/null || true
    wait "$@" 2>/dev/null || true
}

# supervise PID...: return when the first of the processes (children of this shell) ends, with
# its exit status, having stopped the others.
supervise() {
    local pid ended="" status=0 nap
    while [ -z "$ended" ]; do
        for pid in "$@"; do
            # bash reaps an ended child at once (SIGCHLD), so its pid answers no more.
            if ! kill -0 "$pid" 2>/dev/null; then
                ended="$pid"
                break
            fi
        done
        if [ -z "$ended" ]; then
            sleep 1 &
            nap=$!
            wait "$nap" || true
        fi
    done
    wait "$ended" || status=$?
    stop_all "$@"
    return "$status"
}
