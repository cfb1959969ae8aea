"""The web form's texts in Dutch and English.

One table, so that a missing translation is a test failure rather than an English word on a Dutch
page.
"""

from __future__ import annotations

from flask import session

LANGUAGES = ("nl", "en")

TEXTS: dict[str, dict[str, str]] = {
    "title": {"nl": "Betrokkenheidsmakelaar", "en": "Involvement broker"},
    "tagline": {
        "nl": "Is er nog iemand betrokken bij dit huishouden, en hoe bereik ik die?",
        "en": "Is anyone else involved with this household, and how do I reach them?",
    },
    "sign_in": {"nl": "Inloggen", "en": "Sign in"},
    "sign_out": {"nl": "Uitloggen", "en": "Sign out"},
    "username": {"nl": "Gebruikersnaam", "en": "User name"},
    "password": {"nl": "Wachtwoord", "en": "Password"},
    "bad_login": {
        "nl": "Gebruikersnaam of wachtwoord onjuist.", "en": "Wrong user name or password.",
    },
    "check": {"nl": "Huishouden controleren", "en": "Check a household"},
    "register": {"nl": "Betrokkenheid registreren", "en": "Register involvement"},
    "bsn": {"nl": "BSN (één per regel)", "en": "BSN (one per line)"},
    "address": {"nl": "Adres: postcode en huisnummer", "en": "Address: postcode and number"},
    "person": {
        "nl": "Persoon zonder BSN: achternaam;voorletter;geboortedatum (één per regel)",
        "en": "Person without BSN: family name;initial;date of birth (one per line)",
    },
    "purpose": {"nl": "Doel", "en": "Purpose"},
    "basis": {"nl": "Grondslag", "en": "Legal basis"},
    "ends_on": {"nl": "Einddatum (leeg: over 12 maanden)", "en": "End date (empty: 12 months)"},
    "submit_check": {"nl": "Controleren", "en": "Check"},
    "submit_register": {"nl": "Registreren", "en": "Register"},
    "no_matches": {
        "nl": "Er is geen andere organisatie bij dit huishouden geregistreerd.",
        "en": "No other organisation is registered on this household.",
    },
    "matches": {"nl": "Andere betrokken organisaties", "en": "Other organisations involved"},
    "matched_on": {"nl": "Gevonden op", "en": "Matched on"},
    "person_kind": {"nl": "persoon", "en": "person"},
    "address_kind": {"nl": "adres", "en": "address"},
    "registered": {
        "nl": "Uw betrokkenheid is geregistreerd tot {ends_on}.",
        "en": "Your involvement is registered until {ends_on}.",
    },
    "signed_in_as": {"nl": "Ingelogd als", "en": "Signed in as"},
    "privacy_note": {
        "nl": "Identificerende gegevens worden in uw browser-sessie niet bewaard en nooit "
              "opgeslagen; de makelaar bewaart alleen pseudoniemen.",
        "en": "Identifying details are not kept in your session and never stored; the broker "
              "keeps only pseudonyms.",
    },
    "csrf": {
        "nl": "Het formulier is verlopen; probeer het opnieuw.",
        "en": "The form has expired; please try again.",
    },
    "lookup_ref": {"nl": "Kenmerk van deze raadpleging", "en": "Reference of this look-up"},
    "statute": {
        "nl": "Wettelijke grondslag (bij wettelijke taak)",
        "en": "Statute (for a legal task)",
    },
    "consent_reference": {
        "nl": "Kenmerk toestemming (bij toestemming)",
        "en": "Consent reference (for consent)",
    },
    "justification": {
        "nl": "Onderbouwing (bij zwaarwegend belang; wordt door de auditor beoordeeld, "
              "noem geen namen)",
        "en": "Justification (for vital interest; reviewed by the auditor, name no one)",
    },
    "register_too": {
        "nl": "Registreer ook mijn eigen betrokkenheid (soms nodig om anderen te zien)",
        "en": "Also register my own involvement (sometimes needed to see others)",
    },
    "someone_involved": {
        "nl": "Een organisatie (het beleid toont niet meer)",
        "en": "An organisation (the policy shows no more)",
    },
    "contact_direct": {"nl": "Contact mogelijk", "en": "Contact possible"},
    "contact_approval": {
        "nl": "Contact na goedkeuring van de houder", "en": "Contact after the holder approves",
    },
    "contact_none": {"nl": "Geen contact via de makelaar", "en": "No contact through the broker"},
    "reciprocity": {
        "nl": "Sommige organisaties ziet u alleen als u zelf bij dit huishouden geregistreerd "
              "bent; vink 'Registreer ook mijn eigen betrokkenheid' aan.",
        "en": "Some organisations are shown only once you are registered on this household "
              "yourself; tick 'Also register my own involvement'.",
    },
}


def current_language() -> str:
    """The language of this browser session (Dutch unless the user chose English)."""
    lang = session.get("lang", "nl")
    return lang if lang in LANGUAGES else "nl"


def t(key: str, **values: str) -> str:
    """The text ``key`` in the session's language, with ``values`` filled in."""
    text = TEXTS[key][current_language()]
    return text.format(**values) if values else text
