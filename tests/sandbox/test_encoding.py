"""The sandbox's JSON answers: compact, and never stale for all their kept encodings."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client import CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from dynamote_core.sandbox import Sandbox
from dynamote_core.sandbox.encoding import EncodedObjects
from tests.fixtures_sandbox import wait_until
from tests.sandbox.conftest import GROUP, NAMESPACE, PLURAL, make_dgd

DGD_LABEL = "nvidia.com/dynamo-graph-deployment-name"


def list_raw_dgds(custom: CustomObjectsApi, version: str = "v1beta1") -> bytes:
    response = custom.list_namespaced_custom_object(
        GROUP, version, NAMESPACE, PLURAL, _preload_content=False
    )
    data: bytes = response.data
    return data


def list_raw_pods(core: CoreV1Api, namespace: str = NAMESPACE, **kwargs: Any) -> bytes:
    data: bytes = core.list_namespaced_pod(
        namespace, _preload_content=False, **kwargs
    ).data
    return data


def annotations_of(listing: bytes, name: str) -> dict[str, str]:
    items = json.loads(listing)["items"]
    dgd = next(item for item in items if item["metadata"]["name"] == name)
    found: dict[str, str] = dgd["metadata"].get("annotations") or {}
    return found


def is_running(custom: CustomObjectsApi, name: str) -> bool:
    dgd = custom.get_namespaced_custom_object(GROUP, "v1beta1", NAMESPACE, PLURAL, name)
    return bool(dgd.get("status", {}).get("state") == "successful")


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_patched_dgd_lists_with_its_new_content(
    custom: CustomObjectsApi, version: str
) -> None:
    custom.create_namespaced_custom_object(
        GROUP, "v1beta1", NAMESPACE, PLURAL, make_dgd("cached")
    )
    before = annotations_of(list_raw_dgds(custom, version), "cached")

    custom.patch_namespaced_custom_object(
        GROUP,
        version,
        NAMESPACE,
        PLURAL,
        "cached",
        {"metadata": {"annotations": {"team": "blue"}}},
    )
    after = annotations_of(list_raw_dgds(custom, version), "cached")

    assert "team" not in before
    assert after["team"] == "blue"


def test_listed_pods_equal_the_stored_pods_after_the_operator_ran(
    sandbox: Sandbox, custom: CustomObjectsApi, core: CoreV1Api
) -> None:
    custom.create_namespaced_custom_object(
        GROUP, "v1beta1", NAMESPACE, PLURAL, make_dgd("busy", replicas=2)
    )
    wait_until(lambda: list_raw_pods(core) and is_running(custom, "busy"))
    sandbox.operator.stop()

    listed = json.loads(list_raw_pods(core))["items"]

    assert listed == sandbox.store.list("pods", NAMESPACE)
    assert len(listed) == 4  # the operator's own pod, the frontend, two workers


def test_lists_are_compact_json(core: CoreV1Api, custom: CustomObjectsApi) -> None:
    custom.create_namespaced_custom_object(
        GROUP, "v1beta1", NAMESPACE, PLURAL, make_dgd("compact")
    )
    wait_until(
        lambda: json.loads(list_raw_pods(core, label_selector=DGD_LABEL))["items"]
    )

    body = list_raw_pods(core, label_selector=DGD_LABEL)

    assert body == json.dumps(json.loads(body), separators=(",", ":")).encode()


def test_a_bad_label_selector_is_refused_even_when_nothing_is_listed(
    core: CoreV1Api,
) -> None:
    with pytest.raises(ApiException) as refused:
        list_raw_pods(core, "default", label_selector="not a selector")

    assert refused.value.status == 400
    assert "unable to parse requirement" in json.loads(refused.value.body)["message"]


def test_encodings_past_the_limit_are_made_again() -> None:
    encoded = EncodedObjects(limit=2)
    presented: list[str] = []

    def present(obj: dict[str, Any]) -> dict[str, Any]:
        presented.append(obj["metadata"]["name"])
        return obj

    objects = [
        {"metadata": {"name": name, "resourceVersion": str(version)}}
        for version, name in enumerate(("a", "b", "c"), start=1)
    ]
    encoded.encode_all(objects, "v1", present)
    again = encoded.encode_all(objects[1:], "v1", present)
    first = encoded.encode_all(objects[:1], "v1", present)

    assert presented == ["a", "b", "c", "a"]
    assert again[0] == b'{"metadata":{"name":"b","resourceVersion":"2"}}'
    assert first == [b'{"metadata":{"name":"a","resourceVersion":"1"}}']
