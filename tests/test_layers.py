"""The layer rule, checked on every import in the package (no exceptions list).

catalog / specs (data and types) → model (pure functions on arrays; serving's roofline sits
beside it) → search, post-training → validate / calibrate → economics → api → sweep →
interfaces (CLI, web, exports, the public façade). A module may import its own unit and any
lower layer, never a higher one, not even inside a function. Below the interfaces, imports of
other units sit at module top: an import inside a function would only hide a cycle (the
interfaces import lazily on purpose, to keep `gigatrain --help` fast).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "gigatrain"

LAYER: dict[str, float] = {
    "errors": 0,
    "units": 0,
    "yamlio": 0,
    "specs": 0,
    "knobs": 0,
    "pareto": 0,
    "catalog": 0,
    "inputs": 0.5,
    "model": 1,
    "serving": 1,
    "search": 2,
    "posttrain": 2,
    "validate": 3,
    "calibrate": 3,
    "economics": 4,
    "api": 5,
    "guard": 5,
    "sweep": 6,
    "exports": 7,
    "interfaces": 7,
    "public": 7,
    "__init__": 8,
    "__main__": 8,
}
LAZY_FROM = 7  # layers at or above this may import inside functions


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> list[tuple[str, int, str, str, bool]]:
    """(file, line, importing unit, imported unit, inside a function) for every internal import."""
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).with_suffix("")
        module = ".".join(rel.parts)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        if path.name == "__init__.py":
            package = module.removesuffix(".__init__")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        in_func = {
            id(n)
            for f in ast.walk(tree)
            if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            for n in ast.walk(f)
        }
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    full = ".".join(base + ([node.module] if node.module else []))
                else:
                    full = node.module or ""
                if node.module is None or full == "gigatrain":
                    targets = [f"{full}.{a.name}" for a in node.names]
                else:
                    targets = [full]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("gigatrain") and _unit(t) != _unit(module):
                    out.append(
                        (
                            str(path.relative_to(ROOT)),
                            node.lineno,
                            _unit(module),
                            _unit(t),
                            id(node) in in_func,
                        )
                    )
    return out


def test_every_unit_has_a_layer() -> None:
    units = {
        p.stem if p.is_file() else p.name
        for p in ROOT.iterdir()
        if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))
    }
    assert units <= set(LAYER), sorted(units - set(LAYER))


def test_imports_never_point_up() -> None:
    up = [f"{f}:{line}: {a} imports {b}" for f, line, a, b, _ in _imports() if LAYER[b] > LAYER[a]]
    assert not up, "\n".join(up)


def test_no_function_level_imports_below_the_interfaces() -> None:
    inner = [
        f"{f}:{line}: {a} imports {b} inside a function"
        for f, line, a, b, fn in _imports()
        if fn and LAYER[a] < LAZY_FROM
    ]
    assert not inner, "\n".join(inner)


def test_plan_degrees_are_declared_once() -> None:
    """Every place that takes a plan's degrees reads specs.PLAN_DEGREES: the Plan type, the
    array model, the estimate/search CLI options, the web schemas and the page's choices."""
    from dataclasses import fields

    from typer.main import get_command

    from gigatrain.interfaces import cli
    from gigatrain.interfaces.web import schemas, service
    from gigatrain.model.plans import PlanArrays
    from gigatrain.specs import PLAN_DEGREES, Plan

    names = {d.name for d in PLAN_DEGREES}
    assert names <= {f.name for f in fields(Plan)} and names <= {f.name for f in fields(PlanArrays)}
    group = get_command(cli.app)
    for command in ("estimate", "search"):
        params = {p.name for p in group.commands[command].params}  # type: ignore[attr-defined]
        assert names <= params, (command, names - params)
    assert names <= set(schemas.PlanFields.model_fields)
    assert names <= set(schemas.AxesFields.model_fields)
    assert [d["name"] for d in service.choices()["plan_degrees"]] == [d.name for d in PLAN_DEGREES]
