"""The curated model catalog: load, validate and search `catalog.json`.

Pure: reads one JSON file and nothing else; no network, no cluster. The app's
model picker, `config.validate_config` and the CLI call it. The environment
variable `DYNAMOTE_CATALOG` points at another catalog file (e.g. one a team
extends with its own models); a broken file fails with a `CatalogError` that
names the entry and the field.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dynamote_core.errors import CatalogError

Engine = Literal["vllm", "sglang", "trtllm"]
ENGINES: tuple[Engine, ...] = ("vllm", "sglang", "trtllm")

CATALOG_ENV_VAR = "DYNAMOTE_CATALOG"
# Far above any real model, low enough that memory arithmetic stays finite.
MAX_PARAMETERS_B = 100_000.0
MAX_WEIGHTS_GIB = 1_000_000.0
DEFAULT_CATALOG_PATH = Path(__file__).resolve().parent.parent / "catalog.json"
# How people write the engines; the cards show these and search finds them.
ENGINE_LABELS = {"vllm": "vLLM", "sglang": "SGLang", "trtllm": "TensorRT-LLM"}


class Model(BaseModel):
    """One Hugging Face model Dynamote offers, with what a deployment needs.

    Architecture figures are optional: a catalog leaves out what it does not
    know, and the memory estimate then says it cannot estimate that part.
    """

    # Infinity and NaN are valid JSON to Python's reader but no model's size.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(min_length=3, pattern=r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
    display_name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    task: str = Field(min_length=1)
    size_label: str = Field(min_length=1)
    parameters_b: float = Field(gt=0, le=MAX_PARAMETERS_B)
    context_length: int = Field(gt=0)
    max_position_embeddings: int | None = Field(default=None, gt=0)
    license: str = Field(min_length=1)
    gated: bool
    engines: list[Engine] = Field(min_length=1)
    publisher: str = Field(min_length=1)
    family: str = Field(min_length=1)
    architecture: str | None = None
    is_moe: bool = False
    num_layers: int | None = Field(default=None, gt=0)
    num_attention_heads: int | None = Field(default=None, gt=0)
    num_kv_heads: int | None = Field(default=None, gt=0)
    head_dim: int | None = Field(default=None, gt=0)
    dtype: str | None = None
    quantization: str | None = None
    sliding_window: int | None = Field(default=None, gt=0)
    kv_bytes_per_token: int | None = Field(default=None, gt=0)
    weights_gib: float | None = Field(default=None, gt=0, le=MAX_WEIGHTS_GIB)

    def splits_heads_evenly(self, gpus: int) -> bool:
        """Whether `gpus` GPUs can share the attention heads (tensor parallel).

        The engines refuse to start otherwise: the attention heads must divide
        by the GPU count, and the KV heads by it, or it by them (each KV head is
        then copied to several GPUs). True where the card does not say.
        """
        heads, kv_heads = self.num_attention_heads, self.num_kv_heads
        if heads and heads % gpus:
            return False
        if not kv_heads:
            return True
        return (kv_heads % gpus if gpus <= kv_heads else gpus % kv_heads) == 0

    @property
    def kv_cache_bytes_per_token(self) -> int | None:
        """Bytes of 16-bit KV cache per token: stored, else from the architecture."""
        if self.kv_bytes_per_token is not None:
            return self.kv_bytes_per_token
        if self.num_layers and self.num_kv_heads and self.head_dim:
            # keys and values, 2 bytes each, every layer treated as full attention
            return 2 * self.num_layers * self.num_kv_heads * self.head_dim * 2
        return None

    @property
    def weights_gib_estimate(self) -> float:
        """GiB of weights: stored, else parameters at 2 bytes each (BF16)."""
        if self.weights_gib is not None:
            return self.weights_gib
        return self.parameters_b * 1e9 * 2 / 2**30

    def supports(self, engine: str) -> bool:
        """Whether this model is known to run on `engine`."""
        return engine in self.engines


class Catalog:
    """The models of one catalog file, in file order."""

    def __init__(self, models: Sequence[Model], source: str = "catalog.json") -> None:
        self.models = list(models)
        self.source = source
        self._by_id = {model.id: model for model in self.models}

    def get(self, model_id: str) -> Model:
        """The model with id `model_id`; `CatalogError` naming it when absent."""
        try:
            return self._by_id[model_id]
        except KeyError:
            raise CatalogError(
                f"Model '{model_id}' is not in the catalog ({self.source}). "
                "Pick one of the listed models or add it to the catalog file."
            ) from None

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._by_id

    def __len__(self) -> int:
        return len(self.models)

    @property
    def ids(self) -> list[str]:
        return [model.id for model in self.models]


def resolve_catalog_path(path: str | Path | None = None) -> Path:
    """The catalog file to read: `path`, else `$DYNAMOTE_CATALOG`, else the default."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(CATALOG_ENV_VAR, "").strip()
    return Path(from_env) if from_env else DEFAULT_CATALOG_PATH


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Read and validate a catalog file.

    Args:
        path: the file; `None` uses `$DYNAMOTE_CATALOG` or the bundled catalog.json.

    Raises:
        CatalogError: the file is missing, not JSON, not a list, or an entry is
            invalid (the message names the entry's index, its id and the field).
    """
    catalog_path = resolve_catalog_path(path)
    raw = _read_json(catalog_path)
    if not isinstance(raw, list):
        raise CatalogError(
            f"{catalog_path.name}: expected a JSON list of models, "
            f"got {type(raw).__name__}."
        )
    models = [
        _parse_entry(catalog_path.name, index, entry) for index, entry in enumerate(raw)
    ]
    _check_unique_ids(catalog_path.name, models)
    return Catalog(models, source=str(catalog_path))


def search_models(
    models: Iterable[Model],
    query: str = "",
    tasks: Iterable[str] = (),
    engines: Iterable[str] = (),
) -> list[Model]:
    """Models matching every given filter, in their original order.

    Args:
        query: words that must all appear (case-insensitive) in what the card
            shows: display name, id, family, description, task, license,
            engines (id or label) and "gated" for gated models.
        tasks: keep models whose task is one of these (empty keeps all).
        engines: keep models that support at least one of these (empty keeps all).
    """
    words = query.lower().split()
    wanted_tasks = set(tasks)
    wanted_engines = set(engines)
    return [
        model
        for model in models
        if _matches_words(model, words)
        and (not wanted_tasks or model.task in wanted_tasks)
        and (not wanted_engines or wanted_engines.intersection(model.engines))
    ]


def _matches_words(model: Model, words: list[str]) -> bool:
    haystack = " ".join(
        (
            model.display_name,
            model.id,
            model.family,
            model.description,
            model.task,
            model.license,
            *model.engines,
            *(ENGINE_LABELS.get(engine, "") for engine in model.engines),
            "gated" if model.gated else "",
        )
    ).lower()
    return all(word in haystack for word in words)


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(
            f"Cannot read the catalog file {path}: {exc.strerror or exc}. "
            f"Check the path (or unset {CATALOG_ENV_VAR})."
        ) from exc
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"{path.name} is not UTF-8 text (byte {exc.start}). Save it as UTF-8 JSON."
        ) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(
            f"{path.name} is not valid JSON: {exc.msg} at line {exc.lineno}, "
            f"column {exc.colno}."
        ) from exc
    except RecursionError:
        # json decodes nested arrays and objects recursively
        raise CatalogError(
            f"{path.name} is nested too deeply to be a catalog: a list of flat "
            "model objects is expected."
        ) from None


def _parse_entry(file_name: str, index: int, entry: Any) -> Model:
    entry_id = entry.get("id") if isinstance(entry, dict) else None
    label = f"{file_name} entry {index}" + (f" ({entry_id})" if entry_id else "")
    if not isinstance(entry, dict):
        raise CatalogError(f"{label}: expected an object, got {type(entry).__name__}.")
    try:
        return Model.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(_describe_error(error) for error in exc.errors())
        raise CatalogError(f"{label}: {problems}") from None


def _describe_error(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "entry"
    kind = error["type"]
    if kind == "missing":
        return f"{field}: is required"
    if kind == "extra_forbidden":
        return f"{field}: is not a known catalog field"
    if kind in {"greater_than", "int_parsing", "int_type", "int_from_float"}:
        noun = "integer" if _is_integer_field(field) else "number"
        return f"{field}: must be a positive {noun}"
    return f"{field}: {error['msg']}"


def _is_integer_field(field: str) -> bool:
    info = Model.model_fields.get(field)
    return info is not None and info.annotation in (int, int | None)


def _check_unique_ids(file_name: str, models: list[Model]) -> None:
    seen: dict[str, int] = {}
    for index, model in enumerate(models):
        if model.id in seen:
            raise CatalogError(
                f"{file_name} entry {index} ({model.id}): id: duplicates entry "
                f"{seen[model.id]}; each model may appear once."
            )
        seen[model.id] = index
