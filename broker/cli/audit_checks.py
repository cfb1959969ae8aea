"""``broker audit verify`` and ``broker audit checkpoint``. Thin: parse, call, print.

- ``verify``: ask the configured witnesses for their copies of the newest checkpoint they
  co-signed (and read any given with ``--witness-checkpoint``), then check the live log against
  its hashes, subject rows, personal details, signed checkpoints, stored cosignatures and those
  copies (:mod:`broker.audit.verification`), reading it in one unit of work. Exit 1 naming the
  first problem; exit 2 when witnesses are configured but none could be asked and no copy was
  given.
- ``checkpoint``: sign a checkpoint of the log now and hand it to the witnesses (the background
  jobs of :mod:`broker.audit.checkpoints` and :mod:`broker.audit.witnessing`, on the core).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from broker.audit.checkpoints import sign_checkpoint
from broker.audit.notes import CosignerKey, NoteError
from broker.audit.verification import VerifyReport, verify_log
from broker.audit.witnessing import (
    Gathered,
    configured_witnesses,
    gather_copies,
    hand_to_witnesses,
    quorum,
)
from broker.cli.support import cli_errors, cli_root, translated, unit_of_work


@click.command("verify")
@click.option("--witness-checkpoint", "copy_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A witness's copy of the newest checkpoint it co-signed (a signed note); "
                   "repeatable.")
@click.option("--witness-key", "witness_keys", multiple=True,
              help="Trust this witness's verifier key for --witness-checkpoint too; repeatable.")
@click.option("--no-witness", is_flag=True,
              help="Do not ask the configured witnesses for their copies (then a log cut back "
                   "to an older checkpoint is not caught).")
def verify(copy_files: tuple[Path, ...], witness_keys: tuple[str, ...],
           no_witness: bool) -> None:
    """Check every event's hash, the chain, the subject rows, the personal details, every
    signed checkpoint and cosignature, and the log against the witnesses' copies.

    Exit status: 0 verified, 1 a problem (named), 2 no witness's copy could be had."""
    started = time.perf_counter()
    reported = [0]

    def progress(count: int) -> None:
        if count // 1_000_000 > reported[0]:  # once per million events
            reported[0] = count // 1_000_000
            click.echo(translated("%(count)s events checked", count=format(count, ',')), err=True)

    with cli_errors():
        core = cli_root().core
        key, settings = core.audit_key(), core.settings
        witnesses, needed = configured_witnesses(settings), quorum(settings)
        try:
            extra = [CosignerKey.from_verifier(text) for text in witness_keys]
            files = [(str(path), path.read_text(encoding="utf-8")) for path in copy_files]
            # The witnesses' copies first: an honest log is never smaller than a copy read
            # before it.
            gathered = gather_copies(settings, key, files, extra, ask=not no_witness)
        except (NoteError, UnicodeDecodeError) as error:
            click.echo(translated("NOT VERIFIED: %(error)s", error=error))
            sys.exit(1)
    with unit_of_work() as uow:
        report = verify_log(uow.connection, key, progress, witnesses=[w.key for w in witnesses],
                            quorum=needed, copies=gathered.copies)
    for warning in _witness_warnings(report, gathered, needed, bool(witnesses), no_witness):
        click.echo(translated("warning: %(warning)s", warning=warning), err=True)
    if not report.ok:
        click.echo(translated("NOT VERIFIED: %(problem)s", problem=report.problem))
        sys.exit(1)
    copies = "; ".join(translated("%(cosigners)s at size %(size)s",
                                  cosigners=", ".join(c.cosigners), size=format(c.size, ","))
                       for c in gathered.copies)
    click.echo(translated("verified: %(events)s events, %(checkpoints)s signed checkpoints, "
                          "%(cosignatures)s cosignatures; witnesses' copies: %(copies)s; in "
                          "%(time)s s",
                          events=format(report.events, ','), checkpoints=report.checkpoints,
                          cosignatures=report.cosignatures, copies=copies or translated("none"),
                          time=format(time.perf_counter() - started, '.1f')))
    if gathered.asked and not gathered.answered and not files:
        click.echo(translated("NOT CHECKED against a witness: no witness could be asked for "
                              "its copy, so a log cut back to an older checkpoint would not "
                              "show; try again, or pass --witness-checkpoint"))
        sys.exit(2)


def _witness_warnings(report: VerifyReport, gathered: Gathered, needed: int, configured: bool,
                      skipped: bool) -> list[str]:
    warnings = list(gathered.warnings)
    if not configured and not gathered.copies:
        warnings.append("no witness is configured (BROKER_WITNESS_URLS): someone who can write "
                        "to the database could cut the log back unnoticed")
    elif skipped:
        warnings.append("the witnesses were not asked (--no-witness): a log cut back to an "
                        "older checkpoint would not show")
    if configured and report.awaiting_cosignatures:
        reach = (f"size {report.witnessed_size:,}" if report.witnessed_size is not None
                 else "no checkpoint yet")
        warnings.append(f"the newest checkpoint (size {report.newest_checkpoint:,}) lacks the "
                        f"cosignatures of {needed} witness(es); co-signed so far: {reach}")
    return warnings


@click.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the log now (also when it did not grow) and hand it to the
    witnesses."""
    with cli_errors():
        core = cli_root().core
        signed = sign_checkpoint(core, force=True)
        handed = hand_to_witnesses(core)
    click.echo(signed.note, nl=False)
    for outcome in handed:
        detail = f" ({outcome.detail})" if outcome.detail else ""
        click.echo(translated("witness %(witness)s: %(status)s%(detail)s", witness=outcome.witness,
                              status=outcome.status, detail=detail), err=True)
