"""Widgets of the terminal app, grouped by area."""
