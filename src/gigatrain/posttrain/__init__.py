"""Post-training: supervised fine-tuning (full, LoRA, QLoRA) and RL (PPO/GRPO). Builds on the
training model (``model/``) and the serving model (``serving/``); imports nothing above them."""

from .finetune import (
    FinetuneEstimate,
    FinetuneSpec,
    best_finetune_plan,
    finetune_estimate,
    lora_params,
)
from .rl import RLEstimate, RLSpec, rl_estimate

__all__ = [
    "FinetuneEstimate",
    "FinetuneSpec",
    "RLEstimate",
    "RLSpec",
    "best_finetune_plan",
    "finetune_estimate",
    "lora_params",
    "rl_estimate",
]
