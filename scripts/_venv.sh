# Shared by scripts/run, scripts/test and scripts/bench: make sure .venv exists and holds the
# project with the extras asked for. Sourced, not executed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

require_libsodium() {
    # pysodium loads the system libsodium at import time; say how to get it instead of a traceback.
    if ! python3 - <<'PY' 2>/dev/null
import ctypes.util, sys
sys.exit(0 if ctypes.util.find_library("sodium") else 1)
PY
    then
        cat >&2 <<'MSG'
libsodium (>= 1.0.18) was not found on this machine. Install it first:
  Debian/Ubuntu:  sudo apt-get install libsodium23
  Fedora/RHEL:    sudo dnf install libsodium
  macOS:          brew install libsodium
  Alpine:         apk add libsodium
MSG
        exit 3
    fi
}

ensure_venv() {
    # $1: the extra to install ("" for none, "dev" for the test tools).
    local extra="$1" spec="." stamp
    [ -n "$extra" ] && spec=".[$extra]"
    if [ ! -x .venv/bin/python ]; then
        echo "Creating .venv ..."
        python3 -m venv .venv
    fi
    stamp=".venv/.installed-${extra:-base}"
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] \
            || [ primitives/pyproject.toml -nt "$stamp" ] || [ client/pyproject.toml -nt "$stamp" ]; then
        echo "Installing the broker${extra:+ with the $extra extra} into .venv ..."
        .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
        # Three distributions of this repository: the primitives, the organisations' client
        # (broker-client, which depends on the primitives only) and the server.
        .venv/bin/python -m pip install --quiet -e ./primitives -e ./client -e "$spec"
        touch "$stamp"
    fi
}
