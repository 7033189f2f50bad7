"""Read a measured row's conventions from its own text, never from its source's name.

Published throughput comes in several conventions (validation README §2): TFLOP/s under
Megatron's Eq. 3 (which counts the recompute forward), model FLOPs with full or causal
attention, 6·N, MFU against a stated peak, HFU. A row says which in ``mfu_definition`` and
``peak_flops_basis``; the network in ``hardware``; NeuronCore-level degrees in ``hardware`` /
``notes``. These parsers turn that text into the choices :mod:`.runs` needs, so a new source in
the same schema is read the same way as the shipped ones.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ..catalog.hardware import load_systems
from ..specs import ChipSpec, SystemSpec

#: FLOPs conventions a TFLOP/s or MFU figure can be stated in (see :func:`flops_convention`)
CONVENTIONS = ("megatron_eq3", "hardware_noncausal", "model_noncausal", "model_causal", "six_n")


def flops_convention(definition: str, hardware_flops: bool = False) -> str:
    """The FLOPs-per-token convention a row's TFLOP/s (or MFU) uses, from ``mfu_definition``.

    * ``megatron_eq3``: Narayanan et al. 2021 Eq. 3, 96·l·h²·(1 + s/6h + V/16lh) per token,
      recompute forward included ("Eq. 3", Megatron's logged "4x2 coefficient" TFLOPs).
    * ``hardware_noncausal``: model FLOPs plus the recomputed forward (HFU-style, "incl.
      recompute", "hardware FLOPs"); also every HFU column.
    * ``model_causal``: model FLOPs with causal attention (the text says causal, not non-causal).
    * ``six_n``: 6·N per token with no attention term ("6N" without an attention term).
    * ``model_noncausal`` (default): model FLOPs with full attention, 12·L·s·h (PaLM, MaxText,
      llm-foundry, torchtitan, NVIDIA "model TFLOP/s").
    """
    t = " ".join(definition.lower().split())
    if re.search(r"eq\.?\s*3\b|4\s*x\s*2\b", t):
        return "megatron_eq3"
    if hardware_flops or re.search(
        r"incl(?:udes|uding|\.)?\s+recompute|hardware flops|\bhfu-like", t
    ):
        return "hardware_noncausal"
    if re.search(r"(?<!non-)(?<!non )\bcausal", t):
        return "model_causal"
    has_attention = re.search(r"attention|12\s*\*?\s*l|s\^2|s²|seq\s*\^?\s*2", t)
    if re.search(r"\b6\s*\*?\s*n\b|\b6nd\b", t) and not has_attention:
        return "six_n"
    return "model_noncausal"


_FMT = r"(bf16|fp16|fp8|fp4|tf32|fp32)"
_NUM = r"(\d+(?:\.\d+)?)\s*(pf|pflop)?"


def peak_basis_flops(basis: str, precision: str, chip: ChipSpec) -> tuple[float, bool]:
    """The peak FLOP/s a row's MFU divides by, from ``peak_flops_basis`` (TFLOP/s figures,
    "PF" for PFLOP/s): the figure labelled with the row's precision, else the bf16/fp16 one,
    else the only unlabelled figure. Returns (FLOP/s, stated); with no usable text, the
    catalog's dense peak of the run's matmul format (stated False: a labelled assumption)."""
    t = basis.lower()
    labelled: dict[str, float] = {}
    for m in re.finditer(_FMT + r"[^\d/]{0,4}" + _NUM, t):
        labelled.setdefault(m.group(1), float(m.group(2)) * (1000 if m.group(3) else 1))
    for m in re.finditer(_NUM + r"\s*(?:tflop/?s?\s*)?" + _FMT, t):
        labelled.setdefault(m.group(3), float(m.group(1)) * (1000 if m.group(2) else 1))
    for fmt in (precision, "bf16", "fp16"):
        if fmt in labelled:
            return labelled[fmt] * 1e12, True
    # an unlabelled figure not glued to a name (A100, v4, H100 are names, not peaks)
    plain = [
        float(m.group(1)) * (1000 if m.group(2) else 1)
        for m in re.finditer(r"(?<![a-z\d.])" + _NUM, t)
        if float(m.group(1)) >= 20
    ]
    if len(set(plain)) == 1:
        return plain[0] * 1e12, True
    return chip.matmul_peak(precision), False


def system_for_text(chip: ChipSpec, hardware: str, default: SystemSpec) -> SystemSpec:
    """The catalog system of ``chip`` whose scale-out network the row's ``hardware`` text names
    (e.g. "EFA inter-node" → the chip's EFA system), else ``default``."""
    t = hardware.lower()

    def named(s: SystemSpec) -> bool:  # a scale-out tier's family ("efa", "ib", "roce") in the text
        return any(
            re.search(rf"\b{re.escape(tier.name.split('-')[0])}\b", t) for tier in s.tiers[1:]
        )

    if named(default):
        return default
    for s in load_systems().values():
        if s.chip.slug == chip.slug and s.slug != default.slug and named(s):
            return s
    return default


def cores_per_chip(text: str) -> int:
    """Degrees stated per core instead of per chip ("TP/PP/DP are NeuronCore degrees (2 cores per
    Trainium chip)", "16 chips = 32 NeuronCores"): the cores per chip, else 1."""
    t = text.lower()
    if "neuroncore degrees" not in t and "core degrees" not in t:
        return 1
    m = re.search(r"(\d+)\s*chips?\s*=\s*(\d+)\s*neuroncores", t) or re.search(
        r"(\d+)\s*cores? per", t
    )
    if m and m.lastindex == 2:
        return max(int(m.group(2)) // max(int(m.group(1)), 1), 1)
    return int(m.group(1)) if m else 2


#: a row's own measurement of its allocation's collective bandwidth (GB/s), e.g. "collective-
#: bandwidth columns GB/s: AllReduce/AllGather/ReduceScatter 146.6/125.16/120.81": the first
#: figure is the all-reduce bus bandwidth over all of the job's chips
_ALLREDUCE_BUSBW = re.compile(r"allreduce/allgather/reducescatter\s+([0-9.]+)/", re.IGNORECASE)


def measured_allreduce_busbw(text: str) -> float | None:
    """The all-reduce bus bandwidth (bytes/s) a row measured over its whole allocation, or
    None when the row states none."""
    m = _ALLREDUCE_BUSBW.search(text or "")
    return float(m.group(1)) * 1e9 if m and float(m.group(1)) > 0 else None


def with_measured_network(system: SystemSpec, busbw: float, chips: int) -> SystemSpec:
    """``system`` with its scale-out tiers set to what the job measured.

    A ring all-reduce over every chip of n nodes is bound by the nodes' outbound links: each
    node moves 2(n−1)/n of the buffer through its g = ``chips_per_node`` NICs, so the bus
    bandwidth is g × the per-chip scale-out bandwidth (the rail-optimised group bandwidth of
    :func:`gigatrain.model.step.link_for`). A measured bus bandwidth B therefore sets every
    scale-out tier to B / g per chip at efficiency 1 — the allocation's real fabric (congestion,
    placement, EFA/NCCL settings included) instead of the catalog's nominal one. Single-node
    jobs are left alone (their figure is the intra-node fabric)."""
    if chips <= system.chips_per_node or len(system.tiers) < 2:
        return system
    per_chip = measured_per_chip_bandwidth(system, busbw)
    outer = tuple(
        replace(t, bandwidth_bytes_per_s=per_chip, efficiency=1.0) for t in system.tiers[1:]
    )
    return replace(system, tiers=(system.tiers[0], *outer))


def measured_per_chip_bandwidth(system: SystemSpec, busbw: float) -> float:
    """Per-chip scale-out bandwidth (bytes/s) implied by an all-reduce bus bandwidth ``busbw``
    measured over whole nodes: busbw / chips per node (see :func:`with_measured_network`)."""
    return busbw / system.chips_per_node
