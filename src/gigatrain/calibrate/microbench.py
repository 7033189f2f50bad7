"""PyTorch microbenchmarks of one device: matmul, memory bandwidth, attention, element-wise
kernels, per-kernel overhead and (when more than one rank is present) collectives.

The raw numbers returned here are plain dicts/lists (YAML-ready); :mod:`.profile` fits the
figures the estimator uses (efficiency curve, bandwidth, overhead) from them.

Timing method (the MAMF recipe of stas00/ml-engineering, shortened): inputs drawn from a normal
distribution (power draw and therefore clocks depend on the data), warm-up calls first, then
``repeats`` samples of a batch of back-to-back calls, each sample long enough to dwarf the
timer's resolution; the reported time per call is the *median* sample divided by the batch
length. On GPU the samples are bracketed by CUDA events; on CPU by ``time.perf_counter``.

FLOP conventions: a matmul of (m×k)·(k×n) costs 2·m·k·n. Causal attention (QKᵀ and AV) costs
4·b·h·d·s·(s+1)/2 in the forward pass and twice that in the backward pass, so fwd+bwd =
3 × forward — the convention of :func:`gigatrain.model.workload.model_flops_per_token`
(causal). Ignored: FlashAttention's recomputation of QKᵀ in the backward pass (it is real
work the device does, so it *lowers* the reported attention efficiency, as it should).
"""

from __future__ import annotations

import functools
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import GigatrainError, require_positive

#: progress callback: (tasks done, tasks in total, label of the task that just ran)
ProgressFn = Callable[[int, int, str], None]

_DTYPES = ("fp32", "bf16", "fp16")


def _torch() -> Any:
    try:
        import torch
    except ImportError as err:  # pragma: no cover - exercised only without torch
        raise GigatrainError(
            "calibration needs PyTorch; install it with `pip install gigatrain[torch]` "
            "(CPU build: `pip install torch==2.13.0`)"
        ) from err
    return torch


def resolve_device(device: str) -> Any:
    """``"cpu"`` or ``"cuda"`` (``"cuda:1"`` too) → ``torch.device``, with a clear error."""
    torch = _torch()
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise GigatrainError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GigatrainError(
            f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA device "
            "(CPU-only build or no driver); use --device cpu"
        )
    return torch.device(device)


def torch_dtype(name: str) -> Any:
    torch = _torch()
    table = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if name not in table:
        raise GigatrainError(f"dtype must be one of {', '.join(table)}, got {name!r}")
    return table[name]


def synchronize(device: Any) -> None:
    if device.type == "cuda":
        _torch().cuda.synchronize(device)


def time_per_call(
    fn: Callable[[], object],
    device: Any,
    *,
    warmup: int = 2,
    repeats: int = 5,
    sample_s: float = 2e-3,
    max_batch: int = 10_000,
    clock: str = "wall",
) -> float:
    """Median seconds per call of ``fn``.

    Each of ``repeats`` samples runs ``n`` calls back to back, with ``n`` chosen from a second
    (warm) warm-up pass so that one sample lasts about ``sample_s`` (so microsecond kernels are not lost
    in timer noise); the median sample / ``n`` is returned. ``clock="process"`` (CPU only)
    times with the process CPU clock: with one torch thread that is the wall time the call
    would take on an otherwise idle machine, unaffected by waits for a core on a shared host.
    """
    torch = _torch()
    for _ in range(max(1, warmup)):  # one-time costs (library load, kernel selection) land here
        fn()
    synchronize(device)
    # the batch is sized on a second, warm pass: sized on the first, the first shape of each
    # dtype got n = 1 and timed host latency instead of the kernel (the H200 profile of
    # 2026-11-26 shows it: its first shape per dtype runs 57–70 % below the model)
    t0 = time.perf_counter()
    for _ in range(max(1, warmup)):
        fn()
    synchronize(device)
    first = (time.perf_counter() - t0) / max(1, warmup)
    n = int(min(max_batch, max(1, math.ceil(sample_s / max(first, 1e-9)))))
    samples: list[float] = []
    for _ in range(repeats):
        if device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(n):
                fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / 1e3 / n)
        else:
            now = time.process_time if clock == "process" else time.perf_counter
            t0 = now()
            for _ in range(n):
                fn()
            samples.append((now() - t0) / n)
    return float(statistics.median(samples))


@dataclass(frozen=True)
class BenchSettings:
    """Sizes and repeat counts; ``for_device`` picks CPU/GPU and quick/full grids."""

    square_sizes: tuple[int, ...]
    train_shapes: tuple[tuple[int, int, int], ...]  # (tokens, in, out) of training-like GEMMs
    dtypes: tuple[str, ...]
    max_call_s: float  # stop a dtype's grid once one call is slower than this
    stream_numel: int
    elementwise_numel: tuple[int, ...]
    attention_shapes: tuple[tuple[int, int, int, int], ...]  # (batch, heads, seq, head_dim)
    repeats: int
    warmup: int
    sample_s: float
    clock: str = "wall"  # "process": process CPU time (one-thread CPU runs on a shared host)

    @staticmethod
    def for_device(kind: str, quick: bool = False) -> BenchSettings:
        if kind == "cuda":
            if quick:
                return BenchSettings(
                    (256, 1024, 4096),
                    ((4096, 2048, 2048),),
                    ("bf16", "fp16", "fp32"),
                    0.5,
                    1 << 26,
                    (1 << 22,),
                    ((4, 16, 1024, 128),),
                    3,
                    2,
                    5e-3,
                )
            return BenchSettings(
                (128, 256, 512, 1024, 2048, 4096, 6144, 8192, 12288),
                (
                    (2048, 1024, 1024),
                    (2048, 1024, 4096),
                    (8192, 2048, 2048),
                    (8192, 2048, 8192),
                    (8192, 4096, 4096),
                    (16384, 4096, 14336),
                ),
                ("bf16", "fp16", "fp32"),
                0.5,
                1 << 28,
                (1 << 22, 1 << 25),
                ((8, 16, 1024, 64), (4, 16, 2048, 128), (2, 32, 4096, 128)),
                7,
                3,
                2e-2,
            )
        if quick:
            return BenchSettings(
                (64, 256, 512),
                ((1024, 256, 256), (1024, 256, 1024), (1024, 256, 8192)),
                ("fp32", "bf16"),
                0.05,
                1 << 22,
                (1 << 19,),
                ((2, 4, 256, 64),),
                3,
                2,
                5e-3,
            )
        # training-like GEMMs of small transformers: hidden 256/512/1024, MLP 4·h, and an
        # LM head of a small (8192) vocabulary, at 1024-4096 tokens
        return BenchSettings(
            (32, 64, 128, 256, 512, 1024, 1536),
            (
                (1024, 256, 256),
                (1024, 256, 1024),
                (1024, 1024, 256),
                (4096, 256, 768),
                (2048, 512, 512),
                (2048, 512, 2048),
                (2048, 2048, 512),
                (1024, 1024, 1024),
                (1024, 256, 8192),
                (1024, 512, 8192),
            ),
            ("fp32", "bf16", "fp16"),
            0.15,
            1 << 25,
            (1 << 19, 1 << 21),
            ((4, 4, 256, 64), (8, 8, 256, 64), (4, 8, 512, 64)),
            5,
            2,
            1e-2,
        )


def _randn(torch: Any, shape: tuple[int, ...], dtype: Any, device: Any, grad: bool = False) -> Any:
    return torch.randn(*shape, dtype=dtype, device=device, requires_grad=grad)


def _matmul_tasks(
    torch: Any, dev: Any, s: BenchSettings, out: dict[str, Any]
) -> list[tuple[str, Callable[[], None]]]:
    """One task per (dtype, shape, layout). Training GEMMs come in three layouts: forward
    X·Wᵀ (NT), input-grad dY·W (NN) and weight-grad dYᵀ·X (TN)."""
    rows: list[dict[str, Any]] = out.setdefault("matmul", [])
    truncated: dict[str, str] = out.setdefault("matmul_truncated", {})
    tasks: list[tuple[str, Callable[[], None]]] = []

    shapes: list[tuple[int, int, int, str]] = [(n, n, n, "NN") for n in s.square_sizes]
    for t, i, o in s.train_shapes:
        shapes += [(t, o, i, "NT"), (t, i, o, "NN"), (o, i, t, "TN")]  # (m, n, k, layout)
    shapes.sort(key=lambda x: x[0] * x[1] * x[2])

    for dname in s.dtypes:
        dtype = torch_dtype(dname)
        for m, n, k, layout in shapes:

            def task(
                m: int = m,
                n: int = n,
                k: int = k,
                layout: str = layout,
                dname: str = dname,
                dtype: Any = dtype,
            ) -> None:
                if dname in truncated:
                    return
                a = _randn(torch, (k, m) if layout == "TN" else (m, k), dtype, dev)
                b = _randn(torch, (n, k) if layout == "NT" else (k, n), dtype, dev)
                lhs = a.t() if layout == "TN" else a
                rhs = b.t() if layout == "NT" else b
                t_call = time_per_call(
                    lambda: torch.mm(lhs, rhs),
                    dev,
                    warmup=s.warmup,
                    repeats=s.repeats,
                    sample_s=s.sample_s,
                    clock=s.clock,
                )
                flops = 2.0 * m * n * k
                rows.append(
                    {
                        "dtype": dname,
                        "m": m,
                        "n": n,
                        "k": k,
                        "layout": layout,
                        "flops": flops,
                        "time_s": t_call,
                        "flops_per_s": flops / t_call,
                    }
                )
                if t_call > s.max_call_s:
                    truncated[dname] = f"grid stopped after {m}x{n}x{k} took {t_call:.3g} s"

            tasks.append((f"matmul {dname} {m}x{n}x{k} {layout}", task))
    tasks.append(("matmul fp8", lambda: _fp8_matmul(torch, dev, s, out)))
    return tasks


def _fp8_matmul(torch: Any, dev: Any, s: BenchSettings, out: dict[str, Any]) -> None:
    """fp8 e4m3 GEMM through ``torch._scaled_mm`` (Hopper and later); skipped elsewhere."""
    skipped: dict[str, str] = out.setdefault("skipped", {})
    if dev.type != "cuda":
        skipped["matmul_fp8"] = "fp8 GEMM is only benchmarked on CUDA"
        return
    if torch.cuda.get_device_capability(dev) < (8, 9) or not hasattr(torch, "_scaled_mm"):
        skipped["matmul_fp8"] = "device or torch build has no fp8 _scaled_mm"
        return
    rows = out.setdefault("matmul", [])
    try:
        for n in (1024, 4096, 8192):
            a = torch.randn(n, n, device=dev).to(torch.float8_e4m3fn)
            b = torch.randn(n, n, device=dev).to(torch.float8_e4m3fn).t()  # column-major
            one = torch.ones((), device=dev, dtype=torch.float32)

            def call(a: Any = a, b: Any = b, one: Any = one) -> Any:
                return torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)

            t_call = time_per_call(
                call, dev, warmup=s.warmup, repeats=s.repeats, sample_s=s.sample_s, clock=s.clock
            )
            flops = 2.0 * n**3
            rows.append(
                {
                    "dtype": "fp8",
                    "m": n,
                    "n": n,
                    "k": n,
                    "layout": "NT",
                    "flops": flops,
                    "time_s": t_call,
                    "flops_per_s": flops / t_call,
                }
            )
    except Exception as err:
        skipped["matmul_fp8"] = f"torch._scaled_mm failed: {type(err).__name__}: {str(err)[:120]}"


def _stream_tasks(
    torch: Any, dev: Any, s: BenchSettings, out: dict[str, Any]
) -> list[tuple[str, Callable[[], None]]]:
    """Large copy (2 bytes moved per byte) and add (3 per byte), fp32, far beyond caches."""
    rows: list[dict[str, Any]] = out.setdefault("bandwidth", [])

    def copy() -> None:
        src = _randn(torch, (s.stream_numel,), torch.float32, dev)
        dst = torch.empty_like(src)
        t_call = time_per_call(
            lambda: dst.copy_(src),
            dev,
            warmup=s.warmup,
            repeats=s.repeats,
            sample_s=s.sample_s,
            clock=s.clock,
        )
        moved = 2.0 * src.numel() * 4
        rows.append(
            {
                "kernel": "copy",
                "numel": src.numel(),
                "bytes_moved": moved,
                "time_s": t_call,
                "bytes_per_s": moved / t_call,
            }
        )

    def add() -> None:
        a = _randn(torch, (s.stream_numel,), torch.float32, dev)
        b = _randn(torch, (s.stream_numel,), torch.float32, dev)
        c = torch.empty_like(a)
        t_call = time_per_call(
            lambda: torch.add(a, b, out=c),
            dev,
            warmup=s.warmup,
            repeats=s.repeats,
            sample_s=s.sample_s,
            clock=s.clock,
        )
        moved = 3.0 * a.numel() * 4
        rows.append(
            {
                "kernel": "add",
                "numel": a.numel(),
                "bytes_moved": moved,
                "time_s": t_call,
                "bytes_per_s": moved / t_call,
            }
        )

    return [("bandwidth copy", copy), ("bandwidth add", add)]


def _overhead_task(
    torch: Any, dev: Any, s: BenchSettings, out: dict[str, Any]
) -> Callable[[], None]:
    """Per-kernel floor: back-to-back calls on 1-element / 8×8 tensors (dispatch + launch)."""

    def run() -> None:
        rows = out.setdefault("kernel_overhead", [])
        x = _randn(torch, (1,), torch.float32, dev)
        y = _randn(torch, (1,), torch.float32, dev)
        a = _randn(torch, (8, 8), torch.float32, dev)
        for name, fn in (
            ("add-1", lambda: torch.add(x, y)),
            ("mul-1", lambda: torch.mul(x, y)),
            ("mm-8", lambda: torch.mm(a, a)),
        ):
            t_call = time_per_call(
                fn, dev, warmup=20, repeats=max(5, s.repeats), sample_s=s.sample_s, clock=s.clock
            )
            rows.append({"kernel": name, "time_s": t_call})

    return run


def _elementwise_tasks(
    torch: Any, dev: Any, s: BenchSettings, out: dict[str, Any]
) -> list[tuple[str, Callable[[], None]]]:
    """Element-wise, norm and softmax kernels of a transformer step (forward and, where the
    backward is its own kernel, backward) at activation-like sizes (rows of width 1024; the
    log-softmax of the loss on rows of width 8192, a small vocabulary).

    bytes moved = (tensors read + tensors written) × numel × element size; norm weights and
    row statistics are ignored. On CPU, kernels with transcendental functions (GELU, SiLU,
    exp in softmax) are compute-bound, so their "bandwidth" is an effective figure.
    """
    F = torch.nn.functional
    aten = torch.ops.aten
    rows: list[dict[str, Any]] = out.setdefault("elementwise", [])
    dname = "fp32" if dev.type == "cpu" else "bf16"
    dtype = torch_dtype(dname)
    tasks: list[tuple[str, Callable[[], None]]] = []
    for numel in s.elementwise_numel:

        def run(numel: int = numel) -> None:
            shape = (max(1, numel // 1024), 1024)
            x, y, g = (_randn(torch, shape, dtype, dev) for _ in range(3))
            w = torch.ones(shape[1], dtype=dtype, device=dev)
            vshape = (max(1, numel // 8192), 8192)
            lx, lg = _randn(torch, vshape, dtype, dev), _randn(torch, vshape, dtype, dev)
            lo = torch.log_softmax(lx, dim=-1)
            kernels: list[tuple[str, Callable[[], object], int]] = [
                ("add", lambda: x + y, 3),
                ("mul", lambda: x * y, 3),
                ("gelu_tanh", lambda: F.gelu(x, approximate="tanh"), 2),
                ("gelu_tanh_backward", lambda: aten.gelu_backward(g, x, approximate="tanh"), 3),
                ("silu", lambda: F.silu(x), 2),
                ("silu_backward", lambda: aten.silu_backward(g, x), 3),
                ("layer_norm", lambda: F.layer_norm(x, (shape[1],), w, w), 2),
                ("rms_norm", lambda: F.rms_norm(x, (shape[1],), w), 2),
                ("softmax", lambda: torch.softmax(x, dim=-1), 2),
                ("log_softmax", lambda: torch.log_softmax(lx, dim=-1), 2),
                (
                    "log_softmax_backward",
                    lambda: aten._log_softmax_backward_data(lg, lo, -1, lx.dtype),
                    3,
                ),
            ]
            itemsize = x.element_size()
            for name, fn, passes in kernels:
                t_call = time_per_call(
                    fn, dev, warmup=s.warmup, repeats=s.repeats, sample_s=s.sample_s, clock=s.clock
                )
                moved = float(passes * numel * itemsize)
                rows.append(
                    {
                        "kernel": name,
                        "dtype": dname,
                        "numel": numel,
                        "bytes_moved": moved,
                        "time_s": t_call,
                        "bytes_per_s": moved / t_call,
                    }
                )

        tasks.append((f"elementwise {numel} elements", run))
    return tasks


def attention_flops_fwd(batch: int, heads: int, seq: int, head_dim: int) -> float:
    """Causal QKᵀ + AV forward FLOPs: 4·b·h·d·s·(s+1)/2."""
    return 4.0 * batch * heads * head_dim * seq * (seq + 1) / 2.0


def _attention_tasks(
    torch: Any, dev: Any, s: BenchSettings, out: dict[str, Any]
) -> list[tuple[str, Callable[[], None]]]:
    """``scaled_dot_product_attention(is_causal=True)`` forward, and forward+backward."""
    F = torch.nn.functional
    rows: list[dict[str, Any]] = out.setdefault("attention", [])
    dname = "fp32" if dev.type == "cpu" else "bf16"
    dtype = torch_dtype(dname)
    tasks: list[tuple[str, Callable[[], None]]] = []
    for b, h, sq, d in s.attention_shapes:

        def run(b: int = b, h: int = h, sq: int = sq, d: int = d) -> None:
            q, k, v = (_randn(torch, (b, h, sq, d), dtype, dev, grad=True) for _ in range(3))
            g = _randn(torch, (b, h, sq, d), dtype, dev)

            def fwd() -> Any:
                with torch.no_grad():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True)

            def fwd_bwd() -> None:
                o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                o.backward(g)
                q.grad = k.grad = v.grad = None

            t_f = time_per_call(
                fwd, dev, warmup=s.warmup, repeats=s.repeats, sample_s=s.sample_s, clock=s.clock
            )
            t_fb = time_per_call(
                fwd_bwd, dev, warmup=s.warmup, repeats=s.repeats, sample_s=s.sample_s, clock=s.clock
            )
            fl = attention_flops_fwd(b, h, sq, d)
            rows.append(
                {
                    "dtype": dname,
                    "batch": b,
                    "heads": h,
                    "seq": sq,
                    "head_dim": d,
                    "causal": True,
                    "flops_fwd": fl,
                    "fwd_s": t_f,
                    "fwd_bwd_s": t_fb,
                    "flops_fwd_bwd": 3.0 * fl,
                }
            )

        tasks.append((f"attention b{b} h{h} s{sq} d{d}", run))
    return tasks


def _collective_task(
    torch: Any, dev: Any, s: BenchSettings, out: dict[str, Any]
) -> Callable[[], None]:
    """All-reduce bus bandwidth via ``torch.distributed`` when launched with world size > 1
    (e.g. under ``torchrun``); busbw = 2·(n−1)/n · bytes / time (nccl-tests convention)."""

    def run() -> None:
        skipped: dict[str, str] = out.setdefault("skipped", {})
        world = int(os.environ.get("WORLD_SIZE", "1"))
        dist = getattr(torch, "distributed", None)
        if world <= 1 or dist is None or not dist.is_available():
            skipped["collectives"] = "world size 1 (launch under torchrun to benchmark collectives)"
            return
        if not dist.is_initialized():
            dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
        rows = out.setdefault("collectives", [])
        n = dist.get_world_size()
        for numel in (1 << 16, 1 << 20, 1 << 24):
            x = _randn(torch, (numel,), torch.float32, dev)
            t_call = time_per_call(
                functools.partial(dist.all_reduce, x),
                dev,
                warmup=s.warmup,
                repeats=s.repeats,
                sample_s=s.sample_s,
                max_batch=50,
            )
            size = numel * 4.0
            rows.append(
                {
                    "op": "all_reduce",
                    "world_size": n,
                    "bytes": size,
                    "time_s": t_call,
                    "busbw_bytes_per_s": 2.0 * (n - 1) / n * size / t_call,
                }
            )

    return run


class cpu_threads:  # noqa: N801 - used like a function: ``with cpu_threads(n):``
    """Run a block with ``torch.set_num_threads(n)`` (``None``: leave as is), then restore.

    A profile is only valid for the thread count it was measured with; on a shared machine one
    thread per process is also far less sensitive to other processes than an OpenMP team
    spanning every core.
    """

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.before = 0

    def __enter__(self) -> None:
        torch = _torch()
        self.before = torch.get_num_threads()
        if self.n:
            require_positive("threads", self.n, integer=True)
            torch.set_num_threads(int(self.n))

    def __exit__(self, *exc: object) -> None:
        _torch().set_num_threads(self.before)


def run_microbenchmarks(
    device: str = "cpu",
    *,
    quick: bool = False,
    progress: ProgressFn | None = None,
    settings: BenchSettings | None = None,
    threads: int | None = None,
    clock: str = "wall",
) -> dict[str, Any]:
    """Run every microbenchmark on ``device``; returns the raw measurements (plain data).

    ``progress(done, total, label)`` is called after each task (the CLI draws a bar from it);
    ``threads`` sets torch's CPU thread count for the run (default: torch's current one);
    ``clock="process"`` times CPU runs with the process CPU clock (only meaningful with one
    thread; see :func:`time_per_call`).
    """
    if clock not in ("wall", "process"):
        raise GigatrainError(f"clock must be 'wall' or 'process', got {clock!r}")
    if clock == "process" and (device != "cpu" or threads != 1):
        raise GigatrainError(
            "clock='process' needs device='cpu' and threads=1 "
            "(CPU time of several threads is not a duration)"
        )
    with cpu_threads(threads):
        return _run(device, quick, progress, settings, clock)


def _run(
    device: str,
    quick: bool,
    progress: ProgressFn | None,
    settings: BenchSettings | None,
    clock: str,
) -> dict[str, Any]:
    torch = _torch()
    dev = resolve_device(device)
    s = replace(settings or BenchSettings.for_device(dev.type, quick), clock=clock)
    torch.manual_seed(0)
    out: dict[str, Any] = {
        "settings": {
            "quick": quick,
            "repeats": s.repeats,
            "warmup": s.warmup,
            "threads": torch.get_num_threads(),
            "clock": clock,
        }
    }
    tasks: list[tuple[str, Callable[[], None]]] = [
        ("kernel overhead", _overhead_task(torch, dev, s, out))
    ]
    tasks += _matmul_tasks(torch, dev, s, out)
    tasks += _stream_tasks(torch, dev, s, out)
    tasks += _elementwise_tasks(torch, dev, s, out)
    tasks += _attention_tasks(torch, dev, s, out)
    tasks.append(("collectives", _collective_task(torch, dev, s, out)))
    t0 = time.perf_counter()
    for i, (label, task) in enumerate(tasks):
        task()
        if progress is not None:
            progress(i + 1, len(tasks), label)
    out["settings"]["wall_s"] = time.perf_counter() - t0
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return out
