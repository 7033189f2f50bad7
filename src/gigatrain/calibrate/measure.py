"""Real training steps in PyTorch, measured, and the estimator's prediction for the same step.

One step = forward (logits, fp32 cross-entropy) + backward + AdamW step + ``zero_grad``; on
GPU under bf16 autocast with fp32 master weights (the ``Job(precision="bf16")`` of the
estimator), on CPU in fp32 (``Job(precision="fp32")``). After ``warmup`` steps, ``steps``
steps are timed phase by phase (forward, backward, optimizer; device synchronised between
phases) and the *median* step is reported.

Memory: GPU — ``torch.cuda.max_memory_allocated`` over the timed steps (tensors only: no CUDA
context, no allocator slack); CPU — peak resident set size (``VmHWM`` after resetting it via
``/proc/self/clear_refs``) minus the RSS before the model was built, i.e. everything the step
added including allocator slack (falls back to ``ru_maxrss`` where the reset is unavailable).

Per component (optional, one extra profiled forward+backward): time of GEMM ops
(``aten::mm``, ``addmm``, ``bmm``…) and attention ops (``aten::_scaled_dot_product_*``) from
``torch.profiler``; the optimizer
from its timed phase; "other" = forward+backward − GEMMs − attention (element-wise, norms,
loss, embedding, autograd bookkeeping). These line up with the estimator's leaves
``compute/matmul`` + ``compute/lm_head``, ``compute/attention``, ``compute/memory_bound`` and
``optimizer``.

The prediction uses the chip with the calibration profile applied, one device, plan
tp=pp=dp=1, micro-batch = batch, ZeRO 0, no recompute, no sequence parallel; the only figures
taken from the profile are those fitted from microbenchmarks (never from these steps).
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..catalog.frameworks import knobs_for
from ..catalog.hardware import get_chip
from ..errors import GigatrainError, require_positive
from ..model.estimate import estimate
from ..specs import ChipSpec, Job, ModelSpec, NetworkTier, Plan, SystemSpec
from .microbench import cpu_threads, resolve_device, synchronize
from .profile import DeviceProfile, apply_profile, profile_knobs
from .torch_model import build_model, check_buildable, count_parameters

#: estimator leaves grouped into the components a profiler can see in a real step
COMPONENT_LEAVES: dict[str, tuple[str, ...]] = {
    "matmul": ("time/compute/matmul", "time/compute/lm_head"),
    "attention": ("time/compute/attention",),
    "other": (
        "time/compute/memory_bound",
        "time/compute/host_overhead",
        "time/overhead/microbatch",
        "time/overhead/step",
    ),
    "optimizer": ("time/optimizer",),
}

#: memory leaves that are tensors a real step allocates (the rest — runtime context, framework
#: overhead, fragmentation — are knobs for what an allocator-level measurement does not see)
TENSOR_MEMORY_LEAVES = frozenset(
    {
        "memory/weights",
        "memory/gradients",
        "memory/optimizer",
        "memory/activations",
        "memory/logits",
        "memory/fsdp_gather",
    }
)

_MATMUL_OPS = (
    "aten::mm",
    "aten::addmm",
    "aten::bmm",
    "aten::baddbmm",
    "aten::_addmm_activation",
    "aten::addmv",
    "aten::mv",
)
_ATTENTION_PREFIX = (
    "aten::_scaled_dot_product_"  # flash / efficient / cudnn / math-for-cpu, fwd + bwd
)


@dataclass
class StepMeasurement:
    """What the real steps took."""

    step_s: float  # median over timed steps
    step_times_s: list[float]
    phases_s: dict[str, float]  # median forward / backward / optimizer
    memory_bytes: float
    memory_method: str
    components_s: dict[str, float] = field(default_factory=dict)  # profiler split (one step)
    params: int = 0
    step_cpu_s: float = 0.0  # median process CPU time per step (CPU device)
    cpu_share: float = 0.0  # step_cpu_s / step_s: < threads means the process waited for cores


@dataclass
class MeasureResult:
    """Measured vs predicted for one (model, batch, seq) on one device."""

    model: str
    device: str
    device_name: str
    batch: int
    seq: int
    precision: str
    params: int
    profile: str
    measured_step_s: float  # wall (clock="wall") or process CPU time (clock="process")
    predicted_step_s: float
    step_rel_error: float  # predicted / measured − 1
    measured_memory_bytes: float
    predicted_memory_bytes: float  # tensor leaves only (TENSOR_MEMORY_LEAVES)
    predicted_memory_total_bytes: float  # the estimator's full figure
    memory_rel_error: float
    memory_method: str
    components: dict[str, dict[str, float]] = field(default_factory=dict)
    step_times_s: list[float] = field(default_factory=list)
    phases_s: dict[str, float] = field(default_factory=dict)
    time_breakdown: dict[str, float] = field(default_factory=dict)
    clock: str = "wall"
    measured_step_wall_s: float = 0.0
    measured_step_cpu_s: float = 0.0
    cpu_share: float = 0.0  # process CPU time / wall time of the median step

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------- memory helpers


def _rss_bytes() -> float:
    import os

    with open("/proc/self/statm") as fh:
        return float(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_free_heap() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc ``malloc_trim``), so the RSS
    baseline is not hiding memory a previous model freed but the allocator kept."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    import resource

    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024.0


def available_memory_bytes(device: str) -> float:
    """Free device memory (CUDA) or ``MemAvailable`` host RAM (CPU); 0 when unknown."""
    if device.startswith("cuda"):
        import torch

        return float(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return 0.0


# ---------------------------------------------------------------------------- measuring


def _op_times(prof: Any, device: Any) -> dict[str, float]:
    """Time (s) of GEMM ops, attention ops and all ops, from a finished profiler.

    CPU: self CPU time (the op does the work on the calling thread). GPU: *inclusive* device
    time of the dispatch-level ops, i.e. the kernels each launched — GEMM ops do not nest in
    one another, and ``aten::_scaled_dot_product_*`` (forward, backward) sit below the
    ``scaled_dot_product_attention`` wrapper, which is not counted, so nothing is counted twice.
    """
    mm = att = total = 0.0
    for ev in prof.key_averages():
        if device.type == "cuda":
            t_dev = getattr(ev, "device_time_total", None)  # older torch: cuda_time_total
            t = t_dev if t_dev is not None else getattr(ev, "cuda_time_total", 0.0)
        else:
            t = ev.self_cpu_time_total
        t_s = float(t) / 1e6
        if device.type == "cpu":
            total += t_s
        if ev.key in _MATMUL_OPS:
            mm += t_s
        elif ev.key.startswith(_ATTENTION_PREFIX):
            att += t_s
    return {"matmul": mm, "attention": att, "total": total}


def _split_components(
    ops: dict[str, float], fwd_bwd_s: float, optimizer_s: float, device: Any
) -> dict[str, float]:
    """Measured components of the median step.

    GPU: kernel times are absolute; "other" = forward+backward wall − GEMM − attention kernels
    (element-wise kernels and launch gaps). CPU: op self times are scaled so they sum to the
    median forward+backward wall time (the profiled step runs a little slower than unprofiled).
    """
    if device.type == "cuda":
        mm, att = ops["matmul"], ops["attention"]
    else:
        scale = fwd_bwd_s / ops["total"] if ops["total"] > 0 else 0.0
        mm, att = ops["matmul"] * scale, ops["attention"] * scale
    return {
        "matmul": mm,
        "attention": att,
        "other": max(fwd_bwd_s - mm - att, 0.0),
        "optimizer": optimizer_s,
    }


def measure_training(
    spec: ModelSpec,
    device: str = "cpu",
    *,
    batch: int = 4,
    seq: int = 128,
    steps: int = 5,
    warmup: int = 2,
    precision: str | None = None,
    components: bool = True,
    seed: int = 0,
    threads: int | None = None,
) -> StepMeasurement:
    """Build ``spec`` in PyTorch on ``device`` and time real AdamW training steps
    (``threads``: torch CPU threads for the run, default unchanged)."""
    with cpu_threads(threads):
        return _measure(spec, device, batch, seq, steps, warmup, precision, components, seed)


def _measure(
    spec: ModelSpec,
    device: str,
    batch: int,
    seq: int,
    steps: int,
    warmup: int,
    precision: str | None,
    components: bool,
    seed: int,
) -> StepMeasurement:
    import torch

    require_positive("batch", batch, integer=True)
    require_positive("seq", seq, integer=True)
    require_positive("steps", steps, integer=True)
    check_buildable(spec)
    if spec.learned_position_embeddings and seq > spec.learned_position_embeddings:
        raise GigatrainError(
            f"seq={seq} exceeds the learned position table of {spec.slug!r} "
            f"({spec.learned_position_embeddings}); use --seq ≤ that"
        )
    dev = resolve_device(device)
    precision = precision or ("fp32" if dev.type == "cpu" else "bf16")
    if precision not in ("fp32", "bf16", "fp16"):
        raise GigatrainError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    torch.manual_seed(seed)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    if dev.type == "cpu":
        _release_free_heap()
    rss0 = _rss_bytes() if dev.type == "cpu" else 0.0
    try:
        with dev:  # parameters are created (and initialised) on the device itself
            model = build_model(spec, max_seq=seq)
    except RuntimeError as err:  # out of memory while building
        raise GigatrainError(
            f"could not build {spec.slug!r} on {device}: {str(err).splitlines()[0]}"
        ) from err
    n_params = count_parameters(model)
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    except (RuntimeError, TypeError):  # fused unsupported on this device/build
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True)
    tokens = torch.randint(0, spec.vocab_size, (batch, seq + 1), device=dev)
    x, y = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(dev.type) if precision == "fp16" else None

    def autocast() -> Any:
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(dev.type, dtype=amp_dtype)

    phases: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": []}
    cpu_times: list[float] = []

    def step(record: bool = False, fwd_bwd_ctx: Any = None) -> None:
        c0 = time.process_time()
        with fwd_bwd_ctx or contextlib.nullcontext():
            t0 = time.perf_counter()
            with autocast():
                logits = model(x)
            loss = torch.nn.functional.cross_entropy(
                logits.float().view(-1, spec.vocab_size), y.view(-1)
            )
            synchronize(dev)
            t1 = time.perf_counter()
            (scaler.scale(loss) if scaler else loss).backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
            synchronize(dev)
            t2 = time.perf_counter()
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
        synchronize(dev)
        t3 = time.perf_counter()
        if record:
            cpu_times.append(time.process_time() - c0)
            phases["forward"].append(t1 - t0)
            phases["backward"].append(t2 - t1)
            phases["optimizer"].append(t3 - t2)

    try:
        for _ in range(max(1, warmup)):
            step()
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        reset_ok = _reset_peak_rss() if dev.type == "cpu" else True
        for _ in range(steps):
            step(record=True)
        if dev.type == "cuda":
            mem, method = (
                float(torch.cuda.max_memory_allocated(dev)),
                "torch.cuda.max_memory_allocated",
            )
        else:
            mem = _peak_rss_bytes() - rss0
            method = "peak RSS − RSS before build" + (
                "" if reset_ok else " (peak since process start)"
            )
        ops: dict[str, float] = {}
        if components:
            from torch.profiler import ProfilerActivity, profile

            acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
            prof = profile(activities=acts)
            with quiet_native_stderr():  # Kineto prints profiler_start/stop lines on fd 2
                step(fwd_bwd_ctx=prof)  # profiles forward + backward only
            ops = _op_times(prof, dev)
    except torch.OutOfMemoryError as err:
        raise GigatrainError(
            f"{spec.slug!r} with batch={batch} seq={seq} does not fit on {device}: out of memory"
        ) from err
    totals = [
        f + b + o
        for f, b, o in zip(phases["forward"], phases["backward"], phases["optimizer"], strict=True)
    ]
    med = {k: float(statistics.median(v)) for k, v in phases.items()}
    comps = (
        _split_components(ops, med["forward"] + med["backward"], med["optimizer"], dev)
        if ops
        else {}
    )
    step_s = float(statistics.median(totals))
    cpu_s = float(statistics.median(cpu_times))
    return StepMeasurement(
        step_s=step_s,
        step_times_s=totals,
        phases_s=med,
        memory_bytes=mem,
        memory_method=method,
        components_s=comps,
        params=n_params,
        step_cpu_s=cpu_s,
        cpu_share=cpu_s / step_s if step_s > 0 else 0.0,
    )


def busy_host(threads: int | None = None) -> str | None:
    """A warning when the 1-minute load average leaves fewer cores than the run's threads
    (wall-clock timings then include waiting for a core), else None. Linux/macOS only."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    cores = os.cpu_count() or 1
    want = threads or cores
    if cores - load >= want - 0.5:
        return None
    return (
        f"this machine is busy (load {load:.1f} on {cores} cores) and wall-clock timings "
        "include waiting for a core; for steady numbers use a one-thread profile "
        "(calibrate --threads 1) and --clock process"
    )


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (native libraries' logging) for the block; Python's own
    ``sys.stderr`` is flushed first so nothing of ours is lost."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (embedded interpreters): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# ---------------------------------------------------------------------------- predicting


def single_device(chip: ChipSpec) -> SystemSpec:
    """A one-chip system (no network is crossed with every degree 1)."""
    tier = NetworkTier(
        name="local", domain_chips=1, bandwidth_bytes_per_s=chip.hbm_bandwidth_bytes_per_s
    )
    return SystemSpec(
        slug=f"{chip.slug}-x1",
        name=f"one {chip.name}",
        chip=chip,
        chips_per_node=1,
        tiers=(tier,),
        max_chips=1,
        source=chip.source,
        as_of=chip.as_of,
    )


def chip_for_profile(profile: DeviceProfile) -> ChipSpec:
    """The catalog chip the profile names (if any) with the profile applied."""
    chip = None
    if profile.catalog_chip:
        chip = get_chip(profile.catalog_chip)
    return apply_profile(chip, profile)


def predict_step(
    spec: ModelSpec,
    chip: ChipSpec,
    *,
    batch: int,
    seq: int,
    precision: str,
    knobs: Any = None,
    profile_note: str | None = None,
) -> Any:
    """The estimator on one device: tp=pp=dp=1, micro-batch = batch, ZeRO 0, no recompute."""
    job = Job(
        seq_len=seq,
        global_batch_seqs=batch,
        precision=precision,  # type: ignore[arg-type]
        master_weights_fp32=precision != "fp32",
        grad_dtype="fp32",
    )
    plan = Plan(micro_batch=batch, zero_stage=0, recompute="none", sequence_parallel=False)
    return estimate(spec, single_device(chip), job, plan, knobs, profile=profile_note)


def _rel(pred: float, meas: float) -> float:
    return pred / meas - 1.0 if meas > 0 else float("nan")


def compare(
    spec: ModelSpec,
    profile: DeviceProfile,
    device: str = "cpu",
    *,
    batch: int = 4,
    seq: int = 128,
    steps: int = 5,
    warmup: int = 2,
    precision: str | None = None,
    components: bool = True,
    clock: str = "wall",
) -> MeasureResult:
    """Measure ``spec`` on ``device`` and compare with the estimate under ``profile``.

    On CPU the steps run with the profile's thread count (a profile describes one thread
    count). ``clock="process"`` (one-thread CPU profiles only) takes the step's process CPU
    time as the measured time — on a shared host that is the time the step takes when it
    has a core, which is what the profile (timed the same way) describes. Refuses, before
    building anything, a model the estimate says will not fit.
    """
    if clock not in ("wall", "process"):
        raise GigatrainError(f"clock must be 'wall' or 'process', got {clock!r}")
    if clock == "process" and not (device == "cpu" and profile.threads == 1):
        raise GigatrainError("clock='process' needs --device cpu and a one-thread profile")
    dev_kind = "cuda" if device.startswith("cuda") else "cpu"
    if profile.kind != dev_kind:
        raise GigatrainError(
            f"profile {profile.describe()} was measured on {profile.kind}, "
            f"but --device is {device}; calibrate this device first"
        )
    precision = precision or ("fp32" if dev_kind == "cpu" else "bf16")
    chip = chip_for_profile(profile)

    est = predict_step(
        spec,
        chip,
        batch=batch,
        seq=seq,
        precision=precision,
        knobs=profile_knobs(profile, knobs_for("pytorch-eager")),
        profile_note=profile.describe(),
    )
    mb = dict(est.memory_breakdown)
    comparable_mem = sum(v for k, v in mb.items() if k in TENSOR_MEMORY_LEAVES)
    free = available_memory_bytes(device)
    if free and comparable_mem > 0.9 * free:
        raise GigatrainError(
            f"{spec.slug!r} with batch={batch} seq={seq} needs about {comparable_mem / 2**30:.1f} GiB "
            f"(estimate) but {device} has {free / 2**30:.1f} GiB free; pick a smaller --model/--batch/--seq"
        )
    threads = profile.threads if dev_kind == "cpu" and profile.threads else None
    m = measure_training(
        spec,
        device,
        batch=batch,
        seq=seq,
        steps=steps,
        warmup=warmup,
        precision=precision,
        components=components,
        threads=threads,
    )
    tb = dict(est.time_breakdown)
    measured = m.step_cpu_s if clock == "process" else m.step_s
    comps: dict[str, dict[str, float]] = {}
    for name, leaves in COMPONENT_LEAVES.items():
        pred = sum(tb.get(leaf, 0.0) for leaf in leaves)
        meas = m.components_s.get(name)
        if meas is None:
            continue
        meas *= measured / m.step_s  # the split is of the wall step; rescale to the clock used
        comps[name] = {"measured_s": meas, "predicted_s": pred, "rel_error": _rel(pred, meas)}
    return MeasureResult(
        model=spec.slug,
        device=device,
        device_name=profile.device_name,
        batch=batch,
        seq=seq,
        precision=precision,
        params=m.params,
        profile=profile.describe(),
        measured_step_s=measured,
        predicted_step_s=est.step_time_s,
        step_rel_error=_rel(est.step_time_s, measured),
        measured_memory_bytes=m.memory_bytes,
        predicted_memory_bytes=comparable_mem,
        predicted_memory_total_bytes=est.memory_bytes,
        memory_rel_error=_rel(comparable_mem, m.memory_bytes),
        memory_method=m.memory_method,
        components=comps,
        step_times_s=m.step_times_s,
        phases_s=m.phases_s,
        time_breakdown=tb,
        clock=clock,
        measured_step_wall_s=m.step_s,
        measured_step_cpu_s=m.step_cpu_s,
        cpu_share=m.cpu_share,
    )
