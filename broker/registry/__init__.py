"""Organisations, professionals, involvements and look-ups."""
