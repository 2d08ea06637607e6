"""The Kubernetes REST API of the sandbox: routing, verbs, semantics, Status bodies.

Turns one parsed HTTP request into one response over the `Store`: discovery, core
resources, DynamoGraphDeployments in v1beta1 and v1alpha1, watches, pod logs, the
service proxy, RBAC denials and the dead-webhook mode. It does no socket I/O (the
HTTP layer in `server.py` does) and never runs the simulated operator.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from dynamote_core.errors import FieldError
from dynamote_core.sandbox import convert
from dynamote_core.sandbox.cluster import KUBE_VERSION
from dynamote_core.sandbox.encoding import EncodedObjects, encode_json, encode_list
from dynamote_core.sandbox.selectors import (
    apply_json_patch,
    apply_merge_patch,
    compile_field_selector,
    compile_label_selector,
)
from dynamote_core.sandbox.store import (
    AlreadyStored,
    Obj,
    ResourceVersionTooOld,
    Store,
    now_rfc3339,
)
from dynamote_core.schema import validate_graph_deployment

logger = logging.getLogger(__name__)

GROUP = "nvidia.com"
DGD = "dynamographdeployments"
FINALIZER = "nvidia.com/finalizer"
USER = "system:serviceaccount:dynamo-system:dynamote"
WEBHOOK_ERROR = (
    'Internal error occurred: failed calling webhook "vdynamographdeployment.kb.io": '
    'failed to call webhook: Post "https://dynamo-operator-webhook-service.dynamo-system.svc:443'
    '/validate-nvidia-com-{version}-dynamographdeployment?timeout=10s": '
    "dial tcp 10.96.187.12:443: connect: connection refused"
)
_DNS_NAME = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)

# Core resources served: kind, namespaced, verbs, short names.
CORE: dict[str, tuple[str, bool, list[str], list[str]]] = {
    "namespaces": ("Namespace", False, ["create", "get", "list", "watch"], ["ns"]),
    "nodes": ("Node", False, ["get", "list", "watch"], ["no"]),
    "pods": ("Pod", True, ["delete", "get", "list", "watch"], ["po"]),
    "secrets": ("Secret", True, ["create", "delete", "get", "list", "watch"], []),
    "services": ("Service", True, ["get", "list", "watch"], ["svc"]),
    "events": ("Event", True, ["get", "list", "watch"], ["ev"]),
}
_CLIENT_METADATA = ("name", "namespace", "labels", "annotations", "generateName")
DGD_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]


class ApiError(Exception):
    """An answer that is a Kubernetes Status with a failure code."""

    def __init__(
        self, code: int, reason: str, message: str, details: Obj | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = (
            code,
            reason,
            message,
            details,
        )

    def body(self) -> Obj:
        status: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            status["details"] = self.details
        return status


@dataclass
class Request:
    """One HTTP request, already read off the socket."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    @property
    def accept(self) -> str:
        return self.headers.get("accept", "")


@dataclass
class Response:
    """One answer: a body, or a stream of chunks."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None

    @classmethod
    def json(cls, status: int, obj: Obj) -> Response:
        return cls(status, encode_json(obj))


@dataclass(frozen=True)
class Target:
    """What a path addresses."""

    group: str
    version: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None
    rest: str = ""


def status_error(code: int, reason: str, message: str) -> Response:
    return Response.json(code, ApiError(code, reason, message).body())


class KubeApi:
    """The API server's logic over a store; `handle()` is its only entry point."""

    def __init__(self, store: Store, served_versions: tuple[str, ...]) -> None:
        self.store = store
        self.served_versions = tuple(served_versions)
        self.operator_available = True
        self._lock = threading.Lock()
        self._denied: set[tuple[str, str, str | None]] = set()
        self._backends: dict[tuple[str, str, str], str] = {}
        # Said with a proxy's 503 for a Service without a backend (e.g. how to add one).
        self.missing_backend_hint = ""
        self.validate: Callable[[Obj], list[FieldError]] = validate_graph_deployment
        self.encoded = EncodedObjects()

    # -- configuration used by Sandbox -------------------------------------------------

    def deny(self, verb: str, resource: str, namespace: str | None = None) -> None:
        with self._lock:
            self._denied.add((verb, resource, namespace))

    def allow_all(self) -> None:
        with self._lock:
            self._denied.clear()

    def register_service_backend(
        self, namespace: str, service: str, port: int | str, url: str
    ) -> None:
        with self._lock:
            self._backends[(namespace, service, str(port))] = url.rstrip("/")

    def unregister_service_backend(
        self, namespace: str, service: str, port: int | str
    ) -> None:
        with self._lock:
            self._backends.pop((namespace, service, str(port)), None)

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Serve one request; every failure becomes a Status body."""
        try:
            return self._route(request)
        except ApiError as error:
            return Response.json(error.code, error.body())

    def _route(self, request: Request) -> Response:
        parts = [unquote(p) for p in request.path.split("/") if p]
        if request.method == "GET" and parts in (["version"], ["version", ""]):
            return Response.json(200, dict(KUBE_VERSION, platform="linux/amd64"))
        if parts == ["api"]:
            return Response.json(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [],
                },
            )
        if parts == ["apis"]:
            return Response.json(200, self._group_list())
        if parts == ["api", "v1"]:
            return Response.json(200, self._core_resources())
        if parts == ["apis", GROUP]:
            return Response.json(200, self._group())
        if (
            parts[:2] == ["apis", GROUP]
            and len(parts) >= 3
            and parts[2] in self.served_versions
        ):
            if len(parts) == 3:
                return Response.json(200, self._dgd_resources(parts[2]))
            return self._serve(request, self._parse_target(GROUP, parts[2], parts[3:]))
        if parts[:2] == ["api", "v1"]:
            return self._serve(request, self._parse_target("", "v1", parts[2:]))
        raise ApiError(
            404, "NotFound", "the server could not find the requested resource"
        )

    def _parse_target(self, group: str, version: str, parts: list[str]) -> Target:
        if len(parts) >= 3 and parts[0] == "namespaces":
            namespace, resource, rest = parts[1], parts[2], parts[3:]
        elif parts:
            namespace, resource, rest = None, parts[0], parts[1:]
        else:
            raise ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        name = rest[0] if rest else None
        sub = rest[1] if len(rest) > 1 else None
        if parts[0] == "namespaces" and len(parts) == 2:
            namespace, name = None, parts[1]
        known = resource == DGD if group else resource in CORE
        if not known:
            raise ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        return Target(
            group, version, resource, namespace, name, sub, "/".join(rest[2:])
        )

    def _serve(self, request: Request, target: Target) -> Response:
        self._authorize(request, target)
        if target.subresource == "log" and target.resource == "pods":
            return self._read_pod_log(request, target)
        if target.subresource == "proxy" and target.resource == "services":
            return self._proxy_service(request, target)
        if target.subresource not in (None, "status"):
            raise ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if request.method == "GET":
            if target.name is not None:
                return self._get(request, target)
            if request.query.get("watch") in ("true", "1"):
                return self._watch(request, target)
            return self._list(request, target)
        if target.resource == DGD:
            return self._write_dgd(request, target)
        return self._write_core(request, target)

    # -- authorization -----------------------------------------------------------------

    def _authorize(self, request: Request, target: Target) -> None:
        verb = _verb_of(request, target)
        resource = target.resource + (
            f"/{target.subresource}"
            if target.subresource not in (None, "status")
            else ""
        )
        with self._lock:
            denied = any(
                rule_verb in (verb, "*")
                and rule_resource in (resource, "*")
                and rule_namespace in (None, target.namespace)
                for rule_verb, rule_resource, rule_namespace in self._denied
            )
        if not denied:
            return
        qualified = (
            f"{target.resource}.{target.group}" if target.group else target.resource
        )
        subject = f'{qualified} "{target.name}"' if target.name else qualified
        scope = (
            f'in the namespace "{target.namespace}"'
            if target.namespace
            else "at the cluster scope"
        )
        message = (
            f'{subject} is forbidden: User "{USER}" cannot {verb} resource "{resource}" '  # noqa: E501 - Kubernetes' own wording
            f'in API group "{target.group}" {scope}'
        )
        details: Obj = {"group": target.group, "kind": target.resource}
        if target.name:
            details["name"] = target.name
        raise ApiError(403, "Forbidden", message, details)

    # -- reads -------------------------------------------------------------------------

    def _get(self, request: Request, target: Target) -> Response:
        obj = self._require(target)
        return Response.json(200, self._present(request, target, obj))

    def _list(self, request: Request, target: Target) -> Response:
        objects = self._select(request, target)
        head: Obj = {
            "kind": f"{self._kind(target)}List",
            "apiVersion": f"{target.group}/{target.version}" if target.group else "v1",
            "metadata": {"resourceVersion": self.store.resource_version},
        }
        if "as=PartialObjectMetadataList" in request.accept:
            head["kind"], head["apiVersion"] = (
                "PartialObjectMetadataList",
                "meta.k8s.io/v1",
            )
        if "as=PartialObjectMetadata" in request.accept:
            items = [
                encode_json(self._present(request, target, obj, in_list=True))
                for obj in objects
            ]
        else:
            items = self.encoded.encode_all(
                objects, target.version, lambda obj: self._present(request, target, obj)
            )
        return Response(200, encode_list(head, items))

    def _select(self, request: Request, target: Target) -> list[Obj]:
        is_selected = self._compile_selectors(request)
        return self.store.list(
            target.resource, target.namespace, where=is_selected, copied=False
        )

    def _compile_selectors(self, request: Request) -> Callable[[Obj], bool]:
        """The request's label and field selectors as one test of an object."""
        try:
            labels = compile_label_selector(request.query.get("labelSelector"))
            fields = compile_field_selector(request.query.get("fieldSelector"))
        except ValueError as error:
            raise ApiError(400, "BadRequest", str(error)) from error
        return lambda obj: labels(obj["metadata"].get("labels") or {}) and fields(obj)

    def _watch(self, request: Request, target: Target) -> Response:
        since_text = request.query.get("resourceVersion", "")
        timeout = float(request.query.get("timeoutSeconds") or 1800)
        initial = [] if since_text not in ("", "0") else self._select(request, target)
        since = (
            int(since_text)
            if since_text.isdigit() and since_text != "0"
            else int(self.store.resource_version)
        )
        is_selected = self._compile_selectors(request)

        def events() -> Iterator[bytes]:
            for obj in initial:
                yield self._watch_line(request, target, "ADDED", obj)
            try:
                for change in self.store.changes_since(
                    target.resource, target.namespace, since, timeout
                ):
                    if is_selected(change.obj):
                        yield self._watch_line(request, target, change.kind, change.obj)
            except ResourceVersionTooOld as error:
                gone = ApiError(
                    410,
                    "Expired",
                    f"too old resource version: {error} ({self.store.resource_version})",  # noqa: E501 - Kubernetes' own wording
                )
                yield encode_json({"type": "ERROR", "object": gone.body()}) + b"\n"

        return Response(200, stream=events())

    def _watch_line(
        self, request: Request, target: Target, kind: str, obj: Obj
    ) -> bytes:
        event = {"type": kind, "object": self._present(request, target, obj)}
        return encode_json(event) + b"\n"

    def _present(
        self, request: Request, target: Target, obj: Obj, in_list: bool = False
    ) -> Obj:
        if target.resource == DGD and target.version == "v1alpha1":
            obj = convert.to_alpha(obj)
        if "as=PartialObjectMetadata" in request.accept:
            partial: Obj = {"metadata": obj["metadata"]}
            if not in_list:
                partial |= {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                }
            return partial
        return obj

    def _read_pod_log(self, request: Request, target: Target) -> Response:
        pod = self._require(target)
        assert target.namespace is not None and target.name is not None
        previous = request.query.get("previous") in ("true", "1")
        lines = self.store.read_log(target.namespace, target.name, previous)
        if not lines and not previous:
            self._refuse_log_of_waiting(pod)
        if previous and not lines:
            raise ApiError(
                400,
                "BadRequest",
                f'previous terminated container "main" in pod "{target.name}" not found',  # noqa: E501 - Kubernetes' own wording
            )
        tail = request.query.get("tailLines")
        if tail and tail.isdigit():
            lines = lines[-int(tail) :] if int(tail) else []
        text = "".join(line + "\n" for line in lines)
        return Response(200, text.encode(), content_type="text/plain")

    def _refuse_log_of_waiting(self, pod: Obj) -> None:
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (status.get("state") or {}).get("waiting")
            if waiting:
                name, reason = (
                    pod["metadata"]["name"],
                    waiting.get("reason", "ContainerCreating"),
                )
                message = f'container "{status["name"]}" in pod "{name}" is waiting to start: {reason}'  # noqa: E501 - Kubernetes' own wording
                if reason in ("ErrImagePull", "ImagePullBackOff"):
                    message = f'container "{status["name"]}" in pod "{name}" is waiting to start: trying and failing to pull image'  # noqa: E501 - Kubernetes' own wording
                raise ApiError(400, "BadRequest", message)

    # -- service proxy -----------------------------------------------------------------

    def _proxy_service(self, request: Request, target: Target) -> Response:
        assert target.namespace is not None and target.name is not None
        pieces = target.name.split(":")
        service = pieces[1] if len(pieces) == 3 else pieces[0]
        port = pieces[-1] if len(pieces) > 1 else ""
        self._require(Target("", "v1", "services", target.namespace, service))
        backend = self._find_backend(target.namespace, service, port)
        if backend is None:
            hint = f"; {self.missing_backend_hint}" if self.missing_backend_hint else ""
            raise ApiError(
                503,
                "ServiceUnavailable",
                f'no endpoints available for service "{service}"{hint}',
            )
        query = "&".join(f"{k}={v}" for k, v in request.query.items())
        url = f"{backend}/{target.rest}" + (f"?{query}" if query else "")
        return _forward(request, url)

    def _find_backend(self, namespace: str, service: str, port: str) -> str | None:
        with self._lock:
            exact = self._backends.get((namespace, service, port))
            if exact or port:
                return exact
            candidates = [
                url
                for (ns, svc, _), url in self._backends.items()
                if (ns, svc) == (namespace, service)
            ]
        return candidates[0] if candidates else None

    # -- writes ------------------------------------------------------------------------

    def _write_core(self, request: Request, target: Target) -> Response:
        kind, _, verbs, _ = CORE[target.resource]
        if request.method == "POST" and target.name is None and "create" in verbs:
            obj = self._read_body(request)
            obj.setdefault("apiVersion", "v1")
            obj.setdefault("kind", kind)
            self._prepare_new(obj, target, kind)
            if target.resource == "namespaces":
                obj.setdefault("status", {"phase": "Active"})
            if _is_dry_run(request):
                return Response.json(201, obj)
            return Response.json(201, self._store_new(target, obj))
        if request.method == "DELETE" and target.name is not None and "delete" in verbs:
            self._require(target)
            removed = self.store.remove(
                target.resource, target.namespace or "", target.name
            )
            return Response.json(200, removed or {})
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _write_dgd(self, request: Request, target: Target) -> Response:
        if request.method == "POST" and target.name is None and target.namespace:
            return self._create_dgd(request, target)
        if target.name is None:
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        if request.method == "DELETE":
            return self._delete_dgd(request, target)
        if request.method in ("PUT", "PATCH"):
            return self._update_dgd(request, target)
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _create_dgd(self, request: Request, target: Target) -> Response:
        obj = self._read_body(request)
        self._check_identity(obj, target)
        self._prepare_new(obj, target, "DynamoGraphDeployment")
        self._check_webhook(target)
        stored = self._to_storage(obj, target)
        self._check_valid(obj, stored, target)
        stored.pop("status", None)
        if _is_dry_run(request):
            stored["metadata"] |= {
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now_rfc3339(),
                "generation": 1,
            }
            return Response.json(201, self._present(request, target, stored))
        created = self._store_new(target, stored)
        logger.info(
            "sandbox: created DynamoGraphDeployment %s/%s",
            target.namespace,
            stored["metadata"]["name"],
        )
        return Response.json(201, self._present(request, target, created))

    def _update_dgd(self, request: Request, target: Target) -> Response:
        assert target.namespace is not None and target.name is not None
        current = self._require(target)
        self._check_webhook(target)
        served = self._present(Request("GET", "", {}, {}), target, current)
        if request.method == "PUT":
            incoming = self._read_body(request)
            self._check_identity(incoming, target)
            sent_version = (incoming.get("metadata") or {}).get("resourceVersion")
            if sent_version and sent_version != current["metadata"]["resourceVersion"]:
                raise self._conflict(target.name)
        else:
            incoming = self._patch(request, served)
        if (incoming.get("metadata") or {}).get("name") not in (None, target.name):
            raise ApiError(
                400,
                "BadRequest",
                "the name of the object does not match the name on the URL",
            )
        merged = self._merge_update(
            current, self._to_storage(incoming, target), target.subresource == "status"
        )
        if target.subresource != "status":
            self._check_valid(incoming, merged, target)
        if _is_dry_run(request):
            return Response.json(200, self._present(request, target, merged))
        if merged["metadata"].get("deletionTimestamp") and not merged["metadata"].get(
            "finalizers"
        ):
            removed = self.store.remove(DGD, target.namespace, target.name) or merged
            return Response.json(200, self._present(request, target, removed))
        return Response.json(
            200, self._present(request, target, self.store.replace(DGD, merged))
        )

    def _merge_update(self, current: Obj, incoming: Obj, status_only: bool) -> Obj:
        merged = dict(current)
        if status_only:
            merged["status"] = incoming.get("status") or {}
            return merged
        meta = dict(incoming.get("metadata") or {})
        for kept in (
            "uid",
            "creationTimestamp",
            "generation",
            "deletionTimestamp",
            "resourceVersion",
            "namespace",
        ):
            if kept in current["metadata"]:
                meta[kept] = current["metadata"][kept]
            else:
                meta.pop(kept, None)
        merged["metadata"] = meta
        merged["spec"] = incoming.get("spec")
        if merged["spec"] != current.get("spec"):
            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        return merged

    def _patch(self, request: Request, served: Obj) -> Obj:
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        patch = _parse_json(request.body)
        try:
            if content_type == "application/json-patch+json":
                if not isinstance(patch, list):
                    raise ValueError("a JSON patch must be a list of operations")
                return apply_json_patch(served, patch)
            if content_type in (
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            ):
                if not isinstance(patch, dict):
                    raise ValueError("a merge patch must be an object")
                result: Obj = apply_merge_patch(served, patch)
                return result
        except (ValueError, IndexError, KeyError, TypeError) as error:
            raise ApiError(
                422, "Invalid", f"the patch could not be applied: {error}"
            ) from error
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json",  # noqa: E501 - Kubernetes' own wording
        )

    def _delete_dgd(self, request: Request, target: Target) -> Response:
        assert target.namespace is not None and target.name is not None
        current = self._require(target)
        self._check_webhook(target)
        options = _parse_json(request.body) if request.body.strip() else {}
        policy = request.query.get("propagationPolicy") or (options or {}).get(
            "propagationPolicy"
        )
        if policy not in (None, "Foreground", "Background", "Orphan"):
            raise ApiError(
                400, "BadRequest", f"propagationPolicy: Unsupported value: {policy!r}"
            )
        if _is_dry_run(request):
            return Response.json(200, self._present(request, target, current))
        if not current["metadata"].get("finalizers"):
            removed = self.store.remove(DGD, target.namespace, target.name) or current
            return Response.json(200, self._present(request, target, removed))

        def mark(obj: Obj) -> None:
            obj["metadata"].setdefault("deletionTimestamp", now_rfc3339())
            obj["metadata"].setdefault("deletionGracePeriodSeconds", 0)

        marked = self.store.update(DGD, target.namespace, target.name, mark) or current
        logger.info(
            "sandbox: deleting DynamoGraphDeployment %s/%s",
            target.namespace,
            target.name,
        )
        return Response.json(200, self._present(request, target, marked))

    # -- helpers -----------------------------------------------------------------------

    def _require(self, target: Target) -> Obj:
        assert target.name is not None
        obj = self.store.get(target.resource, target.namespace or "", target.name)
        if obj is None:
            qualified = (
                f"{target.resource}.{target.group}" if target.group else target.resource
            )
            details = {
                "name": target.name,
                "group": target.group,
                "kind": target.resource,
            }
            raise ApiError(
                404, "NotFound", f'{qualified} "{target.name}" not found', details
            )
        return obj

    def _read_body(self, request: Request) -> Obj:
        body = _parse_json(request.body)
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the request body must be a JSON object")
        return body

    def _check_identity(self, obj: Obj, target: Target) -> None:
        expected = (
            f"{target.group}/{target.version}" if target.group else target.version
        )
        if obj.get("apiVersion") not in (None, expected):
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API version ({expected})",  # noqa: E501 - Kubernetes' own wording
            )
        if obj.get("kind") not in (None, self._kind(target)):
            raise ApiError(
                400,
                "BadRequest",
                f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({self._kind(target)})",  # noqa: E501 - Kubernetes' own wording
            )
        obj["apiVersion"], obj["kind"] = expected, self._kind(target)

    def _prepare_new(self, obj: Obj, target: Target, kind: str) -> None:
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        if target.namespace:
            if meta.get("namespace") not in (None, target.namespace):
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",  # noqa: E501 - Kubernetes' own wording
                )
            meta["namespace"] = target.namespace
            if self.store.get("namespaces", "", target.namespace) is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'namespaces "{target.namespace}" not found',
                    {"name": target.namespace, "kind": "namespaces"},
                )
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name") or ""
        if not _DNS_NAME.match(name) or len(name) > 253:
            problem = (
                "Required value: name or generateName is required"
                if not name
                else f"Invalid value: {name!r}: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"  # noqa: E501 - Kubernetes' own wording
            )
            cause = {
                "reason": "FieldValueInvalid",
                "message": problem,
                "field": "metadata.name",
            }
            qualified = f"{kind}.{target.group}" if target.group else kind
            raise ApiError(
                422,
                "Invalid",
                f'{qualified} "{name}" is invalid: metadata.name: {problem}',
                {"name": name, "group": target.group, "kind": kind, "causes": [cause]},
            )
        for stamped in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
        ):
            meta.pop(stamped, None)
        meta["generation"] = 1
        if self.store.get(target.resource, target.namespace or "", name) is not None:
            raise _already_exists(target, name)

    def _store_new(self, target: Target, obj: Obj) -> Obj:
        # The early check above answers most duplicates; this one closes the race.
        try:
            return self.store.create(target.resource, obj)
        except AlreadyStored as exc:
            raise _already_exists(target, obj["metadata"]["name"]) from exc

    def _check_webhook(self, target: Target) -> None:
        if not self.operator_available:
            raise ApiError(
                500,
                "InternalError",
                WEBHOOK_ERROR.format(version=target.version),
                {"causes": [{"message": WEBHOOK_ERROR.format(version=target.version)}]},
            )

    def _check_valid(self, submitted: Obj, stored: Obj, target: Target) -> None:
        # Validate what the client sent, in its version, without server-owned fields.
        candidate = {k: v for k, v in submitted.items() if k != "status"}
        meta = candidate.get("metadata")
        if isinstance(meta, dict):
            candidate["metadata"] = {k: meta[k] for k in _CLIENT_METADATA if k in meta}
        errors = self.validate(candidate)
        if not errors:
            return
        name = stored["metadata"].get("name", "")
        causes = [
            {
                "reason": "FieldValueInvalid",
                "message": f"{e.problem} {e.fix}".strip(),
                "field": e.field,
            }
            for e in errors
        ]
        summary = ", ".join(f"{c['field']}: {c['message']}" for c in causes)
        message = f'DynamoGraphDeployment.{GROUP} "{name}" is invalid: [{summary}]'
        raise ApiError(
            422,
            "Invalid",
            message,
            {
                "name": name,
                "group": GROUP,
                "kind": "DynamoGraphDeployment",
                "causes": causes,
            },
        )

    def _to_storage(self, obj: Obj, target: Target) -> Obj:
        return convert.to_beta(obj) if target.version == "v1alpha1" else dict(obj)

    def _conflict(self, name: str) -> ApiError:
        message = f'Operation cannot be fulfilled on {DGD}.{GROUP} "{name}": the object has been modified; please apply your changes to the latest version and try again'  # noqa: E501 - Kubernetes' own wording
        return ApiError(
            409, "Conflict", message, {"name": name, "group": GROUP, "kind": DGD}
        )

    def _kind(self, target: Target) -> str:
        return (
            "DynamoGraphDeployment"
            if target.resource == DGD
            else CORE[target.resource][0]
        )

    # -- discovery ---------------------------------------------------------------------

    def _group(self) -> Obj:
        versions = [
            {"groupVersion": f"{GROUP}/{v}", "version": v} for v in self.served_versions
        ]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": GROUP,
            "versions": versions,
            "preferredVersion": versions[0],
        }

    def _group_list(self) -> Obj:
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group()]}

    def _core_resources(self) -> Obj:
        resources = []
        for name, (kind, namespaced, verbs, short) in CORE.items():
            resources.append(
                {
                    "name": name,
                    "singularName": kind.lower(),
                    "namespaced": namespaced,
                    "kind": kind,
                    "verbs": verbs,
                    "shortNames": short,
                }
            )
        resources += [
            {
                "name": "pods/log",
                "singularName": "",
                "namespaced": True,
                "kind": "Pod",
                "verbs": ["get"],
            },
            {
                "name": "services/proxy",
                "singularName": "",
                "namespaced": True,
                "kind": "ServiceProxyOptions",
                "verbs": ["create", "get"],
            },
        ]
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": "v1",
            "resources": resources,
        }

    def _dgd_resources(self, version: str) -> Obj:
        main = {
            "name": DGD,
            "singularName": "dynamographdeployment",
            "namespaced": True,
            "kind": "DynamoGraphDeployment",
            "verbs": DGD_VERBS,
            "shortNames": ["dgd"],
            "storageVersionHash": "sandbox",
        }
        status = {
            "name": f"{DGD}/status",
            "singularName": "",
            "namespaced": True,
            "kind": "DynamoGraphDeployment",
            "verbs": ["get", "patch", "update"],
        }
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": f"{GROUP}/{version}",
            "resources": [main, status],
        }


def _verb_of(request: Request, target: Target) -> str:
    if target.subresource == "proxy":
        return "create" if request.method == "POST" else "get"
    if request.method == "GET":
        if target.name is not None:
            return "get"
        return "watch" if request.query.get("watch") in ("true", "1") else "list"
    verbs = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    verb = verbs.get(request.method, request.method.lower())
    return "deletecollection" if verb == "delete" and target.name is None else verb


def _is_dry_run(request: Request) -> bool:
    return request.query.get("dryRun") == "All"


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError) as error:
        message = f"error decoding request body: {error}"
        raise ApiError(400, "BadRequest", message) from error


def _forward(request: Request, url: str) -> Response:
    """Send the request on to a registered backend and stream its answer back."""
    headers = {
        k: v for k, v in request.headers.items() if k in ("content-type", "accept")
    }
    data = request.body if request.method in ("POST", "PUT", "PATCH") else None
    outgoing = urllib.request.Request(  # noqa: S310 - http URLs registered by tests
        url, data=data, headers=headers, method=request.method
    )
    try:
        answer = urllib.request.urlopen(outgoing, timeout=300)  # noqa: S310 - loopback backends only
    except urllib.error.HTTPError as error:
        return Response(
            error.code,
            error.read(),
            content_type=error.headers.get("content-type", "text/plain"),
        )
    except OSError as error:
        raise ApiError(
            503, "ServiceUnavailable", f"error trying to reach service: {error}"
        ) from error

    def chunks() -> Iterator[bytes]:
        with answer:
            while chunk := answer.read1(65536):
                yield chunk

    return Response(
        answer.status,
        content_type=answer.headers.get("content-type", "application/json"),
        stream=chunks(),
    )


def _already_exists(target: Target, name: str) -> ApiError:
    qualified = f"{target.resource}.{target.group}" if target.group else target.resource
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified} "{name}" already exists',
        {"name": name, "group": target.group, "kind": target.resource},
    )
