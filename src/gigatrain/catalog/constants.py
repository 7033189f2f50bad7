"""Named constants of ``catalog/data/economics.yaml``, each with its source and date."""

from __future__ import annotations

import functools

from .hardware import Constant, load_economics


@functools.cache
def _economics() -> dict[str, Constant]:
    return load_economics()


def const(key: str) -> float:
    """The value of a constant in ``catalog/data/economics.yaml`` (unit as stated there)."""
    return _economics()[key].value


def const_record(key: str) -> Constant:
    return _economics()[key]


def cite(key: str) -> str:
    """``'[EPC] power_usage_effectiveness (hyperscalers), 2024'``: a constant's source and date."""
    c = const_record(key)
    return f"{c.source}, {c.as_of}"


def has_const(key: str) -> bool:
    """Whether economics.yaml defines ``key``."""
    return key in _economics()
