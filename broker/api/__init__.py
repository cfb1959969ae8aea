"""The signed HTTP API for organisations' case systems (issue 4).

The signature layer: :mod:`broker.api.signatures` (RFC 9421 HTTP Message Signatures with Ed25519,
the public entry point), :mod:`broker.api.signature_policy` (the broker's rules and the refusals),
:mod:`broker.api.components` (RFC 9421 §2 message components and signature base),
:mod:`broker.api.target` (the request target as received, for ``@target-uri``),
:mod:`broker.api.digest` (RFC 9530 Content-Digest), :mod:`broker.api.replay` (the nonce replay
cache) and :mod:`broker.api.structured_fields` (RFC 8941 structured field values). The JSON
door: :mod:`broker.api.bodies` (what a body may be before a schema reads it),
:mod:`broker.api.body_fields`, :mod:`broker.api.schemas` and :mod:`broker.api.contact_schemas`.
"""
