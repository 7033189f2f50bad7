"""One-off importer: shared/facts/models.csv -> src/gigatrain/catalog/data/models.yaml.

Keeps every source column (arch_source, params_source, notes, inferred_fields). Run from the
repository root: ``python tools/import_models.py ../shared/facts/models.csv``. The package never
reads the CSV at run time; only the YAML it writes ships.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import yaml

OUT = Path("src/gigatrain/catalog/data/models.yaml")


def _int(v: str) -> int | None:
    v = (v or "").strip()
    return int(float(v)) if v else None


def _bias(text: str, norm: str) -> str:
    t = text.lower()
    if t.startswith("q/k/v bias"):
        return "qkv"
    if "q/k/v/o" in t:
        return "qkvo"
    if t.startswith("yes"):
        return "all"
    return "none"


def _norm(text: str) -> str:
    t = text.lower()
    if "rmsnorm" in t:
        return "rmsnorm"
    if "no bias" in t:
        return "layernorm_nobias"
    return "layernorm"


def convert(row: dict[str, str]) -> dict:
    if row["slug"] == "chinchilla-70b" and not row["vocab_size"]:
        # Chinchilla shares Gopher's 32k SentencePiece vocabulary; 32000 reproduces the
        # shared table's params_computed (12·L·d² + V·d = 64.69B) exactly.
        row = {**row, "vocab_size": "32000",
               "inferred_fields": (row["inferred_fields"] + "; vocab 32000 as Gopher").strip("; ")}
    norm = _norm(row["norm_type"])
    bias = _bias(row["bias_terms"], norm)
    if bias == "none" and "layernorm has bias" in row["bias_terms"].lower():
        norm = "layernorm"
    pos = row["position_embedding"].lower()
    entry: dict = {
        "name": row["model"],
        "family": row["family"],
        "developer": row["developer"],
        "num_layers": _int(row["num_layers"]),
        "hidden_size": _int(row["hidden_size"]),
        "ffn_hidden_size": _int(row["ffn_hidden_size"]) or 0,
        "num_attention_heads": _int(row["num_attention_heads"]),
        "num_kv_heads": _int(row["num_kv_heads"]),
        "head_dim": _int(row["head_dim"]) or 0,
        "vocab_size": _int(row["vocab_size"]),
        "mlp_gated": row["mlp_gated"] == "yes",
        # "unknown" (Gopher, Chinchilla): tied reproduces the shared params_computed
        "tied_embeddings": row["tied_embeddings"] in ("yes", "unknown"),
        "learned_position_embeddings": _int(row["context_length"]) if pos.startswith("learned") else 0,
        "norm_type": norm,
        "norms_per_layer": _int(row["norms_per_layer"]) or 2,
        "qk_norm": "per-head rmsnorm on q and k" in row["norm_type"].lower(),
        "bias": bias,
        "attention_sinks": "sinks" in row["attention_type"].lower(),
        "embedding_norm": row["slug"].startswith("bloom"),
        "parallel_attn_mlp": row["parallel_attn_mlp"] == "yes",
        "max_seq_len": _int(row["context_length"]),
        "train_seq_len": _int(row["train_seq_len"]),
    }
    h, nh = entry["hidden_size"], entry["num_attention_heads"]
    if not entry["head_dim"] and h % nh:
        # GPT-3 XL prints 24 heads x 128 (inconsistent with d_model 2048); metaseq uses 32 x 64.
        entry["num_attention_heads"] = entry["num_kv_heads"] = h // 64
        entry["inferred_fields"] = (row["inferred_fields"] + "; heads = d_model/64 (metaseq split)").strip("; ")
        row = {**row, "inferred_fields": entry["inferred_fields"]}
    if row["attention_type"] == "MLA":
        entry["mla"] = {
            "q_lora_rank": _int(row["mla_q_lora_rank"]) or 0,
            "kv_lora_rank": _int(row["mla_kv_lora_rank"]),
            "qk_nope_head_dim": _int(row["mla_qk_nope_head_dim"]),
            "qk_rope_head_dim": _int(row["mla_qk_rope_head_dim"]),
            "v_head_dim": _int(row["mla_v_head_dim"]),
        }
    if _int(row["num_moe_layers"]):
        entry["moe"] = {
            "num_experts": _int(row["moe_num_experts"]),
            "top_k": _int(row["moe_top_k"]),
            "expert_ffn_hidden_size": _int(row["moe_expert_ffn_hidden_size"]),
            "num_moe_layers": _int(row["num_moe_layers"]),
            "num_shared_experts": _int(row["moe_shared_experts"]) or 0,
            "shared_expert_ffn_hidden_size": _int(row["moe_shared_expert_ffn_hidden_size"]) or 0,
            "router_bias": row["moe_router_bias"] == "yes",
        }
    if _int(row["mtp_modules"]):
        entry["mtp_modules"] = _int(row["mtp_modules"])
    entry["params_published"] = float(row["params_published_b"]) * 1e9 if row["params_published_b"] else None
    entry["params_exact"] = _int(row["params_exact"])
    entry["params_computed_shared"] = _int(row["params_computed"])
    if row["active_params_published_b"]:
        entry["active_params_published"] = float(row["active_params_published_b"]) * 1e9
    if row["training_tokens_num"]:
        entry["training_tokens"] = float(row["training_tokens_num"])
    entry["source"] = row["arch_source"]
    entry["params_source"] = row["params_source"]
    entry["tokens_source"] = row["tokens_source"]
    entry["inferred_fields"] = row["inferred_fields"]
    entry["notes"] = row["notes"]
    entry["as_of"] = "2026-11 (shared/facts/models.csv)"
    return {k: v for k, v in entry.items() if v not in (None, "")}


def main(path: str) -> None:
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    data = {r["slug"]: convert(r) for r in rows}
    header = (
        "# Transformer architectures with sourced parameter counts.\n"
        "# Imported from shared/facts/models.csv by tools/import_models.py; source columns kept.\n"
        "# Attribution: each entry's `source` / `params_source` names the config file or paper read.\n"
    )
    OUT.write_text(header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
    print(f"wrote {len(data)} models to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/facts/models.csv")
