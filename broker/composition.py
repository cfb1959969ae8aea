"""The one place where the core's backends are chosen (the composition root's choices).

``create_app`` and the ``broker`` command build their :class:`broker.core.Core` through
:func:`components`; a test hands in its own clock or a cheaper password hasher instead. Each
backend sits behind an interface of :mod:`broker.interfaces`:

- clock: :func:`broker.clock.utcnow`, the wall clock (tests: a clock they move by hand);
- password hasher: argon2id at libsodium's interactive limits (tests: argon2id at its minimum
  limits, :meth:`broker.passwords.Argon2idHasher.cheapest`);
- notifier: :class:`broker.notifier.NetworkNotifier` (tests: any
  :class:`~broker.interfaces.Notifier`).
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.clock import Clock, utcnow
from broker.interfaces import Notifier, PasswordHasher
from broker.notifier import NetworkNotifier
from broker.passwords import Argon2idHasher


@dataclass(frozen=True)
class Components:
    """The backends one core runs on."""

    clock: Clock
    passwords: PasswordHasher
    notifier: Notifier


def components(*, clock: Clock | None = None, passwords: PasswordHasher | None = None,
               notifier: Notifier | None = None) -> Components:
    """The backends of a core: those handed in, the table's first column otherwise. (The
    pseudonym evaluator, in process or the service apart, is chosen by setting in
    :class:`broker.core.Core`, beside the key store it needs.)"""
    return Components(clock=clock or utcnow, passwords=passwords or Argon2idHasher(),
                      notifier=notifier or NetworkNotifier())
