"""The ``broker-client`` command: keys, look-ups and bulk sync for organisations' systems.

Settings come from options or the environment: ``--url``/``BROKER_URL``, ``--key-id``/
``BROKER_KEY_ID``, ``--key-file``/``BROKER_KEY_FILE`` (the Ed25519 seed as 64 hex digits) and
``--broker-public-key``/``BROKER_PUBLIC_KEY`` (the broker's response key, hex). Without the
broker's public key, responses cannot be verified and a warning says so.

Rules this command guarantees: raw identifiers given on the command line or in a CSV go through
:class:`~broker_client.BrokerClient` only, so they never reach the broker; no output, error or
state file repeats one; private key files are created with mode 0600 and never overwritten.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import NoReturn, cast

import click
import httpx
from broker_primitives.identifiers import IdentifierError
from nacl.signing import SigningKey

from broker_client.client import BrokerClient
from broker_client.codec import read_signing_key
from broker_client.errors import BrokerClientError
from broker_client.models import Basis
from broker_client.rows import SyncError, read_rows
from broker_client.state import SyncState, fingerprint_key, key_check
from broker_client.sync import Syncer

BASES = ("consent", "legal_task", "vital_interest")
# The broker's own words for an answer (broker.registry.results), in English: no answer says that
# no one is involved.
NONE_SHOWN = ("You see no organisations that the policy lets you see; the policy may hide "
              "others who are involved from you.")
OTHERS_MAY_BE_HIDDEN = "The policy may hide others who are involved from you."


@dataclass
class CliContext:
    """The group's settings; tests may pass one as ``obj`` with an httpx ``transport``."""

    url: str | None = None
    key_id: str | None = None
    key_file: Path | None = None
    broker_public_key: str | None = None
    insecure: bool = False
    timeout: float = 10.0
    retries: int = 3
    transport: httpx.BaseTransport | None = None
    backoff: float = 0.5

    def signing_key(self) -> SigningKey:
        """The organisation's private key from the key file."""
        if self.key_file is None:
            fail("No key file: set BROKER_KEY_FILE or give --key-file.")
        try:
            return read_signing_key(self.key_file)
        except (OSError, ValueError) as exc:
            fail(f"Cannot use the key file: {exc}")

    def client(self, key: SigningKey) -> BrokerClient:
        """A client from the settings; refuses to start without URL and key id."""
        if not self.url:
            fail("No broker URL: set BROKER_URL or give --url.")
        if not self.key_id:
            fail("No key id: set BROKER_KEY_ID or give --key-id.")
        if self.broker_public_key is None and not self.insecure:
            fail("No broker public key: set BROKER_PUBLIC_KEY or give --broker-public-key "
                 "(the broker's keys/api/signing.pub), or --insecure for a test set-up.")
        if self.broker_public_key is None:
            click.echo("warning: --insecure: the broker's responses are not verified", err=True)
        try:
            return BrokerClient(self.url, self.key_id, key,
                                broker_public_key=self.broker_public_key, timeout=self.timeout,
                                retries=self.retries, backoff=self.backoff,
                                transport=self.transport,
                                insecure_skip_verification=self.insecure)
        except ValueError as exc:
            fail(str(exc))


def fail(message: str) -> NoReturn:
    """Stop with ``message`` on stderr and exit status 1."""
    raise click.ClickException(message)


@contextmanager
def client_errors() -> Iterator[None]:
    """Turn the client's errors into a one-line message and exit status 1."""
    try:
        yield
    except IdentifierError as exc:
        fail(f"{exc.kind}: {exc.message_en}")
    except (BrokerClientError, SyncError) as exc:
        fail(str(exc))


@click.group()
@click.option("--url", envvar="BROKER_URL", help="The broker's base URL [BROKER_URL].")
@click.option("--key-id", envvar="BROKER_KEY_ID", help="This organisation's key id "
              "[BROKER_KEY_ID].")
@click.option("--key-file", envvar="BROKER_KEY_FILE", type=click.Path(path_type=Path),
              help="The private key file from keygen [BROKER_KEY_FILE].")
@click.option("--broker-public-key", envvar="BROKER_PUBLIC_KEY",
              help="The broker's response-signing key, hex [BROKER_PUBLIC_KEY].")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds per attempt.")
@click.option("--retries", type=click.IntRange(0, 10), default=3, show_default=True,
              help="Extra attempts after a network error.")
@click.option("--insecure", is_flag=True,
              help="Accept unsigned responses when no broker public key is given (tests only).")
@click.pass_context
def main(ctx: click.Context, url: str | None, key_id: str | None, key_file: Path | None,
         broker_public_key: str | None, timeout: float, retries: int, insecure: bool) -> None:
    """Talk to the household involvement broker with this organisation's signed key."""
    settings = ctx.ensure_object(CliContext)
    settings.url, settings.key_id, settings.key_file = url, key_id, key_file
    settings.broker_public_key = broker_public_key or None
    settings.insecure = insecure
    settings.timeout, settings.retries = timeout, retries


@main.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the private key; the public key goes to OUT.pub.")
@click.option("--org", "org", default="<ORG-CODE>", help="The organisation code, for the hint.")
@click.pass_obj
def keygen(settings: CliContext, out: Path, org: str) -> None:
    """Create an Ed25519 key pair for signing this organisation's requests."""
    public_path = out.with_name(out.name + ".pub")
    for path in (out, public_path):
        if path.exists():
            fail(f"{path} exists; refusing to overwrite a key. Choose another --out.")
    key = SigningKey.generate()
    public_hex = key.verify_key.encode().hex()
    try:
        _write_new(out, key.encode().hex() + "\n", 0o600)
        _write_new(public_path, public_hex + "\n", 0o644)
    except OSError as exc:
        fail(f"Cannot write the key: {exc}")
    click.echo(f"private key: {out} (mode 0600; keep it secret)")
    click.echo(f"public key:  {public_hex}")
    click.echo("Ask the broker's operator to register it:")
    key_id = settings.key_id or "<KEY-ID>"
    click.echo(f"  broker org key add --org {org} --key-id {key_id} --public-key {public_hex}")


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create ``path`` with ``mode`` and write ``text``; fails if it exists (O_EXCL)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(text)
    os.chmod(path, mode)  # the umask may have removed bits of a public file's mode


@main.command()
@click.option("--bsn", multiple=True, help="A BSN of the household (repeatable).")
@click.option("--address", multiple=True, help='An address, "1234 AB 12 A" (repeatable).')
@click.option("--person", multiple=True,
              help='A person without BSN, "family name;initial;YYYY-MM-DD" (repeatable).')
@click.option("--purpose", required=True, help="The purpose code.")
@click.option("--basis", required=True, type=click.Choice(BASES), help="The legal basis.")
@click.option("--statute", help="The statute (basis legal_task).")
@click.option("--consent-reference", help="The consent record's reference (basis consent).")
@click.option("--justification", help="The written justification (basis vital_interest).")
@click.option("--professional", help="The username of the professional asking.")
@click.option("--register-as", help="Register this organisation's involvement first, with this "
              "contact professional (username).")
@click.option("--register-ends-on", type=click.DateTime(["%Y-%m-%d"]),
              help="End date of that registration (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="Print the broker's answer as JSON.")
@click.pass_obj
def lookup(settings: CliContext, bsn: Sequence[str], address: Sequence[str],
           person: Sequence[str], purpose: str, basis: str, statute: str | None,
           consent_reference: str | None, justification: str | None, professional: str | None,
           register_as: str | None, register_ends_on: datetime | None, as_json: bool) -> None:
    """Ask whether other organisations are involved with a household."""
    ends_on: date | None = None if register_ends_on is None else register_ends_on.date()
    if ends_on is not None and register_as is None:
        fail("--register-ends-on needs --register-as.")
    key = settings.signing_key()
    with client_errors(), settings.client(key) as client:
        result = client.lookup(
            purpose=purpose, basis=cast(Basis, basis),  # click.Choice checked it
            bsn=bsn, address=address, person=person, statute=statute,
            consent_reference=consent_reference, justification=justification,
            professional=professional, register_as=register_as, register_ends_on=ends_on,
        )
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    matches = result["matches"]
    click.echo(f"look-up {result['lookup_id']}: {len(matches)} match(es)")
    for match in matches:
        who = match.get("organisation") or match.get("org_type") or "an organisation"
        click.echo(f"  {who}: matched on {', '.join(match['matched_on'])}; contact "
                   f"{match['contact']}; match {match['match_id']}")
    # Never "no one is involved": the words are the same whether the policy withheld or not.
    click.echo(OTHERS_MAY_BE_HIDDEN if matches else NONE_SHOWN)
    if result.get("registration_required"):
        click.echo("The policy shows some kinds of organisation only to those registered on "
                   "this household themselves, with these identifiers: ask again with "
                   "--register-as.")
    if result.get("flagged_for_review"):
        click.echo("This look-up is flagged for review by the auditor.")


@main.command()
@click.argument("csv_path", metavar="CSV", type=click.Path(exists=True, dir_okay=False,
                                                           path_type=Path))
@click.option("--state", "state_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The state file [default: CSV.state.json].")
@click.option("--batch-size", type=click.IntRange(1, 1000), default=500, show_default=True,
              help="Rows per batch; the state is saved after each.")
@click.option("--rekey", is_flag=True,
              help="Accept a state file written under a previous signing key.")
@click.pass_obj
def sync(settings: CliContext, csv_path: Path, state_path: Path | None, batch_size: int,
         rekey: bool) -> None:
    """Register, renew and end involvements from a case system's CSV export.

    Columns: external_id, professional, purpose, ends_on, status, bsn, address, person
    (several values separated by |). Safe to rerun; resumes after an interruption.
    """
    key = settings.signing_key()
    fp_key = fingerprint_key(key)
    state_path = state_path or csv_path.with_name(csv_path.name + ".state.json")
    with client_errors():
        rows, failures = read_rows(csv_path)
        state = SyncState.load(state_path, key_check(fp_key), rekey=rekey)
        with settings.client(key) as client, click.progressbar(
            length=len(rows), label="sync", file=sys.stderr
        ) as bar:
            syncer = Syncer(client, state, fp_key, batch_size=batch_size,
                            report=lambda failure: click.echo(f"\n{failure}", err=True))
            try:
                summary = syncer.run(rows, failures, progress=bar.update)
            except BrokerClientError as exc:
                click.echo(f"\n{syncer.summary.line()}", err=True)
                fail(f"Sync stopped: {exc}. Completed batches are saved; run sync again to "
                     "resume.")
    click.echo(summary.line())
    click.echo(f"{summary.changes} changes; state in {state_path}")
    if summary.failed:
        sys.exit(1)
