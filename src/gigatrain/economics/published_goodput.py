"""Published effective-training-time (goodput / ETTR) figures, and the goodput model's prediction
of each with the mitigation that run used.

Each row names its source (fleet.md §1, achievable.md §7.3). The model is not fitted to them:
failure rates come from Llama 3's Table 5, restart and checkpoint mechanics from
economics.yaml (gigatrain.economics.goodput). Checkpoint sizes are 14 B/param of the model the
run trained (where the source names one; else noted). ``rate`` overrides the per-chip failure
rate only where the run published its own.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .goodput import goodput


@dataclass(frozen=True)
class PublishedGoodput:
    run: str
    chips: int
    params: float
    mitigation: str
    published: float  # fraction of wall-clock time training
    published_text: str
    source: str
    rate_per_chip_day: float | None = None
    note: str = ""

    @property
    def lower_bound(self) -> bool:
        """The source gives a lower bound ("> 90%"), not a value."""
        return self.published_text.startswith(">")


RUNS: tuple[PublishedGoodput, ...] = (
    PublishedGoodput(
        "Llama 3 405B (16,384 H100, 54 days)", 16_384, 405e9, "automated", 0.90, "> 90%",
        "Llama 3 Herd of Models, arXiv:2407.21783 §3.3.4 (fleet.md §1a)",
        note="automation handled all but 3 of 466 interruptions; Tectonic 2 TB/s checkpoints",
    ),
    PublishedGoodput(
        "MegaScale 175B (12,288 GPUs, weeks)", 12_288, 175e9, "automated", 0.90, "> 90%",
        "MegaScale, arXiv:2402.15627 (achievable.md §7.3, SECONDARY)",
        note="automatic detection and repair; two-phase (host memory, then HDFS) checkpoints",
    ),
    PublishedGoodput(
        "ByteRobust (9,600 GPUs, 3 months)", 9_600, 175e9, "in_memory", 0.97, "97%",
        "ByteRobust, arXiv:2509.16293 abstract (fleet.md §1c)",
        note="warm standbys, in-place hot update, every-step in-memory checkpoints; "
        "model size not stated (175B assumed; in-memory goodput does not depend on it)",
    ),
    PublishedGoodput(
        "Gemini Ultra, storage checkpoints (~57,000 TPU v4)", 57_000, 1e12, "automated", 0.85,
        "85%", "Gemini report, arXiv:2312.11805 §3 (fleet.md §1d); chips: Epoch estimate",
        note="before in-memory redundancy; model size not published (1T assumed; the sync "
        "checkpoint of 14 TB takes 2 s at 122 MB/s per chip)",
    ),
    PublishedGoodput(
        "Gemini Ultra, in-memory replicas (~57,000 TPU v4)", 57_000, 1e12, "in_memory", 0.97,
        "97%", "Gemini report, arXiv:2312.11805 §3 (fleet.md §1d); chips: Epoch estimate",
    ),
    PublishedGoodput(
        "AWS HLAT 7B, auto-restart (4,096 Trainium)", 4_096, 7e9, "automated", 0.9881, "98.81%",
        "HLAT (AWS 2024) as tabulated by glennklockwood.com (fleet.md §1e, SECONDARY)",
    ),
    PublishedGoodput(
        "AWS HLAT 7B, manual restarts (4,096 Trainium)", 4_096, 7e9, "manual", 0.7783, "77.83%",
        "HLAT (AWS 2024) as tabulated by glennklockwood.com (fleet.md §1e, SECONDARY)",
        note="manual restarts took longer than the 68-min median used here",
    ),
    PublishedGoodput(
        "OPT-175B (992 A100, ~2 months)", 992, 175e9, "manual", 0.59, "59% uptime",
        "OPT logbook via glennklockwood.com/garden/job-reliability (fleet.md §1e, indicative)",
        rate_per_chip_day=1.8e-3,
        note="OPT's own restart rate; uptime also lost to loss spikes, rollbacks and diagnosis, "
        "which no failure model here includes",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class GoodputCheck:
    run: PublishedGoodput
    predicted: float
    mtbf_s: float

    @property
    def error_points(self) -> float:
        """predicted − published, in percentage points."""
        return 100.0 * (self.predicted - self.run.published)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self.run), "predicted": self.predicted, "mtbf_s": self.mtbf_s,
                "error_points": self.error_points}  # fmt: skip


def check_published(runs: tuple[PublishedGoodput, ...] = RUNS) -> list[GoodputCheck]:
    """The model's goodput for each published run (10-s steps for in-memory checkpoints)."""
    out = []
    for r in runs:
        g = goodput(r.chips, 14.0 * r.params, mitigation=r.mitigation,
                    per_chip_day=r.rate_per_chip_day, step_s=10.0)  # fmt: skip
        out.append(GoodputCheck(r, g.goodput, g.mtbf_s))
    return out
