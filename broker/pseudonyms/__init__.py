"""Pseudonyms: the two-key matching key built on an RFC 9497 oblivious PRF."""
