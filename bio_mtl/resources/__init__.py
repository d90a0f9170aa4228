"""Shipped model weights, model cards and gene sets (found with importlib.resources)."""

__all__: list[str] = []
