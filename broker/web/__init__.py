"""Pages for professionals (Dutch first, English too)."""
