"""`Sandbox`: a local Kubernetes API with a simulated Dynamo operator, in threads.

Wires the store, the API, the HTTP server on 127.0.0.1 and the operator together,
seeds the default cluster, and writes a kubeconfig pointing at it. With
`dynamo_runtime=True` its DGDs are served by the real Dynamo frontend and mocker
(`graphs.GraphSupervisor`), or, where that runtime is not installed, the service
proxy says how to install it. Tests, the app's demo mode and
`python -m dynamote_core.sandbox` create it; nothing here talks to a real cluster.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from dynamote_core.sandbox.api import KubeApi
from dynamote_core.sandbox.cluster import (
    DEFAULT_NODES,
    NAMESPACES,
    OPERATOR_NAMESPACE,
    build_namespace,
    build_nodes,
    build_token_secret,
    parse_node_spec,
)
from dynamote_core.sandbox.dynamo_runtime import DynamoRuntime
from dynamote_core.sandbox.faults import FaultInjector
from dynamote_core.sandbox.graphs import GraphSupervisor
from dynamote_core.sandbox.operator import Operator
from dynamote_core.sandbox.server import ApiServer, RequestRecord
from dynamote_core.sandbox.store import Store

CONTEXT = "dynamote-sandbox"
NO_RUNTIME_HINT = (
    "the sandbox has no Dynamo runtime to serve models; "
    "install it with scripts/install_dynamo_runtime"
)


class Sandbox:
    """A sandbox cluster: `start()`, then `url` or `write_kubeconfig()`, then `stop()`.

    Args:
        port: TCP port on 127.0.0.1; 0 picks a free one.
        nodes: a node spec like "2x8xA100-80,1x4xL4-24,1xcpu"; None for the default.
        speed: seconds per operator tick (pods get Ready after a handful of ticks).
        served_versions: nvidia.com versions; ("v1alpha1",) mimics operators < 1.2.
        hf_token: the value stored in dynamo-system/hf-token-secret; random by default.
        dynamo_runtime: serve Ready DGDs with the real Dynamo frontend and mocker
            (processes on loopback, about 90 MB each); off by default so a plain
            sandbox starts no process.
    """

    def __init__(
        self,
        port: int = 0,
        nodes: str | None = None,
        speed: float = 0.05,
        served_versions: tuple[str, ...] = ("v1beta1", "v1alpha1"),
        hf_token: str | None = None,
        dynamo_runtime: bool = False,
    ) -> None:
        self._port = port
        self._node_groups = parse_node_spec(nodes or DEFAULT_NODES)
        self.store = Store()
        self.api = KubeApi(self.store, served_versions)
        self.operator = Operator(self.store, speed)
        self._hf_token = hf_token or "hf_sandbox_" + secrets.token_hex(12)
        self._server: ApiServer | None = None
        self._wants_dynamo = dynamo_runtime
        self.dynamo: DynamoRuntime | None = None
        self._graphs: GraphSupervisor | None = None

    def start(self) -> Sandbox:
        """Seed the cluster, open the port, start the operator; returns self."""
        self._seed()
        self._server = ApiServer(self.api, self._port)
        if self._wants_dynamo:
            self._attach_dynamo(DynamoRuntime())
        self.operator.start()
        return self

    def stop(self) -> None:
        """Stop the operator, every Dynamo process, the server and every watch."""
        self.operator.stop()
        if self._graphs is not None:
            self._graphs.stop()
        self.store.close()
        if self._server is not None:
            self._server.stop()

    def __enter__(self) -> Sandbox:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._running().url

    @property
    def port(self) -> int:
        return self._running().port

    @property
    def faults(self) -> FaultInjector:
        return self._running().faults

    @property
    def request_log(self) -> list[RequestRecord]:
        return list(self._running().request_log)

    @property
    def request_count(self) -> int:
        return len(self._running().request_log)

    @property
    def operator_available(self) -> bool:
        return self.api.operator_available

    @operator_available.setter
    def operator_available(self, available: bool) -> None:
        self.api.operator_available = available
        self.operator.set_available(available)

    def deny(self, verb: str, resource: str, namespace: str | None = None) -> None:
        """Answer 403 to `verb` on `resource` (e.g. "pods/log") in a namespace or all."""  # noqa: E501 - Kubernetes' own wording
        self.api.deny(verb, resource, namespace)

    def allow_all(self) -> None:
        """Drop every denial."""
        self.api.allow_all()

    @property
    def serves_dynamo(self) -> bool:
        """True when the real Dynamo runtime backs this sandbox's DGDs."""
        return self._graphs is not None

    def register_service_backend(
        self, namespace: str, service: str, port: int | str, url: str
    ) -> None:
        """Send `services/<service>:<port>/proxy/...` requests on to `url`."""
        self.api.register_service_backend(namespace, service, port, url)

    def unregister_service_backend(
        self, namespace: str, service: str, port: int | str
    ) -> None:
        """Stop sending `services/<service>:<port>/proxy/...` anywhere (503 again)."""
        self.api.unregister_service_backend(namespace, service, port)

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write a kubeconfig with context `dynamote-sandbox` for this sandbox."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(self.kubeconfig(), sort_keys=False))
        return target

    def kubeconfig(self) -> dict[str, Any]:
        """The kubeconfig as a dict (default namespace dynamo-system, a token user)."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.url}}],
            "users": [{"name": "dynamote", "user": {"token": "sandbox-token"}}],
            "contexts": [
                {
                    "name": CONTEXT,
                    "context": {
                        "cluster": CONTEXT,
                        "user": "dynamote",
                        "namespace": OPERATOR_NAMESPACE,
                    },
                }
            ],
            "current-context": CONTEXT,
            "preferences": {},
        }

    def _attach_dynamo(self, runtime: DynamoRuntime) -> None:
        if not runtime.is_available():
            self.api.missing_backend_hint = NO_RUNTIME_HINT
            return
        self.dynamo = runtime
        self._graphs = GraphSupervisor(runtime, self.api)
        self.operator.graphs = self._graphs

    def _seed(self) -> None:
        for name in NAMESPACES:
            self.store.create("namespaces", build_namespace(name))
        for node in build_nodes(self._node_groups):
            self.store.create("nodes", node)
        self.store.create("secrets", build_token_secret(self._hf_token))
        self.operator.create_operator_pod()

    def _running(self) -> ApiServer:
        if self._server is None:
            raise RuntimeError("the sandbox is not started; call start() first")
        return self._server
