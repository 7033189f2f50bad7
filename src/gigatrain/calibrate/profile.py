"""Device profiles: figures fitted from microbenchmarks, saved as YAML, applied to a ChipSpec.

A profile replaces the catalog's *defaults* (efficiency curve, bandwidth, per-kernel overhead)
with figures measured on the user's own device. It never sees a training step: the figures
come from :mod:`.microbench` only, so comparing a prediction made with a profile against a
measured step (:mod:`.measure`) is an honest check.

Fitted figures (the estimator's step model, ``t(op) = F / (P·e(F)) + t_kernel``):

* ``peak_flops_per_s[dtype]`` — GPU with a catalog chip: the catalog's dense peak (kept, so
  MFU stays comparable); otherwise (CPU) the best measured matmul rate, raised to the fitted
  asymptote if that is higher (so ``matmul_efficiency`` ≤ 1).
* ``e(F) = e_max · F / (F + F_half)`` — least squares in log space over every measured GEMM of
  the profile's primary dtype, after subtracting the per-kernel floor ``t_kernel``:
  ``eff_i = F_i / ((t_i − t_kernel) · P)``. ``e_max`` → ``matmul_efficiency``,
  ``F_half`` → ``matmul_half_flops``.
* ``hbm_bandwidth_bytes_per_s`` — the best large-array streaming rate (copy/add), i.e. the
  *achieved* bandwidth, hence ``hbm_efficiency = 1`` when applied.
* ``kernel_overhead_s`` — median time of 1-element kernels issued back to back.
* ``attention_efficiency`` — causal SDPA forward+backward FLOPs (3 × forward, causal
  convention) / (time · peak), median over the benchmarked shapes.
* ``elementwise_bandwidth_bytes_per_s`` — Σ bytes / Σ time over the element-wise, norm and
  softmax kernels (forward and backward) at activation sizes: the rate a step's memory-bound
  ops reach (on CPU they can sit in cache, or be compute-bound on exp/tanh).
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import re
import statistics
import subprocess
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import yaml

from ..catalog.hardware import get_chip
from ..errors import GigatrainError
from ..knobs import DEFAULT_KNOBS
from ..specs import ChipSpec
from ..yamlio import read_yaml

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MatmulFit:
    """``eff(F) = e_max · F / (F + f_half)`` relative to ``peak_flops_per_s``."""

    e_max: float
    f_half: float
    rms_log_error: float  # root-mean-square of log(measured eff / fitted eff)
    points: int


@dataclass(frozen=True)
class DeviceProfile:
    """What one device reaches in practice, with where and when it was measured."""

    device_name: str
    kind: str  # "cpu" | "cuda"
    torch_version: str
    created: str  # ISO date-time (UTC)
    primary_dtype: str  # dtype whose fit goes into ChipSpec.matmul_* (fp32 on CPU, bf16 on GPU)
    peak_flops_per_s: dict[str, float]
    matmul_efficiency: float
    matmul_half_flops: float
    hbm_bandwidth_bytes_per_s: float
    kernel_overhead_s: float
    attention_efficiency: float
    elementwise_bandwidth_bytes_per_s: float
    peak_source: str  # "catalog:<slug>" or "measured"
    matmul_fits: dict[str, MatmulFit] = field(default_factory=dict)
    cuda_version: str = ""
    driver_version: str = ""
    cpu_model: str = ""
    threads: int = 0
    memory_bytes: float = 0.0  # device memory (GPU) or host RAM (CPU)
    catalog_chip: str = ""  # slug of the catalog chip the profile refines ("" = none)
    hostname: str = ""
    measurements: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    source_path: str = ""  # file it was loaded from / saved to (not written into the file)

    def describe(self) -> str:
        """One line naming the profile, for "estimated with profile ..." notes."""
        where = self.source_path or "(unsaved)"
        return f"{where} [{self.device_name}, {self.kind}, torch {self.torch_version}, {self.created[:10]}]"


# ---------------------------------------------------------------------------- fitting


def fit_matmul_curve(
    flops: list[float],
    times_s: list[float],
    peak_flops_per_s: float,
    kernel_overhead_s: float = 0.0,
) -> MatmulFit:
    """Fit ``eff(F) = e_max·F/(F+F_half)`` by least squares of log(eff) (numpy only).

    For a fixed ``F_half`` the best ``log e_max`` is the mean of ``log eff_i − log f_i``
    (``f_i = F_i/(F_i+F_half)``); ``F_half`` is then chosen on a log grid from 0 and 10³ to
    10¹⁵ FLOPs. The kernel floor is subtracted first (never more than 75 % of a sample) so the
    fitted curve plus ``kernel_overhead_s`` reproduces the measured times.
    """
    F = np.asarray(flops, dtype=float)
    t = np.asarray(times_s, dtype=float)
    if F.size == 0:
        raise GigatrainError("no matmul measurements to fit an efficiency curve to")
    t_work = np.maximum(t - kernel_overhead_s, 0.25 * t)
    log_eff = np.log(F / (t_work * peak_flops_per_s))
    grid = np.concatenate([[0.0], np.logspace(3, 15, 481)])
    log_f = np.log(F[None, :] / (F[None, :] + grid[:, None]))  # (grid, points)
    log_e = (log_eff[None, :] - log_f).mean(axis=1)
    resid = ((log_eff[None, :] - log_f - log_e[:, None]) ** 2).mean(axis=1)
    best = int(np.argmin(resid))
    return MatmulFit(
        e_max=float(np.exp(log_e[best])),
        f_half=float(grid[best]),
        rms_log_error=float(math.sqrt(resid[best])),
        points=int(F.size),
    )


def _median(values: list[float], what: str) -> float:
    if not values:
        raise GigatrainError(f"no {what} measurements in the microbenchmark results")
    return float(statistics.median(values))


def fit_profile(
    raw: dict[str, Any], env: dict[str, Any], chip: ChipSpec | None = None
) -> DeviceProfile:
    """Turn raw microbenchmarks (:func:`.microbench.run_microbenchmarks`) into a profile.

    ``env`` is :func:`device_environment`'s dict; ``chip`` (optional) is the catalog chip whose
    dense peaks are kept (GPU). Without a chip the peaks are the measured ones.
    """
    kind = env["kind"]
    overhead = _median([r["time_s"] for r in raw.get("kernel_overhead", [])], "kernel overhead")
    by_dtype: dict[str, list[dict[str, Any]]] = {}
    for row in raw.get("matmul", []):
        by_dtype.setdefault(row["dtype"], []).append(row)
    if not by_dtype:
        raise GigatrainError("no matmul measurements in the microbenchmark results")
    primary = "fp32" if kind == "cpu" else "bf16"
    if primary not in by_dtype:
        primary = next(iter(by_dtype))

    peaks: dict[str, float] = {}
    fits: dict[str, MatmulFit] = {}
    use_catalog = chip is not None and kind == "cuda"
    for dname, rows in by_dtype.items():
        measured = max(r["flops_per_s"] for r in rows)
        catalog_peak = chip.peak_flops_per_s.get(dname) if (use_catalog and chip) else None
        peak = float(catalog_peak) if catalog_peak else measured
        fit = fit_matmul_curve(
            [r["flops"] for r in rows], [r["time_s"] for r in rows], peak, overhead
        )
        if not catalog_peak and fit.e_max > 1.0:
            # the asymptote lies above the best single measurement: call it the peak
            peak *= fit.e_max
            fit = replace(fit, e_max=1.0)
        peaks[dname] = peak
        fits[dname] = fit

    stream = max((r["bytes_per_s"] for r in raw.get("bandwidth", [])), default=0.0)
    if stream <= 0:
        raise GigatrainError("no memory-bandwidth measurements in the microbenchmark results")
    ew = raw.get("elementwise", [])
    if not ew:
        raise GigatrainError("no element-wise measurements in the microbenchmark results")
    elementwise = sum(r["bytes_moved"] for r in ew) / sum(r["time_s"] for r in ew)
    att = [
        r["flops_fwd_bwd"] / (r["fwd_bwd_s"] * peaks.get(r["dtype"], peaks[primary]))
        for r in raw.get("attention", [])
    ]
    return DeviceProfile(
        device_name=env["device_name"],
        kind=kind,
        torch_version=env["torch_version"],
        created=env["created"],
        primary_dtype=primary,
        peak_flops_per_s=peaks,
        matmul_efficiency=fits[primary].e_max,
        matmul_half_flops=fits[primary].f_half,
        hbm_bandwidth_bytes_per_s=stream,
        kernel_overhead_s=overhead,
        attention_efficiency=_median(att, "attention") if att else 0.0,
        elementwise_bandwidth_bytes_per_s=elementwise,
        peak_source=f"catalog:{chip.slug}" if use_catalog and chip else "measured",
        matmul_fits=fits,
        cuda_version=env.get("cuda_version", ""),
        driver_version=env.get("driver_version", ""),
        cpu_model=env.get("cpu_model", ""),
        threads=int(env.get("threads", 0)),
        memory_bytes=float(env.get("memory_bytes", 0.0)),
        catalog_chip=chip.slug if chip else "",
        hostname=env.get("hostname", ""),
        measurements=raw,
    )


# ---------------------------------------------------------------------------- environment


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _host_memory_bytes() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0.0


def _driver_version() -> str:
    try:
        res = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return (
            res.stdout.strip().splitlines()[0] if res.returncode == 0 and res.stdout.strip() else ""
        )
    except (OSError, subprocess.SubprocessError):
        return ""


def device_environment(device: str, threads: int | None = None) -> dict[str, Any]:
    """Device name, versions, CPU model, thread count, memory and the date, for the profile.

    ``threads``: the torch CPU thread count the benchmarks ran with (default: the current one).
    """
    import torch

    env: dict[str, Any] = {
        "torch_version": str(torch.__version__),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "threads": threads or torch.get_num_threads(),
        "hostname": platform.node(),
    }
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GigatrainError(
                f"device {device!r} asked for, but torch {torch.__version__} sees "
                "no CUDA device (CPU-only build or no driver); use --device cpu"
            )
        dev = torch.device(device)
        props = torch.cuda.get_device_properties(dev)
        env.update(
            kind="cuda",
            device_name=props.name,
            memory_bytes=float(props.total_memory),
            cuda_version=torch.version.cuda or "",
            driver_version=_driver_version(),
        )
    else:
        env.update(kind="cpu", device_name=env["cpu_model"], memory_bytes=_host_memory_bytes())
    return env


#: device-name patterns (lower case, as torch reports them) → catalog chip slug; first match wins
_DEVICE_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"h100.*pcie", "h100-pcie"),
    (r"h100.*nvl", "h100-nvl"),
    (r"h100", "h100-sxm"),
    (r"h200", "h200"),
    (r"h800", "h800"),
    (r"gb200", "gb200"),
    (r"b200", "b200"),
    (r"gb300", "gb300"),
    (r"b300", "b300"),
    (r"a100.*40", "a100-40gb"),
    (r"a100", "a100-80gb"),
    (r"mi300x", "mi300x"),
    (r"mi325x", "mi325x"),
    (r"mi355x", "mi355x"),
)


def match_catalog_chip(device_name: str, chip: str | None = None) -> ChipSpec | None:
    """The catalog chip for a device: ``chip`` (a slug/alias) if given, else a match of the
    device name (``NVIDIA H100 80GB HBM3`` → ``h100-sxm``); ``None`` when nothing matches."""
    if chip:
        return get_chip(chip)
    name = device_name.lower()
    for pattern, slug in _DEVICE_PATTERNS:
        if re.search(pattern, name):
            try:
                return get_chip(slug)
            except GigatrainError:
                return None
    return None


# ---------------------------------------------------------------------------- YAML I/O


def _plain(value: Any) -> Any:
    """numpy scalars and tuples → plain YAML-safe Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str):
        return str(value)  # e.g. torch.__version__ is a str subclass YAML cannot represent
    if isinstance(value, bool | int | float) or value is None:
        return value
    return str(value)


def save_profile(profile: DeviceProfile, path: str | Path, *, force: bool = False) -> DeviceProfile:
    """Write ``profile`` as YAML; refuses to replace an existing file unless ``force``.

    Returns the profile with ``source_path`` set to the file written.
    """
    p = Path(path)
    if p.exists() and not force:
        raise GigatrainError(
            f"profile {str(p)!r} already exists; refusing to overwrite it "
            "(pass --force to replace it, or choose another --output)"
        )
    if p.is_dir():
        raise GigatrainError(f"profile path {str(p)!r} is a directory; give a file name")
    data = asdict(profile)
    data.pop("source_path")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(
        "# gigatrain device profile (gigatrain calibrate)\n"
        + yaml.safe_dump(_plain(data), sort_keys=False)
    )
    return replace(profile, source_path=str(p))


_REQUIRED_POSITIVE = ("matmul_efficiency", "hbm_bandwidth_bytes_per_s", "kernel_overhead_s")


def load_profile(path: str | Path) -> DeviceProfile:
    """Read and validate a profile written by :func:`save_profile`."""
    p = Path(path)
    if not p.is_file():
        raise GigatrainError(
            f"profile {str(p)!r} not found (create one with `gigatrain calibrate`)"
        )
    data = read_yaml(p, "profile")
    if not isinstance(data, dict):
        raise GigatrainError(f"profile {str(p)!r} is not a mapping of fields")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise GigatrainError(
            f"profile {str(p)!r}: schema_version={data.get('schema_version')!r}, "
            f"expected {SCHEMA_VERSION} (re-run `gigatrain calibrate`)"
        )
    known = {f.name for f in fields(DeviceProfile)} - {"source_path"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GigatrainError(f"profile {str(p)!r}: unknown field(s) {', '.join(unknown)}")
    required = {
        "device_name",
        "kind",
        "torch_version",
        "created",
        "primary_dtype",
        "peak_flops_per_s",
        "matmul_efficiency",
        "matmul_half_flops",
        "hbm_bandwidth_bytes_per_s",
        "kernel_overhead_s",
        "attention_efficiency",
        "elementwise_bandwidth_bytes_per_s",
        "peak_source",
    }
    missing = sorted(required - set(data))
    if missing:
        raise GigatrainError(f"profile {str(p)!r}: missing field(s) {', '.join(missing)}")
    if data["kind"] not in ("cpu", "cuda"):
        raise GigatrainError(
            f"profile {str(p)!r}: kind must be 'cpu' or 'cuda', got {data['kind']!r}"
        )
    for name in (*_REQUIRED_POSITIVE, "matmul_half_flops"):
        v = data[name]
        floor_ok = v >= 0 if name == "matmul_half_flops" else v > 0
        if not (isinstance(v, int | float) and math.isfinite(v) and floor_ok):
            raise GigatrainError(f"profile {str(p)!r}: {name} must be a positive number, got {v!r}")
    peaks = data["peak_flops_per_s"]
    if (
        not isinstance(peaks, dict)
        or not peaks
        or not all(
            isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in peaks.values()
        )
    ):
        raise GigatrainError(
            f"profile {str(p)!r}: peak_flops_per_s must map dtypes to positive FLOP/s"
        )
    if data["primary_dtype"] not in peaks:
        raise GigatrainError(
            f"profile {str(p)!r}: primary_dtype {data['primary_dtype']!r} has no peak"
        )
    data["matmul_fits"] = {k: MatmulFit(**v) for k, v in (data.get("matmul_fits") or {}).items()}
    return DeviceProfile(**data, source_path=str(p))


# ---------------------------------------------------------------------------- applying


class _ChipFigures(TypedDict):
    """The ChipSpec fields a profile sets."""

    matmul_efficiency: float
    matmul_half_flops: float
    hbm_bandwidth_bytes_per_s: float
    hbm_efficiency: float
    kernel_overhead_s: float
    elementwise_bandwidth_bytes_per_s: float


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:48] or "device"


def apply_profile(
    chip: ChipSpec | None, profile: DeviceProfile, dtype: str | None = None
) -> ChipSpec:
    """The chip with the profile's figures in place of catalog defaults.

    ``dtype`` picks which fitted curve becomes ``matmul_efficiency``/``matmul_half_flops``
    (default: the profile's primary dtype, the one its training steps use). Bandwidth is the
    achieved figure, so ``hbm_efficiency`` becomes 1.0. Without a catalog chip (CPU) a
    ChipSpec is built from the profile alone (``hbm_bytes`` = host RAM). The chip's labels
    carry ``calibration_profile`` (file and device) and ``attention_efficiency``.
    """
    fit = profile.matmul_fits.get(dtype or profile.primary_dtype)
    eff = fit.e_max if fit else profile.matmul_efficiency
    half = fit.f_half if fit else profile.matmul_half_flops
    labels = {
        "calibration_profile": profile.describe(),
        "attention_efficiency": f"{profile.attention_efficiency:.4g}",
        "elementwise_bandwidth_bytes_per_s": f"{profile.elementwise_bandwidth_bytes_per_s:.4g}",
    }
    figures = _ChipFigures(
        matmul_efficiency=eff,
        matmul_half_flops=half,
        hbm_bandwidth_bytes_per_s=profile.hbm_bandwidth_bytes_per_s,
        hbm_efficiency=1.0,
        kernel_overhead_s=profile.kernel_overhead_s,
        elementwise_bandwidth_bytes_per_s=profile.elementwise_bandwidth_bytes_per_s,
    )
    if chip is None:
        return ChipSpec(
            slug=f"{profile.kind}-{_slug(profile.device_name)}",
            name=profile.device_name,
            vendor="measured",
            peak_flops_per_s=dict(profile.peak_flops_per_s),
            hbm_bytes=profile.memory_bytes or 1.0,
            labels=labels,
            source=f"gigatrain calibrate profile {profile.describe()}",
            as_of=profile.created[:10],
            **figures,
        )
    peaks = dict(chip.peak_flops_per_s)
    if profile.peak_source == "measured":
        peaks.update(profile.peak_flops_per_s)
    return replace(
        chip,
        peak_flops_per_s=peaks,
        labels={**chip.labels, **labels},
        source=f"{chip.source}; calibrated by {profile.describe()}".lstrip("; "),
        **figures,
    )


def profile_knobs(profile: DeviceProfile | None, base: Any = None) -> Any:
    """Estimator knobs with the profile's measured attention efficiency.

    The estimator prices attention at ``peak · e_max · attention_efficiency_ratio`` with a
    backward of ``attention_bwd_ratio`` × forward FLOPs; the profile measured SDPA forward +
    backward as ``attention_efficiency`` = 3·F_fwd / (t · peak). Equal time needs
    ``ratio = attention_efficiency · (1 + attention_bwd_ratio) / 3 / e_max``.
    """
    knobs = base or DEFAULT_KNOBS
    if profile is None or profile.attention_efficiency <= 0:
        return knobs
    ratio = (
        profile.attention_efficiency
        * (1 + knobs.attention_bwd_ratio)
        / 3.0
        / profile.matmul_efficiency
    )
    return knobs.with_(attention_efficiency_ratio=ratio)
