"""GPU memory estimate for one worker of a deployment.

Pure arithmetic on catalog figures; no I/O. The deploy page shows it next to
the GPU settings, and pre-flight checks may use `fits`. It is an estimate to
pick a GPU size, not a promise: engines add their own buffers.

The formula, per worker (GiB = 2**30 bytes):

    weights  = model.weights_gib (params x bytes per param, as shipped)
    kv_cache = kv_bytes_per_token x context_length x concurrent_sequences
               (kv_bytes_per_token = 2 x layers x kv_heads x head_dim x 2 bytes)
    overhead = OVERHEAD_FIXED_GIB per GPU (CUDA context, activations, graphs)
               + OVERHEAD_FRACTION x weights (sampler and workspace buffers)
    per_gpu  = (weights + kv_cache) / gpus_per_worker + overhead per GPU

Tensor parallelism splits weights and KV cache evenly across the worker's
GPUs. A GPU of G GB is usable up to USABLE_FRACTION x G, the share engines
claim by default (vLLM's gpu-memory-utilization 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dynamote_core.catalog import Model

GIB = 2**30
GPU_SIZES_GB: tuple[int, ...] = (24, 48, 80, 141)
TENSOR_PARALLEL_SIZES: tuple[int, ...] = (1, 2, 4, 8)
OVERHEAD_FIXED_GIB = 1.5
OVERHEAD_FRACTION = 0.05
USABLE_FRACTION = 0.9


@dataclass(frozen=True)
class MemoryEstimate:
    """What one worker needs, and how many GPUs of each common size it takes."""

    weights_gib: float
    kv_cache_gib: float
    overhead_gib: float
    total_gib: float
    per_gpu_gib: float
    gpus_per_worker: int
    context_length: int
    gpus_needed: dict[int, int | None]
    warnings: list[str] = field(default_factory=list)

    def fits(self, gpu_gib: float) -> bool:
        """Whether the worker fits on GPUs of `gpu_gib` at its `gpus_per_worker`."""
        return self.per_gpu_gib <= gpu_gib * USABLE_FRACTION


def estimate_memory(
    model: Model,
    context_length: int | None,
    gpus_per_worker: int = 1,
    concurrent_sequences: int = 1,
) -> MemoryEstimate:
    """Estimate GPU memory for one worker of `model` (formula in the module docstring).

    Args:
        context_length: tokens per sequence; None uses the model's context length.
        gpus_per_worker: tensor-parallel size of the worker.
        concurrent_sequences: sequences held at full length at once.
    """
    tokens = context_length or model.context_length
    gpus = max(1, gpus_per_worker)
    sequences = max(1, concurrent_sequences)
    warnings: list[str] = []

    weights = model.weights_gib_estimate
    kv_cache = _kv_cache_gib(model, tokens * sequences, warnings)
    overhead_per_gpu = _overhead_per_gpu(weights, gpus)
    per_gpu = (weights + kv_cache) / gpus + overhead_per_gpu

    needed = {size: _gpus_needed(weights, kv_cache, size) for size in GPU_SIZES_GB}
    warnings += _fit_warnings(model, tokens, per_gpu, gpus, needed)
    return MemoryEstimate(
        weights_gib=round(weights, 2),
        kv_cache_gib=round(kv_cache, 2),
        overhead_gib=round(overhead_per_gpu * gpus, 2),
        total_gib=round(weights + kv_cache + overhead_per_gpu * gpus, 2),
        per_gpu_gib=round(per_gpu, 2),
        gpus_per_worker=gpus,
        context_length=tokens,
        gpus_needed=needed,
        warnings=warnings,
    )


def suggest_gpus_per_worker(
    estimate: MemoryEstimate, gpu_memory_gib: float, model: Model | None = None
) -> int | None:
    """The fewest GPUs of `gpu_memory_gib` one worker of `estimate` fits on.

    With `model`, only GPU counts its attention heads split over evenly. None
    when even the largest tensor-parallel size is too small: the context has to
    shrink (the estimate's warnings say so).
    """
    sizes = TENSOR_PARALLEL_SIZES
    if model is not None:
        sizes = tuple(size for size in sizes if model.splits_heads_evenly(size))
    return _gpus_needed(
        estimate.weights_gib, estimate.kv_cache_gib, gpu_memory_gib, sizes
    )


def _kv_cache_gib(model: Model, tokens: int, warnings: list[str]) -> float:
    per_token = model.kv_cache_bytes_per_token
    if per_token is None:
        warnings.append(
            f"The catalog lacks {model.id}'s layer and KV head figures, so the KV "
            "cache is left out of this estimate."
        )
        return 0.0
    return per_token * tokens / GIB


def _overhead_per_gpu(weights_gib: float, gpus: int) -> float:
    return OVERHEAD_FIXED_GIB + OVERHEAD_FRACTION * weights_gib / gpus


def _gpus_needed(
    weights: float,
    kv_cache: float,
    size_gb: float,
    sizes: tuple[int, ...] = TENSOR_PARALLEL_SIZES,
) -> int | None:
    for gpus in sizes:
        per_gpu = (weights + kv_cache) / gpus + _overhead_per_gpu(weights, gpus)
        if per_gpu <= size_gb * USABLE_FRACTION:
            return gpus
    return None


def _fit_warnings(
    model: Model, tokens: int, per_gpu: float, gpus: int, needed: dict[int, int | None]
) -> list[str]:
    warnings = []
    limit = max(model.context_length, model.max_position_embeddings or 0)
    if tokens > limit:
        warnings.append(f"{tokens} tokens is more than {model.id} supports ({limit}).")
    largest = max(GPU_SIZES_GB)
    if per_gpu > largest * USABLE_FRACTION:
        hint = (
            f"use {needed[largest]} GPUs per worker"
            if needed[largest]
            else "lower the context length"
        )
        warnings.append(
            f"A context of {tokens} tokens needs about {per_gpu:.1f} GiB per GPU with "
            f"{gpus} GPU(s) per worker, more than even a {largest} GB GPU holds: "
            f"{hint}."
        )
    if all(count is None for count in needed.values()):
        warnings.append(
            f"{model.id} with a context of {tokens} tokens does not fit on 8 GPUs "
            "of any common size: lower the context length."
        )
    return warnings
