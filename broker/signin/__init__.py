"""Web sign-in: server-side sessions, throttling and lock-out, the TOTP second factor, password
changes. The rules are in each module's docstring; :mod:`broker.signin.services` is the door's
entry point."""
