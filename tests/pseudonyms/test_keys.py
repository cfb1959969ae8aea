"""Key files: created private, refused when unsafe, missing or corrupt, versioned."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from broker_primitives import dleq, oprf

from broker.errors import ConfigurationError
from broker.keyfiles import MissingKeyError, UnsafeKeyError
from broker.pseudonyms.keys import FileKeyStore


def test_create_is_private_and_versioned(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    path = store.create("oprf", 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    store.create("oprf", 2)
    store.create("broker", 1)
    assert store.epochs("oprf") == [1, 2]
    assert store.current_epoch("oprf") == 2
    assert store.load("oprf", 1) != store.load("oprf", 2)
    store.check()
    with pytest.raises(FileExistsError):
        store.create("oprf", 2)


def test_missing_keys_say_how_to_create_them(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    with pytest.raises(MissingKeyError, match="broker keys init"):
        store.check()
    store.create("oprf", 1)
    with pytest.raises(MissingKeyError, match="broker keys init"):
        store.check()
    with pytest.raises(MissingKeyError):
        store.load("oprf", 5)


def test_world_readable_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    store.create("broker", 1)
    path = store.create("oprf", 1)
    path.chmod(0o644)
    with pytest.raises(UnsafeKeyError) as caught:
        store.check()
    assert f"chmod 600 {path}" in str(caught.value)
    assert f"chmod 600 {path}" in caught.value.message("nl")


def test_group_writable_directory_is_refused(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    store.create("broker", 1)
    store.create("oprf", 1)
    (tmp_path / "keys").chmod(0o777)
    with pytest.raises(UnsafeKeyError, match="chmod 700"):
        store.check()


def test_corrupt_key_is_refused(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    path = store.create("oprf", 1)
    path.write_text("00" * 32 + "\n")  # the zero scalar is not a key
    with pytest.raises(ConfigurationError, match="corrupt"):
        store.load("oprf", 1)


def test_a_pinned_epoch_of_k_needs_a_factor_that_maps_the_public_halves(tmp_path: Path) -> None:
    service = FileKeyStore(tmp_path / "service")
    service.create("oprf", 1)
    k1, k2 = service.load("oprf", 1), service.prepare("oprf", 2)
    assert service.current_epoch("oprf") == 1  # prepared, not used
    assert service.prepare("oprf", 2) == k2  # the same key when asked again
    broker = FileKeyStore(tmp_path / "broker", oprf_public=True)
    (tmp_path / "broker" / "oprf").mkdir(parents=True, mode=0o700)
    (tmp_path / "broker" / "oprf" / "0001.pub").write_text(dleq.public_key(k1).hex() + "\n")
    factor = oprf.rotation_factor(k1, k2)
    with pytest.raises(ConfigurationError, match="does not follow"):
        broker.pin_oprf(2, dleq.public_key(oprf.generate_key()), factor)
    assert broker.current_epoch("oprf") == 1  # nothing pinned
    assert broker.pin_oprf(2, dleq.public_key(k2), factor)
    assert not broker.pin_oprf(2, dleq.public_key(k2), factor)  # pinned already: the same
    delta = tmp_path / "broker" / "oprf" / "0002.delta"
    assert stat.S_IMODE(delta.stat().st_mode) == 0o600
    assert broker.current_epoch("oprf") == 2 and broker.oprf_factor(1, 2) == factor
    assert oprf.scalar_mul(broker.oprf_factor(2, 1), factor) == oprf.scalar_mul(
        oprf.scalar_invert(k1), k1)  # the inverse
    broker.check(["oprf"])
    delta.unlink()
    with pytest.raises(MissingKeyError, match="rotation factor"):
        FileKeyStore(tmp_path / "broker", oprf_public=True).check(["oprf"])
    assert service.activate("oprf", 2) and service.current_epoch("oprf") == 2
    assert service.load("oprf", 2) == k2 and not service.activate("oprf", 2)


def test_a_factor_left_by_a_crash_before_its_public_half_is_replaced_by_the_checked_one(
        tmp_path: Path) -> None:
    """A crash between writing the factor and the public half leaves the factor alone; if the
    service then prepares that epoch again with another k, the factor kept must be the one just
    checked against the public halves, never the stale one (it would re-key every stored
    matching key wrongly)."""
    service = FileKeyStore(tmp_path / "service")
    service.create("oprf", 1)
    k1, k2 = service.load("oprf", 1), oprf.generate_key()
    broker = FileKeyStore(tmp_path / "broker", oprf_public=True)
    (tmp_path / "broker" / "oprf").mkdir(parents=True, mode=0o700)
    (tmp_path / "broker" / "oprf" / "0001.pub").write_text(dleq.public_key(k1).hex() + "\n")
    stale = oprf.rotation_factor(k1, oprf.generate_key())  # the epoch prepared before the crash
    (tmp_path / "broker" / "oprf" / "0002.delta").write_text(stale.hex() + "\n")
    (tmp_path / "broker" / "oprf" / "0002.delta").chmod(0o600)
    factor = oprf.rotation_factor(k1, k2)
    assert broker.pin_oprf(2, dleq.public_key(k2), factor)
    assert FileKeyStore(tmp_path / "broker", oprf_public=True).oprf_factor(1, 2) == factor
