"""Oversight of the register: what auditors and privacy officers ask of the audit log about the
registry — searches, reports, misuse flags, subject access (AVG art. 15), counted refusals and
the log's retention. It sits above the registry (it reads organisations and professionals to name
them) and below the doors; the audit log itself (:mod:`broker.audit`) knows nothing of it."""
