"""Real inference in PyTorch — a batched prefill, then decode steps with a KV cache — measured,
and the serving model's prediction for the same model, batch, lengths and device profile.

Measured (the model of :func:`torch_model.build_model`, its weights reused by a cached forward
written here; no HF dependency):

* **prefill** — one forward of ``batch`` prompts of ``input_len`` tokens that fills a per-layer
  K/V cache (preallocated ``(batch, n_kv, input_len + output_len, d_h)``) and computes the
  last position's logits (engines run the LM head only where a token is sampled); greedy
  argmax gives the first token. This is the TTFT of a static batch without a front end.
* **decode** — ``output_len`` steps of one token per sequence attending to the cache (GQA via
  SDPA ``enable_gqa``, no copy of K/V heads); the mean step is the TPOT.

Each timed run repeats prefill + decode on fresh caches; the *median* run is reported. CPU runs
in fp32 with the profile's thread count, GPU in bf16 weights and KV cache (``precision``).

Predicted: :func:`gigatrain.serving.perf.evaluate` on one chip (the profile applied, tp=pp=1),
``concurrency = batch``, *static* batching (TTFT = prefill of the whole batch, TPOT = the
decode step, no interference), no API front end, default serving knobs. fp32 is not a serving
format, so for an fp32 run the arrays carry 4-byte weights and KV and the fp32 peak (also for
attention) — the same roofline, at the precision actually run.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import GigatrainError, require_positive
from ..serving.deploy import Deployment, Request, check_deployment, to_arrays
from ..serving.knobs import DEFAULT_SERVING_KNOBS, ServingKnobs
from ..serving.kv import kv_bytes_per_token, served_model
from ..serving.perf import evaluate
from ..specs import DTYPE_BYTES, ChipSpec, ModelSpec
from .measure import available_memory_bytes, chip_for_profile, single_device
from .microbench import cpu_threads, resolve_device, synchronize
from .profile import DeviceProfile
from .torch_model import _apply_rope, build_model, check_buildable, count_parameters


@dataclass
class ServingMeasurement:
    """What the real prefill and decode took (median run; seconds)."""

    prefill_s: float
    tpot_s: float
    prefill_cpu_s: float  # process CPU time, same runs
    tpot_cpu_s: float
    prefill_runs_s: list[float]
    tpot_runs_s: list[float]
    params: int = 0


@dataclass
class ServingMeasureResult:
    """Measured vs predicted TTFT (prefill) and TPOT (decode step) on one device."""

    model: str
    device: str
    device_name: str
    batch: int
    input_len: int
    output_len: int
    precision: str
    params: int
    profile: str
    clock: str
    rows: list[dict[str, Any]]  # {metric, measured, predicted, rel_error}
    measured_wall_s: dict[str, float] = field(default_factory=dict)
    measured_cpu_s: dict[str, float] = field(default_factory=dict)
    predicted_parts_s: dict[str, float] = field(default_factory=dict)
    runs_s: dict[str, list[float]] = field(default_factory=dict)
    mode: str = "serving"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------- measuring


def _cached_forward(model: Any, spec: ModelSpec, tokens: Any, cache: list[Any], pos: int) -> Any:
    """Forward of ``tokens`` (batch, s) at positions pos..pos+s−1 through ``model``'s own
    modules, writing K/V into ``cache`` (per layer: [K, V]); returns the last position's logits."""
    import torch

    F = torch.nn.functional
    b, s = tokens.shape
    nh, nkv, dh = spec.num_attention_heads, spec.num_kv_heads, spec.head_dim_eff
    x = model.embed(tokens)
    rope = None
    if model.pos is not None:
        x = x + model.pos(torch.arange(pos, pos + s, device=tokens.device))
    else:
        rope = (
            model.rope_cos[pos : pos + s].to(x.dtype),
            model.rope_sin[pos : pos + s].to(x.dtype),
        )
    if model.embed_norm is not None:
        x = model.embed_norm(x)
    for block, (ck, cv) in zip(model.blocks, cache, strict=True):
        att = block.attn
        hn = block.norm1(x)
        q, k, v = att.qkv(hn).split([nh * dh, nkv * dh, nkv * dh], dim=-1)
        q = q.view(b, s, nh, dh).transpose(1, 2)
        k = k.view(b, s, nkv, dh).transpose(1, 2)
        v = v.view(b, s, nkv, dh).transpose(1, 2)
        if att.q_norm is not None and att.k_norm is not None:
            q, k = att.q_norm(q), att.k_norm(k)
        if rope is not None:
            q, k = _apply_rope(q, *rope), _apply_rope(k, *rope)
        ck[:, :, pos : pos + s] = k
        cv[:, :, pos : pos + s] = v
        keys, vals = ck[:, :, : pos + s], cv[:, :, : pos + s]
        y = F.scaled_dot_product_attention(
            q, keys, vals, is_causal=s > 1, enable_gqa=nkv != nh
        )  # prefill: causal over the prompt (pos = 0); decode: one query sees the whole cache
        a = att.o(y.transpose(1, 2).reshape(b, s, nh * dh))
        x = x + (block.post1(a) if block.post1 is not None else a)
        m = block.mlp(block.norm2(x))
        x = x + (block.post2(m) if block.post2 is not None else m)
    x = model.final_norm(x[:, -1:])
    weight = model.embed.weight if model.head is None else model.head.weight
    return F.linear(x, weight)


def measure_serving(
    spec: ModelSpec,
    device: str = "cpu",
    *,
    batch: int = 4,
    input_len: int = 128,
    output_len: int = 32,
    runs: int = 3,
    warmup: int = 1,
    precision: str | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> ServingMeasurement:
    """Build ``spec`` on ``device`` and time real prefill + KV-cached decode (module docstring)."""
    with cpu_threads(threads):
        return _measure(spec, device, batch, input_len, output_len, runs, warmup, precision, seed)


def _measure(
    spec: ModelSpec,
    device: str,
    batch: int,
    input_len: int,
    output_len: int,
    runs: int,
    warmup: int,
    precision: str | None,
    seed: int,
) -> ServingMeasurement:
    import torch

    for name, v in (
        ("batch", batch),
        ("input-len", input_len),
        ("output-len", output_len),
        ("steps", runs),
    ):
        require_positive(name, v, integer=True)
    check_buildable(spec)
    total = input_len + output_len
    if spec.learned_position_embeddings and total > spec.learned_position_embeddings:
        raise GigatrainError(
            f"input-len + output-len = {total} exceeds the learned position table of "
            f"{spec.slug!r} ({spec.learned_position_embeddings})"
        )
    dev = resolve_device(device)
    precision = precision or ("fp32" if dev.type == "cpu" else "bf16")
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    if dtype is None:
        raise GigatrainError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    torch.manual_seed(seed)
    try:
        with dev:
            model = build_model(spec, max_seq=total).to(dtype).eval()
    except RuntimeError as err:
        raise GigatrainError(
            f"could not build {spec.slug!r} on {device}: {str(err).splitlines()[0]}"
        ) from err
    n_params = count_parameters(model)
    prompt = torch.randint(0, spec.vocab_size, (batch, input_len), device=dev)
    kv_shape = (batch, spec.num_kv_heads, total, spec.head_dim_eff)

    def one_run() -> tuple[float, float, float, float]:
        cache = [
            [torch.empty(kv_shape, dtype=dtype, device=dev) for _ in range(2)]
            for _ in range(spec.num_layers)
        ]
        synchronize(dev)
        c0, t0 = time.process_time(), time.perf_counter()
        logits = _cached_forward(model, spec, prompt, cache, 0)
        tok = logits[:, -1].argmax(-1, keepdim=True)
        synchronize(dev)
        c1, t1 = time.process_time(), time.perf_counter()
        for i in range(output_len):
            logits = _cached_forward(model, spec, tok, cache, input_len + i)
            tok = logits[:, -1].argmax(-1, keepdim=True)
        synchronize(dev)
        c2, t2 = time.process_time(), time.perf_counter()
        return t1 - t0, (t2 - t1) / output_len, c1 - c0, (c2 - c1) / output_len

    try:
        with torch.inference_mode():
            for _ in range(max(1, warmup)):
                one_run()
            results = [one_run() for _ in range(runs)]
    except torch.OutOfMemoryError as err:
        raise GigatrainError(
            f"{spec.slug!r} with batch={batch} and {total} tokens does not fit on {device}"
        ) from err
    pf, dec, pf_c, dec_c = (list(col) for col in zip(*results, strict=True))
    return ServingMeasurement(
        prefill_s=float(statistics.median(pf)),
        tpot_s=float(statistics.median(dec)),
        prefill_cpu_s=float(statistics.median(pf_c)),
        tpot_cpu_s=float(statistics.median(dec_c)),
        prefill_runs_s=pf,
        tpot_runs_s=dec,
        params=n_params,
    )


# ---------------------------------------------------------------------------- predicting


def predict_serving(
    spec: ModelSpec,
    chip: ChipSpec,
    *,
    batch: int,
    input_len: int,
    output_len: int,
    precision: str,
    knobs: ServingKnobs = DEFAULT_SERVING_KNOBS,
) -> dict[str, float]:
    """The serving model on one chip, static batch of ``batch``, no front end (module docs)."""
    dtype = "bf16" if precision == "fp32" else precision
    dep = Deployment(
        weight_dtype=dtype,
        kv_dtype=dtype,
        concurrency=batch,
        batching="static",
        api_server=False,
    )
    req = Request(input_len=input_len, output_len=output_len)
    check_deployment(spec, dep, req)
    if precision == "fp32":  # everything at the fp32 peak, 4-byte weights and KV
        fp32 = chip.peak_flops_per_s.get("fp32")
        if not fp32:
            raise GigatrainError(f"chip {chip.slug} has no fp32 peak for an fp32 prediction")
        chip = replace(chip, peak_flops_per_s={**chip.peak_flops_per_s, "bf16": fp32})
    arr = to_arrays([dep], [req], chip.peak_flops_per_s)
    if precision == "fp32":
        arr.weight_bytes[:] = 4.0
        arr.kv_bytes[:] = 4.0
        arr.compute_dtype[:] = "fp32"
    r = evaluate(served_model(spec), single_device(chip), arr, knobs)
    return {k: float(v[0]) for k, v in r.items() if k.endswith("_s") and "per_s" not in k}


def _rel(pred: float, meas: float) -> float:
    return pred / meas - 1.0 if meas > 0 else float("nan")


def compare_serving(
    spec: ModelSpec,
    profile: DeviceProfile,
    device: str = "cpu",
    *,
    batch: int = 4,
    input_len: int = 128,
    output_len: int = 32,
    runs: int = 3,
    warmup: int = 1,
    precision: str | None = None,
    clock: str = "wall",
) -> ServingMeasureResult:
    """Measure prefill and decode of ``spec`` on ``device`` and compare with the serving model
    under ``profile`` (``clock="process"``: one-thread CPU profiles, as in :func:`compare`)."""
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
    if precision not in ("fp32", "bf16", "fp16"):
        raise GigatrainError(f"precision must be fp32, bf16 or fp16, got {precision!r}")
    chip = chip_for_profile(profile)
    pred = predict_serving(
        spec,
        chip,
        batch=batch,
        input_len=input_len,
        output_len=output_len,
        precision=precision,
    )
    # the KV cache (weights are small next to it for the models `measure` builds)
    need = kv_bytes_per_token(spec, DTYPE_BYTES[precision]) * batch * (input_len + output_len)
    free = available_memory_bytes(device)
    if free and need > 0.5 * free:
        raise GigatrainError(
            f"{spec.slug!r} with batch={batch} and {input_len + output_len} tokens needs about "
            f"{need / 2**30:.1f} GiB but {device} has {free / 2**30:.1f} GiB free"
        )
    threads = profile.threads if dev_kind == "cpu" and profile.threads else None
    m = measure_serving(
        spec,
        device,
        batch=batch,
        input_len=input_len,
        output_len=output_len,
        runs=runs,
        warmup=warmup,
        precision=precision,
        threads=threads,
    )
    meas = (
        {"ttft": m.prefill_cpu_s, "tpot": m.tpot_cpu_s}
        if clock == "process"
        else {"ttft": m.prefill_s, "tpot": m.tpot_s}
    )
    for name in ("ttft", "tpot"):
        if not (math.isfinite(meas[name]) and math.isfinite(pred[f"{name}_s"])):
            raise GigatrainError(f"internal: non-finite {name} (measured or predicted)")
    rows: list[dict[str, Any]] = [
        {
            "metric": name,
            "measured": meas[name],
            "predicted": pred[f"{name}_s"],
            "rel_error": _rel(pred[f"{name}_s"], meas[name]),
        }
        for name in ("ttft", "tpot")
    ]
    return ServingMeasureResult(
        model=spec.slug,
        device=device,
        device_name=profile.device_name,
        batch=batch,
        input_len=input_len,
        output_len=output_len,
        precision=precision,
        params=m.params,
        profile=profile.describe(),
        clock=clock,
        rows=rows,
        measured_wall_s={"ttft": m.prefill_s, "tpot": m.tpot_s},
        measured_cpu_s={"ttft": m.prefill_cpu_s, "tpot": m.tpot_cpu_s},
        predicted_parts_s=pred,
        runs_s={"prefill": m.prefill_runs_s, "tpot": m.tpot_runs_s},
    )
