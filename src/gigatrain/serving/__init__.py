"""Serving: prefill/decode rooflines, KV cache, batching, latency, throughput and cost of
deployments (a layer beside ``model/``: imports catalog, specs and model.workload only)."""

from .deploy import Deployment, Request
from .estimate import ServingEstimate, estimate_serving
from .knobs import DEFAULT_SERVING_KNOBS, ServingKnobs

__all__ = [
    "DEFAULT_SERVING_KNOBS",
    "Deployment",
    "Request",
    "ServingEstimate",
    "ServingKnobs",
    "estimate_serving",
]
