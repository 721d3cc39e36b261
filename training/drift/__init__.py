"""Deterministic drift generators: the base data as production might come to see it, for demos and tests."""

__all__: list[str] = []
