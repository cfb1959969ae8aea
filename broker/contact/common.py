"""What the contact services share."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.orm import Session


def changed(session: Session, statement: Executable) -> int:
    """Run a conditional UPDATE; the number of rows it changed (0: the condition no longer
    held, someone else got there first)."""
    result = cast(CursorResult[Any], session.execute(
        statement, execution_options={"synchronize_session": False}))
    return int(result.rowcount)
