"""The audit log: one event per state change and per disclosure."""
