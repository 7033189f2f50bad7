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
* **roofline** — kernel time = kernel fixed time + max(compute, memory) + prologue; the
  measured time of an eagerly launched kernel is max(host launch floor, kernel time) (launches
  are asynchronous and queue back to back); a harness that waits for each kernel sees
  floor + kernel (``launch="sync"``; the LLMCompass A100 harness adds a fixed 21 µs).

Two knobs are not derivable from the array, and only these two are ever fitted:
``sustained_fraction`` = (tensor clock under load / clock of the dense peak) × issue efficiency
(the chip runs below its boost clock at its power limit), and ``kernel_fixed_s`` (launch gap,
first-stage latency, epilogue). Without a measured profile they default to the catalog's
MAMF/peak (``ChipSpec.matmul_efficiency``, stas00/ml-engineering) and a sourced 1.3 µs, so the
chip-level model supplies the *shape* dependence and the catalog the level; with a profile,
:func:`fit_knobs` fits both inside :data:`KNOB_RANGES` and :func:`profile_report` scores the
fit held out (two-fold, leave-one-shape-family-out, leave-one-dtype-out).

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
    #: fixed device time of one kernel outside its K loops, for stream-ordered back-to-back
    #: launches: launch-to-launch gap + first operand stage from HBM + epilogue tail. Default:
    #: H200 back-to-back tiny kernels under CUDA graphs take ≈1.3 µs each, the whole kernel
    #: included, so this is an upper bound (achievable.md §5, [GB] gpu-small-kernels, read
    #: 2026-11); a measured profile refits it (:func:`fit_knobs`). Same default for every chip
    #: (ESTIMATE outside NVIDIA)
    kernel_fixed_s: float = 1.3e-6
    #: softmax exponentials per tensor-engine cycle per engine (FlashAttention's second
    #: bottleneck): NVIDIA 16 MUFU results/clk/SM (CUDA C Programming Guide throughput table,
    #: cc 8.x/9.x, RECALLED; FA3 §3.1 quotes 3.9 TFLOPS of special functions on H100 SXM5 =
    #: 132·16·1.83 GHz); Trainium ScalarE 128 lanes at half the TensorE clock = 64, Trn3 VectorE
    #: exp at 4× ScalarE ([NKI-T1/T2/T3], READ); TPU VPU 8×128 lanes (ESTIMATE: one exp per lane
    #: per cycle; the EUP rate is not published)
    exp_per_cycle: float = 16.0
    #: softmax overlaps the array (FA3 ping-pong on Hopper+, separate engines on Trainium/TPU);
    #: False = serial (FA2 on Ampere, or PyTorch SDPA's FA2 kernel anywhere)
    softmax_overlap: bool = True
    source: str = ""

    def peak_flops(self) -> float:
        """Dense bf16 FLOP/s of the chip: engines × FLOP/cycle × clock."""
        return self.engines * self.flop_per_cycle * self.clock_hz


def _micro(peak_bf16: float, engines: int, clock_hz: float, **kw: Any) -> Micro:
    """A :class:`Micro` whose per-engine bf16 FLOP/cycle reproduces the catalog peak."""
    return Micro(
        engines=engines, clock_hz=clock_hz, flop_per_cycle=peak_bf16 / (engines * clock_hz), **kw
    )


_GPU_TILES = ((128, 256), (256, 128), (128, 128), (64, 128), (64, 64))
_KiB, _MiB = 1024.0, 1024.0**2

#: per-chip micro-architecture; bf16 FLOP/cycle per engine is derived from the catalog peak
#: so that engines × FLOP/cycle × clock = dense peak (each entry's check in its source note)
MICRO_TABLE: dict[str, dict[str, Any]] = {
    "a100-80gb": dict(
        engines=108,
        clock_hz=1.41e9,
        tiles=_GPU_TILES,
        tile_k=32,
        granule_m=16,
        granule_n=8,
        granule_k=16,
        fill_cycles=256,
        sram_bytes=164 * _KiB,
        sram_bytes_per_cycle=128,
        llc_bytes=40e6,
        softmax_overlap=False,
        source="[SB-gpu] 108 SMs, 1.41 GHz, 2,048 FLOP/SM/clk; [AMP-TG] 164 KB SMEM; L2 40 MB",
    ),
    "h100-sxm": dict(
        engines=132,
        clock_hz=1.83e9,
        tiles=_GPU_TILES,
        tile_k=64,
        granule_m=64,
        granule_n=8,
        granule_k=16,
        fill_cycles=256,
        sram_bytes=228 * _KiB,
        sram_bytes_per_cycle=128,
        llc_bytes=50e6,
        source="[SB-gpu] 132 SMs, 4,096 FLOP/SM/clk (132·4096·1.83 GHz = 989 TF); [CUTILE] 228 KB SMEM; L2 50 MB",
    ),
    "h200": dict(
        engines=132,
        clock_hz=1.83e9,
        tiles=_GPU_TILES,
        tile_k=64,
        granule_m=64,
        granule_n=8,
        granule_k=16,
        fill_cycles=256,
        sram_bytes=228 * _KiB,
        sram_bytes_per_cycle=128,
        llc_bytes=50e6,
        source="as h100-sxm ([SB-gpu]: same SM array and L2)",
    ),
    "b200": dict(
        engines=148,
        clock_hz=1.856e9,
        tiles=((256, 256), (128, 256), (256, 128), (128, 128), (64, 128)),
        tile_k=64,
        granule_m=64,
        granule_n=8,
        granule_k=16,
        fill_cycles=256,
        sram_bytes=228 * _KiB,
        sram_bytes_per_cycle=256,
        llc_bytes=126e6,
        source="[SB-gpu]/[AO-4002] 148 SMs, ≈8,192 FLOP/SM/clk, clock DERIVED 2,250 TF/(148·8192); L2 126 MB; 2-SM MMA tiles [TMEM]",
    ),
    "mi300x": dict(
        engines=304,
        clock_hz=2.1e9,
        tiles=((256, 256), (256, 128), (128, 128), (64, 64)),
        tile_k=64,
        granule_m=16,
        granule_n=16,
        granule_k=16,
        fill_cycles=256,
        sram_bytes=64 * _KiB,
        sram_bytes_per_cycle=128,
        llc_bytes=256 * _MiB,
        source="[ROCM-SPECS] 304 CUs, 64 KiB LDS; [ROCM-MI300] 2,048 FLOP/clk/CU at 2.1 GHz; 256 MiB Infinity Cache",
    ),
    "trn1": dict(
        engines=2,
        clock_hz=2.8e9,
        tiles=((128, 512),),
        tile_k=128,
        granule_m=128,
        granule_n=64,
        granule_k=128,
        fill_cycles=256,
        sram_bytes=24 * _MiB,
        sram_bytes_per_cycle=2 * 128 * 2,
        acc_bytes=2 * _MiB,
        llc_bytes=48 * _MiB,
        exp_per_cycle=64.0,
        source="[NKI-T1] 128×128 TensorE at 2.8 GHz, stationary 128×128, moving ≤128×512, issue ≥ 64 cycles; SBUF 24 MiB/core",
    ),
    "trn2": dict(
        engines=8,
        clock_hz=2.4e9,
        tiles=((128, 512),),
        tile_k=128,
        granule_m=128,
        granule_n=64,
        granule_k=128,
        fill_cycles=256,
        sram_bytes=24 * _MiB,
        sram_bytes_per_cycle=2 * 128 * 2,
        acc_bytes=2 * _MiB,
        llc_bytes=224 * _MiB,
        exp_per_cycle=64.0,
        source="[NKI-T2] 8 NeuronCore-v3, 128×128 TensorE at 2.4 GHz, tiles as Trn1; SBUF 28 MiB/core (224 MiB chip)",
    ),
    "trn3": dict(
        engines=8,
        clock_hz=2.4e9,
        tiles=((128, 512),),
        tile_k=128,
        granule_m=128,
        granule_n=64,
        granule_k=128,
        fill_cycles=256,
        sram_bytes=32 * _MiB,
        sram_bytes_per_cycle=2 * 128 * 2,
        acc_bytes=2 * _MiB,
        llc_bytes=256 * _MiB,
        exp_per_cycle=320.0,
        source="[NKI-T3] 8 NeuronCore-v4, 128×128 at 2.4 GHz; SBUF 32 MiB/core",
    ),
    "tpu-v4": dict(
        engines=2,
        clock_hz=1.05e9,
        tiles=((512, 512), (256, 512), (128, 512)),
        tile_k=128,
        granule_m=8,
        granule_n=128,
        granule_k=128,
        fill_cycles=256,
        sram_bytes=16 * _MiB,
        sram_bytes_per_cycle=4 * 2 * 128 * 2,
        llc_bytes=128 * _MiB,
        exp_per_cycle=1024.0,
        source="[GTPU-v4]/[JAX-TPUINFO] 2 TC × 4 MXU 128×128, 1.05 GHz DERIVED (275 TF); VMEM 16 MiB/TC, CMEM 128 MiB",
    ),
    "tpu-v5p": dict(
        engines=2,
        clock_hz=1.75e9,
        tiles=((512, 512), (256, 512), (128, 512)),
        tile_k=128,
        granule_m=8,
        granule_n=128,
        granule_k=128,
        fill_cycles=256,
        sram_bytes=64 * _MiB,
        sram_bytes_per_cycle=4 * 2 * 128 * 2,
        llc_bytes=128 * _MiB,
        exp_per_cycle=1024.0,
        source="[GTPU-v5p]/[JAX-TPUINFO] 2 TC × 4 MXU 128×128, 1.75 GHz DERIVED; VMEM 64 MiB/TC",
    ),
    "tpu-v5e": dict(
        engines=1,
        clock_hz=1.5e9,
        tiles=((512, 512), (256, 512), (128, 512)),
        tile_k=128,
        granule_m=8,
        granule_n=128,
        granule_k=128,
        fill_cycles=256,
        sram_bytes=128 * _MiB,
        sram_bytes_per_cycle=4 * 2 * 128 * 2,
        llc_bytes=128 * _MiB,
        exp_per_cycle=1024.0,
        source="[GTPU-v5e]/[SB-tpu] 1 TC × 4 MXU 128×128, ~1.5 GHz; VMEM 128 MiB",
    ),
    "tpu-v6e": dict(
        engines=1,
        clock_hz=1.75e9,
        tiles=((512, 512), (256, 512), (256, 256)),
        tile_k=256,
        granule_m=8,
        granule_n=256,
        granule_k=256,
        fill_cycles=512,
        sram_bytes=128 * _MiB,
        sram_bytes_per_cycle=2 * 2 * 256 * 2,
        llc_bytes=128 * _MiB,
        exp_per_cycle=1024.0,
        source="[GTPU-v6e] 256×256 MXUs, VMEM 128 MiB; clock not derivable (ESTIMATE)",
    ),
    "tpu-v7": dict(
        engines=2,
        clock_hz=1.9e9,
        tiles=((512, 512), (256, 512), (256, 256)),
        tile_k=256,
        granule_m=8,
        granule_n=256,
        granule_k=256,
        fill_cycles=512,
        sram_bytes=64 * _MiB,
        sram_bytes_per_cycle=4 * 2 * 256 * 2,
        llc_bytes=128 * _MiB,
        exp_per_cycle=1024.0,
        source="[GTPU-7x]/[JAX-TPUINFO] 2 TC, MXU 256, VMEM 64 MiB/TC; clock ESTIMATE",
    ),
}
#: keys a what-if chip may override under ``micro:`` (``clock_ghz``, ``engines`` and
#: ``flop_per_cycle_scale`` change the peak; the others change efficiency only)
MICRO_OVERRIDES = (
    "clock_ghz",
    "engines",
    "flop_per_cycle_scale",
    "sram_mib_per_engine",
    "sram_bytes_per_cycle",
    "llc_mib",
    "tile_m",
    "tile_n",
    "fill_cycles",
)


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
                raise GigatrainError(
                    f"{where}.{key}: cannot read {raw!r}; expected a number or 'xF'"
                ) from None
        else:
            try:
                v = float(raw)
            except (TypeError, ValueError):
                raise GigatrainError(
                    f"{where}.{key}: expected a number or 'xF', got {raw!r}"
                ) from None
        if not math.isfinite(v) or v <= 0 or isinstance(raw, bool):
            raise GigatrainError(f"{where}.{key} must be a finite positive number, got {raw!r}")
        return v

    for k in overrides:
        if k not in MICRO_OVERRIDES:
            raise GigatrainError(
                f"{where}: unknown field {k!r}; valid: {', '.join(MICRO_OVERRIDES)}"
            )
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
        kw["tiles"] = (
            (tm, tn),
            *[t for t in m.tiles if t != (tm, tn) and t[0] <= tm and t[1] <= tn],
        )
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


def gemm_time(
    m: int,
    n: int,
    k: int,
    chip: ChipSpec,
    micro: Micro | None = None,
    dtype: str = "bf16",
    *,
    sustained_fraction: float | None = None,
    host_floor_s: float = 0.0,
    kernel_fixed_s: float | None = None,
    launch: str = "stream",
) -> GemmTime:
    """Time of C[m,n] = A[m,k]·B[k,n] in ``dtype`` on ``chip`` (see the module docstring).

    ``sustained_fraction`` defaults to ``chip.matmul_efficiency`` (MAMF/peak);
    ``kernel_fixed_s`` to the micro-architecture's; ``host_floor_s`` is the launch-to-launch
    time of the host issuing kernels (0 for a captured graph). ``launch="stream"``: kernels are
    queued back to back, time = max(host floor, kernel); ``"sync"``: the host waits for each
    kernel (a latency harness such as LLMCompass's), time = host floor + kernel."""
    if launch not in ("stream", "sync"):
        raise GigatrainError(f"launch={launch!r}; valid: stream, sync")
    mi = micro or micro_for(chip)
    fixed = mi.kernel_fixed_s if kernel_fixed_s is None else kernel_fixed_s
    sus = chip.matmul_efficiency if sustained_fraction is None else sustained_fraction
    best: GemmTime | None = None
    for tile, split, waves, compute1_s, traffic, memory_s, prologue in _candidates(
        m, n, k, chip, mi, dtype
    ):
        compute_s = compute1_s / sus
        kernel = fixed + max(compute_s, memory_s) + prologue
        t = max(host_floor_s, kernel) if launch == "stream" else host_floor_s + kernel
        bound = (
            "launch"
            if host_floor_s >= kernel
            else ("compute" if compute_s >= memory_s else "memory")
        )
        if best is None or kernel < best.kernel_s:
            best = GemmTime(t, kernel, compute_s, memory_s, tile, split, waves, traffic, bound)
    assert best is not None
    return best


def _candidates(
    m: int, n: int, k: int, chip: ChipSpec, mi: Micro, dtype: str
) -> list[tuple[tuple[int, int], int, int, float, float, float, float]]:
    """Every (tile, split-K) the mapper may choose, as (tile, split, waves, compute time at
    sustained fraction 1, HBM bytes, memory time, prologue time) — the parts of
    :func:`gemm_time` that do not depend on the fitted knobs."""
    peak = chip.matmul_peak(dtype)
    fmt = chip.matmul_format(dtype)
    e = DTYPE_BYTES[fmt] if fmt != "tf32" else 4.0
    ratio = peak / mi.peak_flops()  # fp8 = 2× bf16 FLOP/cycle on the same array
    fpc = mi.flop_per_cycle * ratio
    bw = chip.hbm_bandwidth_bytes_per_s * chip.hbm_efficiency
    kp = _ceil(k, mi.granule_k) * mi.granule_k
    out = []
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
            cyc += mi.fill_cycles * _ceil(
                k_tile, mi.tile_k * 64
            )  # fill per long K pass (drain overlaps)
            compute1_s = waves * cyc / mi.clock_hz
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
            # pipeline fill: the first operand stage of the wave's block (unique bytes: SMs in one
            # block row share A, in one block column share B) before the arrays can start
            prologue = (bm + bn) * tk * e / bw
            out.append(((tm, tn), split, waves, compute1_s, traffic, traffic / bw, prologue))
    if not out:
        raise GigatrainError(
            f"no tile of {chip.slug} fits its {mi.sram_bytes / _KiB:,.0f} KiB of on-chip memory "
            f"in {dtype}; raise sram_mib_per_engine"
        )
    return out


def gemm_efficiency(
    m: int,
    n: int,
    k: int,
    chip: ChipSpec,
    micro: Micro | None = None,
    dtype: str = "bf16",
    **kw: Any,
) -> float:
    """Achieved FLOP/s over the chip's dense peak for one GEMM."""
    t = gemm_time(m, n, k, chip, micro, dtype, **kw)
    return 2.0 * m * n * k / t.time_s / chip.matmul_peak(dtype)


def attention_time(
    batch: int,
    heads: int,
    seq: int,
    head_dim: int,
    chip: ChipSpec,
    micro: Micro | None = None,
    dtype: str = "bf16",
    *,
    causal: bool = True,
    backward: bool = False,
    overlap: bool | None = None,
    sustained_fraction: float | None = None,
    kernel_fixed_s: float | None = None,
    host_floor_s: float = 0.0,
    block: int = 128,
) -> float:
    """Seconds of one FlashAttention-style kernel (Dao et al. FA2 arXiv:2307.08691, FA3
    arXiv:2407.08608): each engine takes one (batch, head, query block of ``block`` rows) and
    walks the key/value blocks (causal: the blocks up to the diagonal, computed in full).

    Per (query block, key block): the array does QKᵀ and PV, 4·B²·d FLOPs (backward: 2.5×,
    QKᵀ recomputed, dQ, dK, dV) at the engine's FLOP/cycle; the softmax needs B² exponentials
    at ``exp_per_cycle`` (forward and backward alike). Overlapped (FA3, Trainium/TPU engines):
    max(matmul, exp) cycles per block; serial (FA2): the sum. Engines take query blocks longest
    first, so compute time ≈ max(total work / engines, longest block row), at the sustained
    fraction of the clock (as :func:`gemm_time`). HBM: Q, O once; K, V once per head when they
    fit the engine's memory or (for the heads in flight) the last-level memory, else once per
    query block; time = max(host floor, fixed + max(compute, memory))."""
    mi = micro or micro_for(chip)
    fpc = mi.flop_per_cycle * chip.matmul_peak(dtype) / mi.peak_flops()
    ov = mi.softmax_overlap if overlap is None else overlap
    sus = chip.matmul_efficiency if sustained_fraction is None else sustained_fraction
    fixed = mi.kernel_fixed_s if kernel_fixed_s is None else kernel_fixed_s
    bq = min(block, seq)
    d_pad = (
        _ceil(head_dim, 64) * 64
        if mi.granule_k <= 64
        else _ceil(head_dim, mi.granule_k) * mi.granule_k
    )
    mm = 4.0 * bq * bq * d_pad * (2.5 if backward else 1.0) / fpc
    ex = bq * bq / mi.exp_per_cycle
    per_block = max(mm, ex) if ov else mm + ex
    nq = _ceil(seq, bq)
    kv_blocks = [(i + 1) if causal else nq for i in range(nq)]
    rows = batch * heads
    total_cycles = rows * sum(kv_blocks) * per_block
    longest = max(kv_blocks) * per_block
    compute_s = max(total_cycles / mi.engines, longest) / (mi.clock_hz * sus)
    fmt = chip.matmul_format(dtype)
    e = DTYPE_BYTES[fmt] if fmt != "tf32" else 4.0
    # K, V of a head are re-read by each of its query blocks, from HBM only when they fit neither
    # the engine's own memory (SBUF/VMEM) nor, for the heads in flight, the last-level memory
    kv_row = 2.0 * seq * head_dim * e
    in_flight = max(1, _ceil(mi.engines, nq))
    reread = kv_row > mi.sram_bytes / 2 and in_flight * kv_row > mi.llc_bytes
    kv = 2.0 * bq * sum(kv_blocks) * head_dim * e if reread else kv_row
    traffic = rows * (2.0 * seq * head_dim * e + kv) * (2.5 if backward else 1.0)
    memory_s = traffic / (chip.hbm_bandwidth_bytes_per_s * chip.hbm_efficiency)
    return max(host_floor_s, fixed + max(compute_s, memory_s))


def attention_flops(
    batch: int, heads: int, seq: int, head_dim: int, causal: bool = True, backward: bool = False
) -> float:
    """Useful attention FLOPs, the calibrate/step-model convention: 4·b·h·d·s·(s+1)/2 causal
    (4·b·h·d·s² otherwise) forward; the backward 2.5× that."""
    ctx = (seq + 1) / 2 if causal else seq
    return 4.0 * batch * heads * head_dim * seq * ctx * (2.5 if backward else 1.0)


def attention_efficiency(
    batch: int,
    heads: int,
    seq: int,
    head_dim: int,
    chip: ChipSpec,
    micro: Micro | None = None,
    dtype: str = "bf16",
    **kw: Any,
) -> float:
    """Achieved attention FLOP/s over the chip's dense peak (:func:`attention_time`)."""
    t = attention_time(batch, heads, seq, head_dim, chip, micro, dtype, **kw)
    return (
        attention_flops(
            batch, heads, seq, head_dim, kw.get("causal", True), kw.get("backward", False)
        )
        / t
        / chip.matmul_peak(dtype)
    )


def attention_ratio(
    chip: ChipSpec,
    micro: Micro | None = None,
    dtype: str = "bf16",
    sustained_fraction: float | None = None,
) -> float:
    """Attention efficiency over the best GEMM efficiency of the chip, for a training-shaped
    causal attention (seq 4096, head_dim 128, 32 heads × 4 sequences, forward + backward) —
    the quantity the step model's ``attention_efficiency_ratio`` knob holds."""
    kw: dict[str, Any] = {"sustained_fraction": sustained_fraction}
    fwd = attention_time(4, 32, 4096, 128, chip, micro, dtype, **kw)
    bwd = attention_time(4, 32, 4096, 128, chip, micro, dtype, backward=True, **kw)
    eff = (attention_flops(4, 32, 4096, 128) * 3.5) / (fwd + bwd) / chip.matmul_peak(dtype)
    gemm = gemm_efficiency(
        16384, 16384, 16384, chip, micro, dtype, sustained_fraction=sustained_fraction
    )
    return eff / gemm


#: transformer-shaped GEMMs (tokens × hidden → out) used to fit e_max, F½ for a what-if chip:
#: tokens per micro-batch 1k–64k, hidden 1k–16k, GLU widths 2.7×–4× and TP shards
def _transformer_shapes() -> list[tuple[int, int, int]]:
    out = []
    for t in (1024, 4096, 16384, 65536):
        for h in (1024, 2048, 4096, 8192, 16384):
            for f in (h, 4 * h // 8, 4 * h):
                out.append((t, f, h))
    return out


def fit_curve(
    chip: ChipSpec,
    micro: Micro | None = None,
    dtype: str = "bf16",
    sustained_fraction: float | None = None,
) -> tuple[float, float]:
    """(e_max, F½) of e(F) = e_max·F/(F + F½) fitted to the chip-level model over
    transformer-shaped GEMMs — the form ``model/step.py`` uses, so a what-if chip plugs into the
    default model. e_max is the plateau (the best shape's efficiency); F½ minimises the squared
    log error with e_max fixed (grid of 241 values over 10⁷–10¹³ FLOP), so a change that only
    helps small GEMMs (more HBM bandwidth, less fill) moves F½ and not e_max."""
    shapes = _transformer_shapes()
    flops = np.array([2.0 * m * n * k for m, n, k in shapes])
    eff = np.array(
        [
            gemm_efficiency(m, n, k, chip, micro, dtype, sustained_fraction=sustained_fraction)
            for m, n, k in shapes
        ]
    )
    e_max = float(eff.max())
    grid = np.logspace(7, 13, 241)
    err = [float(np.mean((np.log(eff) - np.log(e_max * flops / (flops + f))) ** 2)) for f in grid]
    return min(1.0, e_max), float(grid[int(np.argmin(err))])


def whatif_chip(
    base: ChipSpec, chip: ChipSpec, micro_overrides: dict[str, Any], where: str = "micro"
) -> ChipSpec:
    """``chip`` (base with scalar overrides already applied) with micro-architecture overrides:
    peaks scaled by engines × FLOP/cycle × clock (unless the peaks themselves were changed),
    and GEMM efficiency e_max, F½ = catalog × (chip-level fit of the variant / of the base)."""
    m0 = micro_for(base)
    m1 = apply_micro(m0, micro_overrides, where) if micro_overrides else m0
    scale = m1.peak_flops() / m0.peak_flops()
    if scale != 1.0 and chip.peak_flops_per_s == base.peak_flops_per_s:
        chip = replace(
            chip, peak_flops_per_s={k: v * scale for k, v in base.peak_flops_per_s.items()}
        )
    elif chip.peak_flops_per_s != base.peak_flops_per_s:
        # the peaks were given: more FLOP/cycle on the same engines and clock
        m1 = replace(m1, flop_per_cycle=m1.flop_per_cycle * chip.peak("bf16") / base.peak("bf16"))
    sus = base.matmul_efficiency
    e0, f0 = fit_curve(base, m0, sustained_fraction=sus)
    e1, f1 = fit_curve(chip, m1, sustained_fraction=sus)
    return replace(
        chip,
        matmul_efficiency=min(1.0, base.matmul_efficiency * e1 / e0),
        matmul_half_flops=base.matmul_half_flops * f1 / f0,
    )


#: physical ranges of the two knobs a measured profile may fit (:func:`fit_knobs`):
#: sustained fraction = (tensor clock under load / clock at the dense peak) × issue efficiency —
#: H100/H200 run between the 1.59 GHz base and 1.98 GHz boost clock against the 1.83 GHz of the
#: 989 TF peak ([SB-gpu]), and cuBLAS-class kernels issue 80–90 % of peak at a fixed clock
#: ([FA3] §1, achievable.md), so 0.5–1.0 brackets it; the kernel fixed time is bounded below
#: by 0 (hidden under the previous kernel's tail when launches are queued back to back) and
#: above by a whole tiny kernel with its launch (10 µs)
KNOB_RANGES: dict[str, tuple[float, float]] = {
    "sustained_fraction": (0.5, 1.0),
    "kernel_fixed_s": (0.0, 1e-5),
}


@dataclass(frozen=True)
class GemmKnobs:
    """The two fitted, physical knobs of the chip-level GEMM model (see :data:`KNOB_RANGES`)."""

    sustained_fraction: float
    kernel_fixed_s: float


@dataclass(frozen=True)
class ShapeCheck:
    dtype: str
    m: int
    n: int
    k: int
    layout: str
    measured_flops_per_s: float
    predicted_flops_per_s: float
    bound: str
    #: why the row is not scored (empty = scored): see :func:`profile_rows`
    artefact: str = ""

    @property
    def rel_error(self) -> float:
        """predicted / measured − 1 (the project's convention)."""
        return self.predicted_flops_per_s / self.measured_flops_per_s - 1.0

    @property
    def family(self) -> str:
        """Shape family for leave-one-family-out: square NN grid, or the layout of the
        training-shaped GEMMs (forward NT, input-grad NN, weight-grad TN)."""
        return "square" if self.m == self.n == self.k else f"train-{self.layout}"


@dataclass(frozen=True)
class ProfileRow:
    dtype: str
    m: int
    n: int
    k: int
    layout: str
    flops: float
    time_s: float
    artefact: str


def profile_rows(
    profile: dict[str, Any], dtypes: tuple[str, ...] = ("bf16", "fp16", "fp8")
) -> list[ProfileRow]:
    """The tensor-core matmul rows of a ``gigatrain calibrate`` profile, with measurement
    artefacts flagged (never dropped silently).

    Flagged: the first shape timed for each dtype. ``calibrate`` sizes each sample's batch of
    back-to-back calls from the warm-up time (``calibrate/microbench.time_per_call``); the
    first call of a dtype also loads its kernels, so the batch collapses to a call or two and
    the sample measures one call's host latency, not the stream throughput the other rows
    measure (INFERRED from the shipped H200 profile: the first shape of every dtype — bf16,
    fp16 and fp32 128³, fp8 1024³ — is 1.5–1.7× slower than the next, larger shape or the
    profile's own ``mm-8`` floor, and no other row is). fp32 rows are left out by default:
    PyTorch runs them on CUDA cores (no TF32), which this model of the tensor array does not
    describe."""
    out, seen = [], set()
    for r in profile.get("measurements", {}).get("matmul", []):
        d = r.get("dtype")
        first = d not in seen
        seen.add(d)
        if d not in dtypes:
            continue
        out.append(
            ProfileRow(
                d,
                int(r["m"]),
                int(r["n"]),
                int(r["k"]),
                str(r.get("layout", "NN")),
                float(r["flops"]),
                float(r["time_s"]),
                "first shape of its dtype (warm-up artefact)" if first else "",
            )
        )
    return out


def host_floor(profile: dict[str, Any]) -> float:
    """The profile's measured launch-to-launch time of a tiny matmul (``mm-8``), 0 if absent."""
    meas = profile.get("measurements", {})
    return float(
        next(
            (r["time_s"] for r in meas.get("kernel_overhead", []) if r.get("kernel") == "mm-8"), 0.0
        )
    )


def predict_rows(
    rows: list[ProfileRow], chip: ChipSpec, knobs: GemmKnobs | None, floor_s: float
) -> list[ShapeCheck]:
    """Chip-level predictions for profile rows (``knobs`` None = the catalog's MAMF level and
    the micro-architecture's default fixed time)."""
    out = []
    for r in rows:
        t = gemm_time(
            r.m,
            r.n,
            r.k,
            chip,
            dtype=r.dtype,
            host_floor_s=floor_s,
            sustained_fraction=None if knobs is None else knobs.sustained_fraction,
            kernel_fixed_s=None if knobs is None else knobs.kernel_fixed_s,
        )
        out.append(
            ShapeCheck(
                r.dtype,
                r.m,
                r.n,
                r.k,
                r.layout,
                r.flops / r.time_s,
                r.flops / t.time_s,
                t.bound,
                r.artefact,
            )
        )
    return out


def _golden(f: Any, lo: float, hi: float, iters: int = 24) -> float:
    """Minimiser of a unimodal ``f`` on [lo, hi] (golden-section search)."""
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(d)
    return (a + b) / 2


def _row_arrays(rows: list[ProfileRow], chip: ChipSpec) -> tuple[np.ndarray, ...]:
    """(compute at sustained 1, memory time, prologue) per row × candidate (padded with inf),
    and the measured times — so a knob fit costs numpy arithmetic, not model calls."""
    mi = micro_for(chip)
    cands = [_candidates(r.m, r.n, r.k, chip, mi, r.dtype) for r in rows]
    w = max(len(c) for c in cands)
    c1, mem, pro = (np.full((len(rows), w), np.inf) for _ in range(3))
    for i, cs in enumerate(cands):
        for j, c in enumerate(cs):
            c1[i, j], mem[i, j], pro[i, j] = c[3], c[5], c[6]
    return c1, mem, pro, np.array([r.time_s for r in rows])


def fit_knobs(rows: list[ProfileRow], chip: ChipSpec, floor_s: float) -> GemmKnobs:
    """The two knobs minimising the mean squared log error of predicted time over ``rows``
    (artefacts excluded), each inside :data:`KNOB_RANGES`: golden-section search over the
    kernel fixed time and, inside it, over the sustained fraction (the predicted time is
    max(host floor, fixed + min over tiles of max(compute/sustained, memory) + prologue), as
    :func:`gemm_time`). Refuses fewer than two scored shapes per knob."""
    use = [r for r in rows if not r.artefact]
    if len(use) < 2 * len(KNOB_RANGES):
        raise GigatrainError(
            f"fit_knobs: {len(use)} usable shapes for {len(KNOB_RANGES)} knobs; "
            f"need at least {2 * len(KNOB_RANGES)}"
        )
    c1, mem, pro, meas = _row_arrays(use, chip)

    def loss(sus: float, fixed: float) -> float:
        kernel = (fixed + np.maximum(c1 / sus, mem) + pro).min(axis=1)
        return float(np.mean(np.log(np.maximum(floor_s, kernel) / meas) ** 2))

    s_lo, s_hi = KNOB_RANGES["sustained_fraction"]
    t_lo, t_hi = KNOB_RANGES["kernel_fixed_s"]

    def best_sus(fixed: float) -> float:
        return _golden(lambda x: loss(x, fixed), s_lo, s_hi, iters=40)

    fixed = _golden(lambda t: loss(best_sus(t), t), t_lo, t_hi, iters=40)
    return GemmKnobs(best_sus(fixed), fixed)


def _stats(checks: list[ShapeCheck]) -> dict[str, float]:
    errs = np.abs([c.rel_error for c in checks if not c.artefact])
    if not len(errs):
        return {"shapes": 0}
    return {
        "shapes": len(errs),
        "median_abs": float(np.median(errs)),
        "mean_abs": float(errs.mean()),
        "max_abs": float(errs.max()),
        "within_15pct": float(np.mean(errs <= 0.15)),
    }


def profile_report(
    profile: dict[str, Any], chip: ChipSpec, dtypes: tuple[str, ...] = ("bf16", "fp16", "fp8")
) -> dict[str, Any]:
    """Chip-level GEMM error on a measured profile, in-sample and held out.

    * ``catalog``: no fit — the catalog's MAMF level and the default fixed time;
    * ``fitted``: both knobs fitted on every scored shape (in-sample);
    * ``two_fold``: shapes sorted by FLOPs, alternate ones in fold A / B; fit on one, score the
      other, both ways (every shape scored once, out of sample);
    * ``leave_family_out``: fit without one family (square grid, train-NT, train-NN, train-TN)
      and score that family;
    * ``leave_dtype_out``: fit on one dtype and score the others (bf16 → fp16, fp8).
    The artefact rows (:func:`profile_rows`) are listed but never scored."""
    floor_s = host_floor(profile)
    rows = profile_rows(profile, dtypes)
    knobs = fit_knobs(rows, chip, floor_s)
    out: dict[str, Any] = {
        "chip": chip.slug,
        "host_floor_s": floor_s,
        "knobs": {
            "sustained_fraction": knobs.sustained_fraction,
            "kernel_fixed_s": knobs.kernel_fixed_s,
        },
    }
    cat = predict_rows(rows, chip, None, floor_s)
    fit = predict_rows(rows, chip, knobs, floor_s)
    out["catalog"], out["fitted"] = _stats(cat), _stats(fit)
    out["fitted_by_dtype"] = {d: _stats([c for c in fit if c.dtype == d]) for d in dtypes}
    scored = sorted([r for r in rows if not r.artefact], key=lambda r: r.flops)
    folds = (scored[0::2], scored[1::2])
    held: list[ShapeCheck] = []
    for i in (0, 1):
        held += predict_rows(folds[1 - i], chip, fit_knobs(folds[i], chip, floor_s), floor_s)
    out["two_fold"] = _stats(held)
    out["two_fold_by_dtype"] = {d: _stats([c for c in held if c.dtype == d]) for d in dtypes}
    fam = {r: ShapeCheck(r.dtype, r.m, r.n, r.k, r.layout, 1.0, 1.0, "").family for r in scored}
    lofo: list[ShapeCheck] = []
    for f in sorted(set(fam.values())):
        train = [r for r in scored if fam[r] != f]
        lofo += predict_rows(
            [r for r in scored if fam[r] == f], chip, fit_knobs(train, chip, floor_s), floor_s
        )
    out["leave_family_out"] = _stats(lofo)
    first = dtypes[0]
    k1 = fit_knobs([r for r in scored if r.dtype == first], chip, floor_s)
    out["leave_dtype_out"] = {
        "fit_on": first,
        **_stats(predict_rows([r for r in scored if r.dtype != first], chip, k1, floor_s)),
    }
    out["misses"] = [
        f"{c.dtype} {c.m}x{c.n}x{c.k} {c.layout}: measured {c.measured_flops_per_s / 1e12:,.1f} TF/s, "
        f"predicted {c.predicted_flops_per_s / 1e12:,.1f} ({c.rel_error:+.1%}, {c.bound})"
        for c in fit
        if abs(c.rel_error) > 0.15 and not c.artefact
    ]
    out["artefacts"] = [
        f"{c.dtype} {c.m}x{c.n}x{c.k}: measured {c.measured_flops_per_s / 1e12:,.2f} TF/s, "
        f"predicted {c.predicted_flops_per_s / 1e12:,.2f} ({c.rel_error:+.1%}): {c.artefact}"
        for c in fit
        if c.artefact
    ]
    out["checks"] = fit
    return out


def check_profile(
    profile: dict[str, Any],
    chip: ChipSpec,
    *,
    knobs: GemmKnobs | None = None,
    dtypes: tuple[str, ...] = ("bf16", "fp16", "fp8"),
) -> list[ShapeCheck]:
    """Chip-level predictions for every tensor-core matmul of a profile (artefacts flagged),
    eagerly launched: the host floor is the profile's own ``mm-8`` time. ``knobs`` None = the
    catalog level, no fit."""
    return predict_rows(profile_rows(profile, dtypes), chip, knobs, host_floor(profile))
