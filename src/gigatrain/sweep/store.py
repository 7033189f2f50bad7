"""The results directory: a manifest and Parquet files, one per finished task, written atomically.

Layout::

    DIR/manifest.json                      spec, its fingerprint, gigatrain version, catalog hashes
    DIR/results/chip=<variant>/part-<task>.parquet   one file per finished task

A task's file is written to a temporary name in the same directory, flushed to disk
(``fsync``) and renamed over its final name with :func:`os.replace` — atomic on POSIX, so a
reader (or a rerun) sees either the whole file or none of it. Only the driver writes; workers
return rows. Which points are done is read back from the files' ``point_key`` column, so a
driver or worker killed at any moment (``kill -9`` included) loses at most the tasks in
flight, and a rerun computes exactly the missing points: no duplicates (a point's key is in at
most one finished file, since only missing keys are scheduled) and no lost rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..catalog.hardware import DATA_DIR
from ..errors import GigatrainError
from .spec import SweepSpec

MANIFEST = "manifest.json"
RESULTS = "results"
FORMAT = 1


def gigatrain_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gigatrain")
    except PackageNotFoundError:
        return "unknown"


def catalog_hashes() -> dict[str, str]:
    """SHA-256 of every catalog data file (chips, systems, models, prices, economics, frameworks)."""
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(DATA_DIR.glob("*.yaml"))
    }


def manifest_for(spec: SweepSpec) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "name": spec.name,
        "fingerprint": spec.fingerprint(),
        "points": spec.size,
        "spec": spec.raw,
        "gigatrain_version": gigatrain_version(),
        "catalog_sha256": catalog_hashes(),
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def open_store(out: Path, spec: SweepSpec, allow_catalog_change: bool = False) -> dict[str, Any]:
    """Create ``out`` with its manifest, or check that an existing one is the same sweep
    (same fingerprint; same catalog unless ``allow_catalog_change``). Returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    mpath = out / MANIFEST
    new = manifest_for(spec)
    if mpath.exists():
        try:
            old = json.loads(mpath.read_text())
        except (OSError, ValueError) as e:
            raise GigatrainError(
                f"{mpath}: unreadable manifest ({e}); use a new --out directory"
            ) from None
        if old.get("fingerprint") != new["fingerprint"]:
            raise GigatrainError(
                f"{out} holds a different sweep (fingerprint {old.get('fingerprint')}, this spec "
                f"{new['fingerprint']}); use a new --out directory"
            )
        if old.get("catalog_sha256") != new["catalog_sha256"] and not allow_catalog_change:
            changed = sorted(
                k
                for k in set(old.get("catalog_sha256", {})) | set(new["catalog_sha256"])
                if old.get("catalog_sha256", {}).get(k) != new["catalog_sha256"].get(k)
            )
            raise GigatrainError(
                f"the catalog changed since {out} was started ({', '.join(changed)}); results "
                "would mix two catalogs: use a new --out, or --allow-catalog-change"
            )
        return old
    _atomic_write_bytes(mpath, (json.dumps(new, indent=2, default=str) + "\n").encode())
    return new


def part_dir(out: Path, chip: str) -> Path:
    return out / RESULTS / f"chip={chip}"


def clean_temporaries(out: Path) -> int:
    """Remove half-written files left by a killed driver; returns how many."""
    n = 0
    for p in (out / RESULTS).glob("*/.tmp-*"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def part_files(out: Path) -> list[Path]:
    return sorted((out / RESULTS).glob("chip=*/part-*.parquet"))


def done_keys(out: Path) -> set[str]:
    """Point keys present in finished files."""
    keys: set[str] = set()
    for f in part_files(out):
        t = pq.read_table(f, columns=["point_key"])
        keys.update(t.column("point_key").to_pylist())
    return keys


def write_task(out: Path, chip: str, task_id: str, table: pa.Table) -> Path:
    """Write one task's rows atomically (temporary file, fsync, :func:`os.replace`)."""
    d = part_dir(out, chip)
    d.mkdir(parents=True, exist_ok=True)
    final = d / f"part-{task_id}.parquet"
    tmp = d / f".tmp-{uuid.uuid4().hex}.parquet"
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    return final


def read_all(out: Path) -> pa.Table:
    files = part_files(out)
    if not files:
        raise GigatrainError(f"{out} holds no results yet (no {RESULTS}/chip=*/part-*.parquet)")
    return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
