"""Consented contact hand-over: from a match to a need-to-know contact link."""
