"""RFC 6238 TOTP: the RFC's own test vectors, the window, each code once, the key URI."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from broker.signin import totp

# RFC 6238 Appendix B, the HMAC-SHA1 rows: the ASCII secret "12345678901234567890".
RFC_SECRET = b"12345678901234567890"
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
               (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")]


@pytest.mark.parametrize(("unix_time", "expected"), RFC_VECTORS)
def test_rfc_6238_appendix_b_vectors(unix_time: int, expected: str) -> None:
    moment = datetime.fromtimestamp(unix_time, UTC)
    assert totp.code_at(RFC_SECRET, totp.step_at(moment), digits=8) == expected
    # Six digits are the same truncation modulo 10^6: the last six of the eight.
    assert totp.code_at(RFC_SECRET, totp.step_at(moment)) == expected[-6:]


def test_a_code_is_accepted_one_step_either_side_and_no_further() -> None:
    secret = totp.new_secret()
    now = datetime(2026, 3, 2, 12, 0, 15, tzinfo=UTC)
    step = totp.step_at(now)
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at(secret, step + offset), now, None) == (
            step + offset)
    for offset in (-2, 2):  # a clock more than a step off is refused
        assert totp.matching_step(secret, totp.code_at(secret, step + offset), now, None) is None


def test_a_code_is_used_once() -> None:
    secret = totp.new_secret()
    now = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
    step = totp.step_at(now)
    code = totp.code_at(secret, step)
    assert totp.matching_step(secret, code, now, last_used_step=step) is None
    # A later step's code still works once this step's was used...
    assert totp.matching_step(secret, totp.code_at(secret, step + 1), now, step) == step + 1
    # ...and an earlier step's does not, even inside the window.
    assert totp.matching_step(secret, totp.code_at(secret, step - 1), now, step) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "12345a", "１２３４５６", " ", "-12345"])
def test_malformed_codes_match_nothing(typed: str) -> None:
    assert totp.matching_step(totp.new_secret(), typed, datetime.now(UTC), None) is None


def test_spaces_in_a_typed_code_are_ignored() -> None:
    secret, now = totp.new_secret(), datetime(2026, 3, 2, tzinfo=UTC)
    code = totp.code_at(secret, totp.step_at(now))
    assert totp.matching_step(secret, f" {code[:3]} {code[3:]} ", now, None) is not None


def test_base32_round_trip_and_refusals() -> None:
    secret = totp.new_secret()
    assert len(secret) == 20
    text = totp.to_base32(secret)
    assert "=" not in text and text == text.upper()
    assert totp.from_base32(text.lower()) == secret
    assert totp.from_base32(" ".join(text[i:i + 4] for i in range(0, len(text), 4))) == secret
    for bad in ("", "abc1", "!!!!"):
        with pytest.raises(ValueError, match="base32"):
            totp.from_base32(bad)


def test_the_key_uri_names_the_account_and_the_parameters() -> None:
    secret = totp.new_secret()
    uri = urlsplit(totp.otpauth_uri(secret, "veilig-thuis-1", "Broker"))
    assert (uri.scheme, uri.netloc, uri.path) == ("otpauth", "totp", "/Broker:veilig-thuis-1")
    assert {k: v[0] for k, v in parse_qs(uri.query).items()} == {
        "secret": totp.to_base32(secret), "issuer": "Broker", "algorithm": "SHA1",
        "digits": "6", "period": "30"}


def test_the_command_prints_the_current_code(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    secret = totp.new_secret()
    monkeypatch.setattr("sys.stdin", io.StringIO(totp.to_base32(secret) + "\n"))
    assert totp.main() == 0
    printed = capsys.readouterr().out.strip()
    # The command reads the wall clock; the window absorbs a step boundary in between.
    assert totp.matching_step(secret, printed, datetime.now(UTC), None) is not None
    monkeypatch.setattr("sys.stdin", io.StringIO("not-a-key!\n"))
    assert totp.main() == 1
    assert "base32" in capsys.readouterr().err
