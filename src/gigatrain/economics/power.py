"""Power drawn by a training fleet: chip, host and network, PUE; IT vs facility; energy per run.

One power model, used by ``fleet``, ``cost``, ``compare``, ``check`` and ``roadmap`` alike
(:func:`chip_power`). Per chip (SI watts):

* chip power ``TDP``: ``chips.yaml``; where the vendor publishes none (TPU v5p/v6e/v3, Trn1), a
  labelled ESTIMATE from ``economics.yaml`` ``tdp_w_estimate_<chip>`` (scaled from the nearest
  same-family chip by dense peak) instead of an abort.
* provisioned IT power ``it_peak_w``: the system / rack figure where one exists
  (``it_w_per_chip_<chip>``: DGX H100 10.2 kW / 8 = 1,275 W; DGX B200 14.3 kW / 8; GB200 NVL72
  120 kW / 72 = 1,670 W; GB300 NVL72 135 kW / 72 = 1,875 W; Trn2 500 W × 1.82 = 910 W ESTIMATE;
  fleet.md §4, hardware.md §3.4), otherwise ``TDP · r`` with r the server-to-chip power ratio
  (H100 1.82, A100 2.03, TPU v4 1.56, default 1.8; Epoch ``chip_to_server_power``). It covers
  host CPUs, memory, NICs, the rack's switches and fans. The implied r = it_peak_w / TDP is
  reported (GB200: 1,670 / 1,200 = 1.39, not 1.8).
* provisioned facility ``facility_peak_w = it_peak_w · PUE`` (hardware.md §3.1). The PUE default
  is the operator's fleet figure for chips sold only as a cloud service (Trainium: AWS 1.15;
  TPU: Google 1.10), else Epoch's hyperscaler 1.10. A power envelope such as "2 GW" is sized
  against this. Trn2: 910 W × 1.15 = 1,046.5 W (hardware.md §4(b): ~1.9M chips per 2 GW).
* average draw           ``f(u) · it_peak_w`` (IT) and ``· PUE`` (facility), where the fraction
  of rated power drawn grows with utilisation u = MFU (achievable.md §6):

      f(u) = clip(f_floor + (f_ref − f_floor) · u / u_ref,  f_floor, 1)

  anchored at Epoch's f_ref = 0.75 of server TDP at its median MFU u_ref = 0.375 ([EPC]
  ``server_TDP_fraction``, ``MEDIAN_UTILIZATION``; measured 8×H100 nodes draw 76 % and at most
  82 % of the 10.2 kW rating), with a floor f_floor = 0.47 (TPU v4 measured min/max 90/192 W).
  At MFU 0.55 this gives 0.88, at 0.2 0.62. The line is an ESTIMATE: no source in shared/facts
  measures power against MFU directly. Epoch's TPU fraction (0.43) is not used by default
  because the measured TPU v4 mean is 89 % of its maximum.

Ignored: per-iteration power swings (peaks reach ~TDP; Llama 3 §3.3.4 reports tens-of-MW swings
on 16k GPUs), storage servers, and power capping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..catalog.constants import cite, const, const_record, has_const
from ..errors import GigatrainError
from ..specs import ChipSpec


def server_ratio_key(chip: ChipSpec) -> str:
    """The economics.yaml key of the server-to-chip power ratio for ``chip``.

    Keys are named by the first slug token (``server_to_chip_power_ratio_h100`` for h100-sxm,
    ``_a100`` for a100-80gb, ``_tpu`` for tpu-v4); chips without their own ratio get Epoch's
    default (1.8).
    """
    key = f"server_to_chip_power_ratio_{chip.slug.split('-')[0]}"
    return key if has_const(key) else "server_to_chip_power_ratio"


def default_pue_key(chip: ChipSpec) -> str:
    """``pue_operator_<vendor>`` for chips only their vendor operates (AWS, Google), else
    ``pue_hyperscale``."""
    key = f"pue_operator_{chip.vendor.lower()}"
    return key if has_const(key) else "pue_hyperscale"


def chip_tdp_w(chip: ChipSpec) -> tuple[float, str]:
    """(chip power W, where it came from): the catalog TDP, or the labelled estimate
    ``tdp_w_estimate_<chip>`` where the vendor publishes none."""
    if chip.tdp_w is not None:
        return chip.tdp_w, f"chips.yaml, {chip.labels.get('tdp_w', 'vendor')}"
    key = f"tdp_w_estimate_{chip.slug}"
    if not has_const(key):
        raise GigatrainError(
            f"chip {chip.slug} has no published TDP in chips.yaml and no estimate in "
            f"economics.yaml; give a chip power (--chip-w) or an all-in power per chip (--allin-w)"
        )
    c = const_record(key)
    return c.value, f"ESTIMATE: {c.source}"


def system_it_w(chip: ChipSpec) -> tuple[float, str] | None:
    """(provisioned IT W per chip, source) from a system / rack figure, or None."""
    key = f"it_w_per_chip_{chip.slug}"
    if not has_const(key):
        return None
    c = const_record(key)
    return c.value, f"{c.label or 'system figure'}: {c.source}, {c.as_of}"


def power_fraction(mfu: float | None) -> float:
    """Average draw as a fraction of rated (server) power at model-FLOPs utilisation ``mfu``.

    ``f(u) = clip(f_floor + (f_ref − f_floor)·u/u_ref, f_floor, 1)``; ``mfu=None`` gives f_ref
    (Epoch's 0.75). See the module docstring for sources.
    """
    f_ref = const("power_fraction_of_tdp_training")
    if mfu is None:
        return f_ref
    if not 0 <= mfu <= 1:
        raise GigatrainError(f"mfu must be between 0 and 1, got {mfu!r}")
    f_floor = const("power_fraction_of_tdp_floor")
    u_ref = const("epoch_median_mfu")
    return min(1.0, max(f_floor, f_floor + (f_ref - f_floor) * mfu / u_ref))


@dataclass(frozen=True)
class ChipPower:
    """Watts per chip: accelerator, host/network share, facility overhead; average and peak.

    ``chip_avg_w + host_avg_w = it_avg_w``; ``it_avg_w · pue = facility_avg_w``.
    """

    chip: str
    tdp_w: float
    mfu: float | None
    power_fraction: float
    server_to_chip_ratio: float
    pue: float
    chip_avg_w: float
    host_avg_w: float
    it_avg_w: float
    facility_avg_w: float
    it_peak_w: float
    facility_peak_w: float
    assumptions: dict[str, str]

    @property
    def cooling_avg_w(self) -> float:
        """Facility overhead (cooling, conversion): facility − IT."""
        return self.facility_avg_w - self.it_avg_w

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def chip_power(
    chip: ChipSpec,
    mfu: float | None = None,
    *,
    pue: float | None = None,
    server_ratio: float | None = None,
    fraction: float | None = None,
    tdp_w: float | None = None,
    allin_w: float | None = None,
) -> ChipPower:
    """Per-chip power of ``chip`` at utilisation ``mfu``.

    Overrides: ``pue`` (default :func:`default_pue_key`), ``server_ratio`` (replaces the
    system figure with TDP·r), ``fraction`` (average/rated, default :func:`power_fraction`),
    ``tdp_w`` (chip power; then IT = TDP·r), ``allin_w`` (provisioned facility watts per chip
    incl. PUE; replaces everything, keeping r and PUE for the split).
    """
    pue_key = default_pue_key(chip)
    pue_v = const(pue_key) if pue is None else pue
    if not 1.0 <= pue_v <= 3.0:
        raise GigatrainError(f"pue must be between 1.0 and 3.0, got {pue_v!r}")
    f = power_fraction(mfu) if fraction is None else fraction
    if not 0 < f <= 1.2:
        raise GigatrainError(f"power fraction must be in (0, 1.2], got {f!r}")
    if server_ratio is not None and not 1.0 <= server_ratio <= 5.0:
        raise GigatrainError(
            f"server_to_chip_power_ratio must be between 1 and 5, got {server_ratio!r}"
        )
    if tdp_w is not None and not tdp_w > 0:
        raise GigatrainError(f"tdp_w must be positive, got {tdp_w!r}")
    if allin_w is not None and not allin_w > 0:
        raise GigatrainError(f"allin_w must be positive, got {allin_w!r}")
    notes = {
        "pue": f"{pue_v:g}" + (" (given)" if pue is not None else f" ({cite(pue_key)})"),
        "power_fraction": f"{f:.3f}"
        + (
            " (given)"
            if fraction is not None
            else f" = f(MFU {mfu:.3f}), linear from "
            f"{const('power_fraction_of_tdp_floor'):g} at MFU 0 to "
            f"{const('power_fraction_of_tdp_training'):g} at MFU "
            f"{const('epoch_median_mfu'):g} (ESTIMATE)"
            if mfu is not None
            else f" ({cite('power_fraction_of_tdp_training')})"
        ),
    }
    system = system_it_w(chip)
    if allin_w is not None:
        # the split keeps the system's (or the default) host share
        if system is not None and tdp_w is None:
            r = system[0] / chip_tdp_w(chip)[0] if server_ratio is None else server_ratio
        else:
            r = const(server_ratio_key(chip)) if server_ratio is None else server_ratio
        tdp = allin_w / (r * pue_v)
        notes["tdp_w"] = (
            f"{tdp:,.0f} W implied by all-in {allin_w:,.0f} W / (r {r:.3g} × PUE {pue_v:g})"
        )
        notes["it_w"] = f"{tdp * r:,.0f} W = all-in / PUE (given)"
    else:
        tdp, tdp_src = (tdp_w, "given") if tdp_w is not None else chip_tdp_w(chip)
        notes["tdp_w"] = f"{tdp:,.0f} W ({tdp_src})"
        if system is not None and server_ratio is None and tdp_w is None:
            r = system[0] / tdp
            notes["it_w"] = f"{system[0]:,.0f} W per chip from the system/rack figure"
            notes["it_w_source"] = system[1]
        else:
            r_key = server_ratio_key(chip)
            r = const(r_key) if server_ratio is None else server_ratio
            notes["it_w"] = f"{tdp * r:,.0f} W = TDP × server ratio {r:g}" + (
                " (given)" if server_ratio is not None else f" ({cite(r_key)})"
            )
    notes["server_to_chip_ratio"] = f"{r:.3g}"
    it_peak = tdp * r
    return ChipPower(
        chip=chip.slug,
        tdp_w=tdp,
        mfu=mfu,
        power_fraction=f,
        server_to_chip_ratio=r,
        pue=pue_v,
        chip_avg_w=f * tdp,
        host_avg_w=f * (it_peak - tdp),
        it_avg_w=f * it_peak,
        facility_avg_w=f * it_peak * pue_v,
        it_peak_w=it_peak,
        facility_peak_w=it_peak * pue_v,
        assumptions=notes,
    )


@dataclass(frozen=True)
class Energy:
    """Energy of ``chips`` drawing ``ChipPower`` for ``duration_s``; parts sum to ``total_j``.

    ``accelerator_j + host_j = it_j``; ``it_j + facility_overhead_j = total_j`` (facility).
    """

    chips: int
    duration_s: float
    accelerator_j: float
    host_j: float
    facility_overhead_j: float
    it_j: float
    total_j: float
    it_avg_w: float
    facility_avg_w: float

    def parts(self) -> dict[str, float]:
        return {
            "energy/accelerators": self.accelerator_j,
            "energy/host_network": self.host_j,
            "energy/facility_overhead": self.facility_overhead_j,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_energy(power: ChipPower, chips: int, duration_s: float) -> Energy:
    """E = chips · P_avg · t for each part (J). Failures and restarts are charged at the same
    average power (chips stay powered while a job restarts)."""
    if chips <= 0 or duration_s < 0:
        raise GigatrainError(f"chips must be positive and duration >= 0, got {chips}, {duration_s}")
    acc = chips * power.chip_avg_w * duration_s
    host = chips * power.host_avg_w * duration_s
    it = acc + host
    total = chips * power.facility_avg_w * duration_s
    return Energy(
        chips,
        duration_s,
        acc,
        host,
        total - it,
        it,
        total,
        chips * power.it_avg_w,
        chips * power.facility_avg_w,
    )
