"""The web form's texts in Dutch and English.

One table, so that a missing translation is a test failure rather than an English word on a Dutch
page.
"""

from __future__ import annotations

from flask import session

from broker.registry.results import NONE_SHOWN, OTHERS_MAY_BE_HIDDEN, REGISTRATION_MAY_SHOW_MORE
from broker.web.signin_texts import SIGN_IN_TEXTS

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
    "no_matches": NONE_SHOWN,
    "may_hide": OTHERS_MAY_BE_HIDDEN,
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
    "bad_input": {
        "nl": "Het formulier bevat een ongeldig teken of een te lange waarde. Typ de gegevens "
              "opnieuw, zonder te plakken.",
        "en": "The form holds an invalid character or a value that is too long. Type the data "
              "again, without pasting.",
    },
    "csrf": {
        "nl": "Het formulier is verlopen; probeer het opnieuw.",
        "en": "The form has expired; please try again.",
    },
    "rate_limited": {
        "nl": "Te veel verzoeken; probeer het over {seconds} seconden opnieuw.",
        "en": "Too many requests; please try again in {seconds} seconds.",
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
    # Consent pages (issue 10): consent is a record about a household.
    "consent": {"nl": "Toestemming", "en": "Consent"},
    "record_consent": {"nl": "Toestemming vastleggen", "en": "Record consent"},
    "given_by": {"nl": "Toestemming gegeven door", "en": "Consent given by"},
    "given_by_person": {"nl": "de persoon zelf", "en": "the person"},
    "given_by_parent": {"nl": "een ouder", "en": "a parent"},
    "given_by_guardian": {"nl": "een voogd", "en": "a guardian"},
    "given_on": {"nl": "Gegeven op", "en": "Given on"},
    "valid_until": {"nl": "Geldig tot en met", "en": "Valid until"},
    "consent_purposes": {"nl": "Voor welke doelen", "en": "For which purposes"},
    "consent_holder_types": {
        "nl": "Welke soorten organisaties (niets aangevinkt: alle)",
        "en": "Which kinds of organisation (none ticked: any)",
    },
    "consent_note": {
        "nl": "De toestemming geldt alleen voor dit huishouden: voor een controle of "
              "contactverzoek met ten minste één van deze gegevens, van uw organisatie. De "
              "gegevens worden niet bewaard; de makelaar bewaart alleen pseudoniemen.",
        "en": "The consent holds for this household only: for a check or contact request by "
              "your organisation that shares at least one of these details. The details are "
              "not kept; the broker keeps only pseudonyms.",
    },
    "submit_consent": {"nl": "Toestemming vastleggen", "en": "Record consent"},
    "consent_recorded": {
        "nl": "Toestemming vastgelegd. Gebruik dit kenmerk bij het controleren:",
        "en": "Consent recorded. Use this reference when checking:",
    },
    "withdraw_consent": {"nl": "Toestemming intrekken", "en": "Withdraw consent"},
    "withdraw_note": {
        "nl": "Na intrekken worden controles en contactverzoeken met deze toestemming "
              "geweigerd, lopende verzoeken ingetrokken en uitgegeven contactlinks ingetrokken.",
        "en": "Once withdrawn, checks and contact requests under this consent are refused, "
              "pending requests are withdrawn and issued contact links are revoked.",
    },
    "consent_withdrawn": {
        "nl": "Toestemming {id} is ingetrokken; ingetrokken contactlinks: {links}.",
        "en": "Consent {id} is withdrawn; contact links revoked: {links}.",
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
        "nl": REGISTRATION_MAY_SHOW_MORE["nl"] + " Vink 'Registreer ook mijn eigen "
              "betrokkenheid' aan.",
        "en": REGISTRATION_MAY_SHOW_MORE["en"] + " Tick 'Also register my own involvement'.",
    },
    "contact_request": {"nl": "Contactverzoek", "en": "Contact request"},
    "inbox": {"nl": "Berichten", "en": "Inbox"},
    "no_messages": {"nl": "Geen berichten.", "en": "No messages."},
    "mark_read": {"nl": "Alles gelezen", "en": "Mark all read"},
    "kind_new_match": {"nl": "Nieuwe match op uw registratie",
                       "en": "New match on your registration"},
    "kind_contact_request": {"nl": "Nieuw contactverzoek", "en": "New contact request"},
    "kind_decision": {"nl": "Besluit over uw contactverzoek",
                      "en": "Decision on your contact request"},
    "kind_link": {"nl": "Contactgegevens beschikbaar",
                  "en": "Contact details available"},
    "kind_coordinator_proposal": {"nl": "Voorstel regievoerder", "en": "Coordinator proposal"},
    "kind_inform_review_due": {"nl": "Informeren van het huishouden: termijn verstreken",
                               "en": "Informing the household: date passed"},
    "kind_lookup_notice": {"nl": "Een organisatie heeft een huishouden van u opgezocht",
                           "en": "An organisation looked up a household of yours"},
    "kind_review_flag": {"nl": "Te beoordelen gebruik", "en": "Use to review"},
    "kind_misuse_flag": {"nl": "Mogelijk misbruik", "en": "Possible misuse"},
    "ask_contact": {"nl": "Vraag contact", "en": "Ask for contact"},
    "status": {"nl": "Status", "en": "Status"},
    "status_pending": {"nl": "wacht op antwoord", "en": "awaiting an answer"},
    "approvals": {"nl": "Goedkeuringen", "en": "Approvals"},
    "approvals_of": {
        "nl": "{done} van de {needed} nodige (twee verschillende professionals van de houder)",
        "en": "{done} of the {needed} needed (two different professionals of the holder)",
    },
    "status_approved": {"nl": "goedgekeurd", "en": "approved"},
    "status_denied": {"nl": "afgewezen", "en": "denied"},
    "status_withdrawn": {"nl": "ingetrokken", "en": "withdrawn"},
    "status_expired": {"nl": "verlopen", "en": "expired"},
    "asked_by": {"nl": "Gevraagd door", "en": "Asked by"},
    "expires": {"nl": "Geldig tot", "en": "Valid until"},
    "message": {"nl": "Bericht", "en": "Message"},
    "message_optional": {"nl": "Bericht aan de vrager (niet verplicht)",
                         "en": "Message to the requester (optional)"},
    "approve": {"nl": "Goedkeuren", "en": "Approve"},
    "deny": {"nl": "Afwijzen", "en": "Deny"},
    "withdraw": {"nl": "Intrekken", "en": "Withdraw"},
    "open_link": {"nl": "Contactgegevens bekijken", "en": "View contact details"},
    "contact_link": {"nl": "Contactgegevens", "en": "Contact details"},
    "link_name": {"nl": "Naam", "en": "Name"},
    "link_role": {"nl": "Functie", "en": "Role"},
    "link_phone": {"nl": "Telefoon", "en": "Phone"},
    "link_email": {"nl": "E-mail", "en": "E-mail"},
    "link_organisation": {"nl": "Organisatie", "en": "Organisation"},
    "link_note": {
        "nl": "Alleen voor u, alleen voor dit huishouden. Elke keer dat u dit opent, wordt "
              "vastgelegd.",
        "en": "For you only, for this household only. Every time you open this, it is logged.",
    },
}

TEXTS.update(SIGN_IN_TEXTS)


def current_language() -> str:
    """The language of this browser session (Dutch unless the user chose English)."""
    lang = session.get("lang", "nl")
    return lang if lang in LANGUAGES else "nl"


def t(key: str, **values: str) -> str:
    """The text ``key`` in the session's language, with ``values`` filled in."""
    text = TEXTS[key][current_language()]
    return text.format(**values) if values else text
