"""Contract tests: the sandbox's Kubernetes API through the official client."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from kubernetes import watch
from kubernetes.client import (
    ApiClient,
    ApisApi,
    CoreV1Api,
    CustomObjectsApi,
    VersionApi,
)
from kubernetes.client.exceptions import ApiException

from dynamote_core.sandbox import Sandbox
from tests.fixtures_sandbox import wait_until
from tests.sandbox.conftest import GROUP, NAMESPACE, PLURAL, make_dgd

USER = 'User "system:serviceaccount:dynamo-system:dynamote"'
PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"


def create(
    custom: CustomObjectsApi,
    body: dict[str, Any],
    version: str = "v1beta1",
    **kwargs: Any,
) -> Any:
    return custom.create_namespaced_custom_object(
        GROUP, version, NAMESPACE, PLURAL, body, **kwargs
    )


def read(custom: CustomObjectsApi, name: str, version: str = "v1beta1") -> Any:
    return custom.get_namespaced_custom_object(GROUP, version, NAMESPACE, PLURAL, name)


def status_of(error: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(error.body)
    return body


def test_discovery_serves_version_core_and_nvidia_group(
    kube_api_client: ApiClient,
) -> None:
    apis = ApisApi(kube_api_client)

    version = VersionApi(kube_api_client).get_code()
    groups = apis.get_api_versions().groups
    resources = (
        CustomObjectsApi(kube_api_client).get_api_resources(GROUP, "v1beta1").resources
    )
    core = CoreV1Api(kube_api_client).get_api_resources().resources

    assert version.major == "1"
    assert [v.version for v in groups[0].versions] == ["v1beta1", "v1alpha1"]
    assert resources[0].kind == "DynamoGraphDeployment"
    assert resources[0].short_names == ["dgd"]
    assert {"pods", "pods/log", "services/proxy", "secrets"} <= {r.name for r in core}


def test_alpha_only_sandbox_serves_v1alpha1_alone(tmp_path: Any) -> None:
    with Sandbox(served_versions=("v1alpha1",), speed=0.01) as sandbox:
        from kubernetes import config

        client = config.new_client_from_config(
            str(sandbox.write_kubeconfig(tmp_path / "k")), context="dynamote-sandbox"
        )
        custom = CustomObjectsApi(client)

        versions = ApisApi(client).get_api_versions().groups[0].versions
        with pytest.raises(ApiException) as missing:
            custom.list_namespaced_custom_object(GROUP, "v1beta1", NAMESPACE, PLURAL)
        client.close()

    assert [v.version for v in versions] == ["v1alpha1"]
    assert missing.value.status == 404


def test_default_cluster_has_gpu_nodes_namespaces_and_token_secret(
    core: CoreV1Api,
) -> None:
    nodes = {n.metadata.name: n for n in core.list_node().items}
    namespaces = {n.metadata.name for n in core.list_namespace().items}
    secret = core.read_namespaced_secret("hf-token-secret", NAMESPACE)

    assert set(nodes) == {"gpu-a100-0", "gpu-a100-1", "gpu-l4-0", "cpu-0"}
    assert nodes["gpu-a100-0"].status.allocatable["nvidia.com/gpu"] == "8"
    assert (
        nodes["gpu-a100-0"].metadata.labels["nvidia.com/gpu.product"]
        == "NVIDIA-A100-SXM4-80GB"
    )
    assert nodes["gpu-l4-0"].metadata.labels["nvidia.com/gpu.memory"] == "23034"
    assert "nvidia.com/gpu" not in nodes["cpu-0"].status.allocatable
    assert {"default", "dynamo-system", "kube-system"} <= namespaces
    assert base64.b64decode(secret.data["HF_TOKEN"]).startswith(b"hf_")


def test_hf_token_argument_lands_in_the_secret(tmp_path: Any) -> None:
    with Sandbox(hf_token="hf_given", speed=0.01) as sandbox:
        secret = sandbox.store.get("secrets", NAMESPACE, "hf-token-secret")

    assert secret is not None
    assert base64.b64decode(secret["data"]["HF_TOKEN"]) == b"hf_given"


def test_secret_metadata_only_read_has_no_data(core: CoreV1Api) -> None:
    answer = core.read_namespaced_secret(
        "hf-token-secret",
        NAMESPACE,
        _headers={"Accept": PARTIAL},
        _preload_content=False,
    )

    body = json.loads(answer.data)
    assert body["kind"] == "PartialObjectMetadata"
    assert body["metadata"]["name"] == "hf-token-secret"
    assert "data" not in body


def test_namespace_and_secret_create_then_conflict(core: CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "llm"}})
    core.create_namespaced_secret(
        "llm", {"metadata": {"name": "s"}, "stringData": {"HF_TOKEN": "x"}}
    )

    with pytest.raises(ApiException) as again:
        core.create_namespace({"metadata": {"name": "llm"}})

    assert core.read_namespace("llm").status.phase == "Active"
    assert again.value.status == 409
    assert status_of(again.value)["reason"] == "AlreadyExists"


def test_dgd_create_get_list_in_both_versions(custom: CustomObjectsApi) -> None:
    created = create(custom, make_dgd("a"))

    alpha = read(custom, "a", "v1alpha1")
    everywhere = custom.list_cluster_custom_object(GROUP, "v1beta1", PLURAL)["items"]

    assert created["metadata"]["uid"]
    assert created["metadata"]["generation"] == 1
    assert created["metadata"]["creationTimestamp"]
    assert created["metadata"]["resourceVersion"].isdigit()
    assert alpha["spec"]["services"]["worker"]["resources"]["limits"]["gpu"] == "1"
    assert alpha["spec"]["services"]["worker"]["envFromSecret"] == "hf-token-secret"
    assert alpha["spec"]["services"]["Frontend"]["componentType"] == "frontend"
    assert [item["metadata"]["name"] for item in everywhere] == ["a"]


def test_alpha_disagg_create_is_stored_as_beta(custom: CustomObjectsApi) -> None:
    alpha = {
        "apiVersion": f"{GROUP}/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": "old"},
        "spec": {
            "envs": [{"name": "A", "value": "1"}],
            "services": {
                "prefill": {
                    "componentType": "worker",
                    "subComponentType": "prefill",
                    "envFromSecret": "hf-token-secret",
                    "envs": [{"name": "B", "value": "2"}],
                    "resources": {"limits": {"gpu": "1"}},
                    "extraPodSpec": {
                        "mainContainer": {
                            "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"
                        }
                    },
                }
            },
        },
    }

    create(custom, alpha, "v1alpha1")

    beta = read(custom, "old")
    component = beta["spec"]["components"][0]
    main = component["podTemplate"]["spec"]["containers"][0]
    assert component["type"] == "prefill"
    assert main["name"] == "main"
    assert main["envFrom"] == [{"secretRef": {"name": "hf-token-secret"}}]
    assert main["env"] == [{"name": "B", "value": "2"}]
    assert main["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    assert beta["spec"]["env"] == [{"name": "A", "value": "1"}]
    assert (
        read(custom, "old", "v1alpha1")["spec"]["services"]["prefill"][
            "subComponentType"
        ]
        == "prefill"
    )


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (make_dgd("dup"), 409, "AlreadyExists"),
        ({**make_dgd("empty"), "spec": {"components": []}}, 422, "Invalid"),
        (make_dgd("Bad_Name"), 422, "Invalid"),
    ],
    ids=["already-exists", "no-components", "bad-name"],
)
def test_dgd_create_rejections(
    custom: CustomObjectsApi, body: dict[str, Any], code: int, reason: str
) -> None:
    create(custom, make_dgd("dup"))

    with pytest.raises(ApiException) as rejected:
        create(custom, body)

    status = status_of(rejected.value)
    assert rejected.value.status == code
    assert (status["kind"], status["status"], status["reason"], status["code"]) == (
        "Status",
        "Failure",
        reason,
        code,
    )


def test_dgd_invalid_lists_field_causes(custom: CustomObjectsApi) -> None:
    body = make_dgd("latest")
    body["spec"]["components"][1]["podTemplate"]["spec"]["containers"][0]["image"] = (
        "vllm-runtime:latest"
    )

    with pytest.raises(ApiException) as rejected:
        create(custom, body)

    causes = status_of(rejected.value)["details"]["causes"]
    assert rejected.value.status == 422
    assert any("runtimeVersionOverride" in c["field"] + c["message"] for c in causes)


def test_malformed_json_is_400(kube_api_client: ApiClient, sandbox: Sandbox) -> None:
    import urllib.error
    import urllib.request

    url = f"{sandbox.url}/apis/{GROUP}/v1beta1/namespaces/{NAMESPACE}/{PLURAL}"
    request = urllib.request.Request(
        url,
        data=b"{not json",
        method="POST",
        headers={"Content-Type": "application/json"},
    )

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=5)

    assert answer.value.code == 400
    assert json.loads(answer.value.read())["reason"] == "BadRequest"


def test_dry_run_validates_but_stores_nothing(custom: CustomObjectsApi) -> None:
    answer = create(custom, make_dgd("dry"), dry_run="All")

    with pytest.raises(ApiException) as missing:
        read(custom, "dry")
    with pytest.raises(ApiException) as invalid:
        create(custom, {**make_dgd("dry2"), "spec": {"components": []}}, dry_run="All")

    assert answer["metadata"]["name"] == "dry"
    assert missing.value.status == 404
    assert invalid.value.status == 422


@pytest.mark.parametrize(
    ("patch", "content_type"),
    [
        (
            {"spec": {"components": [make_dgd()["spec"]["components"][0]]}},
            "application/merge-patch+json",
        ),
        (
            [{"op": "remove", "path": "/spec/components/1"}],
            "application/json-patch+json",
        ),
    ],
    ids=["merge-patch", "json-patch"],
)
def test_patch_changes_spec_and_bumps_generation(
    custom: CustomObjectsApi, patch: Any, content_type: str
) -> None:
    create(custom, make_dgd("p"))

    patched = custom.patch_namespaced_custom_object(
        GROUP, "v1beta1", NAMESPACE, PLURAL, "p", patch, _content_type=content_type
    )

    assert [c["name"] for c in patched["spec"]["components"]] == ["Frontend"]
    assert patched["metadata"]["generation"] == 2


def test_label_patch_keeps_generation(custom: CustomObjectsApi) -> None:
    create(custom, make_dgd("l"))

    patched = custom.patch_namespaced_custom_object(
        GROUP, "v1beta1", NAMESPACE, PLURAL, "l", {"metadata": {"labels": {"x": "y"}}}
    )

    assert patched["metadata"]["labels"] == {"x": "y"}
    assert patched["metadata"]["generation"] == 1


def replace_with_retry(custom: CustomObjectsApi, name: str, replicas: int) -> Any:
    """Read-modify-write, retried on 409 as clients do (the operator writes too)."""
    for _ in range(20):
        fresh = read(custom, name)
        fresh["spec"]["components"][1]["replicas"] = replicas
        try:
            return custom.replace_namespaced_custom_object(
                GROUP, "v1beta1", NAMESPACE, PLURAL, name, fresh
            )
        except ApiException as error:
            if error.status != 409:
                raise
    raise AssertionError("replace kept conflicting")


def test_replace_with_stale_resource_version_conflicts(
    custom: CustomObjectsApi,
) -> None:
    first = create(custom, make_dgd("r"))
    replaced = replace_with_retry(custom, "r", 2)

    with pytest.raises(ApiException) as conflict:
        custom.replace_namespaced_custom_object(
            GROUP, "v1beta1", NAMESPACE, PLURAL, "r", first
        )

    assert replaced["metadata"]["generation"] == 2
    assert conflict.value.status == 409
    assert "the object has been modified" in status_of(conflict.value)["message"]


def test_get_missing_dgd_is_404_status(custom: CustomObjectsApi) -> None:
    with pytest.raises(ApiException) as missing:
        read(custom, "nope")

    status = status_of(missing.value)
    assert missing.value.status == 404
    assert status["message"] == 'dynamographdeployments.nvidia.com "nope" not found'


def test_delete_shows_terminating_then_goes(
    custom: CustomObjectsApi, sandbox: Sandbox
) -> None:
    create(custom, make_dgd("gone"))
    wait_until(lambda: read(custom, "gone")["metadata"].get("finalizers"))

    deleted = custom.delete_namespaced_custom_object(
        GROUP, "v1beta1", NAMESPACE, PLURAL, "gone", propagation_policy="Foreground"
    )

    assert deleted["metadata"]["deletionTimestamp"]
    assert deleted["metadata"]["finalizers"] == ["nvidia.com/finalizer"]
    wait_until(
        lambda: (
            not custom.list_namespaced_custom_object(
                GROUP, "v1beta1", NAMESPACE, PLURAL
            )["items"]
        )
    )
    assert sandbox.store.list("pods", NAMESPACE) == [
        p
        for p in sandbox.store.list("pods", NAMESPACE)
        if "demo" not in p["metadata"]["name"] and "gone" not in p["metadata"]["name"]
    ]


def test_pods_services_and_events_with_selectors(
    custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    create(custom, make_dgd("sel"))
    wait_until(
        lambda: read(custom, "sel").get("status", {}).get("state") == "successful"
    )

    workers = core.list_namespaced_pod(
        NAMESPACE,
        label_selector=(
            "nvidia.com/dynamo-graph-deployment-name=sel,"
            "nvidia.com/dynamo-component-type in (worker,prefill)"
        ),
    ).items
    not_frontend = core.list_namespaced_pod(
        NAMESPACE,
        label_selector="nvidia.com/dynamo-component-type,nvidia.com/dynamo-component-type!=frontend",
    ).items
    running = core.list_namespaced_pod(
        NAMESPACE,
        field_selector="status.phase=Running,metadata.namespace=dynamo-system",
    ).items
    service = core.read_namespaced_service("sel-frontend", NAMESPACE)
    events = core.list_namespaced_event(
        NAMESPACE,
        field_selector=f"involvedObject.name={workers[0].metadata.name},involvedObject.kind=Pod",
    ).items

    assert [p.metadata.labels["nvidia.com/dynamo-component"] for p in workers] == [
        "worker"
    ]
    assert workers[0].metadata.name.startswith("sel-worker-")
    assert (
        workers[0].metadata.labels["nvidia.com/dynamo-namespace"] == "dynamo-system-sel"
    )
    assert workers[0].spec.containers[0].args == ["--model", "Qwen/Qwen3-0.6B"]
    assert len(not_frontend) == 1
    assert len(running) == 3  # operator, frontend, worker
    assert service.spec.ports[0].port == 8000
    assert {"Scheduled", "Pulling", "Pulled", "Created", "Started"} <= {
        e.reason for e in events
    }


def test_pod_log_is_text_with_tail(custom: CustomObjectsApi, core: CoreV1Api) -> None:
    create(custom, make_dgd("logs"))
    pod = wait_until(
        lambda: [
            p
            for p in core.list_namespaced_pod(
                NAMESPACE, label_selector="nvidia.com/dynamo-component=worker"
            ).items
            if p.status.phase == "Running"
        ]
    )[0]
    wait_until(
        lambda: "ready" in core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE)
    )

    tail = core.read_namespaced_pod_log(pod.metadata.name, NAMESPACE, tail_lines=1)

    assert tail.count("\n") == 1
    assert "Qwen/Qwen3-0.6B" in tail


def test_operator_pod_is_running(core: CoreV1Api) -> None:
    pods = core.list_namespaced_pod(
        NAMESPACE, label_selector="app.kubernetes.io/name=dynamo-operator"
    ).items

    assert pods[0].metadata.name.startswith(
        "dynamo-platform-dynamo-operator-controller-manager-"
    )
    assert pods[0].status.phase == "Running"


@pytest.mark.parametrize(
    ("verb", "resource", "call", "expected"),
    [
        (
            "create",
            "dynamographdeployments",
            lambda c, k: create(k, make_dgd("x")),
            f"dynamographdeployments.nvidia.com is forbidden: {USER}"
            f' cannot create resource "dynamographdeployments"'
            f' in API group "nvidia.com" in the namespace "dynamo-system"',
        ),
        (
            "list",
            "nodes",
            lambda c, k: c.list_node(),
            f"nodes is forbidden: {USER}"
            f' cannot list resource "nodes"'
            f' in API group "" at the cluster scope',
        ),
        (
            "get",
            "pods/log",
            lambda c, k: c.read_namespaced_pod_log("p", NAMESPACE),
            f'pods "p" is forbidden: {USER}'
            f' cannot get resource "pods/log"'
            f' in API group "" in the namespace "dynamo-system"',
        ),
    ],
    ids=["create-dgd", "list-nodes", "get-pod-log"],
)
def test_denied_verb_is_403_with_kubernetes_message(
    sandbox: Sandbox,
    core: CoreV1Api,
    custom: CustomObjectsApi,
    verb: str,
    resource: str,
    call: Any,
    expected: str,
) -> None:
    sandbox.deny(verb, resource)

    with pytest.raises(ApiException) as forbidden:
        call(core, custom)
    sandbox.allow_all()

    assert forbidden.value.status == 403
    assert status_of(forbidden.value)["message"] == expected
    assert core.list_node().items


def test_operator_unavailable_fails_writes_like_a_dead_webhook(
    sandbox: Sandbox, custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    sandbox.operator_available = False

    with pytest.raises(ApiException) as failed:
        create(custom, make_dgd("w"))
    operator = core.list_namespaced_pod(
        NAMESPACE, label_selector="app.kubernetes.io/name=dynamo-operator"
    ).items[0]

    message = status_of(failed.value)["message"]
    assert failed.value.status == 500
    assert 'failed calling webhook "vdynamographdeployment.kb.io"' in message
    assert "connect: connection refused" in message
    assert operator.status.container_statuses[0].ready is False


def test_operator_unavailable_leaves_dgds_without_status(
    sandbox: Sandbox, custom: CustomObjectsApi
) -> None:
    sandbox.operator_available = False
    sandbox.api.operator_available = (
        True  # let the write through, keep the reconciler down
    )
    create(custom, make_dgd("still"))
    sandbox.api.operator_available = False

    import time

    time.sleep(0.1)

    assert "status" not in read(custom, "still")


def test_watch_streams_added_modified_deleted(custom: CustomObjectsApi) -> None:
    start = custom.list_namespaced_custom_object(GROUP, "v1beta1", NAMESPACE, PLURAL)[
        "metadata"
    ]["resourceVersion"]
    create(custom, make_dgd("watched"))
    custom.delete_namespaced_custom_object(
        GROUP, "v1beta1", NAMESPACE, PLURAL, "watched"
    )

    seen = []
    stream = watch.Watch().stream(
        custom.list_namespaced_custom_object,
        GROUP,
        "v1beta1",
        NAMESPACE,
        PLURAL,
        resource_version=start,
        timeout_seconds=2,
    )
    for event in stream:
        seen.append(event["type"])
        if event["type"] == "DELETED":
            break

    assert seen[0] == "ADDED"
    assert "MODIFIED" in seen
    assert seen[-1] == "DELETED"


def test_service_proxy_without_backend_is_503(
    custom: CustomObjectsApi, kube_api_client: ApiClient, sandbox: Sandbox
) -> None:
    create(custom, make_dgd("px"))
    wait_until(lambda: sandbox.store.get("services", NAMESPACE, "px-frontend"))

    with pytest.raises(ApiException) as unavailable:
        CoreV1Api(kube_api_client).connect_get_namespaced_service_proxy_with_path(
            "px-frontend:8000", NAMESPACE, "v1/models"
        )

    assert unavailable.value.status == 503
    assert (
        status_of(unavailable.value)["message"]
        == 'no endpoints available for service "px-frontend"'
    )


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


def test_service_proxy_forwards_to_registered_backend(
    custom: CustomObjectsApi, kube_api_client: ApiClient, sandbox: Sandbox
) -> None:
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    create(custom, make_dgd("px"))
    wait_until(lambda: sandbox.store.get("services", NAMESPACE, "px-frontend"))
    sandbox.register_service_backend(
        NAMESPACE, "px-frontend", 8000, f"http://127.0.0.1:{backend.server_address[1]}"
    )

    answer = CoreV1Api(kube_api_client).connect_get_namespaced_service_proxy_with_path(
        "px-frontend:8000", NAMESPACE, "v1/models", _preload_content=False
    )
    backend.shutdown()
    backend.server_close()

    assert json.loads(answer.data) == {"path": "/v1/models"}
