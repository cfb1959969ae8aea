"""The composition root (broker.composition): the core's backends sit behind the interfaces of
broker.interfaces, chosen in one place; a test hands in its own."""

from __future__ import annotations

from nacl import pwhash

from broker.clock import utcnow
from broker.composition import components
from broker.core import ORGANISATIONS, Core
from broker.notifier import NetworkNotifier
from broker.passwords import Argon2idHasher
from broker.registry.models import Organisation


def test_the_production_choices() -> None:
    chosen = components()
    assert chosen.clock is utcnow
    assert isinstance(chosen.notifier, NetworkNotifier)
    assert isinstance(chosen.passwords, Argon2idHasher)
    assert (chosen.passwords.opslimit, chosen.passwords.memlimit) == (
        pwhash.argon2id.OPSLIMIT_INTERACTIVE, pwhash.argon2id.MEMLIMIT_INTERACTIVE)


def test_the_test_suites_hasher_makes_real_argon2id_hashes() -> None:
    cheap, interactive = Argon2idHasher.cheapest(), Argon2idHasher()
    made = cheap.hash("correct horse")
    assert made.startswith("$argon2id$") and "m=8," in made  # 8 KiB, libsodium's minimum
    assert interactive.verify(made, "correct horse")  # the limits live in the hash
    assert cheap.verify(interactive.hash("correct horse"), "correct horse")
    assert not cheap.verify(made, "wrong horse")
    assert not cheap.verify(None, "correct horse")  # no account: a hash's time, then False


def test_the_core_signs_in_with_the_hasher_it_was_given(core: Core) -> None:
    assert isinstance(core.passwords, Argon2idHasher)
    assert core.passwords.memlimit == pwhash.argon2id.MEMLIMIT_MIN  # tests/conftest.py's choice


def test_the_cores_view_of_the_organisations_is_the_registrys_table() -> None:
    # The quota reads an organisation's code and type without importing the registry, which
    # sits above the core: the table and columns it names must be the registry's own.
    table = Organisation.__table__
    assert ORGANISATIONS.name == table.name
    for column in ORGANISATIONS.c:
        assert column.type.python_type is table.c[column.name].type.python_type
