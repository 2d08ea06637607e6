"""Dynamote's exceptions: every failure a caller may show a user.

The library raises only these; the app catches `DynamoteError` and shows its
message (always plain text: no markdown, no HTML). Messages name the value at
fault and what to do next.

    DynamoteError
    ├── ConfigError            invalid settings; `.field_errors` lists each field
    ├── CatalogError           a catalog file that cannot be loaded or validated
    ├── ManifestError          a manifest the CRD schema or admission rejects
    └── ClusterError           anything from talking to a cluster
        ├── KubeconfigError        a kubeconfig or in-cluster config that will not load
        ├── ClusterUnreachable     connection refused, DNS, TLS, timeouts
        │   └── ClusterTimeout         no answer within the call's timeout
        ├── ClusterForbidden       403: `.verb`, `.resource`, `.namespace`, `.can_i`
        ├── ClusterNotFound        404
        ├── ClusterConflict        409
        │   └── AlreadyExists          409 on create
        ├── ClusterInvalid         422 (and 400): `.causes` per field
        ├── ClusterRateLimited     429, after the retries ran out
        ├── ClusterServerError     5xx, after the retries ran out
        └── OperatorUnavailable    the Dynamo admission webhook did not answer

This module does no I/O and imports nothing from the rest of the package, so
every module can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: which field, what is wrong, how to fix it."""

    field: str
    problem: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"{self.field}: {self.problem}"
        if self.fix:
            text += f" {self.fix}"
        return text


class DynamoteError(Exception):
    """Base of every error Dynamote raises on purpose."""

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(DynamoteError):
    """Settings that cannot become a manifest."""

    def __init__(self, field_errors: list[FieldError]) -> None:
        self.field_errors = list(field_errors)
        super().__init__("; ".join(str(error) for error in self.field_errors))

    def for_field(self, field: str) -> list[FieldError]:
        """The errors about one field (or its sub-fields, e.g. `replicas.prefill`)."""
        return [
            error
            for error in self.field_errors
            if error.field == field or error.field.startswith(field + ".")
        ]


class CatalogError(DynamoteError):
    """A catalog file that is missing, malformed or has an invalid entry."""


class ManifestError(DynamoteError):
    """A manifest that the CRD schema or the operator's admission rules reject."""

    def __init__(self, field_errors: list[FieldError]) -> None:
        self.field_errors = list(field_errors)
        super().__init__(
            "The generated manifest is not valid: "
            + "; ".join(str(error) for error in self.field_errors)
        )


class ClusterError(DynamoteError):
    """A failure while talking to a Kubernetes cluster.

    Attributes:
        status: the HTTP status, when the API server answered.
        remedy: what the user can do about it, one sentence.
    """

    def __init__(self, message: str, *, status: int | None = None, remedy: str = ""):
        self.status = status
        self.remedy = remedy
        super().__init__(message)

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} {self.remedy}" if self.remedy else base


class KubeconfigError(ClusterError):
    """A kubeconfig that is missing, malformed or lacks the chosen context."""


class ClusterUnreachable(ClusterError):
    """The API server could not be reached at all."""


class ClusterTimeout(ClusterUnreachable):
    """The API server did not answer in time."""


class ClusterForbidden(ClusterError):
    """403: the credentials lack a permission."""

    def __init__(
        self,
        message: str,
        *,
        verb: str,
        resource: str,
        namespace: str | None = None,
        status: int | None = 403,
    ) -> None:
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        scope = f" -n {namespace}" if namespace else ""
        self.can_i = f"kubectl auth can-i {verb} {resource}{scope}"
        remedy = (
            f"Ask a cluster admin to grant '{verb}' on '{resource}'"
            f"{' in namespace ' + namespace if namespace else ''}; "
            f"check with: {self.can_i}"
        )
        super().__init__(message, status=status, remedy=remedy)


class ClusterNotFound(ClusterError):
    """404: the object (or its API) does not exist."""


class ClusterConflict(ClusterError):
    """409: a conflict with what the cluster holds."""


class AlreadyExists(ClusterConflict):
    """409 on create: an object of that name exists."""


class ClusterInvalid(ClusterError):
    """422 or 400: the API server rejected the object; `.causes` per field."""

    def __init__(
        self,
        message: str,
        *,
        causes: list[FieldError] | None = None,
        status: int | None = 422,
        remedy: str = "",
    ) -> None:
        self.causes = list(causes or [])
        super().__init__(message, status=status, remedy=remedy)


class ClusterRateLimited(ClusterError):
    """429 that outlasted the retries."""


class ClusterServerError(ClusterError):
    """5xx that outlasted the retries."""


class OperatorUnavailable(ClusterError):
    """The Dynamo operator's admission webhook did not answer a write."""
