"""Validate and normalise the raw identifiers a professional knows about a household.

An identifier is turned into one tagged canonical string, ``kind|...``, which is the input of the
OPRF (see ``broker.pseudonyms``). Two spellings of the same identifier must give the same string,
so that they give the same matching key; anything that is not clearly an identifier is refused.

Rules this module guarantees:

1. No raw value leaves this module in text. Error messages are fixed texts per error code (they may
   show a made-up example, never the input); errors are raised outside ``except`` blocks, so no
   chained exception carries the input either; ``repr`` and ``str`` of an :class:`Identifier` show
   only its kind. Only :attr:`Identifier.canonical` and :attr:`Identifier.tagged_bytes` hold the
   value. Inputs longer than 256 characters are refused before any other work.
2. Every refusal is an :class:`IdentifierError` whose ``code`` starts with its ``kind`` and a dot,
   and which says in Dutch and in English what is wrong and how to fix it.
3. BSN (``bsn|d1…d9``): spaces and dots are dropped; the rest must be ASCII digits; 8 digits get a
   leading zero; exactly 9 digits; not all zeros; 9·d1 + 8·d2 + … + 2·d8 − 1·d9 ≡ 0 (mod 11).
4. Address (``address|PPPPLL|N|T``): postcode of 4 ASCII digits from 1000 to 9999 and 2 letters,
   upper-cased, any spacing, letter pairs SA, SD and SS refused (PostNL does not issue them);
   house number 1–99999 without leading zeros; addition (huisletter plus toevoeging) of at most 4
   ASCII letters or digits, upper-cased, with spaces, ``-`` and ``/`` removed, empty when absent.
5. Person (``person|core|prefix|i|YYYY-MM-DD``) for someone without a known BSN:

   * Letters are folded: case-folded, NFKD-decomposed, combining marks dropped, and æ→ae, ø→o,
     ł→l, đ/ð→d, œ→oe, þ→th, ı→i (ß→ss and ĳ→ij follow from case-folding and NFKD). After folding
     only the letters a–z remain; digits and other signs are refused, as are non-Latin scripts.
   * In the family name every apostrophe and hyphen becomes a space, then whitespace is collapsed.
     Apostrophes become spaces rather than disappearing because the BRP records ``d'`` and ``'t``
     as name prefixes: "d'Ancona", "D Ancona" and "Ancona, d'" must agree, and "'t Hart" must
     agree with "Hart, 't".
   * The name prefix (tussenvoegsel, from the table below, after the BRP voorvoegseltabel) is
     taken, in this order, from after a single comma ("Vries, van der"), else from the start
     ("van der Vries"), else from the end ("VRIES VAN DER", as in sorted registers); the longest
     matching prefix wins and at least one word must remain as the core. So "Vries, van der",
     "van der Vries", "Van Der  Vries" and "VRIES VAN DER" all give ``vries|van der``. Text after a
     comma that is not a known prefix is refused.
   * The initial is the first letter of the given name after folding ("J.", "Jan", "j" → ``j``).
   * The date of birth is written YYYY-MM-DD, is a real date, not before 1900-01-01 and not after
     today.
"""

from __future__ import annotations

import calendar
import datetime
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

IdentifierKind = Literal["bsn", "address", "person"]
ErrorKind = Literal["bsn", "address", "person", "kind"]
Category = Literal["person", "address"]

# Long enough for any real family name, short enough that no input costs real work.
MAX_INPUT_LENGTH = 256

_MESSAGES: dict[str, tuple[str, str]] = {
    # code: (Dutch, English)
    "bsn.empty": ("Vul een BSN in (9 cijfers).", "Enter a BSN (9 digits)."),
    "bsn.too_long": (
        "De invoer is te lang voor een BSN; een BSN heeft 9 cijfers.",
        "The input is too long for a BSN; a BSN has 9 digits.",
    ),
    "bsn.characters": (
        "Een BSN bestaat alleen uit cijfers (spaties en punten mogen); "
        "verwijder letters en andere tekens.",
        "A BSN contains only digits (spaces and dots are allowed); "
        "remove letters and other characters.",
    ),
    "bsn.length": (
        "Een BSN heeft 9 cijfers (bij 8 cijfers wordt er een 0 voor gezet); "
        "controleer of er een cijfer ontbreekt of te veel is.",
        "A BSN has 9 digits (with 8 digits a leading 0 is added); "
        "check for a missing or an extra digit.",
    ),
    "bsn.zero": (
        "Een BSN van alleen nullen bestaat niet; vul het BSN van de persoon in.",
        "A BSN of only zeros does not exist; enter the person's BSN.",
    ),
    "bsn.checksum": (
        "Het BSN voldoet niet aan de elfproef; controleer de cijfers.",
        "The BSN fails the eleven-test (11-proef); check the digits.",
    ),
    "address.empty": (
        "Vul een adres in: postcode en huisnummer, bijvoorbeeld 1234 AB 12.",
        "Enter an address: postcode and house number, for example 1234 AB 12.",
    ),
    "address.too_long": (
        "De invoer is te lang voor een adres; geef alleen postcode, huisnummer en toevoeging.",
        "The input is too long for an address; give only postcode, house number and addition.",
    ),
    "address.postcode_format": (
        "Een postcode bestaat uit 4 cijfers en 2 letters, bijvoorbeeld 1234 AB; "
        "controleer de postcode.",
        "A postcode is 4 digits followed by 2 letters, for example 1234 AB; check the postcode.",
    ),
    "address.postcode_range": (
        "Een postcode begint niet met een 0 (de cijfers lopen van 1000 tot en met 9999); "
        "controleer de postcode.",
        "A postcode does not start with 0 (its digits run from 1000 to 9999); check the postcode.",
    ),
    "address.postcode_letters": (
        "De lettercombinaties SA, SD en SS komen in postcodes niet voor; "
        "controleer de letters van de postcode.",
        "The letter pairs SA, SD and SS are not used in postcodes; check the postcode letters.",
    ),
    "address.house_number_missing": (
        "Het huisnummer ontbreekt; vul het in na de postcode, bijvoorbeeld 1234 AB 12.",
        "The house number is missing; add it after the postcode, for example 1234 AB 12.",
    ),
    "address.house_number_format": (
        "Het huisnummer bestaat alleen uit cijfers en staat direct na de postcode; "
        "zet een letter of andere toevoeging achter het huisnummer.",
        "The house number is digits only and comes right after the postcode; "
        "put a letter or other addition after the house number.",
    ),
    "address.house_number_range": (
        "Een huisnummer ligt tussen 1 en 99999; controleer het huisnummer.",
        "A house number lies between 1 and 99999; check the house number.",
    ),
    "address.addition": (
        "Een toevoeging heeft hoogstens 4 letters of cijfers (bijvoorbeeld A, 2 of BIS), "
        "eventueel na een spatie, - of /; verwijder andere tekens.",
        "An addition has at most 4 letters or digits (for example A, 2 or BIS), "
        "optionally after a space, - or /; remove other characters.",
    ),
    "person.empty": (
        "Vul achternaam, voorletter en geboortedatum in, gescheiden door puntkomma's.",
        "Enter family name, initial and date of birth, separated by semicolons.",
    ),
    "person.too_long": (
        "De invoer is te lang; geef alleen achternaam, voorletter en geboortedatum.",
        "The input is too long; give only family name, initial and date of birth.",
    ),
    "person.format": (
        "Geef de persoon op als achternaam;voorletter;JJJJ-MM-DD met precies twee "
        "puntkomma's, bijvoorbeeld van der Vries;J;1980-02-03.",
        "Give the person as family name;initial;YYYY-MM-DD with exactly two semicolons, "
        "for example van der Vries;J;1980-02-03.",
    ),
    "person.family_name_empty": ("Vul de achternaam in.", "Enter the family name."),
    "person.family_name": (
        "Een achternaam bevat alleen letters (in Latijns schrift, zoals in het paspoort), "
        "spaties, koppeltekens en apostrofs; verwijder cijfers en andere tekens.",
        "A family name contains only letters (in Latin script, as in the passport), spaces, "
        "hyphens and apostrophes; remove digits and other characters.",
    ),
    "person.prefix": (
        "Na de komma mag alleen een tussenvoegsel staan, bijvoorbeeld Vries, van der; "
        "gebruik hoogstens één komma en zet de voorletter in het veld voorletter.",
        "Only a name prefix (tussenvoegsel) may follow the comma, for example Vries, van der; "
        "use at most one comma and put the initial in the initial field.",
    ),
    "person.initial": (
        "Vul de eerste letter van de voornaam in (bijvoorbeeld J of Jan), alleen letters.",
        "Enter the first letter of the given name (for example J or Jan), letters only.",
    ),
    "person.birth_date_format": (
        "Schrijf de geboortedatum als JJJJ-MM-DD, bijvoorbeeld 1980-02-03.",
        "Write the date of birth as YYYY-MM-DD, for example 1980-02-03.",
    ),
    "person.birth_date_invalid": (
        "Deze geboortedatum bestaat niet; controleer dag en maand (JJJJ-MM-DD).",
        "This date of birth does not exist; check the day and the month (YYYY-MM-DD).",
    ),
    "person.birth_date_future": (
        "De geboortedatum ligt in de toekomst; controleer het jaar.",
        "The date of birth is in the future; check the year.",
    ),
    "person.birth_date_too_early": (
        "Geboortedata vóór 1900-01-01 worden niet aangenomen; controleer het jaar.",
        "Dates of birth before 1900-01-01 are not accepted; check the year.",
    ),
    "kind.unknown": (
        "Onbekend soort identificatie; kies bsn, address of person.",
        "Unknown identifier kind; choose bsn, address or person.",
    ),
    "kind.none": (
        "Geef ten minste één BSN, adres of persoon van het huishouden.",
        "Give at least one BSN, address or person of the household.",
    ),
}


class IdentifierError(ValueError):
    """A raw identifier was refused; says what is wrong without repeating the input.

    ``kind`` is the identifier kind, or ``"kind"`` when the kind itself was unknown; ``code`` is a
    stable machine code that starts with ``kind + "."``; ``str(err)`` is the English message.
    """

    def __init__(self, kind: ErrorKind, code: str) -> None:
        """Make the error for ``code``; its texts come from the fixed message table."""
        message_nl, message_en = _MESSAGES[code]
        super().__init__(message_en)
        self.kind: ErrorKind = kind
        self.code = code
        self.message_nl = message_nl
        self.message_en = message_en

    def message(self, lang: str) -> str:
        """Return the message in ``lang`` ("en", "en-GB", ... or "nl"); Dutch when unknown."""
        primary = lang.strip().lower().replace("_", "-").partition("-")[0]
        return self.message_en if primary == "en" else self.message_nl


_CANONICAL_SHAPE: dict[str, re.Pattern[str]] = {
    "bsn": re.compile(r"bsn\|[0-9]{9}"),
    "address": re.compile(r"address\|[1-9][0-9]{3}[A-Z]{2}\|[1-9][0-9]{0,4}\|[A-Z0-9]{0,4}"),
    "person": re.compile(
        r"person\|[a-z]+(?: [a-z]+)*\|(?:[a-z]+(?: [a-z]+)*)?\|[a-z]\|[0-9]{4}-[0-9]{2}-[0-9]{2}"
    ),
}


@dataclass(frozen=True, repr=False)
class Identifier:
    """A validated identifier in tagged canonical form; make one with the ``parse*`` functions.

    Its ``repr`` and ``str`` never show the value, so it is safe in logs and tracebacks.
    """

    kind: IdentifierKind
    canonical: str

    def __post_init__(self) -> None:
        """Refuse a hand-made value that does not have the canonical shape of its kind."""
        shape = _CANONICAL_SHAPE.get(self.kind)
        if shape is None or shape.fullmatch(self.canonical) is None:
            raise ValueError("canonical value does not have the shape of its identifier kind")

    @property
    def category(self) -> Category:
        """What a match on this identifier reveals: ``"person"`` or ``"address"``."""
        return "address" if self.kind == "address" else "person"

    @property
    def tagged_bytes(self) -> bytes:
        """The canonical string as UTF-8: the OPRF input."""
        return self.canonical.encode("utf-8")

    def __repr__(self) -> str:
        """Show the kind only."""
        return f"<Identifier {self.kind} ***>"

    def __str__(self) -> str:
        """Show the kind only."""
        return repr(self)


def _text(kind: IdentifierKind, value: str) -> str:
    """Check the common limits on one raw input and return it stripped."""
    if not isinstance(value, str):
        raise TypeError(f"a raw {kind} value must be str, not {type(value).__name__}")
    if len(value) > MAX_INPUT_LENGTH:
        raise IdentifierError(kind, f"{kind}.too_long")
    return value.strip()


# --- BSN ---------------------------------------------------------------------------------------

_BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def parse_bsn(raw: str) -> Identifier:
    """Validate a BSN and return ``bsn|`` plus its 9 digits (rule 3 of the module docstring)."""
    text = _text("bsn", raw)
    digits = "".join(ch for ch in text if not (ch.isspace() or ch == "."))
    if not digits:
        raise IdentifierError("bsn", "bsn.empty")
    # ASCII only: str.isdigit() would also accept e.g. Arabic-Indic digits.
    if any(ch not in "0123456789" for ch in digits):
        raise IdentifierError("bsn", "bsn.characters")
    if len(digits) == 8:
        digits = "0" + digits
    if len(digits) != 9:
        raise IdentifierError("bsn", "bsn.length")
    if digits == "000000000":
        raise IdentifierError("bsn", "bsn.zero")
    if sum(w * int(d) for w, d in zip(_BSN_WEIGHTS, digits, strict=True)) % 11 != 0:
        raise IdentifierError("bsn", "bsn.checksum")
    return Identifier("bsn", f"bsn|{digits}")


# --- address -----------------------------------------------------------------------------------

_POSTCODE_AT_START = re.compile(r"[0-9]{4}\s*[A-Za-z]{2}(?![A-Za-z])")
_POSTCODE = re.compile(r"([0-9]{4})([A-Z]{2})")
_LEADING_DIGITS = re.compile(r"[0-9]+")
_ADDITION = re.compile(r"[A-Z0-9]{1,4}")
_ADDITION_SEPARATORS = re.compile(r"[\s/-]")
# PostNL does not issue these letter pairs.
_UNUSED_POSTCODE_LETTERS = frozenset({"SA", "SD", "SS"})


def parse_address(raw: str) -> Identifier:
    """Validate one address string such as "1234 AB 12 A" or "1234ab 12-a" (rule 4).

    The postcode comes first, then the house number, then an optional addition.
    """
    text = _text("address", raw)
    if not text:
        raise IdentifierError("address", "address.empty")
    postcode = _POSTCODE_AT_START.match(text)
    if postcode is None:
        raise IdentifierError("address", "address.postcode_format")
    rest = text[postcode.end() :].lstrip()
    if not rest:
        raise IdentifierError("address", "address.house_number_missing")
    number = _LEADING_DIGITS.match(rest)
    if number is None:
        raise IdentifierError("address", "address.house_number_format")
    return address_from_parts(postcode.group(), number.group(), rest[number.end() :])


def address_from_parts(
    postcode: str, house_number: str | int, addition: str | None = None
) -> Identifier:
    """Validate an address given as separate fields, as a form or case system holds it (rule 4)."""
    return Identifier(
        "address",
        f"address|{_postcode(postcode)}|{_house_number(house_number)}|{_addition(addition)}",
    )


def _postcode(raw: str) -> str:
    compact = "".join(_text("address", raw).split()).upper()
    if not compact:
        raise IdentifierError("address", "address.empty")
    match = _POSTCODE.fullmatch(compact)
    if match is None:
        raise IdentifierError("address", "address.postcode_format")
    if match.group(1).startswith("0"):
        raise IdentifierError("address", "address.postcode_range")
    if match.group(2) in _UNUSED_POSTCODE_LETTERS:
        raise IdentifierError("address", "address.postcode_letters")
    return compact


def _house_number(raw: str | int) -> int:
    if isinstance(raw, bool):
        raise IdentifierError("address", "address.house_number_format")
    if isinstance(raw, int):
        number = raw
    else:
        text = _text("address", raw)
        if not text:
            raise IdentifierError("address", "address.house_number_missing")
        if _LEADING_DIGITS.fullmatch(text) is None:
            raise IdentifierError("address", "address.house_number_format")
        # Over 5 significant digits is out of range; checking the length first keeps int() cheap.
        if len(text.lstrip("0")) > 5:
            raise IdentifierError("address", "address.house_number_range")
        number = int(text)
    if not 1 <= number <= 99999:
        raise IdentifierError("address", "address.house_number_range")
    return number


def _addition(raw: str | None) -> str:
    if raw is None:
        return ""
    compact = _ADDITION_SEPARATORS.sub("", _text("address", raw)).upper()
    if compact and _ADDITION.fullmatch(compact) is None:
        raise IdentifierError("address", "address.addition")
    return compact


# --- person ------------------------------------------------------------------------------------

# After the BRP voorvoegseltabel, written as this module folds them ("'t" is "t", "d'" is "d").
_NAME_PREFIX_TABLE = """
aan, aan de, aan den, aan der, aan het, aan t, bij, bij de, bij den, bij het, bij t, boven d,
d, da, dal, dalla, das, de, de die, de la, de las, de le, de van der, del, della, den, der,
des, di, do, dos, du, el, het, in, in de, in den, in der, in het, in t, l, la, las, le, les,
lo, los, onder, onder de, onder den, onder het, onder t, op, op de, op den, op der, op het,
op t, op ten, over, over de, over t, s, t, te, ten, ter, tho, thoe, thor, toe, tot, uit,
uit de, uit den, uit het, uit t, uit te de, uit ten, uijt, van, van de, van de l, van den,
van der, van het, van la, van t, van ter, van van de, vanden, ver, vom, von, von dem,
von den, von der, voor, voor de, voor den, voor in t, voor t, vor der, zu, zum, zur
"""
_NAME_PREFIXES = frozenset(tuple(prefix.split()) for prefix in _NAME_PREFIX_TABLE.split(","))
_MAX_PREFIX_WORDS = max(len(prefix) for prefix in _NAME_PREFIXES)

# Letters NFKD does not decompose into a-z, and the apostrophes and hyphens that become spaces.
_FOLD = str.maketrans(
    {"æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d", "œ": "oe", "þ": "th", "ı": "i"}
    | dict.fromkeys("'’‘ʼ`", " ")
    | dict.fromkeys("-‐‒–—−", " ")
)
_FAMILY_NAME = re.compile(r"[a-z\s,]*")
_INITIAL = re.compile(r"[a-z][a-z.\s]*")
_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_EARLIEST_BIRTH_DATE = datetime.date(1900, 1, 1)


def parse_person(raw: str) -> Identifier:
    """Validate "family name;initial;YYYY-MM-DD", e.g. "van der Vries;J;1980-02-03" (rule 5)."""
    text = _text("person", raw)
    if not text:
        raise IdentifierError("person", "person.empty")
    parts = text.split(";")
    if len(parts) != 3:
        raise IdentifierError("person", "person.format")
    family_name, initial, birth_date = parts
    return person_from_parts(family_name, initial, birth_date)


def person_from_parts(
    family_name: str,
    initial: str,
    birth_date: str | datetime.date,
    *,
    today: datetime.date | None = None,
) -> Identifier:
    """Validate a person given as separate fields (rule 5).

    A separately held name prefix can be passed as ``f"{family_name}, {prefix}"``. ``today``
    bounds the date of birth; it defaults to the local date.
    """
    core, prefix = _family_name(family_name)
    letter = _initial(initial)
    born = _birth_date(birth_date, datetime.date.today() if today is None else today)
    return Identifier("person", f"person|{core}|{prefix}|{letter}|{born.isoformat()}")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).translate(_FOLD)


def _family_name(raw: str) -> tuple[str, str]:
    folded = _fold(_text("person", raw))
    if _FAMILY_NAME.fullmatch(folded) is None:
        raise IdentifierError("person", "person.family_name")
    before, comma, after = folded.partition(",")
    words, prefix = before.split(), tuple(after.split())
    if not words:
        raise IdentifierError("person", "person.family_name_empty")
    if comma and (("," in after) or (prefix and prefix not in _NAME_PREFIXES)):
        raise IdentifierError("person", "person.prefix")
    if not prefix:
        words, prefix = _split_prefix(words)
    return " ".join(words), " ".join(prefix)


def _split_prefix(words: list[str]) -> tuple[list[str], tuple[str, ...]]:
    """Take the longest known prefix from the start, else from the end; keep one core word."""
    sizes = range(min(len(words) - 1, _MAX_PREFIX_WORDS), 0, -1)
    for size in sizes:
        if tuple(words[:size]) in _NAME_PREFIXES:
            return words[size:], tuple(words[:size])
    for size in sizes:
        if tuple(words[-size:]) in _NAME_PREFIXES:
            return words[:-size], tuple(words[-size:])
    return words, ()


def _initial(raw: str) -> str:
    folded = _fold(_text("person", raw)).strip()
    if _INITIAL.fullmatch(folded) is None:
        raise IdentifierError("person", "person.initial")
    return folded[0]


def _birth_date(raw: str | datetime.date, today: datetime.date) -> datetime.date:
    if isinstance(raw, datetime.datetime):
        born = raw.date()
    elif isinstance(raw, datetime.date):
        born = raw
    else:
        match = _ISO_DATE.fullmatch(_text("person", raw))
        if match is None:
            raise IdentifierError("person", "person.birth_date_format")
        year, month, day = (int(group) for group in match.groups())
        # Checked by hand rather than by catching date()'s ValueError, so no exception is chained.
        if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
            raise IdentifierError("person", "person.birth_date_invalid")
        if year < _EARLIEST_BIRTH_DATE.year:  # also keeps year 0, which date() refuses, out
            raise IdentifierError("person", "person.birth_date_too_early")
        born = datetime.date(year, month, day)
    if born < _EARLIEST_BIRTH_DATE:
        raise IdentifierError("person", "person.birth_date_too_early")
    if born > today:
        raise IdentifierError("person", "person.birth_date_future")
    return born


# --- dispatch ----------------------------------------------------------------------------------

_PARSERS: dict[str, Callable[[str], Identifier]] = {
    "bsn": parse_bsn,
    "address": parse_address,
    "person": parse_person,
}


def parse(kind: str, raw: str) -> Identifier:
    """Parse ``raw`` as an identifier of ``kind`` ("bsn", "address" or "person").

    An unknown kind raises ``IdentifierError("kind", "kind.unknown")``; the kind is not echoed.
    """
    parser = _PARSERS.get(kind)
    if parser is None:
        raise IdentifierError("kind", "kind.unknown")
    return parser(raw)


def parse_household(
    *, bsn: Iterable[str] = (), address: Iterable[str] = (), person: Iterable[str] = ()
) -> list[Identifier]:
    """Parse every identifier of one household; at least one is required.

    The first invalid value raises; nothing is returned half-parsed.
    """
    identifiers = [parse_bsn(raw) for raw in bsn]
    identifiers += [parse_address(raw) for raw in address]
    identifiers += [parse_person(raw) for raw in person]
    if not identifiers:
        raise IdentifierError("kind", "kind.none")
    return identifiers
