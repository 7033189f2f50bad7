"""The search space of ``gigatrain search``: every candidate parallel plan, as NumPy arrays.

For one chip count N and one global batch G (sequences) the space is the product of

* ``tp``: divisors of the attention heads that divide N and are compatible with the KV heads
  (divide them or are a multiple of them). No cap at the node size: TP across nodes is slow
  and the step model says so (published runs use TP 16 and 32 across 8-GPU nodes).
* ``cp``: divisors of seq_len that divide N/tp, at most ``max_cp`` (64) and leaving at least
  ``min_cp_tokens`` (1,024) tokens per context-parallel rank — below that, ring attention is
  not a layout anyone runs. Both are options of :class:`Axes`; an explicit list of cp
  degrees bypasses them.
* ``pp``: every divisor of N/(tp·cp) up to the layer count (uneven stages are allowed; the
  model charges the heaviest stage ⌈L/pp⌉ layers).
* ``dp`` = N/(tp·pp·cp), which must divide G.
* ``ep`` (MoE only): divisors of the expert count that divide dp·cp.
* ZeRO: stages 0, 1, 2 sharding over all dp·cp ranks; stage 3 (FSDP) sharding over every
  divisor of dp·cp (a divisor smaller than dp·cp is hybrid sharding, HSDP).
* ``vpp``: 1, and for pp > 1 every v > 1 dividing ⌈L/pp⌉ or ⌊L/pp⌋ (interleaved 1F1B; uneven
  splits only for frameworks that balance stages, see :mod:`gigatrain.search.capabilities`).
* ``micro_batch``: every divisor of G/dp.
* ``recompute``: none, selective, full.
* ``sequence_parallel``: on and off when tp > 1; off when tp = 1 (where it changes nothing).

Every candidate is finally checked with :func:`~gigatrain.model.plans.valid_mask`, the same
rule ``gigatrain estimate`` applies.

The space is built in two levels so that it never has to sit in memory at once: *layouts*
(tp, pp, cp, dp, ep, zero, shard: thousands of rows, small) and, per layout, the product of
its *options* (vpp × micro_batch × recompute × sp). :class:`Space` maps a flat candidate index
to (layout, option digits) with mixed-radix arithmetic, so any slice ``[a, b)`` of the space
is materialised as a :class:`PlanArrays` chunk without Python loops over candidates.

Chip counts and global batches given as a range ``A-B`` are sampled as documented in
:func:`chip_counts` and :func:`batch_sizes`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..errors import GigatrainError
from ..model.plans import RECOMPUTE_CODE, PlanArrays, divisors, valid_mask
from ..specs import RECOMPUTE_MODES, Job, ModelSpec, SystemSpec
from ..units import parse_count

#: chip counts a range may expand to before we refuse (each is a separate search)
MAX_CHIP_COUNTS = 64
#: global batch sizes a range may expand to
MAX_BATCH_SIZES = 32
#: every multiple of the node size is tried when a chip range holds at most this many
NODE_MULTIPLES_LIMIT = 32

ChipsSpec = int | str | tuple[int, int] | Sequence[int]


@dataclass(frozen=True)
class Axes:
    """Optional restrictions of the space. ``None`` = every value the rules above allow; a
    tuple = only those values (intersected with the valid ones)."""

    tp: tuple[int, ...] | None = None
    pp: tuple[int, ...] | None = None
    cp: tuple[int, ...] | None = None
    ep: tuple[int, ...] | None = None
    vpp: tuple[int, ...] | None = None
    micro_batch: tuple[int, ...] | None = None
    zero_stage: tuple[int, ...] | None = None
    recompute: tuple[str, ...] | None = None
    sequence_parallel: tuple[bool, ...] | None = None
    #: largest context-parallel degree tried
    max_cp: int = 64
    #: fewest tokens per context-parallel rank (seq_len / cp) tried
    min_cp_tokens: int = 1024

    def restricted(self) -> dict[str, tuple[Any, ...]]:
        """The axes that are restricted, by name."""
        names = (
            "tp",
            "pp",
            "cp",
            "ep",
            "vpp",
            "micro_batch",
            "zero_stage",
            "recompute",
            "sequence_parallel",
        )
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def lift(self, name: str) -> Axes:
        """The same axes with ``name`` unrestricted (for the nothing-fits diagnosis)."""
        if name == "cp":
            return replace(self, cp=None, max_cp=1 << 30, min_cp_tokens=1)
        unrestricted: dict[str, Any] = {name: None}  # one of the tuple axes
        return replace(self, **unrestricted)


FULL_AXES = Axes()


def _allow(values: np.ndarray, allowed: tuple[Any, ...] | None) -> np.ndarray:
    if allowed is None:
        return values
    return values[np.isin(values, np.asarray(allowed, dtype=values.dtype))]


def _ragged(keys: np.ndarray, table: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Expand row i into one row per value of ``table[keys[i]]``: (row index, value)."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    uniq, inv = np.unique(keys, return_inverse=True)
    opts = [np.asarray(table[int(u)], dtype=np.int64) for u in uniq]
    lens = np.array([len(o) for o in opts], dtype=np.int64)
    flat = np.concatenate(opts) if opts else np.zeros(0, dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(lens)[:-1]])
    counts = lens[inv]
    rows = np.repeat(np.arange(len(keys)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return rows, flat[offs[inv][rows] + within]


@dataclass
class Space:
    """All candidate plans for one chip count and one job, indexable by flat position.

    ``layouts`` holds one row per (tp, pp, cp, dp, ep, zero, shard); candidate ``i`` of the
    space is layout ``row`` with option digits (sequence parallel, recompute, (vpp,
    micro_batch) pair) decoded from ``i - starts[row]``. The (vpp, micro_batch) pairs of a
    (pp, dp) are only those interleaving allows (≥ pp micro-batches, a multiple of pp), so the
    space holds no candidate that ``valid_mask`` would reject for that reason.
    """

    chips: int
    job: Job
    layouts: PlanArrays
    n_opts: np.ndarray  # candidates per layout
    pair_row: np.ndarray  # layout → row of the (vpp, micro_batch) pair tables
    pair_vpp: np.ndarray  # [k, max pairs]
    pair_mb: np.ndarray
    pair_len: np.ndarray
    rc_codes: np.ndarray
    sp_len: np.ndarray  # 1 or 2 per layout
    sp_vals: np.ndarray  # [layout, 2]
    ends: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.ends = np.cumsum(self.n_opts)

    @property
    def size(self) -> int:
        """Number of candidates (before ``valid_mask``'s interleaving check)."""
        return int(self.ends[-1]) if len(self.ends) else 0

    def keep(self, mask: np.ndarray) -> Space:
        """The space restricted to the layouts where ``mask`` is true."""
        return Space(
            self.chips,
            self.job,
            self.layouts.take(mask),
            self.n_opts[mask],
            self.pair_row[mask],
            self.pair_vpp,
            self.pair_mb,
            self.pair_len,
            self.rc_codes,
            self.sp_len[mask],
            self.sp_vals[mask],
        )

    def chunk(self, a: int, b: int) -> PlanArrays:
        """Candidates ``a`` to ``b - 1`` as plan arrays (``valid_mask`` not applied)."""
        flat = np.arange(a, b, dtype=np.int64)
        row = np.searchsorted(self.ends, flat, side="right")
        return self._decode(row, flat - (self.ends[row] - self.n_opts[row]))

    def rows(self, layout_idx: np.ndarray) -> PlanArrays:
        """Every candidate of the given layouts."""
        counts = self.n_opts[layout_idx]
        row = np.repeat(layout_idx, counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        k = np.arange(int(counts.sum()), dtype=np.int64) - starts
        return self._decode(row, k)

    def _decode(self, row: np.ndarray, k: np.ndarray) -> PlanArrays:
        ns = self.sp_len[row]
        sp_i = k % ns
        k = k // ns
        nr = len(self.rc_codes)
        rc = self.rc_codes[k % nr]
        k = k // nr
        pr = self.pair_row[row]
        mbs, vpp = self.pair_mb[pr, k], self.pair_vpp[pr, k]
        L = self.layouts
        return PlanArrays(
            tp=L.tp[row],
            pp=L.pp[row],
            dp=L.dp[row],
            cp=L.cp[row],
            ep=L.ep[row],
            vpp=vpp,
            micro_batch=mbs,
            zero_stage=L.zero_stage[row],
            fsdp_shard=L.fsdp_shard[row],
            recompute=rc,
            sequence_parallel=self.sp_vals[row, sp_i],
        )

    def all(self, model: ModelSpec) -> PlanArrays:
        """Every valid candidate at once (small spaces, tests and brute force only)."""
        p = self.chunk(0, self.size)
        return p.take(valid_mask(model, self.job, p))


def layouts(model: ModelSpec, job: Job, chips: int, axes: Axes = FULL_AXES) -> PlanArrays:
    """Every (tp, pp, cp, dp, ep, zero, shard) for ``chips`` chips, with placeholder options
    (vpp 1, micro_batch 1, recompute none, sp on when tp > 1)."""
    n, heads, L = int(chips), model.num_attention_heads, model.num_layers
    kv = model.num_kv_heads if model.mla is None else heads
    G, seq = job.global_batch_seqs, job.seq_len
    dn = divisors(n)
    tp_o = dn[(heads % dn == 0) & ((kv % dn == 0) | (dn % kv == 0))]
    tp_o = _allow(tp_o, axes.tp)
    if axes.cp is None:  # the default bounds; an explicit list is taken as asked
        cp_o = dn[(seq % dn == 0) & (dn <= axes.max_cp) & (seq // dn >= axes.min_cp_tokens)]
        cp_o = np.union1d(cp_o, [1]).astype(np.int64)
    else:
        cp_o = _allow(dn[seq % dn == 0], axes.cp)
    pp_o = _allow(dn[dn <= L], axes.pp)
    T, C, P = (a.ravel() for a in np.meshgrid(tp_o, cp_o, pp_o, indexing="ij"))
    m = n % (T * C * P) == 0
    T, C, P = T[m], C[m], P[m]
    D = n // (T * C * P)
    m = G % D == 0
    T, C, P, D = T[m], C[m], P[m], D[m]
    # expert parallelism (nested in dp·cp)
    if model.moe is not None:
        ep_o = _allow(divisors(model.moe.num_experts), axes.ep)
        idx, E = _ragged(D * C, {int(x): ep_o[int(x) % ep_o == 0] for x in np.unique(D * C)})
        T, C, P, D = T[idx], C[idx], P[idx], D[idx]
    else:
        E = np.ones_like(T)
        if axes.ep is not None and 1 not in axes.ep:
            E = E[:0]
            T, C, P, D = T[:0], C[:0], P[:0], D[:0]
    # ZeRO stage and shard group: stages 0-2 over all dp·cp, stage 3 over each divisor
    zeros = _allow(np.arange(4, dtype=np.int64), axes.zero_stage)
    dpcp = D * C
    codes: dict[int, np.ndarray] = {}
    for x in np.unique(dpcp):
        x = int(x)
        z3 = divisors(x) if 3 in zeros else np.zeros(0, dtype=np.int64)
        low = [z for z in zeros if z < 3]
        # encode (zero, shard) as zero·2^40 + shard
        codes[x] = np.concatenate(
            [np.array(low, dtype=np.int64) * (1 << 40) + x, 3 * (1 << 40) + z3]
        )
    idx, code = _ragged(dpcp, codes)
    Z, S = code >> 40, code & ((1 << 40) - 1)
    T, C, P, D, E = T[idx], C[idx], P[idx], D[idx], E[idx]
    k = len(T)
    return PlanArrays(
        tp=T,
        pp=P,
        dp=D,
        cp=C,
        ep=E,
        vpp=np.ones(k, np.int64),
        micro_batch=np.ones(k, np.int64),
        zero_stage=Z,
        fsdp_shard=S,
        recompute=np.zeros(k, np.int64),
        sequence_parallel=T > 1,
    )


def build_space(model: ModelSpec, job: Job, chips: int, axes: Axes = FULL_AXES) -> Space:
    """The candidate space for ``chips`` chips (see the module docstring for its rules)."""
    lay = layouts(model, job, chips, axes)
    L, G = model.num_layers, job.global_batch_seqs

    def pairs(pp: int, dp: int) -> tuple[np.ndarray, np.ndarray]:
        v = np.union1d(divisors(L // pp), divisors(-(-L // pp))) if pp > 1 else np.ones(1, np.int64)
        v = _allow(np.union1d(v, [1]), axes.vpp)
        m = _allow(divisors(G // dp), axes.micro_batch)
        V, M = (a.ravel() for a in np.meshgrid(v, m, indexing="ij"))
        # interleaving needs a whole number of rounds of pp micro-batches
        ok = (V == 1) | ((G // (dp * M)) % pp == 0)
        return V[ok], M[ok]

    key = lay.pp * (1 << 32) + lay.dp
    uniq, inv = np.unique(key, return_inverse=True)
    tabs = [pairs(int(u >> 32), int(u & ((1 << 32) - 1))) for u in uniq]
    width = max((len(t[0]) for t in tabs), default=1) or 1
    pv = np.ones((max(len(tabs), 1), width), dtype=np.int64)
    pm = np.ones_like(pv)
    plen = np.zeros(max(len(tabs), 1), dtype=np.int64)
    for i, (v, m) in enumerate(tabs):
        pv[i, : len(v)], pm[i, : len(m)], plen[i] = v, m, len(v)
    rc_modes = axes.recompute if axes.recompute is not None else RECOMPUTE_MODES
    rc = np.array([RECOMPUTE_CODE[r] for r in rc_modes], dtype=np.int64)
    sp_allowed = axes.sequence_parallel if axes.sequence_parallel is not None else (True, False)
    multi = lay.tp > 1
    sp_vals = np.zeros((len(lay), 2), dtype=bool)
    if len(sp_allowed) == 2:
        sp_vals[:, 0] = multi
        sp_len = np.where(multi, 2, 1)
    else:
        sp_vals[:, 0] = bool(sp_allowed[0]) & multi
        sp_len = np.ones(len(lay), dtype=np.int64)
    inv = inv.reshape(-1).astype(np.int64)
    n_opts = plen[inv] * len(rc) * sp_len if len(lay) else np.zeros(0, np.int64)
    return Space(
        chips,
        job,
        lay,
        n_opts.astype(np.int64),
        inv,
        pv,
        pm,
        plen,
        rc,
        sp_len.astype(np.int64),
        sp_vals,
    )


# ------------------------------------------------------------------ chip counts and batches
_RANGE = re.compile(r"^\s*([0-9][0-9_,.eEkKmM]*)\s*(?:-|\.\.|:)\s*([0-9][0-9_,.eEkKmM]*)\s*$")


def _int(field_name: str, text: str) -> int:
    v = parse_count(field_name, text)
    if int(v) != v:
        raise GigatrainError(f"{field_name} must be an integer, got {text!r}")
    return int(v)


def parse_range(field_name: str, spec: int | str | tuple[int, int]) -> tuple[int, int]:
    """``2048`` → (2048, 2048); ``"8192-65536"`` or ``(8192, 65536)`` → (8192, 65536)."""
    if isinstance(spec, tuple):
        lo, hi = int(spec[0]), int(spec[1])
    elif isinstance(spec, int | np.integer):
        lo = hi = int(spec)
    else:
        m = _RANGE.match(str(spec))
        if m:
            lo, hi = _int(field_name, m.group(1)), _int(field_name, m.group(2))
        else:
            lo = hi = _int(field_name, str(spec))
    if lo < 1:
        raise GigatrainError(f"{field_name} must be positive, got {spec!r}")
    if hi < lo:
        raise GigatrainError(f"{field_name} range {lo}-{hi} is empty (the lower end is larger)")
    return lo, hi


def _geometric(lo: int, hi: int) -> set[int]:
    """Powers of two and three times powers of two in [lo, hi], plus both ends."""
    out = {lo, hi}
    k = 1
    while k <= hi:
        for v in (k, 3 * k):
            if lo <= v <= hi:
                out.add(v)
        k *= 2
    return out


def smooth_counts(n: int, lo_frac: float = 0.75) -> list[int]:
    """Chip counts in [lo_frac·n, n] of the form k·2^j with k ∈ {1, 3, 5, 9, 15, 45}: counts a
    parallel layout can divide (tp over heads, dp over a 2^a·3^b batch), largest first."""
    out = set()
    for k in (1, 3, 5, 9, 15, 45):
        j = math.floor(math.log2(max(n / k, 1)))
        for jj in (j, j - 1):
            v = k * 2**jj if jj >= 0 else 0
            if lo_frac * n <= v <= n:
                out.add(v)
    if n <= 64:
        out.add(n)
    return sorted(out, reverse=True)


def fallback_counts(n: int, system: SystemSpec) -> list[int]:
    """Chip counts to try when exactly ``n`` admits no layout: the :func:`chip_counts` of the
    range 75–100 % of ``n`` plus the :func:`smooth_counts` in it (largest first is not implied;
    the list is sorted ascending like :func:`chip_counts`)."""
    lo = -(-3 * n // 4)
    counts = set(chip_counts(f"{lo}-{n}", system)) | set(smooth_counts(n))
    counts.discard(n)
    return sorted(counts)[-MAX_CHIP_COUNTS:]


def chip_counts(spec: ChipsSpec, system: SystemSpec) -> list[int]:
    """Chip counts a request covers.

    A single number is itself. A range ``A-B`` gives both ends, every power of two and every
    3·2ᵏ inside it, and — when the range holds at most 32 of them — every multiple of the node
    size (``chips_per_node``). A list is taken as given. Counts above the system's largest
    cluster are refused.
    """
    if isinstance(spec, Sequence) and not isinstance(spec, str | tuple):
        counts = sorted({int(c) for c in spec})
        if not counts or counts[0] < 1:
            raise GigatrainError(f"chips list {list(spec)!r} must hold positive counts")
    else:
        lo, hi = parse_range("chips", spec)
        counts_set = _geometric(lo, hi)
        node = system.chips_per_node
        first = -(-lo // node) * node
        if node > 1 and (hi - first) // node + 1 <= NODE_MULTIPLES_LIMIT:
            counts_set |= set(range(first, hi + 1, node))
        counts = sorted(counts_set)
    if counts[-1] > system.max_chips:
        raise GigatrainError(
            f"chips={counts[-1]:,} exceeds the largest {system.slug} cluster "
            f"({system.max_chips:,} chips)"
        )
    if len(counts) > MAX_CHIP_COUNTS:
        raise GigatrainError(f"{len(counts)} chip counts requested; at most {MAX_CHIP_COUNTS}")
    return counts


def batch_sizes(spec: int | str | tuple[int, int]) -> list[int]:
    """Global batch sizes (sequences): a number, or a range ``A-B`` → every value when it holds
    at most 16, else both ends plus every power of two and 3·2ᵏ inside it."""
    lo, hi = parse_range("global_batch", spec)
    if hi > 10**9:
        raise GigatrainError(f"global_batch={hi:,} is beyond the supported maximum 1e9")
    vals = set(range(lo, hi + 1)) if hi - lo < 16 else _geometric(lo, hi)
    out = sorted(vals)
    if len(out) > MAX_BATCH_SIZES:
        raise GigatrainError(f"{len(out)} global batch sizes requested; at most {MAX_BATCH_SIZES}")
    return out
