"""The texts of the sign-in pages, in Dutch and English (merged into :data:`i18n.TEXTS`)."""

from __future__ import annotations

SIGN_IN_TEXTS: dict[str, dict[str, str]] = {
    "code_title": {"nl": "Tweede factor", "en": "Second factor"},
    "code_label": {"nl": "Code uit uw authenticator-app (6 cijfers)",
                   "en": "Code from your authenticator app (6 digits)"},
    "confirm": {"nl": "Bevestigen", "en": "Confirm"},
    "enrol_title": {"nl": "Tweede factor koppelen", "en": "Set up your second factor"},
    "enrol_intro": {
        "nl": "Scan de QR-code met uw authenticator-app, of typ de sleutel over. Bevestig "
              "daarna met de code die de app nu toont. Deze link werkt één keer; deel hem niet.",
        "en": "Scan the QR code with your authenticator app, or type in the key. Then confirm "
              "with the code the app shows now. This link works once; do not share it.",
    },
    "enrol_account": {"nl": "Account", "en": "Account"},
    "enrol_secret": {"nl": "Sleutel", "en": "Key"},
    "enrol_uri": {"nl": "Koppel-URI", "en": "Set-up URI"},
    "enrol_expires": {"nl": "Deze link verloopt op", "en": "This link expires at"},
    "enrolled": {"nl": "Uw tweede factor is gekoppeld. Log nu in.",
                 "en": "Your second factor is set up. Sign in now."},
    "change_password": {"nl": "Wachtwoord wijzigen", "en": "Change password"},
    "current_password": {"nl": "Huidig wachtwoord", "en": "Current password"},
    "new_password": {"nl": "Nieuw wachtwoord (minstens 8 tekens)",
                     "en": "New password (at least 8 characters)"},
    "repeat_password": {"nl": "Nieuw wachtwoord nogmaals", "en": "New password again"},
    "passwords_differ": {"nl": "De twee nieuwe wachtwoorden verschillen.",
                         "en": "The two new passwords differ."},
    "password_changed": {
        "nl": "Uw wachtwoord is gewijzigd en al uw sessies zijn beëindigd. Log opnieuw in.",
        "en": "Your password was changed and all your sessions ended. Sign in again.",
    },
}
