"""HTTP message signatures (RFC 9421) with content digests (RFC 9530) and structured fields
(RFC 9651), as the broker's API and its client use them."""
