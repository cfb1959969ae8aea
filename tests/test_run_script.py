"""``scripts/run`` keeps the web server and the worker side by side and stops both when one ends
(or on Ctrl+C / SIGTERM) — on bash 3.2 too (macOS's /bin/bash), which has no ``wait -n``.

The supervising part is ``scripts/_supervise.sh``; these tests run it under a ``wait`` that
answers ``-n`` as bash 3.2 does (``invalid option``), with two stand-in processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bash 3.2's wait: no -n (added in bash 4.3).
OLD_WAIT = """
wait() {
    if [ "${1:-}" = "-n" ]; then echo "wait: -n: invalid option" >&2; return 2; fi
    builtin wait "$@"
}
"""


def _script(first: str, second: str) -> str:
    return f"""set -euo pipefail
{OLD_WAIT}
source "{ROOT}/scripts/_supervise.sh"
{first} &
FIRST=$!
{second} &
SECOND=$!
echo "$FIRST $SECOND"
trap 'stop_all "$FIRST" "$SECOND"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
supervise "$FIRST" "$SECOND"
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _start(script: str) -> tuple[subprocess.Popen[str], list[int]]:
    process = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    pids = [int(pid) for pid in process.stdout.readline().split()]
    return process, pids


def test_when_one_process_ends_the_other_is_stopped_with_its_status() -> None:
    started = time.monotonic()
    process, pids = _start(_script("sleep 60", "sh -c 'sleep 0.3; exit 3'"))
    assert process.wait(timeout=10) == 3  # the status of the process that ended first
    assert time.monotonic() - started < 5
    assert all(_gone(pid) for pid in pids)


def test_while_both_run_the_script_waits() -> None:
    process, pids = _start(_script("sleep 60", "sleep 60"))
    try:
        time.sleep(1.5)
        assert process.poll() is None and not any(_gone(pid) for pid in pids)
    finally:
        process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=5) == 143
    assert all(_gone(pid) for pid in pids)


def test_scripts_run_supervises_without_wait_n() -> None:
    run = (ROOT / "scripts" / "run").read_text(encoding="utf-8")
    assert "_supervise.sh" in run and 'supervise "$SERVER" "$WORKER"' in run
    for script in (ROOT / "scripts").iterdir():
        if script.is_file():  # a comment may name it; no command uses it
            assert not re.search(r"^[^#]*\bwait -n", script.read_text(encoding="utf-8"),
                                 re.MULTILINE), script
