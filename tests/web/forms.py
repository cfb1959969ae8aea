"""The household form's fields as the check and register pages post them (a person block per
BSN or person, the address in its parts)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_ADDRESS = re.compile(r"\s*([0-9]{4}\s*[A-Za-z]{2})\s*([0-9]+)\s*[-\s]?\s*(.*)")


def household_fields(bsn: Sequence[str] = (), address: str | None = None,
                     person: Sequence[str] = ()) -> dict[str, str]:
    """``bsn`` one per person block; ``person`` as "family name;initial;YYYY-MM-DD", one per
    block after them; ``address`` as "1011 AB 12 A"."""
    data: dict[str, str] = {}
    for n, number in enumerate(bsn, start=1):
        data[f"p{n}-bsn"] = number
    for n, line in enumerate(person, start=len(bsn) + 1):
        family_name, initial, born = line.split(";")
        year, month, day = born.split("-")
        data.update({f"p{n}-family_name": family_name, f"p{n}-initial": initial,
                     f"p{n}-day": day, f"p{n}-month": month, f"p{n}-year": year})
    if address is not None:
        match = _ADDRESS.fullmatch(address)
        assert match, address
        data.update(postcode=match.group(1), house_number=match.group(2),
                    addition=match.group(3))
    return data
