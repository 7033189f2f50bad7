"""CLI options derived from ``specs.PLAN_DEGREES``: one ``--<degree>`` per parallel degree, so
a new degree declared in the spec appears in ``estimate`` (a value) and ``search`` (a filter)
without editing the commands."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar, get_type_hints

import typer

from ..specs import PLAN_DEGREES

F = TypeVar("F", bound=Callable[..., Any])


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _with_degrees(func: F, annotation: Callable[[str, str], Any], default: Any, after: str) -> F:
    """``func`` as a Typer command that also takes one option per degree (inserted after the
    parameter ``after``) and receives them together as ``degrees: dict[str, Any]``."""
    hints = get_type_hints(func, include_extras=True)
    params = []
    for p in inspect.signature(func).parameters.values():
        if p.name == "degrees":
            continue
        params.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints[p.name]))
        if p.name == after:
            params += [
                inspect.Parameter(
                    d.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=default,
                    annotation=annotation(d.name, d.help),
                )
                for d in PLAN_DEGREES
            ]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        degrees = {d.name: kwargs.pop(d.name) for d in PLAN_DEGREES}
        return func(degrees=degrees, **kwargs)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    del command.__wrapped__  # Typer must read the signature above, not the original's
    return command  # type: ignore[return-value]


def degree_values(after: str) -> Callable[[F], F]:
    """``--tp 8 --pp 16 …`` (default 1 each) for ``estimate``-style commands."""
    return lambda func: _with_degrees(
        func, lambda name, help: Annotated[int, typer.Option(_flag(name), help=help)], 1, after
    )


def degree_filters(after: str) -> Callable[[F], F]:
    """``--tp 1,2,4,8 …`` (default: every valid value) for ``search``-style commands."""
    return lambda func: _with_degrees(
        func,
        lambda name, help: Annotated[
            str | None,
            typer.Option(_flag(name), help=f"only these values of the {help}, e.g. 1,2,4,8"),
        ],
        None,
        after,
    )
