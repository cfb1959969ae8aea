"""Event tags live in one place: broker.audit.events.Event (a StrEnum), each with its NEN 7513
action code; the stored value is the tag's string, and no module spells a tag by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broker.audit.events import ACTIONS, Event
from broker.audit.services import Actor, record_event

BROKER = Path(__file__).resolve().parents[2] / "broker"


def test_every_tag_has_an_action_code() -> None:
    assert set(ACTIONS) == set(Event)
    assert set(ACTIONS.values()) <= set("CRUDE")


def test_no_module_spells_a_tag_as_a_string() -> None:
    spelled = re.compile("|".join(re.escape(f'"{tag.value}"') for tag in Event))
    found = [f"{path.relative_to(BROKER.parent)}:{number}"
             for path in sorted(BROKER.rglob("*.py")) if path.name != "events.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if spelled.search(line)]
    assert found == []


def test_an_unknown_tag_is_refused_before_anything_is_written() -> None:
    with pytest.raises(ValueError, match="unknown audit event type"):
        record_event(None, Actor.system(), "nothing:happened")  # type: ignore[arg-type]
