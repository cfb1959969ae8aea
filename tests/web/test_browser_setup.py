"""Without Chromium or axe-core the browser tests skip with a message, unless
BROKER_TEST_REQUIRE_BROWSER=1 (CI) turns the skip into a failure."""

from __future__ import annotations

import pytest

from tests.web import browser


def test_a_missing_browser_skips_with_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKER_TEST_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="Chromium was not found"):
        browser.missing("Chromium was not found at /nowhere")


def test_ci_turns_the_skip_into_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_TEST_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="forbids skipping"):
        browser.missing("Chromium was not found at /nowhere")
