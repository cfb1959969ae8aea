"""The pseudonym service as its own process: RFC 9497 evaluation under ``k``, its quota, its
audit trail and its signed API (``broker pseudonym-service``)."""
