"""``scripts/bench --scale`` at a tiny size: it starts its own PostgreSQL server, loads, looks up,
registers and rotates, and its JSON holds every figure the README's table reports.

Runs only where the PostgreSQL server binaries (``initdb``) are installed; skipped otherwise.
"""

from __future__ import annotations

import glob
import json
import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from bench_scale_load import postgres_bin  # scripts/ is not a package

ROOT = Path(__file__).resolve().parents[1]


def _postgres_missing() -> str | None:
    if postgres_bin() is None:
        return "PostgreSQL server binaries (initdb) are not installed"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres system user for initdb"
    return None


pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(_postgres_missing() is not None,
                                 reason=_postgres_missing() or "")]


def test_the_scale_section_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    # Where the bench makes its server's home (as root directly under /tmp, for the postgres user).
    homes = str(Path("/tmp" if os.geteuid() == 0 else tempfile.gettempdir())  # noqa: S108
                / "broker-bench-pg-*")
    servers_before = set(glob.glob(homes))
    done = subprocess.run(
        [sys.executable, "scripts/bench.py", "--scale", "--scale-keys", "2000", "--scale-small",
         "600", "--rotation-keys", "500", "--lookups", "40", "--registrations", "20",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    scale = json.loads(out.read_text())["scale"]

    for size, at_least in (("small", 600), ("large", 2000)):
        row = scale[size]
        assert row["stored_keys"] >= at_least
        assert row["lookups"] == 40
        assert 0 < row["lookup_p50_ms"] <= row["lookup_p99_ms"]
        assert row["lookups_per_s"] > 0
        # Half the questions are households that exist; the policy discloses most of them.
        assert 0 < row["lookups_with_matches"] <= 20
    assert scale["p99_growth"] > 0
    assert scale["registrations"] >= 20 and scale["registrations_per_s"] > 0
    assert scale["keys_per_s"] > 0
    assert scale["rotation"]["rotated_keys"] >= 500
    assert scale["rotation"]["rotation_s"] > 0
    assert scale["rotation"]["projected_full_rotation_s"] > 0
    size = scale["size"]
    assert size["involvements"] > 600
    assert size["registry_bytes_per_involvement"] > 0
    assert size["audit_bytes_per_registration"] > 0
    assert scale["load"]["rows"] > 0 and scale["load"]["rows_per_s"] > 0
    assert scale["postgres"]
    assert len(scale["machine_before"]["load_average"]) == 3
    # The bench's own server, never the shared one: it is gone afterwards.
    assert "private PostgreSQL server" in done.stderr
    assert set(glob.glob(homes)) <= servers_before
    assert "rows/s" in done.stderr  # progress of the load
    assert "p99 at" in done.stdout
