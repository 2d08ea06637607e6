"""Dynamote's process-wide settings, read once from environment variables.

`load_settings()` turns the environment into a frozen `AppSettings`, or raises
`ConfigError` whose field errors name the variable at fault. Each field keeps
the environment variable's name as its alias, so the README's configuration
table, the error messages and the container's ConfigMap all use one spelling.

This module only reads the mapping it is given (and, for `is_sandbox_wanted`,
checks whether kubeconfig files exist); it never talks to a cluster and never
reads a secret. The app (`ui/`) calls it at start-up; tests pass a mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dynamote_core.errors import ConfigError, FieldError

REPO_CATALOG = Path(__file__).resolve().parent.parent / "catalog.json"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# DNS-1123 label (namespaces) and subdomain (secret names), as the API server checks.
_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

SandboxMode = Literal["auto", "on", "off"]
ApiVersionChoice = Literal["auto", "v1beta1", "v1alpha1"]

_FIXES = {
    "DEFAULT_NAMESPACE": (
        "Use lowercase letters, digits and '-' (63 characters at most)."
    ),
    "DEFAULT_HF_SECRET": (
        "Use lowercase letters, digits, '-' and '.' (253 characters at most)."
    ),
    "DYNAMO_VERSION": "Use a release number such as 1.6.1.",
    "DYNAMOTE_REFRESH_SECONDS": "Use a whole number of seconds from 1 to 3600.",
    "DYNAMOTE_SANDBOX": "Use auto, on or off.",
    "DYNAMOTE_SANDBOX_SPEED": "Use seconds per step, from 0 to 60 (e.g. 0.5).",
    "DYNAMOTE_SANDBOX_DYNAMO": "Use auto, on or off.",
    "DYNAMOTE_LOG_LEVEL": "Use one of " + ", ".join(LOG_LEVELS) + ".",
    "DYNAMOTE_API_VERSION": "Use auto, v1beta1 or v1alpha1.",
    "PORT": "Use a TCP port from 1 to 65535.",
}


class AppSettings(BaseModel):
    """Settings of one Dynamote process; every field comes from one variable.

    Attributes:
        default_namespace: namespace preselected for new deployments.
        default_hf_secret: name of the Secret holding the HF token (never its value).
        catalog_path: the model catalog file.
        dynamo_version: Dynamo release whose runtime images manifests use.
        refresh_seconds: how often deployment lists refresh themselves.
        sandbox: `on`, `off`, or `auto` (see `is_sandbox_wanted`).
        sandbox_speed: seconds per step of the sandbox's simulated operator.
        sandbox_dynamo: serve sandbox deployments with the real Dynamo frontend and
            mocker: `on`, `off`, or `auto` (when the runtime is installed).
        log_level: level of the app's log handler.
        kubeconfig: the KUBECONFIG value (paths joined by os.pathsep), if set.
        kube_context: kubeconfig context to preselect, if set.
        api_version: DGD API version to write, or `auto` to use discovery.
        port: port Streamlit listens on.
        home: the HOME directory, where the default kubeconfig lives.
        in_cluster: whether the process runs in a pod (KUBERNETES_SERVICE_HOST).
    """

    model_config = ConfigDict(frozen=True, extra="ignore", validate_by_name=True)

    default_namespace: Annotated[
        str, Field(alias="DEFAULT_NAMESPACE", max_length=63, pattern=_LABEL)
    ] = "dynamo-system"
    default_hf_secret: Annotated[
        str, Field(alias="DEFAULT_HF_SECRET", max_length=253, pattern=_SUBDOMAIN)
    ] = "hf-token-secret"  # noqa: S105 - a Secret's name, not a token
    catalog_path: Annotated[Path, Field(alias="DYNAMOTE_CATALOG")] = REPO_CATALOG
    dynamo_version: Annotated[
        str,
        Field(alias="DYNAMO_VERSION", pattern=r"^\d+\.\d+\.\d+([-.+][0-9A-Za-z.]+)?$"),
    ] = "1.6.1"
    refresh_seconds: Annotated[
        int, Field(alias="DYNAMOTE_REFRESH_SECONDS", ge=1, le=3600)
    ] = 10
    sandbox: Annotated[SandboxMode, Field(alias="DYNAMOTE_SANDBOX")] = "auto"
    sandbox_speed: Annotated[
        float, Field(alias="DYNAMOTE_SANDBOX_SPEED", ge=0, le=60, allow_inf_nan=False)
    ] = 0.5
    sandbox_dynamo: Annotated[SandboxMode, Field(alias="DYNAMOTE_SANDBOX_DYNAMO")] = (
        "auto"
    )
    log_level: Annotated[str, Field(alias="DYNAMOTE_LOG_LEVEL")] = "INFO"
    kubeconfig: Annotated[str | None, Field(alias="KUBECONFIG")] = None
    kube_context: Annotated[str | None, Field(alias="DYNAMOTE_KUBE_CONTEXT")] = None
    api_version: Annotated[ApiVersionChoice, Field(alias="DYNAMOTE_API_VERSION")] = (
        "auto"
    )
    port: Annotated[int, Field(alias="PORT", ge=1, le=65535)] = 8501
    home: Annotated[Path, Field(alias="HOME")] = Path.home()
    in_cluster: Annotated[bool, Field(alias="KUBERNETES_SERVICE_HOST")] = False

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"{value!r} is not a log level")
        return level

    @field_validator("sandbox", "sandbox_dynamo", "api_version", mode="before")
    @classmethod
    def _lower_choice(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("in_cluster", mode="before")
    @classmethod
    def _detect_in_cluster(cls, value: object) -> object:
        # The kubelet sets KUBERNETES_SERVICE_HOST to an address, not a boolean.
        return bool(value) if isinstance(value, str) else value

    def kubeconfig_paths(self) -> tuple[Path, ...]:
        """The kubeconfig files the kubernetes client would read, in order."""
        if self.kubeconfig:
            return tuple(
                Path(part) for part in self.kubeconfig.split(os.pathsep) if part
            )
        return (self.home / ".kube" / "config",)

    def is_sandbox_wanted(self) -> bool:
        """Whether the app should talk to the built-in sandbox cluster.

        `auto` picks the sandbox only when there is neither a kubeconfig file
        nor an in-cluster service account to use.
        """
        if self.sandbox != "auto":
            return self.sandbox == "on"
        if self.in_cluster:
            return False
        return not any(path.is_file() for path in self.kubeconfig_paths())


def load_settings(environ: Mapping[str, str] | None = None) -> AppSettings:
    """Read `AppSettings` from the environment (or from `environ`, for tests).

    Unset and empty variables take their defaults.

    Raises:
        ConfigError: one `FieldError` per bad variable, named by the variable.
    """
    source = os.environ if environ is None else environ
    values = {
        name: value
        for name, value in source.items()
        if value.strip() and name in _ALIASES
    }

    try:
        return AppSettings.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(_to_field_errors(exc)) from exc


def _to_field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False):
        variable = str(error["loc"][0]) if error["loc"] else "environment"
        problem = f"{error.get('input')!r} is not valid."
        errors.append(FieldError(variable, problem, _FIXES.get(variable, "")))
    return errors


_ALIASES = frozenset(
    field.alias
    for field in AppSettings.model_fields.values()
    if field.alias is not None
)
