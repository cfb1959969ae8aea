"""The wired core that both doors (web and API) and the CLI share.

``Core`` holds what a service needs: settings, the session factory, the key store, the matching-key
maker, the pseudonym service and the clock. It is built once by ``create_app`` or the CLI; tests
build it on a temporary directory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from broker.config import Settings
from broker.db import (
    make_engine,
    make_session_factory,
    start_checkpointer,
    unit_of_work,
    utcnow,
)
from broker.identifiers import Identifier
from broker.pseudonyms.blinding import pseudonymise
from broker.pseudonyms.keys import FileKeyStore
from broker.pseudonyms.matching import MatchingKeys, Pseudonym
from broker.pseudonyms.service import PseudonymService

# Periods (involvement end dates, history) are calendar dates as Dutch professionals see them.
LOCAL_ZONE = ZoneInfo("Europe/Amsterdam")

Clock = Callable[[], datetime]


class Core:
    """Everything a service needs, built once per process."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.checkpointer = start_checkpointer(self.engine)
        self.sessions = make_session_factory(self.engine)
        self.keystore = FileKeyStore(settings.keys_dir)
        self.matching = MatchingKeys(self.keystore)
        self.pseudonym_service = PseudonymService(self.keystore)
        self.clock: Clock = clock or utcnow

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction (see :func:`broker.db.unit_of_work`)."""
        with unit_of_work(self.sessions) as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction on a plain connection, for hot paths that need no ORM objects."""
        with self.engine.begin() as connection:
            yield connection

    def now(self) -> datetime:
        """The current time (UTC, aware) from the core's clock."""
        return self.clock()

    def today(self) -> date:
        """Today's date in the Netherlands."""
        return self.clock().astimezone(LOCAL_ZONE).date()

    def pseudonymise(self, identifiers: Sequence[Identifier]) -> list[Pseudonym]:
        """Blind, evaluate in-process and unblind: the web form's and the CLI's door.

        The identifiers stay in this process's memory for this call only; the pseudonym service
        sees blinded elements.
        """
        return pseudonymise(identifiers, self.pseudonym_service.evaluate)

    def dispose(self) -> None:
        """Stop the background checkpoints and close the database connections."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
