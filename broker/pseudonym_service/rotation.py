"""Rotating ``k`` at the pseudonym service, step by step, for the broker (issue 15).

The broker holds ``b`` and only the public half of ``k``, so it cannot make the next ``k``, nor
the factor ``k_new·k_old⁻¹`` that re-keys its stored matching keys in place (DESIGN: ``T ←
(k_new·k_old⁻¹)·T``). ``broker keys rotate --which oprf`` asks the service for both, in two
signed steps, and the service guarantees:

- Only the broker's key (``acts_for: any``) may take a step; an organisation's key is refused
  (403), changes nothing, and its attempt is kept in ``key_events`` (``refused``).
- **Next** (``from_epoch``): while ``k`` is at ``from_epoch``, the next key is prepared once (it
  is not used to evaluate yet) and the answer is its public half and the factor; once the next
  epoch is current (an earlier attempt got that far) the same answer is given from the keys in
  use. Any other ``from_epoch`` is a conflict (409) naming the current epoch. ``k`` itself
  never leaves.
- **Activate** (``epoch``): the prepared key becomes current (an atomic rename; its public half
  is written beside it), so evaluations are made under it from then on. The broker asks only
  after it has pinned the new epoch, so no answer is ever made under a key the broker cannot
  verify. Asking again is harmless.
- A step that changes a key file is first recorded in the service's ``key_events`` (when,
  which client key, which step, the epochs); every step may be repeated after a crash and
  gives the same keys.
"""

from __future__ import annotations

from broker_primitives import dleq, oprf

from broker.errors import Conflict, Forbidden
from broker.pseudonym_service import store
from broker.pseudonym_service.service import Client, EvaluationService
from broker.pseudonyms.interfaces import NextEpoch


def _broker_only(service: EvaluationService, client: Client, from_epoch: int) -> None:
    if client.requester is not None:
        with service.engine.begin() as connection:
            store.record_key_event(connection, at=service.clock(), client_key=client.key_id,
                                   action="refused", from_epoch=from_epoch,
                                   to_epoch=from_epoch + 1)
        raise Forbidden("Only the broker's key may rotate the pseudonym service's key.")


def _conflict(current: int, asked: int) -> Conflict:
    return Conflict(
        "The pseudonym service's key is at epoch %(current)s, not %(asked)s.",
        current=current, asked=asked)


def next_epoch(service: EvaluationService, client: Client, from_epoch: int) -> NextEpoch:
    """The next epoch after ``from_epoch``: prepared when needed (see the module's rules)."""
    _broker_only(service, client, from_epoch)
    keys = service.keystore
    current, to_epoch = keys.current_epoch("oprf"), from_epoch + 1
    if current not in (from_epoch, to_epoch):
        raise _conflict(current, from_epoch)
    if current == from_epoch and not keys.prepared("oprf", to_epoch):
        with service.engine.begin() as connection:
            store.record_key_event(connection, at=service.clock(), client_key=client.key_id,
                                   action="prepared", from_epoch=from_epoch, to_epoch=to_epoch)
    new = keys.prepare("oprf", to_epoch)
    factor = oprf.rotation_factor(keys.load("oprf", from_epoch), new)
    return NextEpoch(from_epoch, to_epoch, dleq.public_key(new), factor)


def activate(service: EvaluationService, client: Client, epoch: int) -> int:
    """Make the prepared key of ``epoch`` current; the current epoch afterwards."""
    _broker_only(service, client, epoch - 1)
    keys = service.keystore
    current = keys.current_epoch("oprf")
    if current == epoch:
        return epoch
    if epoch != current + 1 or not keys.prepared("oprf", epoch):
        raise _conflict(current, epoch - 1)
    with service.engine.begin() as connection:
        store.record_key_event(connection, at=service.clock(), client_key=client.key_id,
                               action="activated", from_epoch=current, to_epoch=epoch)
    keys.activate("oprf", epoch)
    public = keys.keys_dir / "oprf" / f"{epoch:04d}.pub"
    public.write_text(dleq.public_key(keys.load("oprf", epoch)).hex() + "\n")
    return epoch
