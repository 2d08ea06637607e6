"""The simulated Dynamo operator, scheduler and kubelet of the sandbox.

A background thread ticks every `speed` seconds. Each tick it reconciles every
DynamoGraphDeployment (pods per component and replica, a Service per component, the
status the real operator writes, the finalizer), schedules pending pods onto nodes
with free `nvidia.com/gpu`, and moves pods through their lives: pulling, starting,
ready, or the failures users meet (missing secret, bad image, crash loop, OOM).
It writes only through the `Store`; the API server never calls into it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dynamote_core.sandbox.api import DGD, FINALIZER
from dynamote_core.sandbox.cluster import OPERATOR_NAMESPACE
from dynamote_core.sandbox.store import Obj, Store, now_rfc3339

if TYPE_CHECKING:
    from dynamote_core.sandbox.graphs import GraphSupervisor

logger = logging.getLogger(__name__)

FAIL_ANNOTATION = "sandbox.dynamote.io/fail"
FAIL_MODES = ("image-pull", "crash-loop", "oom")
GPU = "nvidia.com/gpu"
LABEL_DGD = "nvidia.com/dynamo-graph-deployment-name"
LABEL_COMPONENT = "nvidia.com/dynamo-component"
LABEL_TYPE = "nvidia.com/dynamo-component-type"
LABEL_NAMESPACE = "nvidia.com/dynamo-namespace"
LABEL_SELECTOR = "nvidia.com/selector"
OPERATOR_VERSION = "1.6.1"
OPERATOR_POD_PREFIX = "dynamo-platform-dynamo-operator-controller-manager"
WORKER_TYPES = ("worker", "prefill", "decode")
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"
# Ticks a failing pod waits before it retries (a crash loop backs off further).
RETRY_TICKS = 8
TERMINATION_TICKS = 2
ENGINE_MODULES = (
    "dynamo.vllm",
    "dynamo.sglang",
    "dynamo.trtllm",
    "dynamo.frontend",
    "dynamo.mocker",
)


@dataclass
class PodLife:
    """The simulated kubelet's memory of one pod."""

    stage: str = "unscheduled"
    ticks: int = 0
    gpus: int = 0
    fail: str = ""
    restarts: int = 0
    warned_unschedulable: bool = False


class Operator:
    """Reconciles DGDs, schedules pods, runs their lives; one background thread."""

    def __init__(self, store: Store, speed: float = 0.05) -> None:
        self.store = store
        self.speed = max(speed, 0.001)
        self.available = True
        self._lives: dict[tuple[str, str], PodLife] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.operator_pod = ""
        # Set by the sandbox when DGDs are backed by the real Dynamo runtime.
        self.graphs: GraphSupervisor | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="sandbox-operator", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.speed):
            try:
                self.tick()
            except (
                Exception
            ):  # keep the simulated cluster alive; a test will see the log
                logger.exception("sandbox operator tick failed")

    def tick(self) -> None:
        """One reconcile pass over every DGD, then one step of every pod's life."""
        with self._lock:
            owned = self._group_pods()
            for dgd in self.store.scan(DGD):
                self._reconcile(dgd, owned.get(_key(dgd), []))
            self._schedule_pods()
            for pod in self.store.scan("pods"):
                self._live(pod)
            owned = self._group_pods()
            for dgd in self.store.scan(DGD):
                if self.available and not dgd["metadata"].get("deletionTimestamp"):
                    self._write_status(dgd, owned.get(_key(dgd), []))
            if self.graphs is not None and self.available:
                self.graphs.sync(self.store.list(DGD))

    # -- the operator pod --------------------------------------------------------

    def create_operator_pod(self) -> None:
        """The pod that tells callers the operator is installed (and alive or not)."""
        name = f"{OPERATOR_POD_PREFIX}-{_random(10, hexa=True)}-{_random(5)}"
        labels = {
            "app.kubernetes.io/name": "dynamo-operator",
            "control-plane": "controller-manager",
        }
        container = {
            "name": "manager",
            "image": f"nvcr.io/nvidia/ai-dynamo/kubernetes-operator:{OPERATOR_VERSION}",
        }
        pod = _new_pod(name, OPERATOR_NAMESPACE, labels, [container])
        pod["spec"]["nodeName"] = "cpu-0"
        self.operator_pod = name
        self.store.create("pods", pod)
        self.set_available(True)

    def set_available(self, available: bool) -> None:
        self.available = available

        def mark(pod: Obj) -> None:
            started = pod["status"].get("startTime") or now_rfc3339()
            if available:
                state: Obj = {"running": {"startedAt": started}}
            else:
                state = {
                    "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": "back-off 5m0s restarting failed container=manager",
                    }
                }
            _set_container(pod, "manager", ready=available, state=state)
            pod["status"] |= {"phase": "Running", "startTime": started}
            _set_conditions(pod, scheduled=True, ready=available)

        if self.operator_pod:
            self.store.update("pods", OPERATOR_NAMESPACE, self.operator_pod, mark)

    # -- reconcile ---------------------------------------------------------------

    def _reconcile(self, dgd: Obj, owned: list[Obj]) -> None:
        meta = dgd["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        if meta.get("deletionTimestamp"):
            if self.available:
                self._finish_deletion(dgd, owned)
            return
        if not self.available:
            return
        self._adopt(dgd)
        wanted: set[str] = set()
        for component in (dgd.get("spec") or {}).get("components") or []:
            wanted.add(component.get("name", ""))
            self._roll_out(
                dgd,
                component,
                [
                    p
                    for p in owned
                    if p["metadata"]["labels"].get(LABEL_COMPONENT)
                    == component.get("name")
                ],
            )
            self._ensure_service(dgd, component)
        for pod in owned:
            if pod["metadata"]["labels"].get(LABEL_COMPONENT) not in wanted:
                self._terminate(pod)
        for service in self.store.list("services", namespace, where=_owned_by(name)):
            labels = service["metadata"].get("labels") or {}
            if labels.get(LABEL_COMPONENT) not in wanted:
                self.store.remove("services", namespace, service["metadata"]["name"])

    def _adopt(self, dgd: Obj) -> None:
        def stamp(obj: Obj) -> None:
            meta = obj["metadata"]
            if FINALIZER not in (meta.get("finalizers") or []):
                meta["finalizers"] = [*(meta.get("finalizers") or []), FINALIZER]
            annotations = meta.setdefault("annotations", {})
            annotations.setdefault("nvidia.com/workload-provider", "component")
            annotations.setdefault(
                "nvidia.com/dynamo-operator-origin-version", OPERATOR_VERSION
            )

        meta = dgd["metadata"]
        if FINALIZER not in (meta.get("finalizers") or []):
            self.store.update(DGD, meta["namespace"], meta["name"], stamp)

    def _finish_deletion(self, dgd: Obj, owned: list[Obj]) -> None:
        meta = dgd["metadata"]
        if owned:
            for pod in owned:
                self._terminate(pod)
            return
        owner = _owned_by(meta["name"])
        for service in self.store.list("services", meta["namespace"], where=owner):
            self.store.remove(
                "services", meta["namespace"], service["metadata"]["name"]
            )
        remaining = [f for f in meta.get("finalizers") or [] if f != FINALIZER]
        if remaining:
            self.store.update(
                DGD,
                meta["namespace"],
                meta["name"],
                lambda o: o["metadata"].update(finalizers=remaining),
            )
        else:
            self.store.remove(DGD, meta["namespace"], meta["name"])
            logger.info(
                "sandbox: DynamoGraphDeployment %s/%s is gone",
                meta["namespace"],
                meta["name"],
            )

    def _roll_out(self, dgd: Obj, component: Obj, pods: list[Obj]) -> None:
        template_hash = _pod_template_hash(dgd, component)
        alive = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
        current = [
            p
            for p in alive
            if p["metadata"]["labels"].get("pod-template-hash") == template_hash
        ]
        for pod in alive:
            if pod not in current:
                self._terminate(pod)
        replicas = int(component.get("replicas", 1))
        for pod in sorted(current, key=lambda p: p["metadata"]["name"])[replicas:]:
            self._terminate(pod)
        for _ in range(replicas - len(current)):
            self._create_component_pod(dgd, component, template_hash)

    def _create_component_pod(
        self, dgd: Obj, component: Obj, template_hash: str
    ) -> None:
        meta = dgd["metadata"]
        namespace, dgd_name = meta["namespace"], meta["name"]
        lower = component.get("name", "").lower()
        name = f"{dgd_name}-{lower}-{template_hash}-{_random(5)}"
        labels = {
            **_component_labels(dgd, component),
            "pod-template-hash": template_hash,
        }
        template = component.get("podTemplate") or {}
        labels |= (template.get("metadata") or {}).get("labels") or {}
        containers = [
            _pod_container(dgd, component, c)
            for c in (template.get("spec") or {}).get("containers") or []
        ]
        pod = _new_pod(name, namespace, labels, containers)
        pod["metadata"]["annotations"] = dict(
            (template.get("metadata") or {}).get("annotations") or {}
        )
        pod["metadata"]["ownerReferences"] = [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": f"{labels[LABEL_SELECTOR]}-{template_hash}",
                "uid": meta.get("uid", ""),
                "controller": True,
            }
        ]
        extra = {
            k: v for k, v in (template.get("spec") or {}).items() if k != "containers"
        }
        pod["spec"] |= extra
        self.store.create("pods", pod)
        self._lives[(namespace, name)] = PodLife(
            gpus=_pod_gpus(pod), fail=_fail_mode(dgd)
        )

    def _ensure_service(self, dgd: Obj, component: Obj) -> None:
        meta = dgd["metadata"]
        name = f"{meta['name']}-{component.get('name', '').lower()}".replace(".", "-")
        if self.store.get("services", meta["namespace"], name) is not None:
            return
        kind = component.get("type", "worker")
        port = {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
        if kind in WORKER_TYPES:
            port = {
                "name": "system",
                "port": 9090,
                "targetPort": "system",
                "protocol": "TCP",
            }
        elif kind == "epp":
            port = {
                "name": "grpc",
                "port": 9002,
                "targetPort": "grpc",
                "protocol": "TCP",
            }
        labels = _component_labels(dgd, component)
        selector = {
            key: labels[key] for key in (LABEL_TYPE, LABEL_NAMESPACE, LABEL_COMPONENT)
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": labels,
            },
            "spec": {
                "type": "ClusterIP",
                "clusterIP": _cluster_ip(name),
                "ports": [port],
                "selector": selector,
            },
            "status": {"loadBalancer": {}},
        }
        self.store.create("services", service)

    def _terminate(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            return
        self.store.update(
            "pods",
            meta["namespace"],
            meta["name"],
            lambda p: p["metadata"].update(
                deletionTimestamp=now_rfc3339(), deletionGracePeriodSeconds=60
            ),
        )
        container = ((pod.get("spec") or {}).get("containers") or [{}])[0].get(
            "name", "main"
        )
        self._event(
            pod, "Normal", "Killing", f"Stopping container {container}", "kubelet"
        )

    def _group_pods(self) -> dict[tuple[str, str], list[Obj]]:
        """Every DGD's pods, from one uncopied scan (read-only: writes go through
        the store)."""
        grouped: dict[tuple[str, str], list[Obj]] = {}
        for pod in self.store.scan("pods"):
            meta = pod["metadata"]
            owner = (meta.get("labels") or {}).get(LABEL_DGD)
            if owner:
                grouped.setdefault((meta["namespace"], owner), []).append(pod)
        return grouped

    # -- status ------------------------------------------------------------------

    def _write_status(self, dgd: Obj, owned: list[Obj]) -> None:
        meta = dgd["metadata"]
        components: Obj = {}
        not_ready = []
        for component in (dgd.get("spec") or {}).get("components") or []:
            name = component.get("name", "")
            template_hash = _pod_template_hash(dgd, component)
            pods = [
                p
                for p in owned
                if p["metadata"]["labels"].get(LABEL_COMPONENT) == name
                and not p["metadata"].get("deletionTimestamp")
            ]
            updated = [
                p
                for p in pods
                if p["metadata"]["labels"].get("pod-template-hash") == template_hash
            ]
            ready = [p for p in updated if _is_ready(p)]
            replicas = int(component.get("replicas", 1))
            components[name] = {
                "componentKind": "Deployment",
                "componentNames": [_selector(meta["name"], component)],
                "replicas": replicas,
                "updatedReplicas": len(updated),
                "readyReplicas": len(ready),
                "availableReplicas": len(ready),
            }
            if len(ready) < replicas or len(pods) > len(updated):
                not_ready.append(
                    f"{_selector(meta['name'], component)}: Component deployment not ready - {len(ready)}/{replicas} replicas ready"  # noqa: E501 - Kubernetes' own wording
                )
        rolling = any(
            p["metadata"]["labels"].get("pod-template-hash")
            != _template_hash_of(dgd, p)
            for p in owned
        )
        self._store_status(dgd, components, not_ready, rolling)

    def _store_status(
        self, dgd: Obj, components: Obj, not_ready: list[str], rolling: bool
    ) -> None:
        meta = dgd["metadata"]
        if not not_ready:
            condition = ("True", "all_resources_are_ready", "All resources are ready")
        elif rolling:
            condition = (
                "False",
                "rolling_update_in_progress",
                "Rolling update in progress: " + "; ".join(not_ready),
            )
        else:
            condition = (
                "False",
                "some_resources_are_not_ready",
                "Resources not ready: " + "; ".join(not_ready),
            )

        def write(obj: Obj) -> None:
            status = obj.setdefault("status", {})
            previous: Obj = next(
                (c for c in status.get("conditions") or [] if c.get("type") == "Ready"),
                {},
            )
            changed = (previous.get("status"), previous.get("reason")) != condition[:2]
            ready = {
                "type": "Ready",
                "status": condition[0],
                "reason": condition[1],
                "message": condition[2],
                "lastTransitionTime": now_rfc3339()
                if changed
                else previous.get("lastTransitionTime"),
                "observedGeneration": meta.get("generation", 1),
            }
            status["conditions"] = [ready]
            status["state"] = "successful" if condition[0] == "True" else "pending"
            status["components"] = components
            status["observedGeneration"] = meta.get("generation", 1)

        self.store.update(DGD, meta["namespace"], meta["name"], write)

    # -- scheduling --------------------------------------------------------------

    def _schedule_pods(self) -> None:
        nodes = self.store.list("nodes")
        free = {
            n["metadata"]["name"]: int(n["status"]["allocatable"].get(GPU, "0"))
            for n in nodes
        }
        pods = self.store.scan("pods")
        for pod in pods:
            node = pod["spec"].get("nodeName")
            if node in free:
                free[node] -= _pod_gpus(pod)
        pending = [
            p
            for p in pods
            if not p["spec"].get("nodeName")
            and not p["metadata"].get("deletionTimestamp")
        ]
        pending.sort(key=lambda p: int(p["metadata"]["resourceVersion"]))
        for pod in pending:
            self._place(pod, free, len(nodes))

    def _place(self, pod: Obj, free: dict[str, int], node_count: int) -> None:
        meta = pod["metadata"]
        life = self._lives.setdefault(
            (meta["namespace"], meta["name"]), PodLife(gpus=_pod_gpus(pod))
        )
        fitting = [node for node, gpus in free.items() if gpus >= life.gpus]
        if not fitting:
            if not life.warned_unschedulable:
                life.warned_unschedulable = True
                message = f"0/{node_count} nodes are available: {node_count} Insufficient {GPU}. preemption: 0/{node_count} nodes are available: {node_count} No preemption victims found for incoming pod."  # noqa: E501 - Kubernetes' own wording
                self._event(
                    pod, "Warning", "FailedScheduling", message, "default-scheduler"
                )
                self.store.update(
                    "pods",
                    meta["namespace"],
                    meta["name"],
                    lambda p: _set_conditions(
                        p, scheduled=False, ready=False, why=message
                    ),
                )
            return
        # Like the default scheduler's least-allocated scoring: the emptiest node wins.
        node = (
            max(fitting, key=lambda n: (free[n], n))
            if life.gpus
            else sorted(fitting)[0]
        )
        free[node] -= life.gpus
        life.stage, life.ticks = "scheduled", 0

        def bind(obj: Obj) -> None:
            obj["spec"]["nodeName"] = node
            obj["status"] |= {
                "hostIP": f"10.0.0.{sum(map(ord, node)) % 250}",
                "startTime": now_rfc3339(),
            }
            _set_conditions(obj, scheduled=True, ready=False)
            for container in obj["spec"]["containers"]:
                _set_container(
                    obj,
                    container["name"],
                    ready=False,
                    state={"waiting": {"reason": "ContainerCreating"}},
                )

        self.store.update("pods", meta["namespace"], meta["name"], bind)
        self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
            "default-scheduler",
        )

    # -- pod lives ---------------------------------------------------------------

    def _live(self, pod: Obj) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        if meta.get("name") == self.operator_pod:
            return
        life = self._lives.get(key)
        if meta.get("deletionTimestamp"):
            # The kubelet takes a couple of ticks to stop containers: Terminating shows.
            if life is not None and life.stage != "terminating":
                life.stage, life.ticks = "terminating", 0
            if life is None or life.ticks >= TERMINATION_TICKS:
                self.store.remove("pods", *key)
                self.store.drop_log(*key)
                self._lives.pop(key, None)
            else:
                life.ticks += 1
            return
        if life is None or life.stage == "unscheduled":
            return
        life.ticks += 1
        step = {
            "scheduled": self._check_config,
            "config-error": self._check_config,
            "pull-error": self._retry_pull,
            "starting": self._become_ready,
            "crashed": self._restart,
        }.get(life.stage)
        if step is not None:
            step(pod, life)

    def _check_config(self, pod: Obj, life: PodLife) -> None:
        missing = self._missing_secret(pod)
        if missing:
            if life.stage != "config-error" or life.ticks % RETRY_TICKS == 0:
                life.stage = "config-error"
                self._event(
                    pod,
                    "Warning",
                    "Failed",
                    f'Error: secret "{missing}" not found',
                    "kubelet",
                )
                self._set_main(
                    pod,
                    ready=False,
                    state={
                        "waiting": {
                            "reason": "CreateContainerConfigError",
                            "message": f'secret "{missing}" not found',
                        }
                    },
                )
            return
        image = _main(pod).get("image", "")
        self._event(pod, "Normal", "Pulling", f'Pulling image "{image}"', "kubelet")
        if life.fail == "image-pull":
            self._fail_pull(pod, life, image)
            return
        self._event(
            pod,
            "Normal",
            "Pulled",
            f'Successfully pulled image "{image}" in 2.1s (2.1s including waiting). Image size: 9876543210 bytes.',  # noqa: E501 - Kubernetes' own wording
            "kubelet",
        )
        self._start_container(pod, life)

    def _fail_pull(self, pod: Obj, life: PodLife, image: str) -> None:
        life.stage, life.ticks = "pull-error", 0
        reason = f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": {image}: not found'  # noqa: E501 - Kubernetes' own wording
        self._event(
            pod,
            "Warning",
            "Failed",
            f'Failed to pull image "{image}": rpc error: code = NotFound desc = {reason}',  # noqa: E501 - Kubernetes' own wording
            "kubelet",
        )
        self._event(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet")
        self._set_main(
            pod,
            ready=False,
            state={
                "waiting": {
                    "reason": "ErrImagePull",
                    "message": f"rpc error: code = NotFound desc = {reason}",
                }
            },
        )

    def _retry_pull(self, pod: Obj, life: PodLife) -> None:
        image = _main(pod).get("image", "")
        if life.ticks == 1 or life.ticks % RETRY_TICKS == 0:
            self._event(
                pod, "Normal", "BackOff", f'Back-off pulling image "{image}"', "kubelet"
            )
            self._event(pod, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet")
            self._set_main(
                pod,
                ready=False,
                state={
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": f'Back-off pulling image "{image}"',
                    }
                },
            )

    def _start_container(self, pod: Obj, life: PodLife) -> None:
        meta = pod["metadata"]
        self._event(pod, "Normal", "Created", "Created container: main", "kubelet")
        self._event(pod, "Normal", "Started", "Started container main", "kubelet")
        for line in _startup_lines(pod):
            self.store.append_log(meta["namespace"], meta["name"], line)
        life.stage, life.ticks = "starting", 0
        self._set_main(
            pod,
            ready=False,
            state={"running": {"startedAt": now_rfc3339()}},
            phase="Running",
        )

    def _become_ready(self, pod: Obj, life: PodLife) -> None:
        meta = pod["metadata"]
        if life.fail in ("crash-loop", "oom"):
            self._crash(pod, life)
            return
        self.store.append_log(meta["namespace"], meta["name"], _ready_line(pod))
        life.stage = "ready"
        self._set_main(
            pod,
            ready=True,
            state={"running": {"startedAt": now_rfc3339()}},
            phase="Running",
        )

    def _crash(self, pod: Obj, life: PodLife) -> None:
        meta = pod["metadata"]
        for line in _crash_lines(life.fail):
            self.store.append_log(meta["namespace"], meta["name"], line)
        oom = life.fail == "oom"
        terminated = {
            "exitCode": 137 if oom else 1,
            "reason": "OOMKilled" if oom else "Error",
            "startedAt": now_rfc3339(),
            "finishedAt": now_rfc3339(),
        }
        life.restarts += 1
        life.stage, life.ticks = "crashed", 0
        backoff = min(10 * 2 ** (life.restarts - 1), 300)
        waiting = {
            "reason": "CrashLoopBackOff",
            "message": f"back-off {backoff}s restarting failed container=main pod={meta['name']}_{meta['namespace']}({meta.get('uid', '')})",  # noqa: E501 - Kubernetes' own wording
        }
        self._set_main(
            pod,
            ready=False,
            state={"waiting": waiting},
            last={"terminated": terminated},
            restarts=life.restarts,
            phase="Running",
        )
        self._event(
            pod,
            "Warning",
            "BackOff",
            f"Back-off restarting failed container main in pod {meta['name']}_{meta['namespace']}({meta.get('uid', '')})",  # noqa: E501 - Kubernetes' own wording
            "kubelet",
        )

    def _restart(self, pod: Obj, life: PodLife) -> None:
        if life.ticks < min(RETRY_TICKS // 2 * life.restarts, 4 * RETRY_TICKS):
            return
        meta = pod["metadata"]
        self.store.restart_log(meta["namespace"], meta["name"])
        self._event(
            pod,
            "Normal",
            "Pulled",
            f'Container image "{_main(pod).get("image", "")}" already present on machine',  # noqa: E501 - Kubernetes' own wording
            "kubelet",
        )
        self._start_container(pod, life)

    def _missing_secret(self, pod: Obj) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for container in pod["spec"].get("containers") or []:
            refs = [(e.get("secretRef") or {}) for e in container.get("envFrom") or []]
            refs += [
                ((e.get("valueFrom") or {}).get("secretKeyRef") or {})
                for e in container.get("env") or []
            ]
            for ref in refs:
                name = ref.get("name")
                if (
                    name
                    and not ref.get("optional")
                    and self.store.get("secrets", namespace, name) is None
                ):
                    return str(name)
        return None

    def _set_main(
        self,
        pod: Obj,
        *,
        ready: bool,
        state: Obj,
        last: Obj | None = None,
        restarts: int | None = None,
        phase: str | None = None,
    ) -> None:
        meta = pod["metadata"]

        def mutate(obj: Obj) -> None:
            for container in obj["spec"]["containers"]:
                _set_container(
                    obj,
                    container["name"],
                    ready=ready,
                    state=state,
                    last=last,
                    restarts=restarts,
                )
            if phase:
                obj["status"]["phase"] = phase
            _set_conditions(obj, scheduled=True, ready=ready)

        self.store.update("pods", meta["namespace"], meta["name"], mutate)

    def _event(
        self, obj: Obj, kind: str, reason: str, message: str, source: str
    ) -> None:
        record_event(self.store, obj, kind, reason, message, source)


def record_event(
    store: Store, obj: Obj, kind: str, reason: str, message: str, source: str
) -> None:
    """Emit an Event about `obj`, or bump the count of the same one."""
    meta = obj["metadata"]
    namespace = meta.get("namespace") or "default"
    digest = hashlib.sha256(f"{meta.get('uid')}{reason}{message}".encode()).hexdigest()[
        :16
    ]
    name = f"{meta['name']}.{digest}"
    now = now_rfc3339()
    if store.update(
        "events",
        namespace,
        name,
        lambda e: e.update(count=e.get("count", 1) + 1, lastTimestamp=now),
    ):
        return
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion", "v1"),
            "kind": obj.get("kind", "Pod"),
            "name": meta["name"],
            "namespace": namespace,
            "uid": meta.get("uid", ""),
        },
        "reason": reason,
        "message": message,
        "type": kind,
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": source},
        "reportingComponent": source,
    }
    store.create("events", event)


# -- pure helpers ------------------------------------------------------------------


def _random(length: int, hexa: bool = False) -> str:
    alphabet = "0123456789abcdef" if hexa else _ALNUM
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _template_hash(component: Obj) -> str:
    shape = {k: v for k, v in component.items() if k != "replicas"}
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:10]


def _pod_template_hash(dgd: Obj, component: Obj) -> str:
    """The component's template hash, salted with the DGD's simulated failure.

    Adding, changing or removing the fail annotation then rolls the pods like a
    template change does, so a running deployment shows the failure (or recovers).
    """
    fail = _fail_mode(dgd)
    if not fail:
        return _template_hash(component)
    return _template_hash({**component, FAIL_ANNOTATION: fail})


def _fail_mode(dgd: Obj) -> str:
    annotations = dgd["metadata"].get("annotations") or {}
    fail = str(annotations.get(FAIL_ANNOTATION) or "").strip()
    return fail if fail in FAIL_MODES else ""


def _template_hash_of(dgd: Obj, pod: Obj) -> str:
    wanted = pod["metadata"]["labels"].get(LABEL_COMPONENT)
    for component in (dgd.get("spec") or {}).get("components") or []:
        if component.get("name") == wanted:
            return _pod_template_hash(dgd, component)
    return ""


def _selector(dgd_name: str, component: Obj) -> str:
    base = f"{dgd_name}-{component.get('name', '').lower()}"
    if component.get("type", "worker") in WORKER_TYPES:
        return f"{base}-{_template_hash(component)[:8]}"
    return base


def _component_labels(dgd: Obj, component: Obj) -> dict[str, str]:
    meta = dgd["metadata"]
    return {
        LABEL_DGD: meta["name"],
        LABEL_COMPONENT: component.get("name", ""),
        LABEL_TYPE: component.get("type", "worker"),
        LABEL_NAMESPACE: f"{meta['namespace']}-{meta['name']}".replace(".", "-"),
        LABEL_SELECTOR: _selector(meta["name"], component),
        "nvidia.com/metrics-enabled": "true",
    }


def _pod_container(dgd: Obj, component: Obj, container: Obj) -> Obj:
    result: Obj = copy.deepcopy(container)
    if result.get("name") != "main":
        return result
    kind = component.get("type", "worker")
    meta = dgd["metadata"]
    if kind == "frontend" and not result.get("command"):
        result["command"], result["args"] = (
            ["python3"],
            result.get("args") or ["-m", "dynamo.frontend"],
        )
    injected = [
        {
            "name": "DYN_NAMESPACE",
            "value": f"{meta['namespace']}-{meta['name']}".replace(".", "-"),
        },
        {"name": "DYN_COMPONENT", "value": kind},
        {"name": "DYN_PARENT_DGD_K8S_NAME", "value": meta["name"]},
        {"name": "DYN_PARENT_DGD_K8S_NAMESPACE", "value": meta["namespace"]},
        {"name": "DYN_DISCOVERY_BACKEND", "value": "kubernetes"},
    ]
    result["env"] = injected + list(result.get("env") or [])
    port = (
        {"name": "http", "containerPort": 8000}
        if kind == "frontend"
        else {"name": "system", "containerPort": 9090}
    )
    result.setdefault("ports", [port])
    return result


def _new_pod(
    name: str, namespace: str, labels: dict[str, str], containers: list[Obj]
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "containers": containers,
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 60,
            "schedulerName": "default-scheduler",
            "serviceAccountName": "default",
        },
        "status": {"phase": "Pending", "qosClass": "Burstable", "conditions": []},
    }


def _main(pod: Obj) -> Obj:
    containers = pod["spec"].get("containers") or [{}]
    found: Obj = next((c for c in containers if c.get("name") == "main"), containers[0])
    return found


def _pod_gpus(pod: Obj) -> int:
    total = 0
    for container in pod["spec"].get("containers") or []:
        resources = container.get("resources") or {}
        quantity = (resources.get("limits") or {}).get(GPU) or (
            resources.get("requests") or {}
        ).get(GPU)
        total += int(str(quantity or "0"))
    return total


def _is_ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod["status"].get("conditions") or []
    )


def _set_container(
    pod: Obj,
    name: str,
    *,
    ready: bool,
    state: Obj,
    last: Obj | None = None,
    restarts: int | None = None,
) -> None:
    statuses = pod["status"].setdefault("containerStatuses", [])
    status = next((s for s in statuses if s["name"] == name), None)
    if status is None:
        image = next(
            (
                c.get("image", "")
                for c in pod["spec"]["containers"]
                if c["name"] == name
            ),
            "",
        )
        status = {
            "name": name,
            "image": image,
            "imageID": "",
            "restartCount": 0,
            "lastState": {},
        }
        statuses.append(status)
    status |= {"ready": ready, "started": "running" in state, "state": state}
    if last is not None:
        status["lastState"] = last
    if restarts is not None:
        status["restartCount"] = restarts


def _set_conditions(pod: Obj, *, scheduled: bool, ready: bool, why: str = "") -> None:
    now = now_rfc3339()
    previous = {c["type"]: c for c in pod["status"].get("conditions") or []}

    def condition(kind: str, value: bool, reason: str = "") -> Obj:
        text = "True" if value else "False"
        old = previous.get(kind, {})
        entry: Obj = {
            "type": kind,
            "status": text,
            "lastTransitionTime": old.get("lastTransitionTime")
            if old.get("status") == text
            else now,
        }
        if reason and not value:
            entry["reason"] = reason
        return entry

    scheduled_condition = condition("PodScheduled", scheduled, "Unschedulable")
    if why:
        scheduled_condition["message"] = why
    conditions = [scheduled_condition]
    if scheduled:
        conditions += [
            condition("Initialized", True),
            condition("ContainersReady", ready, "ContainersNotReady"),
            condition("Ready", ready, "ContainersNotReady"),
        ]
    pod["status"]["conditions"] = conditions


def _cluster_ip(name: str) -> str:
    digest = hashlib.sha256(name.encode()).digest()
    return f"10.96.{digest[0]}.{digest[1] or 1}"


def _model_of(pod: Obj) -> str:
    args = [str(a) for a in (_main(pod).get("args") or [])]
    for flag in ("--model", "--model-path"):
        if flag in args[:-1]:
            return args[args.index(flag) + 1]
    return ""


def _startup_lines(pod: Obj) -> list[str]:
    main = _main(pod)
    command = " ".join(
        str(part) for part in [*(main.get("command") or []), *(main.get("args") or [])]
    )
    module = next((m for m in ENGINE_MODULES if m in command), "dynamo")
    lines = [f"INFO {module}: starting (sandbox simulation of {main.get('image', '')})"]
    model = _model_of(pod)
    if model:
        lines.append(f"INFO {module}: loading model {model}")
    return lines


def _ready_line(pod: Obj) -> str:
    model = _model_of(pod)
    if model:
        return f"INFO dynamo_runtime: model {model} registered; worker ready"
    return "INFO dynamo.frontend: listening on 0.0.0.0:8000; ready"


def _crash_lines(mode: str) -> list[str]:
    if mode == "oom":
        return [
            "INFO model loader: Loading safetensors checkpoint shards: 60% Completed",
            "(the container was killed by the kernel: memory limit exceeded, exit code 137, OOMKilled)",  # noqa: E501 - Kubernetes' own wording
        ]
    return [
        "Traceback (most recent call last):",
        '  File "/opt/dynamo/venv/lib/python3.12/site-packages/dynamo/worker/main.py", line 88, in init',  # noqa: E501 - Kubernetes' own wording
        "RuntimeError: Engine core initialization failed. See root cause above.",
        f"(sandbox: simulated crash, triggered by annotation {FAIL_ANNOTATION}=crash-loop)",  # noqa: E501 - Kubernetes' own wording
    ]


def _owned_by(dgd_name: str) -> Callable[[Obj], bool]:
    """A store filter for the objects labelled with one DGD's name."""

    def is_owned(obj: Obj) -> bool:
        return (obj["metadata"].get("labels") or {}).get(LABEL_DGD) == dgd_name

    return is_owned


def _key(obj: Obj) -> tuple[str, str]:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]
