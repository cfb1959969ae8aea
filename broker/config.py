"""Settings from ``BROKER_*`` environment variables, with embedded defaults.

The embedded default needs no setting at all: a SQLite file under ``instance/``, keys under
``keys/`` and the policy under ``policies/``, all relative to ``BROKER_HOME`` (default: the current
directory). Production names a PostgreSQL database and a Redis server instead.

| variable                 | default                               |
| ------------------------ | ------------------------------------- |
| BROKER_HOME              | current directory                     |
| BROKER_DATABASE_URL      | sqlite:///<home>/instance/broker.db   |
| BROKER_KEYS_DIR          | <home>/keys                           |
| BROKER_POLICY_DIR        | <home>/policies                       |
| BROKER_INSTANCE_DIR      | <home>/instance                       |
| BROKER_REDIS_URL         | (none: in-memory stores)              |
| BROKER_LOG_LEVEL         | INFO                                  |
| BROKER_LOG_FORMAT        | text (json: one JSON object per line) |
| BROKER_METRICS_TOKEN     | (none: /metrics only from loopback)   |
| BROKER_TRUSTED_PROXIES   | (none: X-Forwarded-* is ignored)      |
| BROKER_COOKIE_SECURE     | 0 (implied by an https base URL)      |
| BROKER_BASE_URL          | http://127.0.0.1:5000 (links, cookie) |
| BROKER_API_IP_RATE       | 600/minute (per client address)       |
| BROKER_API_ORG_RATE      | 1200/minute (per organisation)        |
| BROKER_AUDIT_ORIGIN      | broker.local/audit (name of the log)  |
| BROKER_AUDIT_CHECKPOINT_INTERVAL | 60 (seconds between checkpoints) |
| BROKER_WITNESS_URLS      | (none) witnesses' URL prefixes, comma-separated |
| BROKER_WITNESS_KEYS      | (none) their verifier keys, comma-separated, in the same order |
| BROKER_WITNESS_QUORUM    | all of them: cosignatures a checkpoint needs |
| BROKER_WITNESS_TIMEOUT   | 5 (seconds per request to a witness)  |
| BROKER_PSEUDONYM_SERVICE_URL | (none: ``k`` in this process, keys/oprf/) |
| BROKER_PSEUDONYM_SERVICE_KEY_ID | broker-1 (the broker's key id at the service) |
| BROKER_PSEUDONYM_SERVICE_TIMEOUT | 5 (seconds per evaluation request) |
| BROKER_PRODUCTION        | 0; 1 refuses to start where this process can read ``k`` |

A witness (``broker witness serve``, c2sp.org/tlog-witness) keeps its own copy of the newest
checkpoint it co-signed; ``broker witness key`` prints the verifier key to put in
``BROKER_WITNESS_KEYS`` (``<name>+<key id>+<base64>``, signature type 0x04).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from broker.errors import ConfigurationError


@dataclass(frozen=True)
class Settings:
    """Everything the app and the CLI need to know about where things live."""

    home: Path
    instance_dir: Path
    database_url: str
    keys_dir: Path
    policy_dir: Path
    redis_url: str | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # or "json" (broker.logs)
    # Who may read /metrics (broker.metrics): with a token, whoever sends it as a bearer token;
    # without one, only clients on this machine (a loopback address).
    metrics_token: str | None = None
    trusted_proxies: str = ""
    api_ip_rate: str = "600/minute"
    api_org_rate: str = "1200/minute"
    cookie_secure: bool = False
    # Where people reach the broker: enrolment links start with it, and an https:// base URL
    # makes the session cookie ``__Host-`` and Secure.
    base_url: str = "http://127.0.0.1:5000"
    # The audit log's name in its signed checkpoints; give each installation its own
    # (a schema-less URL such as ``broker.gemeente.example/audit``).
    audit_origin: str = "broker.local/audit"
    audit_checkpoint_interval: float = 60.0
    # Witnesses of the audit log: submission URL prefixes and verifier keys, paired in order
    # (checked by broker.audit.witnessing when they are used).
    witness_urls: tuple[str, ...] = ()
    witness_keys: tuple[str, ...] = ()
    witness_quorum: int | None = None  # None: every configured witness
    witness_timeout: float = 5.0
    # The pseudonym service as its own process (None: evaluate in this process with k from
    # keys/oprf/, the embedded default).
    pseudonym_service_url: str | None = None
    pseudonym_service_key_id: str = "broker-1"
    pseudonym_service_timeout: float = 5.0
    # Production mode: the broker refuses to start where it can read k (broker.pseudonyms.remote).
    production: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        home = Path(env.get("BROKER_HOME") or Path.cwd()).resolve()
        instance_dir = Path(env.get("BROKER_INSTANCE_DIR") or home / "instance")
        database_url = env.get("BROKER_DATABASE_URL") or f"sqlite:///{instance_dir / 'broker.db'}"
        return cls(
            home=home,
            instance_dir=instance_dir,
            database_url=database_url,
            keys_dir=Path(env.get("BROKER_KEYS_DIR") or home / "keys"),
            policy_dir=Path(env.get("BROKER_POLICY_DIR") or home / "policies"),
            redis_url=env.get("BROKER_REDIS_URL") or None,
            log_level=env.get("BROKER_LOG_LEVEL", "INFO").upper(),
            log_format=_choice_setting(env, "BROKER_LOG_FORMAT", ("text", "json")),
            metrics_token=env.get("BROKER_METRICS_TOKEN") or None,
            trusted_proxies=env.get("BROKER_TRUSTED_PROXIES", ""),
            api_ip_rate=env.get("BROKER_API_IP_RATE") or "600/minute",
            api_org_rate=env.get("BROKER_API_ORG_RATE") or "1200/minute",
            cookie_secure=env.get("BROKER_COOKIE_SECURE", "0") in ("1", "true", "yes"),
            base_url=(env.get("BROKER_BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
            audit_origin=env.get("BROKER_AUDIT_ORIGIN") or "broker.local/audit",
            audit_checkpoint_interval=number_setting(env, "BROKER_AUDIT_CHECKPOINT_INTERVAL", 60.0),
            witness_urls=_list_setting(env, "BROKER_WITNESS_URLS"),
            witness_keys=_list_setting(env, "BROKER_WITNESS_KEYS"),
            witness_quorum=_count_setting(env, "BROKER_WITNESS_QUORUM"),
            witness_timeout=number_setting(env, "BROKER_WITNESS_TIMEOUT", 5.0),
            pseudonym_service_url=(env.get("BROKER_PSEUDONYM_SERVICE_URL") or "").rstrip("/")
            or None,
            pseudonym_service_key_id=env.get("BROKER_PSEUDONYM_SERVICE_KEY_ID") or "broker-1",
            pseudonym_service_timeout=number_setting(env, "BROKER_PSEUDONYM_SERVICE_TIMEOUT",
                                                     5.0),
            production=env.get("BROKER_PRODUCTION", "0") in ("1", "true", "yes"),
        )

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed (tests and the CLI's options use this)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def secure_cookies(self) -> bool:
        """Whether the session cookie is ``Secure`` (and so can be ``__Host-``): when the base
        URL is https, or BROKER_COOKIE_SECURE says so."""
        return self.cookie_secure or self.base_url.lower().startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded default database."""
        return self.database_url.startswith("sqlite")


def _list_setting(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list; empty items are dropped."""
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _choice_setting(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (the first by default), case-insensitive."""
    raw = (env.get(name) or choices[0]).strip().lower()
    if raw not in choices:
        raise ConfigurationError(
            "%(name)s must be one of %(choices)s, not %(raw)s",
            name=name, choices=', '.join(choices), raw=repr(raw))
    return raw


def _count_setting(env: Mapping[str, str], name: str) -> int | None:
    """A whole number of 1 or more from ``env``, or None when unset."""
    raw = env.get(name)
    if not raw:
        return None
    if not raw.isascii() or not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(
            "%(name)s must be a whole number of 1 or more, not %(raw)s",
            name=name, raw=repr(raw))
    return int(raw)


def number_setting(env: Mapping[str, str], name: str, default: float, *,
                   allow_zero: bool = False) -> float:
    """A positive (or, with ``allow_zero``, non-negative) number from ``env``; a clear error,
    in Dutch and English, for anything else."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value >= 0 if allow_zero else value > 0):
        raise ConfigurationError(
            "%(name)s must be a positive number, not %(raw)s",
            name=name, raw=repr(raw))
    return value
