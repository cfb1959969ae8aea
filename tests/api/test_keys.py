"""Organisation keys: files under keys/organisations/, revocation, listing."""

from __future__ import annotations

import logging

import pytest
from nacl.signing import SigningKey

from broker.audit.services import Actor
from broker.callers.keys import OrganisationKeys
from broker.core import Core
from broker.errors import Conflict, ValidationError
from broker.keyfiles import UnsafeKeyError
from broker.registry.services import RegistryService
from tests.uow import committed

OPERATOR = Actor.operator("test")


def _org(core: Core, code: str = "vt-a") -> None:
    committed(core, RegistryService).create_organisation(OPERATOR, identifier=code, name=code,
                                              org_type="veilig_thuis")


def test_files_are_imported_and_bad_ones_reported(core: Core, caplog: pytest.LogCaptureFixture
                                                  ) -> None:
    _org(core)
    directory = core.settings.keys_dir / "organisations"
    directory.mkdir(mode=0o755)
    good = SigningKey.generate().verify_key
    (directory / "vt-a.vt-file-1.pub").write_text(bytes(good).hex())
    (directory / "nope.vt-file-2.pub").write_text(bytes(good).hex())  # unknown organisation
    (directory / "vt-a.vt-file-3.pub").write_text("not hex")
    (directory / "README.pub").write_text("x")
    keys = committed(core, OrganisationKeys)
    with caplog.at_level(logging.WARNING, "broker.api"):
        assert keys.import_files(OPERATOR, directory) == ["vt-file-1"]
    assert "nope.vt-file-2.pub" in caplog.text and "vt-a.vt-file-3.pub" in caplog.text
    assert keys.import_files(OPERATOR, directory) == []  # known keys are not imported twice
    assert keys.resolve("vt-file-1") is not None
    keys.revoke(OPERATOR, "vt-file-1")
    assert keys.import_files(OPERATOR, directory) == []  # the file cannot bring it back
    assert keys.resolve("vt-file-1") is None


def test_a_writable_key_directory_is_refused(core: Core) -> None:
    directory = core.settings.keys_dir / "organisations"
    directory.mkdir()
    directory.chmod(0o777)
    with pytest.raises(UnsafeKeyError, match="chmod 700"):
        committed(core, OrganisationKeys).import_files(OPERATOR, directory)


def test_add_revoke_and_list(core: Core) -> None:
    _org(core)
    keys = committed(core, OrganisationKeys)
    public = bytes(SigningKey.generate().verify_key).hex()
    keys.add(OPERATOR, organisation="vt-a", key_id="vt-1", public_key=public)
    keys.add(OPERATOR, organisation="vt-a", key_id="vt-2", public_key=public)
    with pytest.raises(Conflict):
        keys.add(OPERATOR, organisation="vt-a", key_id="vt-1", public_key=public)
    with pytest.raises(ValidationError):
        keys.add(OPERATOR, organisation="vt-a", key_id="vt-3", public_key="abc")
    keys.revoke(OPERATOR, "vt-1")
    with pytest.raises(Conflict):
        keys.revoke(OPERATOR, "vt-1")
    assert [(k.key_id, k.status) for k in keys.listing("vt-a")] == [
        ("vt-1", "revoked"), ("vt-2", "active")]
