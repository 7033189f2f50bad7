"""Goodput model vs published effective-training-time figures (issue 10, reliability at scale).

    python benchmarks/goodput_vs_published.py

Each run is predicted with the mitigation it used (economics.goodput.MITIGATIONS); nothing is
fitted to these figures. Sources are printed with each row.
"""

from __future__ import annotations

from gigatrain.economics.published_goodput import check_published


def main() -> None:
    rows = check_published()
    print(f"{'run':52s} {'mitigation':>10s} {'published':>11s} {'model':>7s} {'error':>9s}")
    for c in rows:
        r = c.run
        err = (
            "ok (bound)"
            if r.lower_bound and c.predicted >= r.published
            else f"{c.error_points:+.1f} pt"
        )
        print(
            f"{r.run:52s} {r.mitigation:>10s} {r.published_text:>11s} {c.predicted:7.1%} {err:>9s}"
        )
    print()
    for c in rows:
        print(f"- {c.run.run}: {c.run.source}" + (f"; {c.run.note}" if c.run.note else ""))
    point = [c for c in rows if not c.run.lower_bound and c.run.mitigation != "manual"]
    print(
        f"\nautomated/in-memory point figures: median |error| "
        f"{sorted(abs(c.error_points) for c in point)[len(point) // 2]:.1f} pt over {len(point)}"
    )


if __name__ == "__main__":
    main()
