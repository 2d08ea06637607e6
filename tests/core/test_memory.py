"""Tests for dynamote_core.memory: the estimate's parts, GPU counts and warnings."""

from __future__ import annotations

import pytest

from dynamote_core.catalog import Catalog, Model, load_catalog
from dynamote_core.memory import (
    GIB,
    GPU_SIZES_GB,
    estimate_memory,
    suggest_gpus_per_worker,
)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_parts_follow_the_documented_formula(catalog: Catalog) -> None:
    model = catalog.get("Qwen/Qwen3-0.6B")

    estimate = estimate_memory(model, 8192)

    assert estimate.weights_gib == 1.11
    assert estimate.kv_cache_gib == pytest.approx(114688 * 8192 / GIB, abs=0.01)
    assert estimate.overhead_gib == pytest.approx(1.5 + 0.05 * 1.11, abs=0.01)
    assert estimate.total_gib == pytest.approx(
        estimate.weights_gib + estimate.kv_cache_gib + estimate.overhead_gib, abs=0.02
    )
    assert estimate.per_gpu_gib == pytest.approx(estimate.total_gib, abs=0.01)
    assert estimate.warnings == []


def test_no_context_length_uses_the_models(catalog: Catalog) -> None:
    model = catalog.get("TinyLlama/TinyLlama-1.1B-Chat-v1.0")

    estimate = estimate_memory(model, None)

    assert estimate.context_length == 2048


def test_kv_cache_grows_with_context_and_sequences(catalog: Catalog) -> None:
    model = catalog.get("meta-llama/Llama-3.1-8B-Instruct")

    short = estimate_memory(model, 8192)
    long = estimate_memory(model, 32768)
    busy = estimate_memory(model, 8192, concurrent_sequences=4)

    assert long.kv_cache_gib == pytest.approx(4 * short.kv_cache_gib, abs=0.02)
    assert busy.kv_cache_gib == pytest.approx(long.kv_cache_gib, abs=0.02)


def test_tensor_parallel_splits_weights_and_cache(catalog: Catalog) -> None:
    model = catalog.get("Qwen/Qwen3-32B")

    one = estimate_memory(model, 32768, gpus_per_worker=1)
    four = estimate_memory(model, 32768, gpus_per_worker=4)

    assert four.per_gpu_gib < one.per_gpu_gib / 3
    assert four.fits(48) and not one.fits(48)


@pytest.mark.parametrize(
    ("model_id", "context", "expected"),
    [
        ("Qwen/Qwen3-0.6B", None, {24: 1, 48: 1, 80: 1, 141: 1}),
        ("Qwen/Qwen3-32B", 32768, {24: 4, 48: 2, 80: 2, 141: 1}),
        ("meta-llama/Llama-3.3-70B-Instruct", 131072, {24: None, 48: 8, 80: 4, 141: 2}),
    ],
    ids=["tiny", "32b", "70b-full-context"],
)
def test_gpus_needed_per_common_size(
    catalog: Catalog,
    model_id: str,
    context: int | None,
    expected: dict[int, int | None],
) -> None:
    estimate = estimate_memory(catalog.get(model_id), context)

    assert set(estimate.gpus_needed) == set(GPU_SIZES_GB)
    assert estimate.gpus_needed == expected


def test_a_context_that_cannot_fit_warns_clearly(catalog: Catalog) -> None:
    model = catalog.get("meta-llama/Llama-3.3-70B-Instruct")

    estimate = estimate_memory(model, 131072, concurrent_sequences=64)

    assert all(count is None for count in estimate.gpus_needed.values())
    assert any("does not fit on 8 GPUs" in warning for warning in estimate.warnings)
    assert any("lower the context length" in warning for warning in estimate.warnings)


def test_too_much_for_one_gpu_suggests_more_gpus(catalog: Catalog) -> None:
    estimate = estimate_memory(catalog.get("meta-llama/Llama-3.3-70B-Instruct"), 131072)

    assert any("use 2 GPUs per worker" in warning for warning in estimate.warnings)


def test_a_context_beyond_the_model_warns(catalog: Catalog) -> None:
    estimate = estimate_memory(catalog.get("TinyLlama/TinyLlama-1.1B-Chat-v1.0"), 4096)

    assert any(
        "more than" in warning and "2048" in warning for warning in estimate.warnings
    )


def test_a_model_without_architecture_figures_warns_and_counts_weights() -> None:
    model = Model(
        id="acme/tiny",
        display_name="Acme Tiny",
        description="A model without layer figures.",
        task="text-generation",
        size_label="1B",
        parameters_b=1.0,
        context_length=4096,
        license="mit",
        gated=False,
        engines=["vllm"],
        publisher="Acme",
        family="Acme",
    )

    estimate = estimate_memory(model, 4096)

    assert estimate.kv_cache_gib == 0
    assert estimate.weights_gib == pytest.approx(1.86, abs=0.01)
    assert any("KV cache is left out" in warning for warning in estimate.warnings)


def test_fits_uses_the_usable_share_of_the_gpu(catalog: Catalog) -> None:
    estimate = estimate_memory(catalog.get("Qwen/Qwen3-8B"), 32768)

    assert estimate.fits(48)
    assert not estimate.fits(estimate.per_gpu_gib)


@pytest.mark.parametrize(
    ("model_id", "gpu_gib", "expected"),
    [
        ("Qwen/Qwen3-0.6B", 24, 1),
        ("meta-llama/Llama-3.3-70B-Instruct", 80, 4),
        ("meta-llama/Llama-3.3-70B-Instruct", 141, 2),
        ("meta-llama/Llama-3.3-70B-Instruct", 24, None),
    ],
    ids=["small-on-24", "70b-on-80", "70b-on-141", "70b-too-big-for-24"],
)
def test_suggested_gpus_are_the_fewest_that_hold_the_worker(
    catalog: Catalog, model_id: str, gpu_gib: float, expected: int | None
) -> None:
    model = catalog.get(model_id)
    estimate = estimate_memory(model, model.context_length)

    suggested = suggest_gpus_per_worker(estimate, gpu_gib)

    assert suggested == expected
    if suggested is not None:
        assert estimate_memory(model, model.context_length, suggested).fits(gpu_gib)


def test_suggested_gpus_split_the_attention_heads_evenly(catalog: Catalog) -> None:
    # Phi-4: 40 attention heads, 10 KV heads; 4 GPUs would fit its memory on
    # 16 GiB cards, but 10 KV heads do not split over 4 (nor 8) GPUs.
    model = catalog.get("microsoft/phi-4")
    estimate = estimate_memory(model, model.context_length)
    fits_on_four = suggest_gpus_per_worker(estimate, 16)

    suggested = suggest_gpus_per_worker(estimate, 16, model)

    assert fits_on_four == 4
    assert suggested is None or model.splits_heads_evenly(suggested)
    assert not model.splits_heads_evenly(4)
    assert model.splits_heads_evenly(2)
