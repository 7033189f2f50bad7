"""Chip-level GEMM model: efficiency from the compute array, on-chip memory and HBM.

Used for what-if chips (:mod:`gigatrain.sweep.whatif`) and as a check on the catalog's
efficiency numbers; it is **not** on the default prediction path (``model/step.py`` keeps its
measured curve e_max·F/(F+F½)).

A chip is ``engines`` identical engines (GPU SMs, NeuronCores, TPU TensorCores, AMD CUs), each
computing one output tile at a time at ``flop_per_cycle`` (dense, per format) and ``clock_hz``.
For a GEMM C[M,N] = A[M,K]·B[K,N] with e bytes per element, a *mapper* (as LLMCompass's
heuristic mappers, Zhang et al. ISCA 2024) tries each tile shape (tm, tn) the engine offers and
split-K ∈ {1, 2, 4} and keeps the fastest:

* **padding** — M, N, K are rounded up to the array's granules (TPU MXU: K, N to 128 or 256,
  M to 8 rows [SB-tpu]; Trainium TensorE: K to 128, N to ≥ 64 columns, the 64-cycle issue floor
  [NKI-T1]; GPU: whole tiles);
* **wave quantisation** — tiles T = ⌈M/tm⌉·⌈N/tn⌉·splitK run in W = ⌈T/engines⌉ waves, each
  as long as one full tile (ml-engineering [MLE-perf]: time ∝ ⌈C/SMs⌉);
* **tile time** — tm·tn·K_pad·2 / (splitK · flop_per_cycle) cycles plus the **pipeline fill**
  of the array (systolic fill/drain ≈ rows + cols cycles per K pass, SCALE-Sim's
  2·S_R + S_C + T − 2 per fold, Samajdar et al. 2020) and the operand-stage prologue;
* **on-chip SRAM** — a tile needs its double-buffered operand stages, 2·(tm + tn)·tk·e bytes,
  in the engine's SRAM (else the tile is not offered); the operand feed
  (tm + tn)·tk·e bytes per tm·tn·tk·2/flop_per_cycle cycles must fit the SRAM port, else
  compute slows by the ratio;
* **data reuse / HBM** — one wave covers a block of ≈ √W_t·tm × √W_t·tn outputs (W_t = tiles
  in flight; GPUs share it through L2), and an engine with a large scratchpad (Trainium SBUF
  with its 2 MiB PSUM accumulator, TPU VMEM) keeps an output block of side
  √(accumulator bytes / 4) itself — the larger of the two is the block; A is read once per
  block column and B once per block row:
  bytes = e·(M·K·⌈N/Bn⌉ + K·N·⌈M/Bm⌉ + M·N·splitK); operands that fit the last-level
  on-chip memory (L2 / SBUF / VMEM) are read once. Time = bytes / (HBM bandwidth × hbm_eff);
* **roofline** — kernel time = device overhead + max(compute, memory) + prologue; the
  measured time of an eagerly launched kernel is max(host launch floor, kernel time) (launches
  are asynchronous; the LLMCompass A100 harness adds a fixed 21 µs instead).

The steady-state issue rate of a well-tiled kernel, ``sustained_fraction`` (clock under the
power limit × instruction issue efficiency), is not derivable from the array: it defaults to the
catalog's measured MAMF/peak (``ChipSpec.matmul_efficiency``, stas00/ml-engineering), so the
chip-level model supplies the *shape* dependence and the catalog the level.

Sources: ``shared/facts/chip_microarchitecture.md`` (keys in brackets: [SB-gpu], [SB-tpu],
[NKI-T1/2/3], [JAX-TPUINFO], [ROCM-MI300], [LLMC], [SCALESIM]). Ignored: bank conflicts,
epilogue fusion, L2 partition effects (H100 two halves), TMA multicast, sparsity, clock
variation with shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..errors import GigatrainError
from ..specs import DTYPE_BYTES, ChipSpec


@dataclass(frozen=True)
class Micro:
    """Micro-architecture of one chip (per engine unless named per chip)."""

    engines: int  # SMs / NeuronCores / TensorCores / CUs per chip
    clock_hz: float  # tensor-engine clock at the catalog's dense peak
    flop_per_cycle: float  # dense bf16 FLOP per cycle per engine
    #: output tile shapes (tm, tn) the engine's kernels use; the mapper picks among them
    tiles: tuple[tuple[int, int], ...]
    tile_k: int  # K per operand stage (GPU k-block; systolic array rows)
    granule_m: int  # M padding granule inside a tile (TPU streams 8 rows)
    granule_n: int  # smallest N that keeps the array busy (Trainium issue floor 64 columns)
    granule_k: int  # K padding granule (array height)
    fill_cycles: int  # array fill + drain per tile (systolic rows + cols; GPU MMA pipeline)
    sram_bytes: float  # per-engine software-managed on-chip memory (SMEM / SBUF / VMEM)
    sram_bytes_per_cycle: float  # per-engine operand port to the array
    llc_bytes: float  # chip-level last-level on-chip memory (L2 / total SBUF / CMEM)
    #: output-block accumulator per engine (bytes, fp32): Trainium PSUM 2 MiB [NKI-T1]; 0 = half
    #: the SRAM (TPU VMEM, GPU shared memory)
    acc_bytes: float = 0.0
    memory_latency_s: float = 1e-6  # first-stage load from HBM before the array starts (ESTIMATE)
    #: kernel start + tail on the device: H200 back-to-back tiny kernels under CUDA graphs take
    #: ≈1.3 µs each (achievable.md, [GB] gpu-small-kernels); used for every chip (ESTIMATE elsewhere)
    device_overhead_s: float = 1.3e-6
    source: str = ""

    def peak_flops(self) -> float:
        """Dense bf16 FLOP/s of the chip: engines × FLOP/cycle × clock."""
        return self.engines * self.flop_per_cycle * self.clock_hz


def _micro(peak_bf16: float, engines: int, clock_hz: float, **kw: Any) -> Micro:
    """A :class:`Micro` whose per-engine bf16 FLOP/cycle reproduces the catalog peak."""
    return Micro(engines=engines, clock_hz=clock_hz, flop_per_cycle=peak_bf16 / (engines * clock_hz), **kw)


_GPU_TILES = ((128, 256), (256, 128), (128, 128), (64, 128), (64, 64))
_KiB, _MiB = 1024.0, 1024.0**2

#: per-chip micro-architecture; bf16 FLOP/cycle per engine is derived from the catalog peak
#: so that engines × FLOP/cycle × clock = dense peak (each entry's check in its source note)
MICRO_TABLE: dict[str, dict[str, Any]] = {
    "a100-80gb": dict(engines=108, clock_hz=1.41e9, tiles=_GPU_TILES, tile_k=32, granule_m=16, granule_n=8,
                      granule_k=16, fill_cycles=256, sram_bytes=164 * _KiB, sram_bytes_per_cycle=128,
                      llc_bytes=40e6,
                      source="[SB-gpu] 108 SMs, 1.41 GHz, 2,048 FLOP/SM/clk; [AMP-TG] 164 KB SMEM; L2 40 MB"),
    "h100-sxm": dict(engines=132, clock_hz=1.83e9, tiles=_GPU_TILES, tile_k=64, granule_m=64, granule_n=8,
                     granule_k=16, fill_cycles=256, sram_bytes=228 * _KiB, sram_bytes_per_cycle=128,
                     llc_bytes=50e6,
                     source="[SB-gpu] 132 SMs, 4,096 FLOP/SM/clk (132·4096·1.83 GHz = 989 TF); [CUTILE] 228 KB SMEM; L2 50 MB"),
    "h200": dict(engines=132, clock_hz=1.83e9, tiles=_GPU_TILES, tile_k=64, granule_m=64, granule_n=8,
                 granule_k=16, fill_cycles=256, sram_bytes=228 * _KiB, sram_bytes_per_cycle=128,
                 llc_bytes=50e6, source="as h100-sxm ([SB-gpu]: same SM array and L2)"),
    "b200": dict(engines=148, clock_hz=1.856e9, tiles=((256, 256), (128, 256), (256, 128), (128, 128), (64, 128)),
                 tile_k=64, granule_m=64, granule_n=8, granule_k=16, fill_cycles=256, sram_bytes=228 * _KiB,
                 sram_bytes_per_cycle=256, llc_bytes=126e6,
                 source="[SB-gpu]/[AO-4002] 148 SMs, ≈8,192 FLOP/SM/clk, clock DERIVED 2,250 TF/(148·8192); L2 126 MB; 2-SM MMA tiles [TMEM]"),
    "mi300x": dict(engines=304, clock_hz=2.1e9, tiles=((256, 256), (256, 128), (128, 128), (64, 64)), tile_k=64,
                   granule_m=16, granule_n=16, granule_k=16, fill_cycles=256, sram_bytes=64 * _KiB,
                   sram_bytes_per_cycle=128, llc_bytes=256 * _MiB,
                   source="[ROCM-SPECS] 304 CUs, 64 KiB LDS; [ROCM-MI300] 2,048 FLOP/clk/CU at 2.1 GHz; 256 MiB Infinity Cache"),
    "trn1": dict(engines=2, clock_hz=2.8e9, tiles=((128, 512),), tile_k=128, granule_m=128, granule_n=64,
                 granule_k=128, fill_cycles=256, sram_bytes=24 * _MiB, sram_bytes_per_cycle=2 * 128 * 2,
                 acc_bytes=2 * _MiB, llc_bytes=48 * _MiB,
                 source="[NKI-T1] 128×128 TensorE at 2.8 GHz, stationary 128×128, moving ≤128×512, issue ≥ 64 cycles; SBUF 24 MiB/core"),
    "trn2": dict(engines=8, clock_hz=2.4e9, tiles=((128, 512),), tile_k=128, granule_m=128, granule_n=64,
                 granule_k=128, fill_cycles=256, sram_bytes=24 * _MiB, sram_bytes_per_cycle=2 * 128 * 2,
                 acc_bytes=2 * _MiB, llc_bytes=224 * _MiB,
                 source="[NKI-T2] 8 NeuronCore-v3, 128×128 TensorE at 2.4 GHz, tiles as Trn1; SBUF 28 MiB/core (224 MiB chip)"),
    "trn3": dict(engines=8, clock_hz=2.4e9, tiles=((128, 512),), tile_k=128, granule_m=128, granule_n=64,
                 granule_k=128, fill_cycles=256, sram_bytes=32 * _MiB, sram_bytes_per_cycle=2 * 128 * 2,
                 acc_bytes=2 * _MiB, llc_bytes=256 * _MiB, source="[NKI-T3] 8 NeuronCore-v4, 128×128 at 2.4 GHz; SBUF 32 MiB/core"),
    "tpu-v5p": dict(engines=2, clock_hz=1.75e9, tiles=((512, 512), (256, 512), (128, 512)), tile_k=128,
                    granule_m=8, granule_n=128, granule_k=128, fill_cycles=256, sram_bytes=64 * _MiB,
                    sram_bytes_per_cycle=4 * 2 * 128 * 2, llc_bytes=128 * _MiB,
                    source="[GTPU-v5p]/[JAX-TPUINFO] 2 TC × 4 MXU 128×128, 1.75 GHz DERIVED; VMEM 64 MiB/TC"),
    "tpu-v5e": dict(engines=1, clock_hz=1.5e9, tiles=((512, 512), (256, 512), (128, 512)), tile_k=128,
                    granule_m=8, granule_n=128, granule_k=128, fill_cycles=256, sram_bytes=128 * _MiB,
                    sram_bytes_per_cycle=4 * 2 * 128 * 2, llc_bytes=128 * _MiB,
                    source="[GTPU-v5e]/[SB-tpu] 1 TC × 4 MXU 128×128, ~1.5 GHz; VMEM 128 MiB"),
    "tpu-v6e": dict(engines=1, clock_hz=1.75e9, tiles=((512, 512), (256, 512), (256, 256)), tile_k=256,
                    granule_m=8, granule_n=256, granule_k=256, fill_cycles=512, sram_bytes=128 * _MiB,
                    sram_bytes_per_cycle=2 * 2 * 256 * 2, llc_bytes=128 * _MiB,
                    source="[GTPU-v6e] 256×256 MXUs, VMEM 128 MiB; clock not derivable (ESTIMATE)"),
    "tpu-v7": dict(engines=2, clock_hz=1.9e9, tiles=((512, 512), (256, 512), (256, 256)), tile_k=256,
                   granule_m=8, granule_n=256, granule_k=256, fill_cycles=512, sram_bytes=64 * _MiB,
                   sram_bytes_per_cycle=4 * 2 * 256 * 2, llc_bytes=128 * _MiB,
                   source="[GTPU-7x]/[JAX-TPUINFO] 2 TC, MXU 256, VMEM 64 MiB/TC; clock ESTIMATE"),
}
#: keys a what-if chip may override under ``micro:`` (``clock_ghz``, ``engines`` and
#: ``flop_per_cycle_scale`` change the peak; the others change efficiency only)
MICRO_OVERRIDES = ("clock_ghz", "engines", "flop_per_cycle_scale", "sram_mib_per_engine",
                   "sram_bytes_per_cycle", "llc_mib", "tile_m", "tile_n", "fill_cycles")


def micro_for(chip: ChipSpec) -> Micro:
    """The chip's :class:`Micro` (by slug, then aliases); a chip without one gets a generic
    GPU-like array (132 engines of 128×256 tiles) scaled to its peak — labelled in ``source``."""
    peak = chip.peak_flops_per_s.get("bf16") or chip.peak("bf16")
    for name in (chip.slug, *[a.lower() for a in chip.aliases]):
        if name in MICRO_TABLE:
            return _micro(peak, **MICRO_TABLE[name])
    base = dict(MICRO_TABLE["h100-sxm"])
    base["source"] = f"GENERIC (no micro-architecture for {chip.slug}; H100-like array at its peak)"
    return _micro(peak, **base)


def apply_micro(m: Micro, overrides: dict[str, Any], where: str = "micro") -> Micro:
    """``m`` with what-if overrides (absolute numbers, or ``"xF"`` = F × the base value)."""
    def val(key: str, cur: float) -> float:
        raw = overrides[key]
        if isinstance(raw, str) and raw.strip().lower().startswith("x"):
            try:
                v = float(raw.strip()[1:]) * cur
            except ValueError:
                raise GigatrainError(f"{where}.{key}: cannot read {raw!r}; expected a number or 'xF'") from None
        else:
            try:
                v = float(raw)
            except (TypeError, ValueError):
                raise GigatrainError(f"{where}.{key}: expected a number or 'xF', got {raw!r}") from None
        if not math.isfinite(v) or v <= 0 or isinstance(raw, bool):
            raise GigatrainError(f"{where}.{key} must be a finite positive number, got {raw!r}")
        return v

    for k in overrides:
        if k not in MICRO_OVERRIDES:
            raise GigatrainError(f"{where}: unknown field {k!r}; valid: {', '.join(MICRO_OVERRIDES)}")
    kw: dict[str, Any] = {}
    fpc = m.flop_per_cycle
    if "clock_ghz" in overrides:
        kw["clock_hz"] = val("clock_ghz", m.clock_hz / 1e9) * 1e9
    if "engines" in overrides:
        kw["engines"] = max(1, round(val("engines", m.engines)))
    if "flop_per_cycle_scale" in overrides:
        fpc *= val("flop_per_cycle_scale", 1.0)
    if "sram_mib_per_engine" in overrides:
        kw["sram_bytes"] = val("sram_mib_per_engine", m.sram_bytes / _MiB) * _MiB
    if "sram_bytes_per_cycle" in overrides:
        kw["sram_bytes_per_cycle"] = val("sram_bytes_per_cycle", m.sram_bytes_per_cycle)
    if "llc_mib" in overrides:
        kw["llc_bytes"] = val("llc_mib", m.llc_bytes / _MiB) * _MiB
    if "fill_cycles" in overrides:
        kw["fill_cycles"] = round(val("fill_cycles", m.fill_cycles))
    if "tile_m" in overrides or "tile_n" in overrides:
        tm0, tn0 = m.tiles[0]
        tm = round(val("tile_m", tm0)) if "tile_m" in overrides else tm0
        tn = round(val("tile_n", tn0)) if "tile_n" in overrides else tn0
        kw["tiles"] = ((tm, tn), *[t for t in m.tiles if t != (tm, tn) and t[0] <= tm and t[1] <= tn])
    return replace(m, flop_per_cycle=fpc, **kw)


@dataclass(frozen=True)
class GemmTime:
    """Predicted time of one GEMM and what bounds it."""

    time_s: float  # max(host floor, kernel)
    kernel_s: float
    compute_s: float
    memory_s: float
    tile: tuple[int, int]
    split_k: int
    waves: int
    hbm_bytes: float
    bound: str  # "compute" | "memory" | "launch"

    def flops_per_s(self, m: int, n: int, k: int) -> float:
        return 2.0 * m * n * k / self.time_s


def _ceil(a: float, b: float) -> int:
    return int(-(-a // b))


def gemm_time(m: int, n: int, k: int, chip: ChipSpec, micro: Micro | None = None, dtype: str = "bf16", *,
              sustained_fraction: float | None = None, host_floor_s: float = 0.0) -> GemmTime:
    """Time of C[m,n] = A[m,k]·B[k,n] in ``dtype`` on ``chip`` (see the module docstring).

    ``sustained_fraction`` defaults to ``chip.matmul_efficiency`` (MAMF/peak); ``host_floor_s``
    is the launch-to-launch time of the host issuing kernels (0 for a captured graph)."""
    mi = micro or micro_for(chip)
    peak = chip.matmul_peak(dtype)
    fmt = chip.matmul_format(dtype)
    e = DTYPE_BYTES[fmt] if fmt != "tf32" else 4.0
    ratio = peak / mi.peak_flops()  # fp8 = 2× bf16 FLOP/cycle on the same array
    fpc = mi.flop_per_cycle * ratio
    sus = chip.matmul_efficiency if sustained_fraction is None else sustained_fraction
    bw = chip.hbm_bandwidth_bytes_per_s * chip.hbm_efficiency
    kp = _ceil(k, mi.granule_k) * mi.granule_k
    best: GemmTime | None = None
    for tm, tn in mi.tiles:
        tk = mi.tile_k
        if 2 * (tm + tn) * tk * e > mi.sram_bytes:
            continue  # double-buffered operand stages do not fit
        for split in (1, 2, 4):
            if split > 1 and kp // split < 4 * tk:
                continue
            # effective tile extents after padding to the array's granules
            tm_eff = min(tm, _ceil(m, mi.granule_m) * mi.granule_m)
            tn_eff = min(tn, max(mi.granule_n, _ceil(n, 8) * 8))
            tiles = _ceil(m, tm) * _ceil(n, tn) * split
            waves = _ceil(tiles, mi.engines)
            k_tile = kp / split
            cyc = tm_eff * tn_eff * k_tile * 2.0 / fpc
            feed = (tm_eff + tn_eff) * e * fpc / (2.0 * tm_eff * tn_eff)  # bytes/cycle at full rate
            cyc *= max(1.0, feed / mi.sram_bytes_per_cycle)
            cyc += mi.fill_cycles * _ceil(k_tile, mi.tile_k * 64)  # fill per long K pass (drain overlaps)
            compute_s = waves * cyc / (mi.clock_hz * sus)
            # HBM traffic with the reuse of one wave's block (module docstring)
            inflight = min(tiles / split, mi.engines)
            side = max(1.0, math.sqrt(inflight))
            b_eng = math.sqrt(min(mi.acc_bytes or mi.sram_bytes / 2, mi.sram_bytes / 2) / 4.0)
            bm, bn = min(m, max(side * tm, b_eng)), min(n, max(side * tn, b_eng))
            total = e * (m * k + k * n + m * n * split)
            if e * (m * k + k * n) <= mi.llc_bytes:
                traffic = total
            else:
                traffic = e * (m * k * _ceil(n, bn) + k * n * _ceil(m, bm) + m * n * split)
            memory_s = traffic / bw
            # pipeline fill: the first operand stage of the wave's block (unique bytes: SMs in one
            # block row share A, in one block column share B) before the arrays can start
            prologue = mi.memory_latency_s + (bm + bn) * tk * e / bw
            kernel = mi.device_overhead_s + max(compute_s, memory_s) + prologue
            t = max(host_floor_s, kernel)
            bound = "launch" if host_floor_s >= kernel else ("compute" if compute_s >= memory_s else "memory")
            cand = GemmTime(t, kernel, compute_s, memory_s, (tm, tn), split, waves, traffic, bound)
            if best is None or cand.kernel_s < best.kernel_s:
                best = cand
    if best is None:
        raise GigatrainError(f"no tile of {chip.slug} fits its {mi.sram_bytes / _KiB:,.0f} KiB of on-chip memory "
                             f"in {dtype}; raise sram_mib_per_engine")
    return best


def gemm_efficiency(m: int, n: int, k: int, chip: ChipSpec, micro: Micro | None = None, dtype: str = "bf16",
                    **kw: Any) -> float:
    """Achieved FLOP/s over the chip's dense peak for one GEMM."""
    t = gemm_time(m, n, k, chip, micro, dtype, **kw)
    return 2.0 * m * n * k / t.time_s / chip.matmul_peak(dtype)


#: transformer-shaped GEMMs (tokens × hidden → out) used to fit e_max, F½ for a what-if chip:
#: tokens per micro-batch 1k–64k, hidden 1k–16k, GLU widths 2.7×–4× and TP shards
def _transformer_shapes() -> list[tuple[int, int, int]]:
    out = []
    for t in (1024, 4096, 16384, 65536):
        for h in (1024, 2048, 4096, 8192, 16384):
            for f in (h, 4 * h // 8, 4 * h):
                out.append((t, f, h))
    return out


def fit_curve(chip: ChipSpec, micro: Micro | None = None, dtype: str = "bf16",
              sustained_fraction: float | None = None) -> tuple[float, float]:
    """(e_max, F½) of e(F) = e_max·F/(F + F½) fitted to the chip-level model over
    transformer-shaped GEMMs — the form ``model/step.py`` uses, so a what-if chip plugs into the
    default model. e_max is the plateau (the best shape's efficiency); F½ minimises the squared
    log error with e_max fixed (grid of 241 values over 10⁷–10¹³ FLOP), so a change that only
    helps small GEMMs (more HBM bandwidth, less fill) moves F½ and not e_max."""
    shapes = _transformer_shapes()
    flops = np.array([2.0 * m * n * k for m, n, k in shapes])
    eff = np.array([gemm_efficiency(m, n, k, chip, micro, dtype, sustained_fraction=sustained_fraction)
                    for m, n, k in shapes])
    e_max = float(eff.max())
    grid = np.logspace(7, 13, 241)
    err = [float(np.mean((np.log(eff) - np.log(e_max * flops / (flops + f))) ** 2)) for f in grid]
    return min(1.0, e_max), float(grid[int(np.argmin(err))])


def whatif_chip(base: ChipSpec, chip: ChipSpec, micro_overrides: dict[str, Any], where: str = "micro"
                ) -> ChipSpec:
    """``chip`` (base with scalar overrides already applied) with micro-architecture overrides:
    peaks scaled by engines × FLOP/cycle × clock (unless the peaks themselves were changed),
    and GEMM efficiency e_max, F½ = catalog × (chip-level fit of the variant / of the base)."""
    m0 = micro_for(base)
    m1 = apply_micro(m0, micro_overrides, where) if micro_overrides else m0
    scale = m1.peak_flops() / m0.peak_flops()
    if scale != 1.0 and chip.peak_flops_per_s == base.peak_flops_per_s:
        chip = replace(chip, peak_flops_per_s={k: v * scale for k, v in base.peak_flops_per_s.items()})
    elif chip.peak_flops_per_s != base.peak_flops_per_s:
        # the peaks were given: more FLOP/cycle on the same engines and clock
        m1 = replace(m1, flop_per_cycle=m1.flop_per_cycle * chip.peak("bf16") / base.peak("bf16"))
    sus = base.matmul_efficiency
    e0, f0 = fit_curve(base, m0, sustained_fraction=sus)
    e1, f1 = fit_curve(chip, m1, sustained_fraction=sus)
    return replace(chip, matmul_efficiency=min(1.0, base.matmul_efficiency * e1 / e0),
                   matmul_half_flops=base.matmul_half_flops * f1 / f0)


@dataclass(frozen=True)
class ShapeCheck:
    dtype: str
    m: int
    n: int
    k: int
    measured_flops_per_s: float
    predicted_flops_per_s: float
    bound: str

    @property
    def rel_error(self) -> float:
        """predicted / measured − 1 (the project's convention)."""
        return self.predicted_flops_per_s / self.measured_flops_per_s - 1.0


def check_profile(profile: dict[str, Any], chip: ChipSpec, *, anchor: tuple[str, int, int, int] | None = None,
                  dtypes: tuple[str, ...] = ("bf16", "fp16", "fp8")) -> tuple[float, list[ShapeCheck]]:
    """Chip-level predictions for every measured matmul of a ``gigatrain calibrate`` profile
    (its ``measurements.matmul`` rows), eagerly launched: the host floor is the profile's own
    measured time of a tiny matmul (``kernel_overhead`` ``mm-8``).

    ``anchor`` = (dtype, m, n, k): set ``sustained_fraction`` so that this one shape is exact and
    leave it out of the returned checks (a one-number calibration; every other shape is then
    predicted by the array, tiling and memory model alone). Without it the level is the
    catalog's MAMF/peak. Returns (sustained fraction used, checks). fp32 rows are left out by
    default: PyTorch runs them on CUDA cores (no TF32), which this model of the tensor array
    does not describe."""
    meas = profile.get("measurements", {})
    floor = next((r["time_s"] for r in meas.get("kernel_overhead", []) if r.get("kernel") == "mm-8"), 0.0)
    rows = [r for r in meas.get("matmul", []) if r.get("dtype") in dtypes]
    sus = chip.matmul_efficiency
    if anchor is not None:
        a = next((r for r in rows if (r["dtype"], r["m"], r["n"], r["k"]) == anchor), None)
        if a is None:
            raise GigatrainError(f"anchor shape {anchor} is not among the profile's matmul measurements")
        t = gemm_time(a["m"], a["n"], a["k"], chip, dtype=a["dtype"], host_floor_s=floor)
        sus = chip.matmul_efficiency * a["flops_per_s"] / (a["flops"] / t.time_s)
        rows = [r for r in rows if r is not a]
    out = []
    for r in rows:
        t = gemm_time(r["m"], r["n"], r["k"], chip, dtype=r["dtype"], host_floor_s=floor, sustained_fraction=sus)
        out.append(ShapeCheck(r["dtype"], r["m"], r["n"], r["k"], r["flops_per_s"], r["flops"] / t.time_s, t.bound))
    return sus, out


def _main(argv: list[str]) -> None:  # pragma: no cover - a report for the README
    """``python -m gigatrain.model.chip_level PROFILE.yaml [chip]``: errors per shape."""
    from ..catalog.hardware import get_chip
    from ..yamlio import read_yaml

    prof = read_yaml(argv[0], "profile")
    chip = get_chip(argv[1] if len(argv) > 1 else str(prof.get("catalog_chip", "h200")))
    largest = max((r for r in prof["measurements"]["matmul"] if r["dtype"] == "bf16"), key=lambda r: r["flops"])
    for label, anchor in (("catalog MAMF level", None),
                          ("anchored on the largest bf16 shape", ("bf16", largest["m"], largest["n"], largest["k"]))):
        sus, checks = check_profile(prof, chip, anchor=anchor)
        errs = np.abs([c.rel_error for c in checks])
        print(f"\n{chip.slug}, {label}: sustained fraction {sus:.3f}; {len(checks)} shapes; median |error| "
              f"{np.median(errs):.1%}, mean {errs.mean():.1%}, within 15% {np.mean(errs <= 0.15):.0%}")
        for c in checks:
            if abs(c.rel_error) > 0.15:
                print(f"  {c.dtype} {c.m}x{c.n}x{c.k}: measured {c.measured_flops_per_s / 1e12:,.1f} TF/s, "
                      f"predicted {c.predicted_flops_per_s / 1e12:,.1f} ({c.rel_error:+.1%}, {c.bound})")


if __name__ == "__main__":  # pragma: no cover
    import sys

    _main(sys.argv[1:])
