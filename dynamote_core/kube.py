"""Kubernetes clients, the one call wrapper, and the one ApiException translator.

Every request Dynamote sends to a cluster goes through `call()`: it sets the
timeout, retries transient failures of calls that are safe to repeat, logs, and
turns `kubernetes` / `urllib3` exceptions into the `errors.py` tree in
`translate_api_exception()`, the only place that reads an API error body.

It never uses the process-global kubernetes configuration, never retries a
create, and never logs a request or response body (bodies can hold secrets).
Called by `cluster`, `deployments`, and the app's cached client factory.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from dynamote_core.errors import (
    AlreadyExists,
    ClusterConflict,
    ClusterError,
    ClusterForbidden,
    ClusterInvalid,
    ClusterNotFound,
    ClusterRateLimited,
    ClusterServerError,
    ClusterTimeout,
    ClusterUnreachable,
    FieldError,
    KubeconfigError,
    OperatorUnavailable,
)

logger = logging.getLogger(__name__)

_CONFIG_ERRORS = (
    ConfigException,
    OSError,
    ValueError,
    TypeError,
    KeyError,
    yaml.YAMLError,
)

T = TypeVar("T")

# Module-level so tests can lower them with monkeypatch; read at call time.
TIMEOUT_SECONDS: float = 30.0
MAX_RETRIES = 3
BACKOFF_SECONDS: float = 0.5
MAX_RETRY_AFTER_SECONDS: float = 30.0
MESSAGE_LIMIT = 300

SAFE_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
PARTIAL_METADATA_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

_UNREACHABLE_REMEDY = (
    "Check that the cluster is up and that the kubeconfig context points at it "
    "(kubectl config current-context; kubectl cluster-info)."
)
_TIMEOUT_REMEDY = (
    "The API server did not answer in time; check that the cluster is up and "
    "not overloaded, and that the kubeconfig context is the right one."
)
_OPERATOR_REMEDY = (
    "The Dynamo operator's webhook did not answer: check the dynamo-operator pods "
    "in the operator's namespace (kubectl get pods -A -l "
    "app.kubernetes.io/name=dynamo-operator) and their logs."
)


def resolve_kubeconfig_path(kubeconfig: str | None = None) -> str:
    """The kubeconfig path: the argument, else $KUBECONFIG, else ~/.kube/config."""
    path = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    return os.path.expanduser(path)


def _require_kubeconfig(path: str) -> None:
    first = path.split(os.pathsep)[0]
    if not os.path.isfile(first):
        raise KubeconfigError(
            f"No kubeconfig file at {first}.",
            remedy="Set the kubeconfig path, or use the in-cluster service account.",
        )


def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
    """The context names of a kubeconfig and its current context.

    Raises:
        KubeconfigError: the file is missing, unreadable or malformed.
    """
    path = resolve_kubeconfig_path(kubeconfig)
    _require_kubeconfig(path)
    try:
        contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=path
        )
    except _CONFIG_ERRORS as exc:
        raise KubeconfigError(
            f"The kubeconfig at {path} cannot be read: {shorten(str(exc))}",
            remedy="Fix the file or choose another kubeconfig.",
        ) from exc
    names = [str(context["name"]) for context in contexts or []]
    current_name = str(current["name"]) if current else None
    return names, current_name


def new_api_client(
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool = False,
) -> ApiClient:
    """A fresh ApiClient for one context (or the in-cluster service account).

    Each client gets its own `Configuration`; the process-global default is
    never touched, so several contexts can be used side by side.

    Raises:
        KubeconfigError: the kubeconfig or in-cluster environment cannot be loaded.
    """
    configuration = client.Configuration()
    try:
        if in_cluster:
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration
            )
        else:
            path = resolve_kubeconfig_path(kubeconfig)
            _require_kubeconfig(path)
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except _CONFIG_ERRORS as exc:
        where = "the in-cluster service account" if in_cluster else "the kubeconfig"
        raise KubeconfigError(
            f"Cannot load {where}"
            f"{' context ' + repr(context) if context else ''}: {shorten(str(exc))}",
            remedy="Check the kubeconfig file and the context name.",
        ) from exc

    # Retries are ours (see call()); urllib3's own would retry blindly and hide
    # the original error behind MaxRetryError.
    configuration.retries = False
    return ApiClient(configuration)


def call(
    fn: Callable[..., T],
    *args: Any,
    verb: str,
    resource: str,
    namespace: str | None = None,
    retry: bool | None = None,
    **kwargs: Any,
) -> T:
    """Call one `kubernetes` client method with timeout, retries and translation.

    Args:
        fn: a bound API method, e.g. `CoreV1Api(api_client).list_namespaced_pod`.
        verb, resource, namespace: the RBAC words of the call, for logs and errors.
        retry: repeat transient failures; defaults to True for get/list/watch only.
            Never pass True for a create.
        args, kwargs: passed to `fn`; `_request_timeout` defaults to TIMEOUT_SECONDS.

    Raises:
        ClusterError: the translated failure, raised from the original exception.
    """
    may_retry = verb in SAFE_VERBS if retry is None else retry
    kwargs.setdefault("_request_timeout", TIMEOUT_SECONDS)
    attempt = 0
    while True:
        logger.debug(
            "%s %s namespace=%s attempt=%d", verb, resource, namespace, attempt + 1
        )
        try:
            result = fn(*args, **kwargs)
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            if may_retry and attempt < MAX_RETRIES and is_transient(exc):
                delay = retry_delay(exc, attempt)
                logger.warning(
                    "%s %s failed (%s); retrying in %.2fs",
                    verb,
                    resource,
                    _describe_failure(exc),
                    delay,
                )
                time.sleep(delay)
                attempt += 1
                continue
            error = translate_api_exception(
                exc, verb=verb, resource=resource, namespace=namespace
            )
            _log_write(verb, resource, namespace, kwargs, f"failed: {error.message}")
            raise error from exc
        _log_write(verb, resource, namespace, kwargs, "ok")
        return result


def call_json(
    fn: Callable[..., Any],
    *args: Any,
    verb: str,
    resource: str,
    namespace: str | None = None,
    retry: bool | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """`call()` that returns the response's JSON as a dict, skipping the models.

    The generated models validate strictly and fail on objects with missing
    fields; Dynamote reads only a few fields and prefers plain dicts.
    """
    response = call(
        fn,
        *args,
        verb=verb,
        resource=resource,
        namespace=namespace,
        retry=retry,
        _preload_content=False,
        **kwargs,
    )
    data = response.data if hasattr(response, "data") else response
    return parse_json_object(data)


def parse_json_object(data: bytes | str | None) -> dict[str, Any]:
    """A JSON answer as a dict ({} when empty or not an object), parsed in one go.

    The cycle collector is held off while parsing: see `paused_garbage_collector`.
    """
    if not data:
        return {}
    with paused_garbage_collector():
        parsed = json.loads(data)
    return parsed if isinstance(parsed, dict) else {}


_collector_lock = threading.Lock()
_collector_pauses = 0
_collector_was_enabled = False


@contextmanager
def paused_garbage_collector() -> Iterator[None]:
    """Hold off Python's cycle collector for the block, then restore it.

    Parsing 500 DGDs and their 2,000 pods creates ~100,000 dicts and lists, none in
    a reference cycle, yet every 700 allocations start a collection, and the older
    generations walk every object alive, the half-built answer included: that made
    the parse three times slower (measured with bench/status.py). Concurrent
    pauses (one per Streamlit session thread) share one count; the last one out
    enables the collector again, and only if the first one in found it enabled.
    """
    global _collector_pauses, _collector_was_enabled
    with _collector_lock:
        if _collector_pauses == 0:
            _collector_was_enabled = gc.isenabled()
            gc.disable()
        _collector_pauses += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_pauses -= 1
            if _collector_pauses == 0 and _collector_was_enabled:
                gc.enable()


def _log_write(
    verb: str,
    resource: str,
    namespace: str | None,
    kwargs: dict[str, Any],
    result: str,
) -> None:
    if verb not in WRITE_VERBS:
        return
    target = f"{resource}/{_target_name(kwargs)}"
    where = f"namespace {namespace}" if namespace else "cluster scope"
    if kwargs.get("dry_run"):
        logger.debug("dry run %s %s in %s: %s", verb, target, where, result)
        return
    logger.info("%s %s in %s: %s", verb, target, where, result)


def _target_name(kwargs: dict[str, Any]) -> str:
    if isinstance(kwargs.get("name"), str):
        return str(kwargs["name"])
    body = kwargs.get("body")
    if isinstance(body, dict):
        name = body.get("metadata", {}).get("name")
        if isinstance(name, str):
            return name
    return "?"


def is_transient(exc: BaseException) -> bool:
    """True for failures worth repeating: connection errors, timeouts, 429 and 5xx."""
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return True
    if isinstance(exc, ApiException):
        status = exc.status or 0
        # A dead operator webhook does not come back within our backoff; fail fast.
        message = str(parse_status_body(exc.body).get("message") or "")
        return (status == 429 or status >= 500) and not is_webhook_failure(message)
    return False


def retry_delay(exc: BaseException, attempt: int) -> float:
    """Seconds to wait before retry number `attempt + 1`: Retry-After, else backoff."""
    retry_after = _retry_after_seconds(exc)
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER_SECONDS)
    return float(BACKOFF_SECONDS * (2**attempt))


def _retry_after_seconds(exc: BaseException) -> float | None:
    if not isinstance(exc, ApiException) or exc.status != 429 or not exc.headers:
        return None
    value = exc.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def translate_api_exception(
    exc: BaseException,
    *,
    verb: str,
    resource: str,
    namespace: str | None = None,
) -> ClusterError:
    """The Dynamote error for a failed API call; the only reader of error bodies.

    Keeps only the `message` of a Kubernetes `Status` body (cut short), never
    the raw body. The caller raises the result `from` the original exception.
    """
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return _translate_connection_error(exc, verb=verb, resource=resource)
    if not isinstance(exc, ApiException):
        return ClusterError(shorten(str(exc)))

    status = int(exc.status or 0)
    status_body = parse_status_body(exc.body)
    message = _status_message(status_body, status, verb, resource, namespace)
    if status == 0:
        # The client raises status 0 for TLS failures and malformed requests.
        return ClusterUnreachable(message, remedy=_UNREACHABLE_REMEDY)
    if status == 401:
        return ClusterError(
            f"The cluster rejected the credentials: {message}",
            status=401,
            remedy="Log in again or refresh the kubeconfig credentials.",
        )
    if status == 403:
        return _forbidden(message, verb=verb, resource=resource, namespace=namespace)
    if status == 404:
        return ClusterNotFound(message, status=404)
    if status == 409:
        if status_body.get("reason") == "AlreadyExists":
            return AlreadyExists(
                message,
                status=409,
                remedy="Choose another name, or delete the existing one first.",
            )
        return ClusterConflict(message, status=409, remedy="Reload and try again.")
    if status in (400, 422):
        return ClusterInvalid(message, causes=_field_causes(status_body), status=status)
    if status == 429:
        return ClusterRateLimited(
            message, status=429, remedy="The API server is busy; try again shortly."
        )
    if status >= 500:
        if is_webhook_failure(message):
            return OperatorUnavailable(message, status=status, remedy=_OPERATOR_REMEDY)
        return ClusterServerError(
            message,
            status=status,
            remedy="The API server failed; try again, and check its health if it "
            "persists.",
        )
    return ClusterError(message, status=status)


def _forbidden(
    message: str, *, verb: str, resource: str, namespace: str | None
) -> ClusterForbidden:
    scope = f" in namespace {namespace}" if namespace else " at cluster scope"
    return ClusterForbidden(
        f"Permission denied: cannot {verb} {resource}{scope}. {message}",
        verb=verb,
        resource=resource,
        namespace=namespace,
    )


def _translate_connection_error(
    exc: urllib3.exceptions.HTTPError, *, verb: str, resource: str
) -> ClusterError:
    # A client with urllib3's own retries wraps the cause; judge the cause.
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and isinstance(
        exc.reason, urllib3.exceptions.HTTPError
    ):
        exc = exc.reason
    # NewConnectionError subclasses ConnectTimeoutError, so test it first:
    # a refused connection is not a timeout.
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return ClusterUnreachable(
            f"Cannot connect to the API server ({verb} {resource}).",
            remedy=_UNREACHABLE_REMEDY,
        )
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return ClusterTimeout(
            f"The API server did not answer {verb} {resource} "
            f"within {TIMEOUT_SECONDS:g} s.",
            remedy=_TIMEOUT_REMEDY,
        )
    return ClusterUnreachable(
        f"The connection to the API server failed during {verb} {resource} "
        f"({type(exc).__name__}).",
        remedy=_UNREACHABLE_REMEDY,
    )


def parse_status_body(body: object) -> dict[str, Any]:
    """The JSON Kubernetes `Status` in an error body, or {} when it is not one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    if not isinstance(body, str) or not body.strip().startswith("{"):
        return {}
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _status_message(
    status_body: dict[str, Any],
    status: int,
    verb: str,
    resource: str,
    namespace: str | None,
) -> str:
    message = status_body.get("message")
    if isinstance(message, str) and message.strip():
        return shorten(message.strip())
    where = f" in namespace {namespace}" if namespace else ""
    return f"The API server answered {status} to {verb} {resource}{where}."


def _field_causes(status_body: dict[str, Any]) -> list[FieldError]:
    details = status_body.get("details") or {}
    causes = details.get("causes") if isinstance(details, dict) else None
    errors: list[FieldError] = []
    for cause in causes or []:
        if not isinstance(cause, dict):
            continue
        field = str(cause.get("field") or "manifest")
        problem = shorten(str(cause.get("message") or cause.get("reason") or ""))
        errors.append(FieldError(field, problem))
    return errors


def is_webhook_failure(message: str) -> bool:
    """True when the API server says an admission or conversion webhook failed."""
    lowered = message.lower()
    return "failed calling webhook" in lowered or "conversion webhook" in lowered


def shorten(text: str, limit: int = MESSAGE_LIMIT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe_failure(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"HTTP {exc.status}"
    return type(exc).__name__


def request_json(
    api_client: ApiClient,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    accept: str = "application/json",
    _request_timeout: float | None = None,
) -> dict[str, Any]:
    """Send one raw request (for paths the generated APIs lack) and parse the JSON.

    Call it through `call()`. Raises ApiException on a non-2xx answer, like the
    generated methods do.
    """
    response = send_request(
        api_client,
        method,
        path,
        query=query,
        accept=accept,
        _request_timeout=_request_timeout,
    )
    return parse_json_object(response.read())


def is_found(
    api_client: ApiClient,
    path: str,
    *,
    accept: str = PARTIAL_METADATA_ACCEPT,
    _request_timeout: float | None = None,
) -> bool:
    """True when GET `path` answers 2xx, without reading the response body.

    Asks for metadata only and closes the connection unread, so the body of a
    Secret (its data) is never read into this process. Raises ApiException on
    errors other than 404.
    """
    try:
        response = send_request(
            api_client, "GET", path, accept=accept, _request_timeout=_request_timeout
        )
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    response.response.close()
    return True


def send_request(
    api_client: ApiClient,
    method: str,
    path: str,
    *,
    query: list[tuple[str, str]] | None = None,
    accept: str = "application/json",
    _request_timeout: float | None = None,
) -> Any:
    """One authenticated raw request; the body is read only for errors."""
    serialized = api_client.param_serialize(
        method=method,
        resource_path=path,
        query_params=query or [],
        header_params={"Accept": accept},
        auth_settings=["BearerToken"],
    )
    response = api_client.call_api(
        *serialized, _request_timeout=_request_timeout or TIMEOUT_SECONDS
    )
    if not 200 <= response.status <= 299:
        response.read()  # type: ignore[no-untyped-call]
        raise ApiException.from_response(http_resp=response, body=None, data=None)
    return response
