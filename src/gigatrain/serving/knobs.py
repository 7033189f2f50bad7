"""Every serving assumption as a named knob with a documented default (DESIGN.md principle 7).

Defaults come from ``shared/facts/achievable.md`` and from engine documentation (vLLM,
SGLang, TensorRT-LLM) as cited per field. The few fields marked *fitted* are refitted on the
shipped serving measurements by ``python -m gigatrain.validate.serving_fit``; the values below
are the result of that fit (see the README, "Serving and post-training").
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from ..errors import GigatrainError


@dataclass(frozen=True)
class ServingKnobs:
    # --- memory --------------------------------------------------------------------------
    #: fraction of HBM the engine may use (vLLM ``gpu_memory_utilization`` default 0.9;
    #: TensorRT-LLM ``kv_cache_free_gpu_mem_fraction`` 0.9–0.95 of what is left after weights)
    memory_utilization: float = 0.9
    #: paged KV-cache block (tokens); a sequence holds ceil(len/block) blocks (vLLM default 16,
    #: Kwon et al. 2023 "PagedAttention" §4)
    kv_block_tokens: int = 16
    #: tokens per prefill chunk that size the activation workspace (vLLM
    #: ``max_num_batched_tokens`` 8192 for chunked prefill on large GPUs)
    prefill_chunk_tokens: int = 8192
    #: engine cap on sequences decoded together (vLLM ``max_num_seqs``, TensorRT-LLM
    #: ``max_batch_size``; trtllm-bench sizes it from memory up to 2048-4096)
    max_num_seqs: int = 2048

    # --- compute and bandwidth -------------------------------------------------------------
    #: fitted: achieved fraction of the chip's streaming HBM bandwidth in decode (weights and KV
    #: reads of many mid-size kernels; achievable.md §2 reports 0.80–0.82 of spec "under real
    #: inference workloads" vs 0.85–0.92 for pure streams)
    decode_bandwidth_scale: float = 0.65
    #: fitted: the same for reading the KV cache in attention kernels (paged FlashAttention/
    #: FlashInfer/FlashMLA decode kernels stream long contiguous blocks). The fit runs to its
    #: bound (spec bandwidth): the KV term is probably over-counted where layers use sliding
    #: windows (gpt-oss), which ModelSpec does not describe
    kv_bandwidth_scale: float = 1.1
    #: fitted: multiplier on the GEMM efficiency reached in prefill (engine kernels vs MAMF)
    prefill_efficiency_scale: float = 0.66
    #: share of the training model's GEMM ramp (half efficiency at ``matmul_half_flops``) kept
    #: on top of the roofline (which already charges small GEMMs their weight reads); ESTIMATE
    gemm_half_scale: float = 0.1
    #: fitted: routed-expert GEMMs (grouped GEMMs over many small experts: Triton fused_moe,
    #: DeepGEMM, CUTLASS grouped) reach this fraction of the dense GEMM efficiency
    expert_gemm_efficiency_scale: float = 0.526
    #: attention kernels reach this fraction of the best GEMM efficiency (FA3 on H100 ≈ 0.65 of
    #: peak vs 0.80 GEMM: achievable.md §4.1; same value as the training model's knob)
    attention_efficiency_ratio: float = 0.75
    #: non-GEMM kernels launched per layer per step (2 norms, RoPE, attention, activation,
    #: residual adds; fused engines run 8–14 kernels per dense layer in all, 4–5 of them GEMMs);
    #: the GEMMs are counted from the layer's structure (MLA and MoE layers launch more)
    kernels_per_layer: int = 6
    #: the same for an engine that fuses them (``Deployment.fused_kernels``): TensorRT-LLM applies
    #: RoPE and writes the KV cache inside its attention op (TensorRT-LLM docs, "Multi-Head,
    #: Multi-Query, and Group-Query Attention", RoPE section), fuses residual add + RMSNorm into
    #: the all-reduce (``AllReduceFusionOp.RESIDUAL_RMS_NORM``, tensorrt_llm/_torch; e.g.
    #: NVIDIA/TensorRT-LLM PR #9197) or one fused add-norm kernel at TP 1, and SwiGLU into the
    #: gate/up GEMM (fused gated MLP); read 2026-12-01. That leaves attention + 2 fused norm
    #: kernels = 3 per layer, vs 6 in vLLM/SGLang (rotary, silu_and_mul, fused_add_rms_norm ×2,
    #: attention, cache write as separate kernels; vLLM's own all-reduce + RMSNorm fusion pass is on
    #: only at -O2 with TP > 1 on Hopper/Blackwell, docs.vllm.ai "Fusion torch.compile passes")
    fused_kernels_per_layer: int = 3
    #: fitted: per-kernel time with CUDA graphs relative to the chip's launch floor
    #: (achievable.md §5.1: 2.5 µs per tiny kernel → 1.3 µs captured in a graph)
    kernel_overhead_scale: float = 1.0
    #: fitted: fixed host/scheduler time per engine iteration (batch assembly, sampling,
    #: detokenisation outside the graph); vLLM V1 and SGLang overlap most of it
    step_overhead_s: float = 0.071e-3
    #: fitted: host time per sequence per iteration (scheduler bookkeeping, sampling, output
    #: processing run per request on the CPU; grows with the batch, not with the chips)
    per_seq_step_overhead_s: float = 0.0075e-6
    #: fitted: fixed time to first token outside the model when requests come through an API
    #: server (HTTP, tokenisation, scheduling the new request, streaming the first token back);
    #: fitted on InferenceMAX (OpenAI-compatible servers); in-process benchmarks do not pay it
    ttft_overhead_s: float = 0.0204
    #: fitted: host time per prompt token before prefill when requests come through an API server
    #: (text tokenisation, input processing, prefix-cache block hashing; none of it is split
    #: over the chips); in-process benchmarks pass token ids and do not pay it
    ttft_per_prompt_token_s: float = 5.6e-6
    #: fitted: squared coefficient of variation of request arrivals at the prefill queue
    #: (Kingman's G/D/1 wait ρ/(1−ρ)·c_a²/2·S). Poisson arrivals = 1; a closed-loop client whose
    #: C requests start together and finish after similar lengths arrives in waves (> 1)
    arrival_scv: float = 3.99

    # --- communication ---------------------------------------------------------------------
    #: latency of one small all-reduce in tier latency steps: engines use one-shot/two-shot
    #: custom all-reduce kernels (vLLM ``custom_all_reduce``, TRT-LLM ``AllReduceStrategy``)
    #: that take ~2 NVLink steps (≈7 µs) rather than NCCL's 2(n−1) ring steps
    allreduce_latency_steps: float = 2.0
    #: same for one all-to-all (dispatch or combine) of expert parallelism (DeepEP low-latency
    #: kernels: ~2 steps of the tier)
    alltoall_latency_steps: float = 2.0

    # --- speculative decoding --------------------------------------------------------------
    #: probability that each draft token is accepted (DeepSeek-V3 MTP: 85–90 % for the second
    #: token, arXiv:2412.19437 §5.4.3); expected tokens per verify step = (1−α^(k+1))/(1−α)
    #: (Leviathan et al. 2023, Eq. 1)
    spec_acceptance: float = 0.8
    #: cost of one draft token relative to one decode step of the target model
    #: (an MTP module is one extra layer of ~61: ≈ 0.03; a separate small draft model ≈ 0.05–0.1)
    spec_draft_cost: float = 0.05

    # --- power -----------------------------------------------------------------------------
    #: average accelerator power while serving as a fraction of TDP (decode is bandwidth-bound
    #: and draws less than training's ~0.75–0.82; ESTIMATE)
    power_fraction_of_tdp: float = 0.65

    def with_(self, **changes: float) -> ServingKnobs:
        names = {f.name for f in fields(self)}
        for k, v in changes.items():
            if k not in names:
                raise GigatrainError(
                    f"unknown serving knob {k!r}; valid: {', '.join(sorted(names))}"
                )
            if not (isinstance(v, int | float) and v == v and v >= 0):
                raise GigatrainError(f"serving knob {k} must be a non-negative number, got {v!r}")
        return replace(self, **changes)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


DEFAULT_SERVING_KNOBS = ServingKnobs()
