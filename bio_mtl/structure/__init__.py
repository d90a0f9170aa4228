"""Placeholder; see the issue."""
