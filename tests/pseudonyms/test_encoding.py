"""The pseudonym service's encodings (broker.pseudonyms.interfaces): elements (43 characters)
and DLEQ proofs (86) are base64url without padding, read strictly — another character, another
length or non-canonical trailing bits are refused, never silently dropped."""

from __future__ import annotations

import base64
import string
from collections.abc import Callable

import pytest

from broker.pseudonyms.interfaces import decode_element, decode_proof, encode_element

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.mark.parametrize(("decode", "size"), [(decode_element, 32), (decode_proof, 64)])
def test_each_reads_back_what_is_written_and_nothing_else(
        decode: Callable[[object], bytes], size: int) -> None:
    raw = bytes(range(size))
    text = encode_element(raw)
    assert decode(text) == raw
    for bad in (text[:-1], text + "A", text[:-1] + "!", text[:-2] + "==", "+" + text[1:],
                None, 42):
        with pytest.raises(ValueError):
            decode(bad)
    # The last character carries padding bits, zero when canonical; one more in the alphabet
    # sets one of them: the same bytes to a lenient decoder, refused here.
    sloppy = text[:-1] + ALPHABET[ALPHABET.index(text[-1]) + 1]
    assert base64.urlsafe_b64decode(sloppy + "=" * (-len(sloppy) % 4)) == raw
    with pytest.raises(ValueError, match="canonical"):
        decode(sloppy)
