"""kube: clients per context, call() timeouts and retries, the one error translator."""

from __future__ import annotations

import gc
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import (
    ApiClient,
    Configuration,
    CoreV1Api,
    CustomObjectsApi,
    VersionApi,
)
from kubernetes.client.exceptions import ApiException

from dynamote_core import kube
from dynamote_core.deployments import delete_deployment
from dynamote_core.errors import (
    AlreadyExists,
    ClusterConflict,
    ClusterForbidden,
    ClusterInvalid,
    ClusterNotFound,
    ClusterRateLimited,
    ClusterServerError,
    ClusterTimeout,
    ClusterUnreachable,
    KubeconfigError,
)
from dynamote_core.sandbox import CONTEXT, Sandbox

NAMESPACE = "dynamo-system"
DGD_ARGS = ("nvidia.com", "v1beta1", NAMESPACE, "dynamographdeployments")


def list_pods(api: ApiClient, **options: Any) -> Any:
    return kube.call_json(
        CoreV1Api(api).list_namespaced_pod,
        NAMESPACE,
        verb="list",
        resource="pods",
        namespace=NAMESPACE,
        **options,
    )


def minimal_dgd(name: str = "probe") -> dict[str, Any]:
    container = {"name": "main", "image": "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.6.1"}
    return {
        "apiVersion": "nvidia.com/v1beta1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "components": [
                {
                    "name": "Frontend",
                    "type": "frontend",
                    "podTemplate": {"spec": {"containers": [container]}},
                }
            ]
        },
    }


def create_dgd(api: ApiClient, body: dict[str, Any]) -> Any:
    return kube.call_json(
        CustomObjectsApi(api).create_namespaced_custom_object,
        *DGD_ARGS,
        verb="create",
        resource="dynamographdeployments",
        namespace=NAMESPACE,
        body=body,
    )


# ---------------------------------------------------------------- clients


def test_list_contexts_reads_names_and_current(sandbox_kubeconfig: Path) -> None:
    contexts = kube.list_contexts(str(sandbox_kubeconfig))

    assert contexts == ([CONTEXT], CONTEXT)


@pytest.mark.parametrize(
    "content",
    [None, "clusters: [oops", "apiVersion: v1\nkind: Config\n"],
    ids=["missing", "broken-yaml", "no-contexts"],
)
def test_list_contexts_rejects_bad_kubeconfig(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "kubeconfig"
    if content is not None:
        path.write_text(content)

    with pytest.raises(KubeconfigError) as raised:
        kube.list_contexts(str(path))

    assert str(path) in str(raised.value)


def test_new_api_client_rejects_unknown_context(sandbox_kubeconfig: Path) -> None:
    with pytest.raises(KubeconfigError) as raised:
        kube.new_api_client(str(sandbox_kubeconfig), context="nope")

    assert "nope" in str(raised.value)


def test_new_api_client_rejects_in_cluster_outside_a_pod() -> None:
    with pytest.raises(KubeconfigError, match="in-cluster"):
        kube.new_api_client(in_cluster=True)


def test_clients_per_context_leave_the_global_default_alone(
    sandbox: Sandbox, sandbox_kubeconfig: Path, tmp_path: Path
) -> None:
    default_host = Configuration.get_default().host
    with Sandbox(speed=0.01) as other:
        other_config = other.write_kubeconfig(tmp_path / "other")

        first = kube.new_api_client(str(sandbox_kubeconfig))
        second = kube.new_api_client(str(other_config))

        hosts = {first.configuration.host, second.configuration.host}
        version = kube.call_json(
            VersionApi(second).get_code, verb="get", resource="version"
        )

    assert hosts == {sandbox.url, other.url}
    assert Configuration.get_default().host == default_host
    assert version["gitVersion"]


# ---------------------------------------------------------------- retries and timeouts


@pytest.mark.parametrize(
    ("status", "expected_waits"),
    [(503, [0.5, 1.0]), (500, [0.5, 1.0]), (429, [1.0, 1.0])],
    ids=["503-backoff", "500-backoff", "429-retry-after"],
)
def test_read_is_retried_on_transient_errors(
    sandbox: Sandbox,
    api: ApiClient,
    sleeps: list[float],
    status: int,
    expected_waits: list[float],
) -> None:
    sandbox.faults.fail_next(2, status=status, retry_after=1 if status == 429 else None)
    before = sandbox.request_count

    listing = list_pods(api)

    assert listing["kind"] == "PodList"
    assert sandbox.request_count - before == 3
    assert sleeps == expected_waits


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, ClusterServerError), (429, ClusterRateLimited)],
    ids=["503", "429"],
)
def test_read_gives_up_after_three_retries(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float], status: int, error: type
) -> None:
    sandbox.faults.fail_next(10, status=status)
    before = sandbox.request_count

    with pytest.raises(error):
        list_pods(api)

    assert sandbox.request_count - before == 4
    assert len(sleeps) == 3


def test_create_is_never_retried(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float]
) -> None:
    sandbox.faults.fail_next(1, status=503, method="POST")

    with pytest.raises(ClusterServerError):
        create_dgd(api, minimal_dgd())

    assert [r.status for r in sandbox.request_log if r.method == "POST"] == [503]
    assert sleeps == []


def test_hung_read_times_out_with_a_remedy(
    sandbox: Sandbox, api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kube, "TIMEOUT_SECONDS", 0.2)
    sandbox.faults.hang_next(1, seconds=1.0)
    started = time.monotonic()

    with pytest.raises(ClusterTimeout) as raised:
        list_pods(api, retry=False)

    assert time.monotonic() - started < 0.9
    assert "kubeconfig context" in raised.value.remedy


def test_hung_read_is_retried(
    sandbox: Sandbox,
    api: ApiClient,
    sleeps: list[float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kube, "TIMEOUT_SECONDS", 0.2)
    sandbox.faults.hang_next(1, seconds=1.0)

    listing = list_pods(api)

    assert listing["kind"] == "PodList"
    assert sleeps == [0.5]


def test_refused_connection_is_unreachable_not_timeout(
    sandbox: Sandbox, api: ApiClient, sleeps: list[float]
) -> None:
    sandbox.faults.refuse_connections(True)

    with pytest.raises(ClusterUnreachable) as raised:
        list_pods(api)

    assert not isinstance(raised.value, ClusterTimeout)
    assert "cluster is up" in raised.value.remedy
    assert len(sleeps) == 3


# ---------------------------------------------------------------- 403 for each verb


def read_dgd(api: ApiClient, **options: Any) -> Any:
    return CustomObjectsApi(api).get_namespaced_custom_object(
        *DGD_ARGS, "probe", **options
    )


def list_dgds(api: ApiClient, **options: Any) -> Any:
    return CustomObjectsApi(api).list_namespaced_custom_object(*DGD_ARGS, **options)


def create_probe(api: ApiClient, **options: Any) -> Any:
    return CustomObjectsApi(api).create_namespaced_custom_object(
        *DGD_ARGS, body=minimal_dgd(), **options
    )


def delete_dgd(api: ApiClient, **options: Any) -> Any:
    return CustomObjectsApi(api).delete_namespaced_custom_object(
        *DGD_ARGS, "probe", propagation_policy="Background", **options
    )


def read_secret_metadata(api: ApiClient, **options: Any) -> Any:
    path = f"/api/v1/namespaces/{NAMESPACE}/secrets/hf-token-secret"
    return kube.is_found(api, path, **options)


FORBIDDEN_CALLS: list[tuple[str, str, bool, Callable[..., Any]]] = [
    ("get", "dynamographdeployments", True, read_dgd),
    ("list", "dynamographdeployments", True, list_dgds),
    ("create", "dynamographdeployments", True, create_probe),
    ("delete", "dynamographdeployments", True, delete_dgd),
    (
        "list",
        "pods",
        True,
        lambda api, **o: CoreV1Api(api).list_namespaced_pod(NAMESPACE, **o),
    ),
    (
        "get",
        "pods/log",
        True,
        lambda api, **o: CoreV1Api(api).read_namespaced_pod_log("any", NAMESPACE, **o),
    ),
    (
        "list",
        "events",
        True,
        lambda api, **o: CoreV1Api(api).list_namespaced_event(NAMESPACE, **o),
    ),
    (
        "get",
        "services",
        True,
        lambda api, **o: CoreV1Api(api).read_namespaced_service(
            "x-frontend", NAMESPACE, **o
        ),
    ),
    ("get", "secrets", True, read_secret_metadata),
    (
        "get",
        "namespaces",
        False,
        lambda api, **o: CoreV1Api(api).read_namespace(NAMESPACE, **o),
    ),
    ("list", "nodes", False, lambda api, **o: CoreV1Api(api).list_node(**o)),
]


@pytest.mark.parametrize(
    ("verb", "resource", "namespaced", "request_"),
    FORBIDDEN_CALLS,
    ids=[f"{verb}-{resource}" for verb, resource, _, _ in FORBIDDEN_CALLS],
)
def test_forbidden_names_verb_resource_and_can_i(
    sandbox: Sandbox,
    api: ApiClient,
    verb: str,
    resource: str,
    namespaced: bool,
    request_: Callable[..., Any],
) -> None:
    sandbox.deny(verb, resource)
    namespace = NAMESPACE if namespaced else None

    with pytest.raises(ClusterForbidden) as raised:
        kube.call(request_, api, verb=verb, resource=resource, namespace=namespace)

    scope = f" -n {NAMESPACE}" if namespaced else ""
    message = str(raised.value)
    assert f"cannot {verb} {resource}" in message
    assert f"kubectl auth can-i {verb} {resource}{scope}" in message
    assert raised.value.can_i == f"kubectl auth can-i {verb} {resource}{scope}"


# ---------------------------------------------------------------- translation


def test_not_found_keeps_only_the_status_message(api: ApiClient) -> None:
    with pytest.raises(ClusterNotFound) as raised:
        kube.call(read_dgd, api, verb="get", resource="dynamographdeployments")

    assert "probe" in str(raised.value)
    assert '"kind"' not in str(raised.value)
    assert isinstance(raised.value.__cause__, ApiException)


def test_create_twice_is_already_exists(api: ApiClient) -> None:
    create_dgd(api, minimal_dgd())

    with pytest.raises(AlreadyExists):
        create_dgd(api, minimal_dgd())


def test_stale_update_is_a_conflict(api: ApiClient) -> None:
    created = create_dgd(api, minimal_dgd())
    stale = json.loads(json.dumps(created))
    stale["metadata"]["resourceVersion"] = "1"

    with pytest.raises(ClusterConflict) as raised:
        kube.call(
            CustomObjectsApi(api).replace_namespaced_custom_object,
            *DGD_ARGS,
            "probe",
            stale,
            verb="update",
            resource="dynamographdeployments",
            namespace=NAMESPACE,
        )

    assert not isinstance(raised.value, AlreadyExists)


def test_invalid_object_lists_causes_per_field(api: ApiClient) -> None:
    body = minimal_dgd()
    body["spec"]["components"][0]["replicas"] = -3

    with pytest.raises(ClusterInvalid) as raised:
        create_dgd(api, body)

    assert any("replicas" in cause.field for cause in raised.value.causes)


def test_long_status_message_is_cut_and_raw_body_dropped() -> None:
    body = json.dumps(
        {
            "kind": "Status",
            "message": "x" * 1000,
            "reason": "InternalError",
            "code": 500,
        }
    )
    exc = ApiException(status=500, reason="Internal Server Error", body=body)

    error = kube.translate_api_exception(exc, verb="list", resource="pods")

    assert isinstance(error, ClusterServerError)
    assert len(error.args[0]) <= kube.MESSAGE_LIMIT
    assert "InternalError" not in str(error)


def test_non_json_body_is_never_shown() -> None:
    exc = ApiException(status=502, reason="Bad Gateway", body="<html>token=abc</html>")

    error = kube.translate_api_exception(
        exc, verb="get", resource="pods", namespace="a"
    )

    assert "token" not in str(error)
    assert "502" in str(error)


# ---------------------------------------------------------------- logging


def test_one_info_line_per_write_and_no_body(
    api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dynamote_core")

    create_dgd(api, minimal_dgd())
    list_pods(api)
    delete_deployment(api, "dynamo-system", "probe", "v1beta1")

    ours = [r for r in caplog.records if not r.name.startswith("dynamote_core.sandbox")]
    infos = [r.getMessage() for r in ours if r.levelno == logging.INFO]
    assert infos == [
        "create dynamographdeployments/probe in namespace dynamo-system: ok",
        "delete dynamographdeployments/probe in namespace dynamo-system: ok",
    ]
    assert not any("vllm-runtime" in r.getMessage() for r in ours)


# ---------------------------------------------------------------- the collector pause


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    """Start with the cycle collector on and leave it on, whatever a test does."""
    gc.enable()
    yield
    gc.enable()


@pytest.mark.usefixtures("collector_enabled")
def test_collector_resumes_after_nested_and_overlapping_pauses() -> None:
    first, second = kube.paused_garbage_collector(), kube.paused_garbage_collector()

    first.__enter__()
    with kube.paused_garbage_collector():
        nested = gc.isenabled()
    second.__enter__()
    first.__exit__(None, None, None)
    overlapping = gc.isenabled()
    second.__exit__(None, None, None)

    assert (nested, overlapping, gc.isenabled()) == (False, False, True)


@pytest.mark.usefixtures("collector_enabled")
def test_collector_resumes_when_the_block_raises() -> None:
    with pytest.raises(ValueError), kube.paused_garbage_collector():
        kube.parse_json_object(b"{not json")

    assert gc.isenabled()


@pytest.mark.usefixtures("collector_enabled")
def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()

    with kube.paused_garbage_collector():
        pass

    assert not gc.isenabled()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"kind":"PodList","items":[]}', {"kind": "PodList", "items": []}),
        (b"", {}),
        (None, {}),
        (b"[1, 2]", {}),
    ],
    ids=["object", "empty", "none", "not-an-object"],
)
def test_parse_json_object(data: bytes | None, expected: dict[str, Any]) -> None:
    assert kube.parse_json_object(data) == expected
