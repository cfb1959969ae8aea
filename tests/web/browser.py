"""What the browser tests need: Debian's Chromium (never a browser download), axe-core from
web-assets/node_modules, and the broker served from a thread on a free port.

A missing Chromium or axe-core skips the browser tests with a message saying how to get them;
with ``BROKER_TEST_REQUIRE_BROWSER=1`` (CI) it fails them instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("BROKER_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = ROOT / "web-assets" / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = ROOT / "test-artefacts" / "screenshots"
# The rule sets of WCAG 2.2 AA and axe's best practices; serious and critical findings fail.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
FAILING_IMPACTS = {"serious", "critical"}


def missing(what: str) -> None:
    """Skip (or, under BROKER_TEST_REQUIRE_BROWSER=1, fail) for want of ``what``."""
    message = f"{what}; the browser tests need it (scripts/test installs it)"
    if os.environ.get("BROKER_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{message}, and BROKER_TEST_REQUIRE_BROWSER=1 forbids skipping")
    pytest.skip(message)


def require_browser() -> tuple[Path, str]:
    """The Chromium executable and axe-core's source, or skip/fail saying which is missing."""
    if not CHROMIUM.exists():
        missing(f"Chromium was not found at {CHROMIUM} (apt-get install chromium)")
    if not AXE.exists():
        missing(f"axe-core was not found at {AXE} (npm ci in web-assets/)")
    return CHROMIUM, AXE.read_text(encoding="utf-8")


def axe_findings(page: Any, axe_source: str) -> list[str]:
    """The serious and critical axe violations on ``page`` (axe evaluated through the
    DevTools protocol: the broker's CSP allows no script, and keeps doing so)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [f"{page.url}: {v['id']} ({v['impact']}): {v['help']} — "
            f"{[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"] if v["impact"] in FAILING_IMPACTS]


def reflows(page: Any) -> bool:
    """Whether the page fits its viewport's width without horizontal scrolling."""
    return bool(page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth + 1"))


def reflow_findings(page: Any, name: str, shot: str) -> list[str]:
    """The page at 1280, 390 and 320 px: a finding for each width it scrolls sideways at; a
    screenshot at 1280 and 390 px into the artefacts (``<name>-<shot>-<width>.png``)."""
    findings = []
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390, 320):
        page.set_viewport_size({"width": width, "height": 900})
        if not reflows(page):
            findings.append(f"{page.url}: scrolls sideways at {width} px")
        if width != 320:
            page.screenshot(path=str(ARTEFACTS / f"{name}-{shot}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    return findings
