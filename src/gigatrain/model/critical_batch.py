"""The largest useful global batch of a pre-training run, from published batch-size fits.

Beyond a critical batch, more sequences per step no longer cut the number of steps in
proportion (McCandlish et al. 2018, arXiv:1812.06162: (S/S_min − 1)(E/E_min − 1) = 1), so
data-parallel width beyond ``batch / sequences per replica`` buys nothing. The bound used here
is DeepSeek LLM's fit of the compute-optimal batch to training compute (DeepSeek-AI 2024,
arXiv:2401.02954 §3.1, as transcribed in fleet.md §3, READ-2nd):

    B_opt(C) = 0.2920 · C^0.3271   tokens,   C = training FLOPs (6·N·D; DeepSeek uses
                                              non-embedding FLOPs, the whole model's are used)

    C = 1e24 → 20.7M tokens;  3.8e25 (Llama 3.1 405B) → 68M;  1.2e26 (1T, 20T tokens) → 99M.

It is a *bound*, not a target: Llama 3 405B trained at 16M tokens (0.24 × B_opt) and
DeepSeek-V3 at 62.9M (15,360 × 4,096; 2.1 × its B_opt of 30.6M at 3.3e24 FLOP), so real runs sit within
about a factor of two either side. Other published views agree the batch grows mainly with data
(Zhang et al. ICLR 2025, arXiv:2410.21676; Bergsma et al. 2025, arXiv:2505.13738; Step Law,
arXiv:2503.04715); Kaplan et al. 2020 (arXiv:2001.08361 §5.1) give B_crit ≈ 2.1e8 · L^−4.8
tokens in terms of the loss L (nats), offered as :func:`kaplan_critical_batch_tokens`.

Ignored: warmup-stable-decay schedules (arXiv:2601.05034 revises the theory for them), batch
ramps during the run, and MoE-specific fits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..errors import GigatrainError

#: DeepSeek LLM B_opt = a · C^b (tokens; C in FLOPs)
DEEPSEEK_A = 0.2920
DEEPSEEK_B = 0.3271
DEEPSEEK_SOURCE = (
    "DeepSeek LLM, arXiv:2401.02954 §3.1: B_opt = 0.2920·C^0.3271 tokens (READ-2nd via fleet.md §3)"
)
#: Kaplan et al. 2020: B_crit(L) = B* · L^(−1/α_B)
KAPLAN_B_STAR_TOKENS = 2.1e8
KAPLAN_EXPONENT = -4.8


@dataclass(frozen=True)
class BatchBound:
    """The largest useful global batch for a run of ``compute_flop`` FLOPs."""

    compute_flop: float
    tokens: float  # B_opt in tokens
    seq_len: int
    seqs: int  # floor(tokens / seq_len), at least 1
    source: str
    label: str = "DERIVED"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def deepseek_optimal_batch_tokens(compute_flop: float) -> float:
    """B_opt = 0.2920 · C^0.3271 tokens (DeepSeek LLM fit; module docstring)."""
    if not compute_flop > 0:
        raise GigatrainError(f"training compute must be positive, got {compute_flop!r}")
    return DEEPSEEK_A * compute_flop**DEEPSEEK_B


def kaplan_critical_batch_tokens(loss_nats: float) -> float:
    """Kaplan et al. 2020 B_crit ≈ 2.1e8 · L^−4.8 tokens at loss ``loss_nats``."""
    if not loss_nats > 0:
        raise GigatrainError(f"loss must be positive, got {loss_nats!r}")
    return KAPLAN_B_STAR_TOKENS * loss_nats**KAPLAN_EXPONENT


def batch_bound(compute_flop: float, seq_len: int, factor: float = 1.0) -> BatchBound:
    """The global-batch bound in sequences of ``seq_len``: ``factor`` · B_opt(C) / seq_len.

    ``factor`` lets a user allow a larger batch (DeepSeek-V3 ran at ~2 × B_opt)."""
    if seq_len < 1:
        raise GigatrainError(f"seq_len must be positive, got {seq_len!r}")
    if not factor > 0:
        raise GigatrainError(f"batch factor must be positive, got {factor!r}")
    tokens = factor * deepseek_optimal_batch_tokens(compute_flop)
    return BatchBound(
        compute_flop=compute_flop,
        tokens=tokens,
        seq_len=seq_len,
        seqs=max(1, int(tokens // seq_len)),
        source=DEEPSEEK_SOURCE + (f" × {factor:g} (given)" if factor != 1 else ""),
    )
