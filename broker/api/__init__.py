"""The signed HTTP API for organisations' case systems (issue 4).

The signature layer lives in the primitives (:mod:`broker_primitives.httpsig`: RFC 9421 HTTP
Message Signatures with Ed25519, the broker's rules and refusals, the message components and the
signature base, RFC 9530 Content-Digest, RFC 8941 structured field values); here are
:mod:`broker.api.target` (the request target as received, for ``@target-uri``) and
:mod:`broker.callers.replay` (the nonce replay cache). The JSON
door: :mod:`broker.api.bodies` (what a body may be before a schema reads it),
:mod:`broker.api.body_fields`, :mod:`broker.api.schemas` and :mod:`broker.api.contact_schemas`.
The route table: :mod:`broker.api.routing` (the views' declarations, flask-smorest) and
:mod:`broker.api.openapi` (the document written from them).
"""
