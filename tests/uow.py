"""Calling services from tests as a door would: each call in a unit of work of its own.

A door opens one unit of work per request and commits it (broker.door, the CLI). A test that
calls a service directly does the same with :func:`committed` (a service whose every method call
is one committed unit of work) or :func:`in_uow` (one function call in one unit of work), so
that what it reads afterwards is what a later request would see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from broker.core import Core

T = TypeVar("T")


class Committed:
    """A service of class ``cls`` on ``core`` (with ``extra`` constructor arguments after the
    unit of work); each method call runs in a unit of work of its own, committed at the end
    (or, after a recorded refusal, committed with the refusal)."""

    def __init__(self, core: Core, cls: Callable[..., Any], *extra: Any) -> None:
        self.core, self.cls, self.extra = core, cls, extra

    def __getattr__(self, name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            with self.core.unit_of_work() as uow:
                return getattr(self.cls(uow, *self.extra), name)(*args, **kwargs)

        return call


def committed(core: Core, cls: Callable[..., Any], *extra: Any) -> Any:
    """A :class:`Committed` service (typed ``Any``, so that tests call its methods freely)."""
    return Committed(core, cls, *extra)


def in_uow(core: Core, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``function(uow, *args, **kwargs)`` in a unit of work of its own, committed."""
    with core.unit_of_work() as uow:
        return function(uow, *args, **kwargs)
