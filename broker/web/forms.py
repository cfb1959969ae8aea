"""The consent form's own fields (who gave consent, when, until when, for which purposes and kinds
of organisation); the household's identifiers come from the household fields
(broker.web.household), checked field by field like the check and register pages'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from werkzeug.datastructures import MultiDict

from broker.web.household import FieldError
from broker.web.i18n import gettext


@dataclass(frozen=True)
class ConsentForm:
    """The consent form's fields as typed."""

    given_by: str = "person"
    given_on: str = ""
    valid_until: str = ""
    purposes: tuple[str, ...] = ()
    holder_types: tuple[str, ...] = ()

    @classmethod
    def from_request(cls, form: MultiDict[str, str]) -> ConsentForm:
        """The fields of a posted form."""
        return cls(form.get("given_by", "").strip(), form.get("given_on", "").strip(),
                   form.get("valid_until", "").strip(), tuple(form.getlist("purposes")),
                   tuple(form.getlist("holder_types")))


def consent_dates(form: ConsentForm, errors: list[FieldError]) -> tuple[date, date] | None:
    """The date consent was given and its end date; an error at each field that holds no
    date (None then)."""
    found: list[date] = []
    for field_id, text in (("given_on", form.given_on), ("valid_until", form.valid_until)):
        try:
            found.append(date.fromisoformat(text))
        except ValueError:
            errors.append(FieldError(field_id, gettext("bad_date")))
    return (found[0], found[1]) if len(found) == 2 else None
