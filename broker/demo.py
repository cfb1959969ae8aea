"""A realistic synthetic population for demos, benchmarks and tests.

Deterministic from a seed: :func:`population` gives the same households every time, so a test can
regenerate the raw identifiers and prove none of them reached the database, a log or ``keys/``.
Every identifier is made up (BSNs pass the 11-test but are drawn at random); the households in
:data:`SHOWCASE` are documented in the README for trying the broker out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

from broker_primitives.identifiers import Identifier, parse_household

from broker.audit.services import Actor
from broker.catalogue import gettext
from broker.core import Core, UnitOfWork
from broker.registry.models import ACCESS_AUDITOR, ACCESS_PRIVACY_OFFICER, ACCESS_PROFESSIONAL
from broker.registry.services import RegistryService
from broker.signin.keys import SignInKey
from broker.signin.second_factor import SecondFactorService, requires_second_factor

DEMO_PASSWORD = "demo-wachtwoord"  # noqa: S105 - synthetic demo accounts only, printed on purpose

ORGANISATIONS: list[tuple[str, str, str]] = [
    ("wijkteam-noord", "Wijkteam Noord", "wijkteam"),
    ("veilig-thuis-regio", "Veilig Thuis Regio Midden", "veilig_thuis"),
    ("politie-basisteam", "Politie Basisteam Centrum", "politie"),
    ("raad-kinderbescherming", "Raad voor de Kinderbescherming Midden", "raad_kinderbescherming"),
    ("jeugdbescherming-regio", "Jeugdbescherming Regio Midden", "gecertificeerde_instelling"),
    ("jeugdhulp-de-brug", "Jeugdhulp De Brug", "jeugdhulp"),
    ("ggz-centraal", "GGZ Centraal", "ggz"),
    ("huisartsen-oost", "Huisartsenpraktijk Oost", "huisarts"),
    ("basisschool-de-linde", "Basisschool De Linde", "school"),
    ("vrouwenopvang-het-anker", "Vrouwenopvang Het Anker", "vrouwenopvang"),
    ("reclassering-midden", "Reclassering Midden", "reclassering"),
    ("verslavingszorg-midden", "Verslavingszorg Midden", "verslavingszorg"),
]
ROLES = {
    "wijkteam": "maatschappelijk werker", "veilig_thuis": "aandachtsfunctionaris",
    "politie": "wijkagent", "raad_kinderbescherming": "raadsonderzoeker",
    "gecertificeerde_instelling": "jeugdbeschermer", "jeugdhulp": "jeugdhulpverlener",
    "ggz": "psychiater", "huisarts": "huisarts", "school": "intern begeleider",
    "vrouwenopvang": "begeleider", "reclassering": "reclasseringswerker",
    "verslavingszorg": "verslavingsarts",
}
PURPOSES = ("safety_assessment", "care_coordination", "protection")
# A privacy officer and an auditor, for their web pages (issue 14): (user name, access role,
# name, role), in the first organisation; they always sign in with a second factor.
STAFF = (("demo-privacy-officer", ACCESS_PRIVACY_OFFICER, "Marloes Verhoef",
          "functionaris gegevensbescherming"),
         ("demo-auditor", ACCESS_AUDITOR, "Koen Hofman", "auditor"))
# Households' and staff's family names are drawn from different lists, so a test can tell a
# household's name (never stored) from a professional's (stored on purpose).
FAMILY_NAMES = [
    "van den Berg", "Bakker", "Janssen", "Visser", "Meijer", "de Boer", "Mulder", "de Groot",
    "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "Dijkstra", "de Graaf",
    "van der Meer", "El Amrani", "Yilmaz", "Bouzid", "Nguyen", "Pinas", "Martina", "Kowalski",
    "Öztürk",
]
STAFF_FAMILY_NAMES = ["de Jong", "Jansen", "de Vries", "van Dijk", "Smit", "Bos", "de Wit",
                      "Smits", "Vos", "Kaya"]
GIVEN_NAMES = ["Anna", "Bram", "Chantal", "Daan", "Emma", "Fatima", "Gijs", "Hanna", "Ilse",
               "Jesse", "Kim", "Lotte", "Mohammed", "Noor", "Olga", "Pieter", "Sanne", "Tim"]
FIRST_NAMES_STAFF = ["Marieke", "Ahmed", "Joost", "Els", "Sven", "Aylin", "Ruud", "Petra"]


@dataclass(frozen=True)
class Household:
    """One synthetic household: raw identifiers, in memory only."""

    bsns: list[str]
    people_without_bsn: list[str]
    address: str

    def identifiers(self) -> list[Identifier]:
        """Every identifier of the household, parsed."""
        return parse_household(
            bsn=self.bsns, person=self.people_without_bsn, address=[self.address]
        )


# Documented in the README so a newcomer can try a look-up on the demo data straight away.
SHOWCASE = [
    Household(bsns=["111222333", "123456782"], people_without_bsn=[], address="1011 AB 12 A"),
    Household(bsns=["999999990"], people_without_bsn=["van der Horst;J;2015-02-03"],
              address="3512 JE 7"),
]


def _bsn(rng: random.Random) -> str:
    while True:
        digits = [rng.randrange(10) for _ in range(8)]
        total = sum(weight * d for weight, d in zip(range(9, 1, -1), digits, strict=True))
        check = total % 11
        if check < 10 and any(digits):
            return "".join(map(str, digits)) + str(check)


def _postcode(rng: random.Random) -> str:
    letters = "ABCEGHJKLMNPRTVWXZ"  # avoids SA, SD and SS, which do not exist
    return f"{rng.randrange(1000, 10000)} {rng.choice(letters)}{rng.choice(letters)}"


def population(households: int, seed: int) -> list[Household]:
    """``households`` synthetic households (the showcase ones first), the same for a seed."""
    rng = random.Random(seed)
    result = list(SHOWCASE[:households])
    while len(result) < households:
        bsns = [_bsn(rng) for _ in range(rng.randint(1, 4))]
        without = []
        if rng.random() < 0.15:
            born = date(rng.randint(1950, 2020), rng.randint(1, 12), rng.randint(1, 28))
            without.append(f"{rng.choice(FAMILY_NAMES)};{rng.choice(GIVEN_NAMES)[0]};"
                           f"{born.isoformat()}")
        address = f"{_postcode(rng)} {rng.randint(1, 300)}"
        if rng.random() < 0.2:
            address += f" {rng.choice(['A', 'B', 'bis', '2'])}"
        result.append(Household(bsns, without, address))
    return result


@dataclass
class DemoSummary:
    """What the demo loaded, and the accounts to sign in with."""

    organisations: int = 0
    professionals: list[str] = field(default_factory=list)
    staff: list[str] = field(default_factory=list)  # the privacy officer and the auditor
    households: int = 0
    involvements: int = 0
    # Accounts the policy gives a second factor: user name -> TOTP key (base32), shown once.
    second_factor_keys: dict[str, str] = field(default_factory=dict)

    def describe(self, lang: str = "en") -> str:
        """A few lines for the terminal, in ``lang`` (from the catalogue)."""
        lines = [
            gettext(lang, "demo: %(organisations)s organisations, %(professionals)s "
                    "professionals, %(households)s households, %(involvements)s involvements",
                    organisations=self.organisations, professionals=len(self.professionals),
                    households=self.households, involvements=self.involvements),
            gettext(lang, "demo accounts (password %(password)s): %(accounts)s",
                    password=repr(DEMO_PASSWORD), accounts=", ".join(self.professionals)),
        ]
        if self.staff:
            lines.append(gettext(lang, "privacy officer and auditor (same password): %(staff)s",
                                 staff=", ".join(self.staff)))
        if self.second_factor_keys:
            lines.append(gettext(lang, "these demo accounts sign in with a second factor (the "
                                 "policy's sign_in: second_factor); their TOTP keys, shown only "
                                 "now:"))
            lines.extend(f"  {user:<28} {key}" for user, key in self.second_factor_keys.items())
            lines.append(gettext(lang, "add a key to an authenticator app, or print its current "
                                 "code with: echo KEY | .venv/bin/python -m broker.signin.totp"))
        return "\n".join(lines)


# The showcase households' involvements are fixed: (organisation code, identifier indices).
SHOWCASE_INVOLVEMENTS = [
    [("veilig-thuis-regio", [0, 2]), ("basisschool-de-linde", [1, 2]), ("wijkteam-noord", [2])],
    [("politie-basisteam", [0, 2]), ("ggz-centraal", [0]), ("huisartsen-oost", [1])],
]
_ORG_INDEX = {identifier: i for i, (identifier, _, _) in enumerate(ORGANISATIONS)}


def _involvements(rng: random.Random, number: int, household: Household
                  ) -> Iterator[tuple[int, list[int]]]:
    """(organisation index, indices into the household's identifiers) per involvement."""
    if number < len(SHOWCASE_INVOLVEMENTS):
        for identifier, chosen in SHOWCASE_INVOLVEMENTS[number]:
            yield _ORG_INDEX[identifier], chosen
        return
    count = len(household.bsns) + len(household.people_without_bsn) + 1
    for org_index in rng.sample(range(len(ORGANISATIONS)), rng.randint(1, 4)):
        chosen = sorted(rng.sample(range(count), rng.randint(1, count)))
        yield org_index, chosen


def load_demo(
    core: Core,
    *,
    households: int = 300,
    seed: int = 2026,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Create the demo organisations and professionals (enrolling a second factor for those
    the policy requires one of), then register the population, in one unit of work (a job of
    its own: the demo is loaded whole or not at all)."""
    with core.unit_of_work() as uow:
        return _load(uow, households, seed, progress)


def _load(uow: UnitOfWork, households: int, seed: int,
          progress: Callable[[str], None] | None) -> DemoSummary:
    core = uow.core
    registry = RegistryService(uow)
    operator = Actor.operator("demo")
    summary = DemoSummary()
    second_factor = SecondFactorService(uow, SignInKey.load(core.settings.keys_dir))
    existing = {o.identifier for o in registry.list_organisations()}
    for index, (identifier, name, org_type) in enumerate(ORGANISATIONS):
        if identifier not in existing:
            registry.create_organisation(operator, identifier=identifier, name=name,
                                         org_type=org_type)
            for n in (1, 2):
                staff = FIRST_NAMES_STAFF[(index + n) % len(FIRST_NAMES_STAFF)]
                registry.add_professional(
                    operator, organisation=identifier, username=f"{identifier}-{n}",
                    name=f"{staff} {STAFF_FAMILY_NAMES[(index * 3 + n) % 10]}",
                    role=ROLES[org_type], phone=f"+31 20 555 {index:02d}{n:02d}",
                    email=f"{identifier}-{n}@example.org", password=DEMO_PASSWORD,
                )
                if requires_second_factor(uow.policy(), org_type, ACCESS_PROFESSIONAL):
                    summary.second_factor_keys[f"{identifier}-{n}"] = (
                        second_factor.enrol_directly(operator, f"{identifier}-{n}"))
        summary.organisations += 1
        summary.professionals.extend(f"{identifier}-{n}" for n in (1, 2))
    first_organisation = ORGANISATIONS[0][0]
    if first_organisation not in existing:
        for username, access_role, name, role in STAFF:
            registry.add_professional(operator, organisation=first_organisation,
                                      username=username, name=name, role=role,
                                      password=DEMO_PASSWORD, access_role=access_role)
            summary.second_factor_keys[username] = second_factor.enrol_directly(operator,
                                                                                username)
            summary.staff.append(username)
    rng = random.Random(seed + 1)
    people = population(households, seed)
    for number, household in enumerate(people):
        identifiers = household.identifiers()
        for org_index, chosen in _involvements(rng, number, household):
            identifier, _, _ = ORGANISATIONS[org_index]
            org_info = registry.get_organisation(identifier)
            username = f"{identifier}-{rng.randint(1, 2)}"
            actor = Actor(actor=f"professional:{username}", channel="cli",
                          organisation_id=org_info.id)
            registry.register_involvement(
                actor, organisation=identifier, professional=username,
                # The operator loads the demo: its evaluations are charged to no organisation.
                pseudonyms=uow.pseudonymise(Actor.operator("demo"),
                                            [identifiers[i] for i in chosen]),
                purpose=rng.choice(PURPOSES),
            )
            summary.involvements += 1
        if progress is not None and (number + 1) % 100 == 0:
            progress(f"  {number + 1}/{len(people)} households registered")
    summary.households = len(people)
    return summary
