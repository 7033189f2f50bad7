"""Request models of the JSON API: pydantic models whose bounds and validators turn bad input
into a 422 that names the field, before any library call. Numbers and text with units (``15T``,
``$0.03/kWh``, ``2GW``) are read by the same parsers the CLI uses."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)

from ...inputs import MAX_CHIPS
from ...serving.deploy import SERVING_DTYPES
from ...specs import PLAN_DEGREES
from . import service

MAX_DEGREE = 1_000_000


Slug = Annotated[str, Field(min_length=1, max_length=100)]
Degree = Annotated[int, Field(ge=1, le=MAX_DEGREE)]
Precision = Literal["bf16", "fp16", "fp8", "fp4", "fp32"]
RecomputeMode = Literal["none", "selective", "full"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _tokens(v: Any) -> float:
    """``15T``, ``1.5e13`` or a number; 0 means no token budget."""
    from ...units import parse_count

    if isinstance(v, bool):
        raise ValueError("tokens must be a number or a string like 15T")
    if (isinstance(v, int | float) and v == 0) or v in ("0", ""):
        return 0.0
    value = parse_count("tokens", v)
    if value > 1e18:
        raise ValueError(f"tokens={value:g} is beyond the supported maximum 1e18")
    return value


def _parsed(parser: str, field: str, v: Any) -> Any:
    """A number, or text such as ``$0.03/kWh`` or ``$2.50`` read by the economics parsers."""
    if v is None or (isinstance(v, int | float) and not isinstance(v, bool)):
        return v
    if not isinstance(v, str) or len(v) > 60:
        raise ValueError(f"{field} must be a number or a short text like '$0.03/kWh'")
    from ...economics import quantities

    return getattr(quantities, parser)(field, v)


class ModelJob(_Strict):
    model: Slug | None = Field(None, description="catalog model slug (see /api/catalog/models)")
    config: dict[str, Any] | None = Field(
        None, description="a pasted Hugging Face config.json (instead of `model`)"
    )
    seq: int = Field(4096, ge=1, le=10_000_000, description="sequence length")
    global_batch: int = Field(1024, ge=1, le=1_000_000_000, description="global batch (sequences)")
    tokens: float | str = Field(0.0, description="training token budget: 0, 1.5e13 or '15T'")
    precision: Precision = "bf16"
    framework: Slug = "megatron"

    @field_validator("tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, v: Any) -> float:
        return _tokens(v)

    @model_validator(mode="after")
    def _one_model(self) -> ModelJob:
        if (self.model is None) == (self.config is None):
            raise ValueError(
                "give exactly one of model (a catalog slug) or config (a pasted config.json)"
            )
        return self

    def job_kwargs(self) -> dict[str, Any]:
        out = {
            k: getattr(self, k)
            for k in ("model", "config", "seq", "global_batch", "precision", "framework")
        }
        out["tokens"] = float(self.tokens)
        for k in ("chip", "system"):
            if hasattr(self, k):
                out[k] = getattr(self, k)
        return out


class JobFields(ModelJob):
    chip: Slug = Field(description="chip slug (see /api/catalog/chips)")
    system: Slug | None = Field(None, description="system slug (default: the chip's)")


#: one field per parallel degree, from specs.PLAN_DEGREES (a new degree appears here by itself)
_PlanDegrees = create_model(  # type: ignore[call-overload]
    "_PlanDegrees",
    __base__=JobFields,
    **{d.name: (Degree, Field(1, description=d.help)) for d in PLAN_DEGREES},
)


class PlanFields(_PlanDegrees):  # type: ignore[valid-type,misc]
    chips: int = Field(ge=1, le=MAX_CHIPS, description="number of chips")
    dp: Degree | None = Field(None, description="default chips/(tp·pp·cp)")
    zero_stage: int = Field(1, ge=0, le=3)
    fsdp_shard: int = Field(0, ge=0, le=MAX_CHIPS, description="hybrid sharding group (0 = all dp)")
    recompute: RecomputeMode = "selective"
    sequence_parallel: bool = True
    round_chips: bool = Field(
        False,
        description="chips is an upper bound (a fleet's size): run the plan on the "
        "largest count it can use — tp·pp·cp × a dp that divides the global batch, within the "
        "system's largest cluster (the answer says which count and why)",
    )

    def plan_kwargs(self) -> dict[str, Any]:
        return {
            "chips": self.chips,
            "round_chips": self.round_chips,
            **self.model_dump(include=set(service.PLAN_FIELDS)),
        }


class EstimateRequest(PlanFields):
    """One parallel plan: the inputs of ``gigatrain estimate``."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-3.1-8b",
                    "chip": "h100-sxm",
                    "chips": 64,
                    "tp": 2,
                    "seq": 4096,
                    "global_batch": 1024,
                }
            ]
        },
    )


Objective = Literal["time", "time_to_train", "cost", "energy"]
ParetoAxis = Literal["time", "time_to_train", "cost", "energy", "memory", "chips"]
CHIP_RANGE = r"^\s*[0-9]{1,8}\s*(-\s*[0-9]{1,8}\s*)?$"


DegreeList = Annotated[list[Degree], Field(min_length=1, max_length=32)]


_AxesDegrees = create_model(  # type: ignore[call-overload]
    "_AxesDegrees",
    __base__=_Strict,
    **{
        d.name: (DegreeList | None, Field(None, description=f"only these values of the {d.help}"))
        for d in PLAN_DEGREES
    },
)


class AxesFields(_AxesDegrees):  # type: ignore[valid-type,misc]
    """Only these values of an axis (``gigatrain search --tp 1,2,4``); absent = all valid."""

    zero_stage: (
        Annotated[list[Annotated[int, Field(ge=0, le=3)]], Field(min_length=1, max_length=4)] | None
    ) = None
    recompute: Annotated[list[RecomputeMode], Field(min_length=1, max_length=3)] | None = None
    sequence_parallel: Annotated[list[bool], Field(min_length=1, max_length=2)] | None = None


class SearchRequest(JobFields):
    """``gigatrain search``: every valid plan, ranked; bounded in candidates and seconds."""

    chips: int | str = Field(
        description="a chip count, or a range 'A-B' (sampled: see the search docs)"
    )
    objective: Objective = "time"
    top: int = Field(10, ge=1, le=50)
    max_memory_frac: float = Field(1.0, gt=0, le=2, description="fits when memory ≤ this × HBM")
    deadline_days: float | None = Field(None, gt=0, le=1e6)
    global_batch_range: Annotated[str, Field(max_length=40, pattern=CHIP_RANGE)] | None = Field(
        None, description="search the global batch too: 'A-B' (sequences)"
    )
    usd_per_chip_hour: float | None = Field(None, gt=0, le=1e6)
    pareto: tuple[ParetoAxis, ParetoAxis] | None = None
    axes: AxesFields | None = Field(None, description='restrict axes, e.g. {"tp": [1, 2, 4, 8]}')

    @field_validator("chips", mode="before")
    @classmethod
    def _chips(cls, v: Any) -> int | str:
        """One clear message for both forms (a count, or a range 'A-B')."""
        if isinstance(v, int | float) and not isinstance(v, bool) and float(v).is_integer():
            if not 1 <= v <= MAX_CHIPS:
                raise ValueError(f"chips={v!r} must be between 1 and {MAX_CHIPS:,}")
            return int(v)
        if isinstance(v, str) and re.fullmatch(CHIP_RANGE, v):
            return v
        shown = repr(v)[:40] if isinstance(v, int | float | str | bool) or v is None else "?"
        raise ValueError(f"chips={shown}: should be a chip count or a range like '1024-4096'")

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-3.1-70b",
                    "chip": "h100-sxm",
                    "chips": 1024,
                    "seq": 8192,
                    "global_batch": 1024,
                }
            ]
        },
    )


Pricing = Literal["on_demand", "reserved_1yr", "reserved_3yr", "capacity_block", "own"]


class CostFields(_Strict):
    pricing: Pricing = "on_demand"
    provider: Annotated[str, Field(max_length=20)] | None = None
    usd_per_kwh: float | str | None = Field(None, description="electricity: 0.03 or '$30/MWh'")
    pue: float | None = Field(None, ge=1.0, le=3.0)
    interruptions_per_chip_day: float | None = Field(None, gt=0, le=10)
    restart_s: float | None = Field(None, ge=0, le=1e6)
    goodput: float | None = Field(None, gt=0, le=1)

    @field_validator("usd_per_kwh", mode="before")
    @classmethod
    def _kwh(cls, v: Any) -> Any:
        return _parsed("parse_usd_per_kwh", "usd_per_kwh", v)

    def cost_kwargs(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in service.COST_OPTION_FIELDS if hasattr(self, k)}


class CostRequest(PlanFields, CostFields):
    """``gigatrain cost`` for one plan: whole-run days with goodput, energy and dollars."""

    best_plan: bool = Field(
        False,
        description="ignore the degrees: cost the plan search "
        "finds fastest (as `gigatrain cost` without --tp)",
    )
    usd_per_chip_hour: float | str | None = Field(None, description="rent: 2.5 or '$2.50'")
    chip_price_usd: float | str | None = Field(None, description="own: purchase price per chip")
    depreciation_years: float | None = Field(None, gt=0, le=50)
    dc_capex_usd_per_mw: float | None = Field(None, gt=0, le=1e9)
    server_cost_ratio: float | None = Field(None, ge=1, le=10)

    @field_validator("usd_per_chip_hour", "chip_price_usd", mode="before")
    @classmethod
    def _usd(cls, v: Any, info: ValidationInfo) -> Any:
        v = _parsed("parse_usd", str(info.field_name), v)
        if v is not None and not 0 < v <= 1e9:
            raise ValueError(f"{info.field_name} must be positive and at most 1e9")
        return v

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-3.1-8b",
                    "chip": "h100-sxm",
                    "chips": 64,
                    "tokens": "15T",
                    "seq": 8192,
                }
            ]
        },
    )


class CompareRequest(ModelJob, CostFields):
    """``gigatrain compare``: the same run on several chips, each with its best plan."""

    chips: int = Field(ge=1, le=MAX_CHIPS, description="chips of each type")
    compare: list[Slug] = Field(min_length=1, max_length=8, description="chip slugs")
    objective: Objective = "time"

    @field_validator("tokens")
    @classmethod
    def _budget(cls, v: float) -> float:
        # checked before any chip is searched (compare_chips would find out after)
        if not v > 0:
            raise ValueError("compare needs a token budget (e.g. 15T)")
        return v

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-3.1-8b",
                    "chips": 64,
                    "tokens": "15T",
                    "compare": ["h100-sxm", "h200", "b200", "trn2"],
                }
            ]
        },
    )


class FleetRequest(_Strict):
    """``gigatrain fleet``: what a power envelope, a budget or a chip count buys."""

    chip: Slug
    power: float | str | None = Field(
        None, description="facility power: '2GW', '100 MW' (a bare number is watts)"
    )
    power_is_it: bool = Field(False, description="the power is IT load, not facility")
    budget: float | str | None = Field(None, description="capital budget: '$10B' (or USD)")
    chips: int | None = Field(None, ge=1, le=100_000_000)
    pue: float | None = Field(None, ge=1.0, le=3.0)
    usd_per_kwh: float | str | None = None
    mfu: float | None = Field(None, gt=0, le=1)
    precision: Precision = "bf16"
    job_chips: int | None = Field(None, ge=1, le=100_000_000)
    target_params: list[Annotated[float, Field(gt=0, le=1e16)]] | None = Field(
        None, max_length=5, description="Chinchilla-optimal dense models to time (parameters)"
    )
    # the page sends its price fields along; a fleet of rented chips takes none of them
    usd_per_chip_hour: float | str | None = Field(None, description="ignored by fleet sizing")

    @field_validator("power", mode="before")
    @classmethod
    def _power(cls, v: Any) -> Any:
        v = _parsed("parse_power_w", "power", v)
        if v is not None and not 0 < v <= 1e13:
            raise ValueError("power must be positive and at most 10 TW")
        return v

    @field_validator("budget", mode="before")
    @classmethod
    def _budget(cls, v: Any) -> Any:
        v = _parsed("parse_usd", "budget", v)
        if v is not None and not 0 < v <= 1e14:
            raise ValueError("budget must be positive and at most $100T")
        return v

    @field_validator("usd_per_kwh", mode="before")
    @classmethod
    def _kwh(cls, v: Any) -> Any:
        return _parsed("parse_usd_per_kwh", "usd_per_kwh", v)

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [{"chip": "trn2", "power": "2GW"}]},
    )


class ApiError(BaseModel):
    """Every error: one line naming the field, the value and what would be valid."""

    error: str
    detail: list[dict[str, Any]] | None = Field(None, description="per-field problems (422)")


ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ApiError, "description": "request body too large"},
    422: {"model": ApiError, "description": "invalid input (the message says which and why)"},
}
SLOW_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    429: {"model": ApiError, "description": "every search slot is busy; retry shortly"},
    503: {"model": ApiError, "description": "stopped at the server's time limit"},
}


# ---------------------------------------------------------------- serving and post-training
RentPricing = Literal["on_demand", "reserved_1yr", "reserved_3yr", "capacity_block"]
ServingPrecision = Annotated[
    str, Field(max_length=40, description="weight formats to consider: 'auto' or e.g. 'bf16,fp8'")
]
MAX_LEN = 10_000_000


class InferRequest(_Strict):
    """``gigatrain infer``: the best serving deployment under latency targets, the fleet for a
    demand and $ per million tokens. Latencies in seconds (SI)."""

    model: Slug = Field(description="catalog model slug")
    chip: Slug = Field(description="chip slug")
    system: Slug | None = Field(None, description="system slug (default: the chip's)")
    input_len: int = Field(1024, ge=1, le=MAX_LEN, description="prompt tokens per request")
    output_len: int = Field(1024, ge=1, le=MAX_LEN, description="generated tokens per request")
    ttft_s: float | None = Field(None, gt=0, le=3600, description="time-to-first-token target (s)")
    tpot_s: float | None = Field(None, gt=0, le=60, description="time-per-output-token target (s)")
    requests_per_s: float | None = Field(None, gt=0, le=1e9, description="demand: requests/s")
    tokens_per_s: float | None = Field(None, gt=0, le=1e15, description="demand: output tokens/s")
    precision: ServingPrecision = "auto"
    max_replica_chips: int = Field(64, ge=1, le=512, description="largest replica (chips)")
    spec: int = Field(
        0, ge=0, le=8, description="also try speculative decoding with N draft tokens"
    )
    disaggregate: bool = Field(False, description="also try separate prefill workers")
    pricing: RentPricing = "on_demand"
    usd_per_chip_hour: float | None = Field(None, gt=0, le=1e6, description="price override")

    @field_validator("precision")
    @classmethod
    def _precision(cls, v: str) -> str:
        parts = [p.strip() for p in v.split(",")]
        if v.strip() != "auto" and (not parts or any(p not in SERVING_DTYPES for p in parts)):
            raise ValueError(
                f"should be 'auto' or a comma-separated list of {', '.join(SERVING_DTYPES)}"
            )
        return v.strip()

    @model_validator(mode="after")
    def _one_demand(self) -> InferRequest:
        if self.requests_per_s is not None and self.tokens_per_s is not None:
            raise ValueError("give at most one demand: requests_per_s or tokens_per_s")
        return self

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-3.1-70b",
                    "chip": "h100-sxm",
                    "input_len": 1024,
                    "output_len": 1024,
                    "ttft_s": 0.5,
                    "tpot_s": 0.03,
                    "requests_per_s": 50,
                }
            ]
        },
    )


class _PostFields(_Strict):
    model: Slug = Field(description="catalog model slug")
    chip: Slug = Field(description="chip slug")
    chips: int = Field(ge=1, le=MAX_CHIPS, description="number of chips")
    precision: Literal["bf16", "fp8"] = Field("bf16", description="training matmul precision")
    framework: Slug = "megatron"
    tp: Degree | None = Field(None, description="tensor parallel (default: searched)")
    pp: Degree | None = Field(None, description="pipeline parallel (default: searched)")
    pricing: RentPricing = "on_demand"
    usd_per_chip_hour: float | None = Field(None, gt=0, le=1e6, description="price override")


class FinetuneRequest(_PostFields):
    """``gigatrain finetune``: full SFT, LoRA or QLoRA — memory, step time, days, cost."""

    method: Literal["full", "lora", "qlora"] = "lora"
    lora_rank: int = Field(16, ge=1, le=4096)
    lora_targets: Literal["attention", "all"] = "all"
    seq: int = Field(4096, ge=1, le=1_000_000, description="packed sequence length")
    global_batch: int = Field(64, ge=1, le=10_000_000, description="sequences per optimizer step")
    tokens: float | str = Field(0.0, description="fine-tuning tokens: 0, 1e9 or '1B'")
    micro_batch: Degree = 1
    zero_stage: int = Field(1, ge=0, le=3)
    recompute: RecomputeMode = "selective"

    @field_validator("tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, v: Any) -> float:
        return _tokens(v)

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-3.1-8b",
                    "chip": "h100-sxm",
                    "chips": 8,
                    "method": "lora",
                    "tokens": "1B",
                }
            ]
        },
    )


class RLRequest(_PostFields):
    """``gigatrain rl``: one PPO/GRPO step (rollout, log-probs, training, weight sync), days
    and cost of ``steps``."""

    algorithm: Literal["grpo", "ppo"] = "grpo"
    prompts: int = Field(512, ge=1, le=1_000_000, description="prompts per RL step")
    samples: int = Field(8, ge=1, le=1024, description="responses per prompt")
    prompt_len: int = Field(512, ge=1, le=1_000_000)
    response_len: int = Field(1024, ge=1, le=1_000_000, description="mean response tokens")
    train_steps: int = Field(1, ge=1, le=10_000, description="optimizer steps per RL step")
    gen_tp: int = Field(8, ge=1, le=4096, description="chips per generation replica")
    gen_precision: Literal["bf16", "fp8", "fp4"] = "bf16"
    placement: Literal["colocated", "disaggregated"] = "colocated"
    rollout_fraction: float = Field(
        0.5, gt=0, lt=1, description="disaggregated: share of chips generating"
    )
    off_policy: int = Field(0, ge=0, le=100, description="steps of staleness allowed (≥1 overlaps)")
    tail_factor: float = Field(1.0, ge=1, le=100, description="longest / mean response length")
    reference: bool = Field(True, description="a frozen KL reference model")
    reward_model: bool = Field(False, description="a learned reward model forward pass")
    steps: int = Field(0, ge=0, le=100_000_000, description="RL steps (days and cost)")

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {
                    "model": "llama-3.1-70b",
                    "chip": "h100-sxm",
                    "chips": 1024,
                    "prompts": 512,
                    "samples": 8,
                    "steps": 1000,
                }
            ]
        },
    )
