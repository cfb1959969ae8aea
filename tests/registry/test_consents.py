"""Consent is a record about a household: look-ups on the ``consent`` basis under the shipped
policy, and the attacks of issue 10 item 3 (each refused or withheld, and audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from broker_primitives.blinding import Pseudonym
from sqlalchemy import select

from broker.audit.models import AuditEvent, AuditSubject
from broker.audit.services import Actor
from broker.contact.consents import ConsentService
from broker.core import Core
from broker.errors import ValidationError
from broker.registry.lookups import Evidence, LookupService
from broker.registry.results import LookupResult
from broker.registry.services import RegistryService
from tests.conftest import SHIPPED_POLICY, FakeClock
from tests.factories import ADDRESS, MOTHER_BSN, Member, household, register
from tests.uow import committed

OTHER_BSN = "999999990"
OTHER_ADDRESS = "3512 JE 7"
SHELTER = "Blijf van m'n Lijf"


@pytest.fixture
def policy_path() -> Path:
    """The shipped policy: with consent, care providers see each other by name."""
    return SHIPPED_POLICY


def _member(registry: RegistryService, code: str, name: str, org_type: str) -> Member:
    org = registry.create_organisation(Actor.operator("test"), identifier=code, name=name,
                                       org_type=org_type)
    registry.add_professional(Actor.operator("test"), organisation=code, username=f"{code}-1",
                              name=f"Contact {name}", role="contactpersoon")
    return Member(code, f"{code}-1", Actor(actor=f"professional:{code}-1", channel="web",
                                           organisation_id=org.id, role="contactpersoon"))


@dataclass
class Chain:
    """A neighbourhood team, a shelter and mental health care on household A (the mother and
    her address), and the shelter and mental health care on household B too."""

    core: Core
    wijkteam: Member
    shelter: Member
    ggz: Member
    a: list[Pseudonym]
    b: list[Pseudonym]

    def consent(self, member: Member | None = None, keys: list[Pseudonym] | None = None,
                **scope: object) -> str:
        """A consent given to ``member`` (the neighbourhood team) about ``keys`` (household
        A); ``scope`` overrides purposes, holder types and dates."""
        member = member or self.wijkteam
        today = self.core.today()
        values: dict[str, object] = {
            "given_by": "person", "given_on": today, "valid_until": today + timedelta(days=90),
            "purposes": ["care_coordination"], **scope}
        return committed(self.core, ConsentService).record(
            member.actor, professional=member.username,
            pseudonyms=keys if keys is not None else self.a, **values).id  # type: ignore[arg-type]

    def look_up(self, reference: str | None, keys: list[Pseudonym] | None = None
                ) -> LookupResult:
        """The neighbourhood team's look-up on the consent basis."""
        return committed(self.core, LookupService).lookup(
            self.wijkteam.actor, pseudonyms=keys if keys is not None else self.a,
            purpose="care_coordination", basis="consent",
            evidence=Evidence(consent_reference=reference))

    def events(self, event_type: str) -> list[AuditEvent]:
        """The audit events of one type, oldest first."""
        with self.core.session() as session:
            rows = list(session.scalars(select(AuditEvent).filter_by(event_type=event_type)
                                        .order_by(AuditEvent.seq)))
            session.expunge_all()
        return rows


@pytest.fixture
def chain(core: Core, registry: RegistryService) -> Chain:
    """Household A: the mother's BSN and address; household B: another BSN and address."""
    wijkteam = _member(registry, "wijkteam", "Wijkteam Noord", "wijkteam")
    shelter = _member(registry, "opvang", SHELTER, "vrouwenopvang")
    ggz = _member(registry, "ggz", "GGZ Midden", "ggz")
    a = household(core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    b = household(core, bsn=(OTHER_BSN,), address=(OTHER_ADDRESS,))
    for member in (wijkteam, shelter, ggz):
        register(registry, member, a)
    for member in (wijkteam, shelter, ggz):
        register(registry, member, b)
    return Chain(core, wijkteam, shelter, ggz, a, b)


def _names(result: LookupResult) -> list[str | None]:
    return sorted(m.organisation for m in result.matches)


def test_a_consent_record_of_the_household_discloses_what_the_rule_allows(chain: Chain) -> None:
    consent_id = chain.consent()
    result = chain.look_up(consent_id)
    assert _names(result) == ["Blijf van m'n Lijf", "GGZ Midden"]
    (event,) = chain.events("lookup:performed")
    assert event.consent_reference == consent_id and event.outcome == "success"


def _refused(chain: Chain, reference: str | None, keys: list[Pseudonym] | None = None,
             words: str = "consent") -> AuditEvent:
    before = len(chain.events("lookup:refused")), len(chain.events("lookup:performed"))
    with pytest.raises(ValidationError, match=words) as caught:
        chain.look_up(reference, keys)
    assert SHELTER not in str(caught.value)
    refused = chain.events("lookup:refused")
    assert (len(refused), len(chain.events("lookup:performed"))) == (before[0] + 1, before[1])
    return refused[-1]


def test_a_made_up_consent_reference_is_refused_and_audited(chain: Chain) -> None:
    # The attack: any text was taken as consent and disclosed the shelter by name.
    event = _refused(chain, "zomaar-iets")
    assert event.outcome == "refused" and event.reason and "consent" in event.reason
    # Free text never reaches the hashed audit content: the reference is not an id.
    assert event.consent_reference is None
    assert "zomaar-iets" not in str(event.details)
    # A well-formed id that names no record is refused the same way, and recorded.
    made_up = "0b9c1b7e-2f7a-4f59-9d7e-2d1c3a4b5c6d"
    assert (_refused(chain, made_up).consent_reference, _refused(chain, made_up).reason) == (
        made_up, "consent-unknown")


def test_a_bsn_typed_as_consent_reference_stays_out_of_the_log(chain: Chain) -> None:
    event = _refused(chain, "123456782")
    assert event.consent_reference is None and "123456782" not in str(event.details)


def test_a_consent_of_household_a_does_not_cover_household_b(chain: Chain) -> None:
    consent_id = chain.consent()
    event = _refused(chain, consent_id, chain.b, words="household")
    assert (event.consent_reference, event.reason) == (consent_id, "consent-other-household")
    # One shared key is enough: household A's address with another BSN.
    mixed = household(chain.core, bsn=(OTHER_BSN,), address=(ADDRESS,))
    assert set(_names(chain.look_up(consent_id, mixed))) == {SHELTER, "GGZ Midden"}


def test_matches_outside_the_consents_holder_types_are_withheld(chain: Chain) -> None:
    # Consent to reach mental health care only: the shelter stays hidden.
    consent_id = chain.consent(holder_types=["ggz"])
    result = chain.look_up(consent_id)
    assert _names(result) == ["GGZ Midden"]
    (event,) = chain.events("lookup:performed")
    assert event.details["withheld_by_consent"] == 1
    assert event.details["match_count"] == 1


def test_another_organisations_consent_is_refused(chain: Chain) -> None:
    theirs = chain.consent(member=chain.ggz)
    event = _refused(chain, theirs, words="your organisation")
    assert (event.consent_reference, event.reason) == (theirs, "consent-unknown")


def test_a_consent_for_another_purpose_is_refused(chain: Chain) -> None:
    consent_id = chain.consent(purposes=["safety_assessment"])
    assert _refused(chain, consent_id, words="purpose").reason == "consent-purpose"


def test_a_withdrawn_consent_is_refused(chain: Chain) -> None:
    consent_id = chain.consent()
    committed(chain.core, ConsentService).withdraw(chain.wijkteam.actor, consent_id,
                                        professional=chain.wijkteam.username)
    assert _refused(chain, consent_id, words="withdrawn").reason == "consent-not-in-force"


def test_an_expired_consent_is_refused(chain: Chain, clock: FakeClock) -> None:
    consent_id = chain.consent(valid_until=chain.core.today() + timedelta(days=1))
    assert chain.look_up(consent_id).matches
    clock.now += timedelta(days=2)
    assert _refused(chain, consent_id, words="no longer").reason == "consent-not-in-force"


def test_a_refused_consent_registers_nothing(chain: Chain, registry: RegistryService) -> None:
    from broker.registry.services import NewInvolvement  # noqa: PLC0415

    newcomer = _member(registry, "huisarts", "Huisarts Zuid", "huisarts")
    consent_id = chain.consent()  # the neighbourhood team's, not the GP's
    with pytest.raises(ValidationError):
        committed(chain.core, LookupService).lookup(
            newcomer.actor, pseudonyms=chain.a, purpose="care_coordination", basis="consent",
            evidence=Evidence(consent_reference=consent_id),
            register=NewInvolvement(newcomer.username, chain.a, "care_coordination"))
    registered = chain.events("involvement:registered")
    assert newcomer.actor.organisation_id not in {e.organisation_id for e in registered}


def test_a_consent_record_is_audited_with_its_household_and_no_identifier(chain: Chain) -> None:
    consent_id = chain.consent()
    (event,) = chain.events("consent:recorded")
    assert event.consent_reference == consent_id
    with chain.core.session() as session:
        subjects = list(session.scalars(select(AuditSubject.category)
                                        .where(AuditSubject.event_id == event.id)))
    assert sorted(subjects) == ["address", "person"]
    assert MOTHER_BSN not in str(event.details) and "1011" not in str(event.details)


def test_consent_needs_the_households_identifiers(chain: Chain) -> None:
    with pytest.raises(ValidationError, match="household"):
        chain.consent(keys=[])


def test_key_rotation_re_keys_consent_records(chain: Chain) -> None:
    from broker.registry.rotation import run_rotation, start_or_resume  # noqa: PLC0415

    consent_id = chain.consent()
    for which in ("oprf", "broker"):
        rotation, _ = start_or_resume(chain.core, Actor.system("test"), which, grace=0)
        run_rotation(chain.core, Actor.system("test"), rotation)
        keys = household(chain.core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
        assert _names(chain.look_up(consent_id, keys)) == ["Blijf van m'n Lijf", "GGZ Midden"]
    from broker.registry.models import ConsentKey  # noqa: PLC0415

    with chain.core.session() as session:
        epochs = set(session.execute(select(ConsentKey.oprf_epoch, ConsentKey.broker_epoch)))
    assert epochs == {(2, 2)}


def test_a_consent_is_found_halfway_through_a_rotation(chain: Chain) -> None:
    from broker.registry.rotation import run_rotation, start_or_resume  # noqa: PLC0415

    consent_id = chain.consent()
    rotation, _ = start_or_resume(chain.core, Actor.system("test"), "broker", grace=0)
    run_rotation(chain.core, Actor.system("test"), rotation, batch_size=1, max_batches=1)
    keys = household(chain.core, bsn=(MOTHER_BSN,), address=(ADDRESS,))
    assert _names(chain.look_up(consent_id, keys)) == ["Blijf van m'n Lijf", "GGZ Midden"]


def test_given_on_and_valid_until_bound_the_consent(chain: Chain) -> None:
    today = chain.core.today()
    with pytest.raises(ValidationError, match="future"):
        chain.consent(given_on=today + timedelta(days=1))
    with pytest.raises(ValidationError, match="valid until"):
        chain.consent(valid_until=date(2000, 1, 1))


def test_the_command_line_attack_with_a_made_up_reference_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import broker_cli  # noqa: PLC0415

    run = broker_cli(monkeypatch, tmp_path, SHIPPED_POLICY)
    assert run("init").exit_code == 0
    for code, name, org_type in (("wijkteam", "Wijkteam", "wijkteam"),
                                 ("opvang", SHELTER, "vrouwenopvang")):
        assert run("org", "add", "--identifier", code, "--name", name, "--type",
                   org_type).exit_code == 0
        assert run("professional", "add", "--org", code, "--username", f"{code}-1", "--name",
                   "P", "--role", "r").exit_code == 0
        assert run("register", "--org", code, "--professional", f"{code}-1", "--purpose",
                   "care_coordination", "--bsn", MOTHER_BSN).exit_code == 0
    asked = ("lookup", "--org", "wijkteam", "--professional", "wijkteam-1", "--purpose",
             "care_coordination", "--basis", "consent", "--bsn", MOTHER_BSN)
    refused = run(*asked, "--consent-reference", "zomaar-iets")
    assert refused.exit_code == 1 and SHELTER not in refused.output
    assert "id of a consent record" in refused.output
    added = run("consent", "add", "--org", "wijkteam", "--professional", "wijkteam-1",
                "--bsn", MOTHER_BSN, "--given-by", "person", "--given-on", "2026-01-01",
                "--valid-until", "2099-01-01", "--purpose", "care_coordination",
                "--holder-type", "vrouwenopvang")
    assert added.exit_code == 0, added.output
    consent_id = added.output.split()[1].rstrip(":")
    found = run(*asked, "--consent-reference", consent_id)
    assert found.exit_code == 0 and SHELTER in found.output
    assert MOTHER_BSN not in added.output + found.output
