"""Design-space sweeps: models × chips (real and hypothetical) × sizes × budgets × prices.

A layer above search and economics, below the interfaces (DESIGN.md "sweep"). A spec
(:mod:`.spec`) expands into points with deterministic keys; :mod:`.runner` computes the
missing ones on Ray (or in this process) in tasks of seconds; :mod:`.store` keeps a manifest
and one atomically written Parquet file per task; :mod:`.query` runs DuckDB over them;
:mod:`.whatif` derives hypothetical chips from catalog chips; :mod:`.every` writes every
candidate plan (``record: all``) under a row cap.
"""

from .spec import SweepSpec, load_spec, parse_spec

__all__ = ["SweepSpec", "load_spec", "parse_spec"]
