"""Deployment settings: what a user chose, validated into a `DeploymentConfig`.

Pure: no I/O, no cluster. `validate_config` is the one door from raw values
(form widgets, CLI flags, stored annotations) to a `DeploymentConfig`; every
problem comes back as a `FieldError` naming the field, what is wrong and how
to fix it, all at once, inside one `ConfigError`. Pydantic's own errors never
leave this module. Callers: the app's deploy page, `manifest`, the CLI.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dynamote_core.catalog import ENGINES, Catalog, Engine, Model
from dynamote_core.errors import CatalogError, ConfigError, FieldError

Mode = Literal["aggregated", "disaggregated"]
RouterMode = Literal["none", "kv", "round-robin"]
ApiVersion = Literal["v1beta1", "v1alpha1"]

MODES: tuple[Mode, ...] = ("aggregated", "disaggregated")
ROUTER_MODES: tuple[RouterMode, ...] = ("none", "kv", "round-robin")
API_VERSIONS: tuple[ApiVersion, ...] = ("v1beta1", "v1alpha1")

DEFAULT_DYNAMO_VERSION = "1.6.1"
DEFAULT_SECRET_NAME = "hf-token-secret"  # noqa: S105 - a Secret name, not a secret
MAX_NAME_LENGTH = 30
MAX_NAMESPACE_PLUS_NAME = 60
MAX_REPLICAS = 4
MAX_GPUS_PER_WORKER = 8

NAME_PATTERN = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
NAMESPACE_PATTERN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUBDOMAIN_PATTERN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


def is_object_name(value: str) -> bool:
    """Whether the API server could hold an object by this name (DNS-1123 subdomain)."""
    return len(value) <= 253 and SUBDOMAIN_PATTERN.fullmatch(value) is not None


VERSION_PATTERN = re.compile(
    r"^(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})$"
)
QUANTITY_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_BINARY_UNITS = ("Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
_DECIMAL_UNITS = ("k", "M", "G", "T", "P", "E")
QUANTITY_UNITS = {
    "": 1,
    **{unit: 1024 ** (power + 1) for power, unit in enumerate(_BINARY_UNITS)},
    **{unit: 1000 ** (power + 1) for power, unit in enumerate(_DECIMAL_UNITS)},
}
MIN_WORKER_MEMORY = 1024**3
MAX_WORKER_MEMORY = 16 * 1024**4
IMAGE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
FLAG_PATTERN = re.compile(r"^-{0,2}[A-Za-z0-9][A-Za-z0-9_.-]*$")

# Limits on custom engine arguments. The text is YAML from a browser: without
# them, a few lines of anchors and aliases ("billion laughs") or a deep flow
# collection would make the manifest huge or overflow the parser's stack.
MAX_ENGINE_ARGS_BYTES = 16 * 1024
MAX_ENGINE_ARGS_FLAGS = 64
MAX_ENGINE_ARGS_DEPTH = 4  # the mapping of flags is level 1
MAX_ENGINE_ARGS_NODES = 1024  # every key, value and item, aliases counted each time

# Flags Dynamote writes itself, per engine: a custom argument that repeats one
# would silently fight a setting (or break the graph's wiring), so each maps
# to the setting a user should change instead.
MANAGED_FLAGS: dict[str, str] = {
    "model": "model_id",
    "model-path": "model_id",
    "served-model-name": "served_model_name",
    "disaggregation-mode": "mode",
    "is-prefill-worker": "mode",
    "is-decode-worker": "mode",
    "kv-transfer-config": "mode",
    "disaggregation-transfer-backend": "mode",
    "disaggregation-bootstrap-port": "mode",
    "host": "mode",
    "port": "",
    "kv-events-config": "router_mode",
    "publish-kv-events": "router_mode",
    "publish-events-and-metrics": "router_mode",
    "tensor-parallel-size": "gpus_per_worker",
    "tp": "gpus_per_worker",
    "tp-size": "gpus_per_worker",
    "max-model-len": "context_length",
    "context-length": "context_length",
    "max-seq-len": "context_length",
    "enforce-eager": "enforce_eager",
    "disable-cuda-graph": "enforce_eager",
    "enable-prefix-caching": "prefix_caching",
    "no-enable-prefix-caching": "prefix_caching",
    "disable-radix-cache": "prefix_caching",
    "trust-remote-code": "trust_remote_code",
    "extra-engine-args": "",
    "override-engine-args": "",
}

# Each setting as the app names it. Messages say these, never the field names;
# `FieldError.field` keeps the field name, which the CLI maps to its --flags.
FIELD_LABELS: dict[str, str] = {
    "name": "Deployment name",
    "namespace": "Namespace",
    "model_id": "Model",
    "engine": "Engine",
    "mode": "Mode",
    "served_model_name": "Served model name",
    "router_mode": "Router",
    "replicas": "Workers",
    "prefill_replicas": "Prefill workers",
    "decode_replicas": "Decode workers",
    "hf_secret_name": "HF token secret",
    "context_length": "Context length",
    "enforce_eager": "Enforce eager mode",
    "prefix_caching": "Prefix caching",
    "trust_remote_code": "Trust remote code",
    "engine_args": "Custom engine args",
    "gpus_per_worker": "GPUs per worker",
    "memory": "Memory per worker",
    "dynamo_version": "Dynamo version",
    "image": "Custom image",
}

# How to switch an on-by-default option off, per engine: a `false` value has
# no argv form every engine reads, so it is refused with this advice.
OFF_SWITCH_ADVICE: dict[str, str] = {
    "vllm": "write vLLM's own off switch instead, such as no-{flag}: true",
    "sglang": "SGLang has no --no- form: use its disable- option if it has one "
    "(such as disable-radix-cache: true), or leave the flag out",
    "trtllm": "TensorRT-LLM reads its options from the engine config, not --no- "
    "flags: leave the flag out",
}


class DeploymentConfig(BaseModel):
    """Everything Dynamote needs to build one DynamoGraphDeployment.

    Field constraints here hold on their own; `validate_config` adds the checks
    that need the catalog or several fields at once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_PATTERN.pattern
    )
    namespace: str = Field(
        min_length=1, max_length=63, pattern=NAMESPACE_PATTERN.pattern
    )
    model_id: str = Field(min_length=1)
    engine: Engine
    mode: Mode = "aggregated"
    served_model_name: str | None = Field(default=None, max_length=256)
    router_mode: RouterMode = "none"
    replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    prefill_replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    decode_replicas: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    hf_secret_name: str | None = DEFAULT_SECRET_NAME
    context_length: int | None = Field(default=None, gt=0)
    enforce_eager: bool = False
    prefix_caching: bool = True
    trust_remote_code: bool = False
    engine_args: str = ""
    gpus_per_worker: int = Field(default=1, ge=1, le=MAX_GPUS_PER_WORKER)
    memory: str | None = None
    dynamo_version: str = DEFAULT_DYNAMO_VERSION
    image: str | None = None

    @field_validator("served_model_name", "memory", "image", mode="before")
    @classmethod
    def _blank_to_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("engine_args", mode="before")
    @classmethod
    def _none_to_no_args(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("hf_secret_name", mode="before")
    @classmethod
    def _blank_secret_to_none(cls, value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("served_model_name")
    @classmethod
    def _check_served_name(cls, value: str | None) -> str | None:
        if value is not None and any(char.isspace() for char in value):
            raise ValueError("must not contain spaces")
        return value

    @field_validator("hf_secret_name")
    @classmethod
    def _check_secret_name(cls, value: str | None) -> str | None:
        if value is not None and not is_object_name(value):
            raise ValueError("is not a valid Kubernetes Secret name")
        return value

    @field_validator("memory")
    @classmethod
    def _check_memory(cls, value: str | None) -> str | None:
        if value is None:
            return value
        match = QUANTITY_PATTERN.fullmatch(value)
        if not match:
            raise ValueError("is not a Kubernetes memory quantity")
        size = float(value[: match.start(2)] if match.group(2) else value)
        size *= QUANTITY_UNITS[match.group(2) or ""]
        # A bare number is bytes: "64" asks for 64 bytes, not 64 GiB.
        if not MIN_WORKER_MEMORY <= size <= MAX_WORKER_MEMORY:
            raise ValueError(
                f"is {_format_bytes(size)}: a worker's memory must be between "
                "1Gi and 16Ti (a number without a unit counts bytes)"
            )
        return value

    @field_validator("dynamo_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if not VERSION_PATTERN.fullmatch(value):
            raise ValueError("is not a MAJOR.MINOR.PATCH version")
        return value

    @field_validator("image")
    @classmethod
    def _check_image(cls, value: str | None) -> str | None:
        if value is not None and not IMAGE_PATTERN.fullmatch(value):
            raise ValueError("is not a container image reference")
        return value

    @field_validator("engine_args")
    @classmethod
    def _check_engine_args(cls, value: str) -> str:
        parse_engine_args(value)
        return value

    @property
    def effective_served_model_name(self) -> str:
        """The name clients send as `model`: the served name, else the model id."""
        return self.served_model_name or self.model_id

    @property
    def parsed_engine_args(self) -> dict[str, Any]:
        """Custom engine arguments as a mapping of flag (without dashes) to value."""
        return parse_engine_args(self.engine_args)

    @property
    def worker_replicas(self) -> int:
        """All worker pods: aggregated workers, or prefill plus decode."""
        if self.mode == "disaggregated":
            return self.prefill_replicas + self.decode_replicas
        return self.replicas

    @property
    def total_gpus(self) -> int:
        """GPUs the whole graph asks for."""
        return self.worker_replicas * self.gpus_per_worker

    def to_json(self) -> str:
        """Compact, key-sorted JSON: what the `dynamote.io/config` annotation holds."""
        return json.dumps(
            self.model_dump(mode="json"), separators=(",", ":"), sort_keys=True
        )


# "--flag value", "--flag=value" or a lone "--flag"; "--flag: value" is YAML.
COMMAND_LINE_START = re.compile(r"\s*--[A-Za-z0-9][\w.-]*(=|\s|$)")


def parse_engine_args(text: str) -> dict[str, Any]:
    """Parse custom engine arguments into flag -> value.

    Three ways to write them: YAML (one `flag: value` a line), a JSON object,
    or as on a command line (`--max-num-seqs 64 --enforce-eager`), which is
    split as a POSIX shell would split it, and never run. Keys may be written
    with or without leading dashes; they come back without. Loading is YAML's
    safe loader only; values may be text, numbers, booleans, lists and
    mappings, within the size, depth and count limits above.

    Raises:
        ValueError: the text is not YAML or a command line, not a mapping, too
            large or too deep, a key is not a flag, or a value is of another type.
    """
    if not text or not text.strip():
        return {}
    if len(text.encode("utf-8", errors="replace")) > MAX_ENGINE_ARGS_BYTES:
        raise ValueError(
            f"is too long: at most {MAX_ENGINE_ARGS_BYTES // 1024} KiB of text"
        )
    if COMMAND_LINE_START.match(text):
        pairs = _load_command_line(text)
    else:
        loaded = _load_yaml(text)
        if loaded is None:
            return {}
        if not isinstance(loaded, dict):
            raise ValueError(
                f"must be a mapping of flag to value, got a {_kind(loaded)}"
            )
        pairs = list(loaded.items())
    if len(pairs) > MAX_ENGINE_ARGS_FLAGS:
        raise ValueError(f"has {len(pairs)} flags: at most {MAX_ENGINE_ARGS_FLAGS}")
    _check_value_tree(dict(pairs))
    parsed: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not FLAG_PATTERN.fullmatch(key):
            raise ValueError(f"key {key!r} is not a flag name")
        if value is None:
            raise ValueError(f"flag {key!r} has no value")
        flag = key.lstrip("-")
        twin = next((f for f in parsed if _same_flag(f, flag)), None)
        if twin is not None:
            raise ValueError(f"flag {key!r} repeats {twin!r}")
        parsed[flag] = value
    return parsed


def _load_command_line(text: str) -> list[tuple[str, Any]]:
    """`--flag value`, `--flag=value` and bare `--flag` (true) as pairs.

    Values are read as YAML scalars, so 64 is a number and true a boolean, as in
    the YAML form.
    """
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"is not a valid command line: {exc}") from None
    pairs: list[tuple[str, Any]] = []
    index = 0
    while index < len(words):
        word = words[index]
        if not word.startswith("--"):
            raise ValueError(
                f"has {word!r} where a flag was expected: write --flag value"
            )
        flag, equals, value = word.partition("=")
        if not equals:
            following = words[index + 1] if index + 1 < len(words) else None
            if following is not None and not following.startswith("--"):
                value = following
                index += 1
            else:
                value = "true"
        pairs.append((flag, _read_word(value) if value else None))
        index += 1
    return pairs


def _read_word(word: str) -> Any:
    try:
        return yaml.safe_load(word)
    except yaml.YAMLError:
        return word  # e.g. "*:5557": text a shell would pass on as it is


def _load_yaml(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ValueError(f"is not valid YAML or JSON{where}") from None
    except RecursionError:
        # PyYAML composes nested collections recursively.
        raise ValueError(
            f"is nested too deeply: at most {MAX_ENGINE_ARGS_DEPTH} levels"
        ) from None


def _check_value_tree(loaded: dict[Any, Any]) -> None:
    """Refuse values too deep, too many (alias bombs) or of a type argv cannot hold.

    Walks at most MAX_ENGINE_ARGS_NODES nodes, so shared (aliased) subtrees
    cost their expanded size and the walk stops early on a bomb.
    """
    budget = [MAX_ENGINE_ARGS_NODES]
    stack: list[tuple[Any, int]] = [(loaded, 1)]
    while stack:
        node, depth = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise ValueError(
                f"expands to more than {MAX_ENGINE_ARGS_NODES} values "
                "(anchors and aliases count each time they are used)"
            )
        if isinstance(node, dict | list) and depth > MAX_ENGINE_ARGS_DEPTH:
            raise ValueError(
                f"is nested too deeply: at most {MAX_ENGINE_ARGS_DEPTH} levels"
            )
        if isinstance(node, dict):
            stack += [(key, depth + 1) for key in node]
            stack += [(value, depth + 1) for value in node.values()]
        elif isinstance(node, list):
            stack += [(item, depth + 1) for item in node]
        elif node is not None and not isinstance(node, str | int | float):
            raise ValueError(
                f"holds a {type(node).__name__} value ({str(node)[:40]!r}); "
                "quote it to pass it as text"
            )


def _same_flag(first: str, second: str) -> bool:
    # Engines read --max-num-seqs and --max_num_seqs as one option.
    return first.replace("_", "-") == second.replace("_", "-")


def default_deployment_name(model_id: str, engine: str) -> str:
    """A valid deployment name from a model id and engine, e.g. `qwen3-0-6b-vllm`.

    Always a DNS-1123 label that starts with a letter and fits `MAX_NAME_LENGTH`.
    """
    suffix = re.sub(r"[^a-z0-9]+", "", engine.lower()) or "dgd"
    base = model_id.rsplit("/", 1)[-1].lower()
    base = re.sub(r"[^a-z0-9]+", "-", base).strip("-")
    if not base or not base[0].isalpha():
        base = ("m-" + base).strip("-")
    room = MAX_NAME_LENGTH - len(suffix) - 1
    base = base[:room].rstrip("-")
    return f"{base}-{suffix}"


def validate_config(values: Mapping[str, Any], catalog: Catalog) -> DeploymentConfig:
    """Turn raw settings into a `DeploymentConfig`, or explain every problem.

    Args:
        values: field name -> raw value (strings from a form or CLI are fine).
        catalog: the models a deployment may use.

    Raises:
        ConfigError: with one `FieldError` per problem; never a pydantic error.
    """
    errors = [
        FieldError(str(key), "is not a known setting.", "Remove it.")
        for key in values
        if key not in DeploymentConfig.model_fields
    ]
    known = {
        key: value
        for key, value in values.items()
        if key in DeploymentConfig.model_fields
    }
    try:
        config = DeploymentConfig.model_validate(known)
    except ValidationError as exc:
        errors += [_field_error(error) for error in exc.errors()]
        errors += _check_model_and_engine(known, catalog, {e.field for e in errors})
        raise ConfigError(_first_per_field(errors)) from None
    errors += _check_cross_fields(config, catalog)
    if errors:
        raise ConfigError(_first_per_field(errors))
    return config


def _check_cross_fields(config: DeploymentConfig, catalog: Catalog) -> list[FieldError]:
    errors = _check_model_and_engine(config.model_dump(), catalog, set())
    if len(config.namespace) + len(config.name) > MAX_NAMESPACE_PLUS_NAME:
        errors.append(
            FieldError(
                "name",
                f"is too long for namespace '{config.namespace}': namespace plus name "
                f"has {len(config.namespace) + len(config.name)} characters, "
                f"at most {MAX_NAMESPACE_PLUS_NAME} fit the names the operator "
                "derives.",
                "Shorten the name (or use a shorter namespace).",
            )
        )
    errors += _check_context_length(config, catalog)
    errors += _check_tensor_parallel(config, catalog)
    errors += _check_managed_flags(config)
    errors += _check_false_flags(config)
    return errors


def _check_model_and_engine(
    values: Mapping[str, Any], catalog: Catalog, already: set[str]
) -> list[FieldError]:
    model_id = values.get("model_id")
    if "model_id" in already or not isinstance(model_id, str) or not model_id:
        return []
    try:
        model = catalog.get(model_id)
    except CatalogError:
        return [
            FieldError(
                "model_id",
                f"'{model_id}' is not in the catalog.",
                "Pick a model from the catalog.",
            )
        ]
    engine = values.get("engine")
    if "engine" in already or engine not in ENGINES or model.supports(str(engine)):
        return []
    return [
        FieldError(
            "engine",
            f"'{engine}' does not support {model.id}.",
            f"Choose one of: {', '.join(model.engines)}.",
        )
    ]


def _check_context_length(
    config: DeploymentConfig, catalog: Catalog
) -> list[FieldError]:
    if config.context_length is None or config.model_id not in catalog:
        return []
    model = catalog.get(config.model_id)
    limit = max_context_length(model)
    if config.context_length <= limit:
        return []
    return [
        FieldError(
            "context_length",
            f"{config.context_length} is more than {model.id} supports: at most "
            f"{limit} tokens (its max_position_embeddings).",
            f"Use at most {limit}, or leave it empty for the model's default "
            f"({model.context_length}).",
        )
    ]


def _check_tensor_parallel(
    config: DeploymentConfig, catalog: Catalog
) -> list[FieldError]:
    if config.gpus_per_worker == 1 or config.model_id not in catalog:
        return []
    model = catalog.get(config.model_id)
    if model.splits_heads_evenly(config.gpus_per_worker):
        return []
    fitting = [
        str(gpus)
        for gpus in range(1, MAX_GPUS_PER_WORKER + 1)
        if model.splits_heads_evenly(gpus)
    ]
    heads = f"{model.num_attention_heads} attention heads"
    if model.num_kv_heads:
        heads += f" and {model.num_kv_heads} KV heads"
    choices = ", ".join(fitting[:-1]) + f" or {fitting[-1]}" if fitting[1:] else "1"
    return [
        FieldError(
            "gpus_per_worker",
            f"{config.gpus_per_worker} GPUs cannot share {model.id}'s {heads} "
            "evenly, so the engine would refuse to start.",
            f"Use {choices} GPUs per worker.",
        )
    ]


def max_context_length(model: Model) -> int:
    """The largest context a model accepts: its position embeddings, or its card's."""
    return max(model.context_length, model.max_position_embeddings or 0)


def context_length_warning(model: Model, context_length: int | None) -> str | None:
    """Why a valid context above the model card's default deserves a second look.

    None when the context is empty, within the card's default, or above the
    maximum (that is `validate_config`'s error, not a warning).
    """
    limit = max_context_length(model)
    if context_length is None or not model.context_length < context_length <= limit:
        return None
    return (
        f"{context_length} tokens is more than the {model.context_length} tokens "
        f"{model.id}'s model card gives as its context, but within the "
        f"{limit} positions the model was built for (max_position_embeddings): "
        "the engine accepts it, yet answers past "
        f"{model.context_length} tokens may degrade."
    )


def _check_managed_flags(config: DeploymentConfig) -> list[FieldError]:
    errors = []
    for flag in config.parsed_engine_args:
        setting = MANAGED_FLAGS.get(flag.replace("_", "-"))
        if setting is None:
            continue
        fix = f"Use {_setting_phrase(setting)} instead." if setting else "Remove it."
        errors.append(
            FieldError(
                "engine_args",
                f"--{flag} is set by Dynamote and cannot be overridden.",
                fix,
            )
        )
    return errors


def _setting_phrase(field: str) -> str:
    if field == "model_id":
        return "the Model choice"
    return f"the '{FIELD_LABELS[field]}' setting"


def _check_false_flags(config: DeploymentConfig) -> list[FieldError]:
    return [
        false_flag_error(config.engine, flag)
        for flag, value in config.parsed_engine_args.items()
        if value is False and flag.replace("_", "-") not in MANAGED_FLAGS
    ]


def false_flag_error(engine: str, flag: str) -> FieldError:
    """The error for a custom flag set to `false`, with the engine's way to turn it off.

    Engines disagree on off switches (vLLM's --no-X, SGLang's --disable-X, none
    for TRT-LLM), so Dynamote writes none itself rather than guess.
    """
    problem = f"--{flag}: false has no command-line form; it would be dropped."
    if flag.replace("_", "-").startswith(("no-", "disable-")):
        # A switch that only acts when given: leaving it out is its "false".
        return FieldError(
            "engine_args", problem, f"Remove the line: --{flag} acts only when given."
        )
    advice = OFF_SWITCH_ADVICE.get(engine, "leave the flag out").format(flag=flag)
    return FieldError(
        "engine_args",
        problem,
        f"To turn the option off, {advice}; to keep the engine's default, "
        "remove the line.",
    )


def describe_field_error(error: FieldError) -> str:
    """One sentence for a person: the field's label, its problem, the fix.

    "Deployment name is required. Use ..." when the problem continues the
    label as a sentence; "Context length: 0 is too small ..." otherwise.
    """
    label = FIELD_LABELS.get(error.field, error.field)
    joiner = " " if error.problem[:1].islower() else ": "
    return f"{label}{joiner}{error.problem} {error.fix}".strip()


def _first_per_field(errors: list[FieldError]) -> list[FieldError]:
    """Keep errors in order, dropping exact repeats."""
    unique: list[FieldError] = []
    for error in errors:
        if error not in unique:
            unique.append(error)
    return unique


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "plain string"
    return type(value).__name__


_FIXES: dict[str, str] = {
    "name": "Use lower-case letters, digits and '-', starting with a letter "
    "(e.g. qwen3-0-6b-vllm).",
    "namespace": "Use lower-case letters, digits and '-', at most 63 characters.",
    "model_id": "Pick a model from the catalog.",
    "engine": "Choose one of: vllm, sglang, trtllm.",
    "mode": "Choose aggregated or disaggregated.",
    "router_mode": "Choose none, kv or round-robin.",
    "replicas": f"Use a whole number from 1 to {MAX_REPLICAS}.",
    "prefill_replicas": f"Use a whole number from 1 to {MAX_REPLICAS}.",
    "decode_replicas": f"Use a whole number from 1 to {MAX_REPLICAS}.",
    "gpus_per_worker": f"Use a whole number from 1 to {MAX_GPUS_PER_WORKER}.",
    "context_length": "Use a positive whole number of tokens, or leave it empty.",
    "hf_secret_name": (
        "Use lower-case letters, digits, '-' and '.', e.g. hf-token-secret; "
        "leave it empty for no secret."
    ),
    "served_model_name": (
        "Use a name without spaces, or leave it empty for the model id."
    ),
    "engine_args": (
        "Write one flag per line as YAML (max-num-seqs: 64), a JSON object, or "
        "flags as on a command line (--max-num-seqs 64)."
    ),
    "memory": "Use a quantity such as 32Gi or 64G, or leave it empty.",
    "dynamo_version": f"Use a release version such as {DEFAULT_DYNAMO_VERSION}.",
    "image": "Use an image reference such as registry/repo:1.6.1, or leave it empty.",
}


def _format_bytes(size: float) -> str:
    for unit, factor in (("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}B"
    return f"{size:.0f} bytes"


def _field_error(error: Any) -> FieldError:
    location = [str(part) for part in error["loc"]]
    field = location[0] if location else "config"
    return FieldError(field, _describe_problem(error), _FIXES.get(field, ""))


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _describe_problem(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    context = error.get("ctx") or {}
    shown = repr(value) if not isinstance(value, dict | list) else _kind(value)
    if kind == "missing" or _is_blank(value):
        return "is required."
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return f"{shown} is not a whole number."
    if kind in {"greater_than", "greater_than_equal"}:
        bound = context.get("gt", context.get("ge"))
        word = "more than" if kind == "greater_than" else "at least"
        return f"{value} is too small: it must be {word} {bound}."
    if kind == "less_than_equal":
        return f"{value} is too large: it must be at most {context.get('le')}."
    if kind == "literal_error":
        return f"{shown} is not one of {context.get('expected')}."
    if kind == "string_too_long":
        return f"is too long: at most {context.get('max_length')} characters."
    if kind == "string_too_short":
        return "must not be empty."
    if kind == "string_pattern_mismatch":
        return f"{shown} is not a valid DNS-1123 label."
    if kind in {"bool_parsing", "bool_type"}:
        return f"{shown} is not true or false."
    if kind == "string_type":
        return f"{shown} is not text."
    if kind == "value_error":
        reason = str(context.get("error", error["msg"]))
        if isinstance(value, str) and "\n" not in value and len(value) <= 60:
            return f"{shown} {reason}."
        return f"{reason}."
    return f"{error['msg']}."
