"""Tests for broker.api: the signature layer (RFC 9421, RFC 9530, RFC 8941) and the replay cache."""
