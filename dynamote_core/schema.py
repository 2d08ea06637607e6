"""Validate a DynamoGraphDeployment against the CRD schema and the admission rules.

Pure and fast: the trimmed schemas in `dynamote_core/schemas/` (made by
`scripts/trim_crd_schema.py` from the operator's CRD) are compiled once, then
every call only walks the manifest. It never raises on malformed input: any
shape comes back as a list of `FieldError` whose `field` is a JSON path such as
`spec.components[1].podTemplate.spec.containers[0].image`.

Callers: `manifest.build_graph_deployment` (nothing leaves the library
unchecked) and the sandbox API server (its 422 causes).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError

from dynamote_core.errors import FieldError

GROUP = "nvidia.com"
KIND = "DynamoGraphDeployment"
API_VERSIONS = ("v1beta1", "v1alpha1")
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

DNS_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
# What the operator's image-version parser accepts: an optional "v", three
# numbers, and an optional "-suffix" (1.4.0, v1.4.0, 1.4.0-efa, 1.2.0-cuda13).
IMAGE_VERSION_TAG = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z][0-9A-Za-z.-]*)?$")
MAX_SCHEMA_ERRORS = 50


def validate_graph_deployment(manifest: Mapping[str, Any]) -> list[FieldError]:
    """Every reason the operator would reject `manifest`; empty when it is valid.

    Checks apiVersion and kind, metadata.name (DNS-1123 subdomain), the CRD
    schema of the manifest's version (unknown fields are errors), and the
    admission rules: at least one component, each with a non-empty main
    image whose tag is a version unless runtimeVersionOverride is set,
    unique component names, and (v1beta1) a container named `main`.
    """
    if not isinstance(manifest, Mapping):
        return [
            FieldError("", "must be an object.", "Send a DynamoGraphDeployment object.")
        ]
    errors = _check_identity(manifest)
    version = _version_of(manifest)
    errors += _check_metadata(manifest.get("metadata"))
    if version is None:
        return errors
    errors += _check_schema(manifest, version)
    spec = manifest.get("spec")
    if isinstance(spec, Mapping):
        errors += list(_check_admission(spec, version))
    elif spec is None:
        errors.append(FieldError("spec", "is required.", "Add a spec with components."))
    return errors


def is_image_version_tag(image: str) -> bool:
    """Whether the operator can read a runtime version from `image`'s tag."""
    tag = image_tag(image)
    return tag is not None and IMAGE_VERSION_TAG.match(tag) is not None


def image_tag(image: str) -> str | None:
    """The tag of an image reference, or None (no tag, or a digest-only reference)."""
    reference = image.split("@", 1)[0]
    last_part = reference.rsplit("/", 1)[-1]
    if ":" not in last_part:
        return None
    return last_part.rsplit(":", 1)[1] or None


@functools.cache
def load_schema(version: str) -> dict[str, Any]:
    """The trimmed CRD schema shipped for `version` (v1beta1 or v1alpha1)."""
    text = (SCHEMA_DIR / f"dgd-{version}.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(version: str) -> Draft7Validator:
    return Draft7Validator(load_schema(version))


def _check_identity(manifest: Mapping[str, Any]) -> list[FieldError]:
    errors = []
    api_version = manifest.get("apiVersion")
    if _version_of(manifest) is None:
        errors.append(
            FieldError(
                "apiVersion",
                f"{api_version!r} is not a DynamoGraphDeployment API version.",
                "Use nvidia.com/v1beta1 (Dynamo 1.2 and later) or nvidia.com/v1alpha1.",
            )
        )
    if manifest.get("kind") != KIND:
        errors.append(
            FieldError(
                "kind", f"{manifest.get('kind')!r} is not {KIND}.", f"Use {KIND}."
            )
        )
    return errors


def _version_of(manifest: Mapping[str, Any]) -> str | None:
    api_version = manifest.get("apiVersion")
    if not isinstance(api_version, str) or "/" not in api_version:
        return None
    group, version = api_version.split("/", 1)
    return version if group == GROUP and version in API_VERSIONS else None


def _check_metadata(metadata: Any) -> list[FieldError]:
    if not isinstance(metadata, Mapping):
        return [FieldError("metadata", "is required.", "Add metadata with a name.")]
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        return [
            FieldError("metadata.name", "is required.", "Give the deployment a name.")
        ]
    if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        return [
            FieldError(
                "metadata.name",
                f"{name!r} is not a valid name.",
                "Use lower-case letters, digits and '-', starting with a letter.",
            )
        ]
    return []


def _check_schema(manifest: Mapping[str, Any], version: str) -> list[FieldError]:
    errors = []
    # metadata is free-form in the CRD; the API server validates it, we did above
    document = {key: value for key, value in manifest.items() if key != "metadata"}
    for error in _validator(version).iter_errors(document):
        errors.append(_schema_field_error(error))
        if len(errors) >= MAX_SCHEMA_ERRORS:
            break
    return errors


def _schema_field_error(error: ValidationError) -> FieldError:
    path = json_path(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = _unexpected_keys(error)
        where = json_path([*error.absolute_path, extra[0]]) if len(extra) == 1 else path
        names = ", ".join(repr(key) for key in extra)
        return FieldError(where or "(root)", f"unknown field {names}.", "Remove it.")
    return FieldError(path or "(root)", _short_message(error), "")


def _unexpected_keys(error: ValidationError) -> list[str]:
    instance = error.instance
    schema = error.schema
    if not isinstance(instance, Mapping) or not isinstance(schema, Mapping):
        return []
    known = schema.get("properties", {})
    return sorted(str(key) for key in instance if key not in known)


def _short_message(error: ValidationError) -> str:
    message = error.message
    if len(message) > 200:
        message = message[:197] + "..."
    return message + ("" if message.endswith(".") else ".")


def json_path(parts: Any) -> str:
    """A path like `spec.components[1].name` from a sequence of keys and indexes."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _check_admission(spec: Mapping[str, Any], version: str) -> Iterator[FieldError]:
    if version == "v1beta1":
        yield from _check_components(spec.get("components"))
    else:
        yield from _check_services(spec.get("services"))


def _check_components(components: Any) -> Iterator[FieldError]:
    if not isinstance(components, list) or not components:
        yield FieldError(
            "spec.components", "must have at least one component.", "Add a component."
        )
        return
    seen: set[str] = set()
    for index, component in enumerate(components):
        if not isinstance(component, Mapping):
            continue
        where = f"spec.components[{index}]"
        yield from _check_unique_name(component.get("name"), f"{where}.name", seen)
        yield from _check_main_container(component, where)


def _check_main_container(
    component: Mapping[str, Any], where: str
) -> Iterator[FieldError]:
    containers = _dig(component, "podTemplate", "spec", "containers")
    if not isinstance(containers, list):
        containers = []
    for index, container in enumerate(containers):
        if isinstance(container, Mapping) and container.get("name") == "main":
            path = f"{where}.podTemplate.spec.containers[{index}].image"
            yield from _check_image(container.get("image"), component, path, where)
            return
    yield FieldError(
        f"{where}.podTemplate.spec.containers",
        "has no container named 'main'.",
        "Name the component's main container 'main' and give it an image.",
    )


def _check_services(services: Any) -> Iterator[FieldError]:
    if not isinstance(services, Mapping) or not services:
        yield FieldError(
            "spec.services", "must have at least one service.", "Add a service."
        )
        return
    seen: set[str] = set()
    for name, service in services.items():
        where = f"spec.services.{name}"
        yield from _check_unique_name(name, where, seen)
        if not isinstance(service, Mapping):
            continue
        image = _dig(service, "extraPodSpec", "mainContainer", "image")
        yield from _check_image(
            image, service, f"{where}.extraPodSpec.mainContainer.image", where
        )


def _check_unique_name(name: Any, path: str, seen: set[str]) -> Iterator[FieldError]:
    if not isinstance(name, str):
        return
    # the operator compares names case-insensitively (they become resource names)
    if name.lower() in seen:
        yield FieldError(path, f"{name!r} is used by another component.", "Rename it.")
    seen.add(name.lower())


def _check_image(
    image: Any, component: Mapping[str, Any], path: str, where: str
) -> Iterator[FieldError]:
    if not isinstance(image, str) or not image.strip():
        yield FieldError(path, "must not be empty.", "Set the runtime image.")
        return
    if component.get("runtimeVersionOverride") or is_image_version_tag(image):
        return
    yield FieldError(
        f"{where}.runtimeVersionOverride",
        f"is required because the tag of {image!r} is not a version.",
        "Set runtimeVersionOverride to the Dynamo version the image runs (e.g. 1.6.1), "
        "or use an image tagged with a version.",
    )


def _dig(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node
