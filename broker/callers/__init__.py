"""The case systems that call the API: organisations' keys, the nonces of their signed requests
and the stored answers of their idempotent requests — the state the API door keeps in the
database, as a domain below the doors, so that the CLI (``broker org key``, ``broker purge``),
housekeeping and notification delivery reach it without importing the API door."""
