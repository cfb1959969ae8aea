"""A witness's own directory: its key, its configuration and its storage, nothing of the broker.

- ``witness.key`` (hex seed, mode 0600, in a directory of mode 0700) and ``witness.pub``;
  loading refuses a key others can read (:mod:`broker.signing`).
- ``witness.json``: the witness's name and the verifier keys of the logs it watches
  (``broker audit key`` prints a broker's).
- ``witness.db``: the storage (:mod:`broker.witness.store`), mode 0600.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from broker.audit.notes import CosignerKey, NoteError, NoteKey
from broker.errors import ConfigurationError
from broker.signing import ensure_signing_key, load_signing_key
from broker.witness.service import WitnessService
from broker.witness.store import WitnessStore

KEY_FILE = "witness.key"
CONFIG_FILE = "witness.json"
STORE_FILE = "witness.db"


def initialise(directory: Path, name: str | None, logs: Sequence[str]) -> CosignerKey:
    """Create the witness's directory, key, configuration and storage, or add ``logs`` to an
    existing one; returns its key."""
    config = _read_config(directory) if (directory / CONFIG_FILE).exists() else None
    if config is None and not name:
        raise ConfigurationError(
            "A new witness needs a name: broker witness init --name <name, e.g. "
            "witness.example.org/w1>")
    if config is not None and name and name != config.name:
        raise ConfigurationError(
            "This witness is named %(name)s; a witness keeps its name",
            name=config.name)
    chosen = config.name if config is not None else name or ""
    try:
        _check_name(chosen)
        parsed = [NoteKey.from_verifier(text) for text in logs]
    except NoteError as error:
        raise ConfigurationError("Not a name or log verifier key: %(error)s", error=error) from None
    known = list(config.logs) if config else []
    known += [key.verifier() for key in parsed if key.verifier() not in known]
    ensure_signing_key(directory / KEY_FILE)
    _write_config(directory, _Config(chosen, known))
    WitnessStore(directory / STORE_FILE).close()
    return load_key(directory)


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("a witness name holds no spaces and no '+'")


def load_key(directory: Path) -> CosignerKey:
    """The witness's cosigning key under its name; refused when missing or exposed."""
    config = _read_config(directory)
    signing_key = load_signing_key(directory / KEY_FILE)
    return CosignerKey(config.name, signing_key.verify_key, signing_key)


def open_service(directory: Path, clock: Callable[[], float] | None = None) -> WitnessService:
    """The witness of ``directory``, ready to serve."""
    key = load_key(directory)
    try:
        logs = [NoteKey.from_verifier(text) for text in _read_config(directory).logs]
    except NoteError as error:
        raise ConfigurationError(
            "%(directory)s: a log's key is unusable: %(error)s",
            directory=directory / CONFIG_FILE, error=error) from None
    if not logs:
        raise ConfigurationError(
            "This witness watches no log yet: broker witness init --log '<broker audit key>'")
    store = WitnessStore(directory / STORE_FILE)
    return WitnessService(key, logs, store) if clock is None else \
        WitnessService(key, logs, store, clock)


@dataclass(frozen=True)
class _Config:
    name: str
    logs: list[str]


def _read_config(directory: Path) -> _Config:
    path = directory / CONFIG_FILE
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(
            "%(directory)s is not a witness's directory. Create one with: broker witness init",
            directory=directory) from None
    except (OSError, ValueError) as error:
        raise ConfigurationError(
            "%(path)s cannot be read: %(error)s",
            path=path, error=error) from None
    if not isinstance(config, dict) or not isinstance(config.get("name"), str) \
            or not isinstance(config.get("logs"), list) \
            or not all(isinstance(item, str) for item in config["logs"]):
        raise ConfigurationError("%(path)s does not hold a name and a list of logs", path=path)
    return _Config(config["name"], config["logs"])


def _write_config(directory: Path, config: _Config) -> None:
    path = directory / CONFIG_FILE
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"name": config.name, "logs": config.logs}, handle, indent=1)
        handle.write("\n")
    temporary.replace(path)
