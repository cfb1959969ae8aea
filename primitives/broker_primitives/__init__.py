"""The broker's primitives, shared by the server and the organisations' client.

No Flask, no SQLAlchemy, nothing of the server: identifiers (validate and normalise), the RFC 9497
OPRF over ristretto255, blinding, RFC 9162 Merkle tree maths, and RFC 9421/9530 message
signatures with their structured fields. Each module states the rules it guarantees.
"""
