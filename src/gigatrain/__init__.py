"""gigatrain: what it takes to train a large transformer on a fleet of accelerators.

The Python API (names and numbers in, result dataclasses with ``to_dict()`` out)::

    import gigatrain
    e = gigatrain.estimate("llama-3.1-8b", "h100-sxm", 64, tp=2, global_batch=256)
    e.fits, e.step_time_s, e.memory_bytes

:func:`estimate`, :func:`search`, :func:`cost`, :func:`compare`, :func:`fleet` and
:func:`check` are imported on first use (``gigatrain --help`` stays fast); see
:mod:`gigatrain.public`. Bad input raises :class:`GigatrainError` with one line naming the
field, the value and what would be valid.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any

from .errors import GigatrainError, NoFeasiblePlanError

if TYPE_CHECKING:
    from .public import check, compare, cost, estimate, fleet, search

__all__ = [
    "GigatrainError",
    "NoFeasiblePlanError",
    "__version__",
    "check",
    "compare",
    "cost",
    "estimate",
    "fleet",
    "search",
]
_PUBLIC = frozenset({"check", "compare", "cost", "estimate", "fleet"})


class _CallableSearchPackage(types.ModuleType):
    # ``gigatrain.search`` is both the subpackage (``gigatrain.search.engine``...) and the API
    # function: Python binds a subpackage to its parent's attribute on first import, which would
    # hide a plain function of the same name, so the (empty) package module is made callable.

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .public import search as _search

        return _search(*args, **kwargs)

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        from .public import search as _search

        return (
            f"gigatrain.search(model, chip, chips, ...): {_search.__doc__}\n\n"
            "Also the package of the search engine (gigatrain.search.engine, .space)."
        )


_search_pkg = importlib.import_module(f"{__name__}.search")  # empty __init__: costs nothing
_search_pkg.__class__ = _CallableSearchPackage


def __getattr__(name: str) -> Any:
    """Lazy attributes: the API functions and ``__version__`` (package metadata)."""
    if name in _PUBLIC:
        from . import public

        return getattr(public, name)
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("gigatrain")
        except PackageNotFoundError:
            return "unknown"
    raise AttributeError(f"module 'gigatrain' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
