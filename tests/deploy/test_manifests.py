"""deploy/: schema-valid manifests, a locked-down pod, and settings the app accepts."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from dynamote_core.settings import AppSettings, load_settings

Manifest = dict[str, Any]

KUBERNETES_VERSION = "1.37.0"
HEALTH_PATH = "/_stcore/health"


def test_kustomization_lists_every_manifest(
    kustomization: Manifest, source_manifests: dict[str, Manifest]
) -> None:
    listed = kustomization["resources"]

    assert sorted(listed) == sorted(source_manifests)


def test_kustomize_builds_one_object_per_file(
    built_manifests: list[Manifest], source_manifests: dict[str, Manifest]
) -> None:
    built = {(doc["kind"], doc["metadata"]["name"]) for doc in built_manifests}

    expected = {
        (doc["kind"], doc["metadata"]["name"]) for doc in source_manifests.values()
    }
    assert built == expected
    assert len(built_manifests) == len(expected)


def test_every_built_manifest_matches_the_kubernetes_schema(
    built_manifests: list[Manifest],
) -> None:
    failures = []

    for doc in built_manifests:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{doc['kind']}/{doc['metadata']['name']}: {error.message}")

    assert failures == []


def test_namespaced_objects_land_in_the_default_namespace(
    built_manifests: list[Manifest],
) -> None:
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "Namespace"}

    namespaces = {
        doc["metadata"].get("namespace")
        for doc in built_manifests
        if doc["kind"] not in cluster_scoped
    }

    assert namespaces == {AppSettings().default_namespace}


@pytest.fixture(scope="module")
def pod_spec(built_by_kind: dict[str, Manifest]) -> dict[str, Any]:
    deployment = built_by_kind["Deployment"]
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


@pytest.fixture(scope="module")
def container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    [only] = pod_spec["containers"]
    return dict(only)


def test_deployment_runs_one_replica_of_the_release_image(
    built_by_kind: dict[str, Manifest], container: dict[str, Any]
) -> None:
    deployment = built_by_kind["Deployment"]

    assert deployment["spec"]["replicas"] == 1
    assert container["image"] == "dynamote:0.1.0"


@pytest.mark.parametrize("probe", ["readinessProbe", "livenessProbe"])
def test_probes_ask_streamlit_health(container: dict[str, Any], probe: str) -> None:
    http_get = container[probe]["httpGet"]

    assert http_get["path"] == HEALTH_PATH
    assert http_get["port"] == container["ports"][0]["name"]


def test_container_has_requests_and_limits(container: dict[str, Any]) -> None:
    resources = container["resources"]

    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}


def test_pod_is_locked_down(
    pod_spec: dict[str, Any], container: dict[str, Any]
) -> None:
    security = container["securityContext"]

    assert pod_spec["securityContext"]["runAsNonRoot"] is True
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_tmp_is_the_only_writable_mount(
    pod_spec: dict[str, Any], container: dict[str, Any]
) -> None:
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod_spec["volumes"]}

    assert list(mounts) == ["/tmp"]
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_service_reaches_the_container_port(
    built_by_kind: dict[str, Manifest],
    pod_spec: dict[str, Any],
    container: dict[str, Any],
) -> None:
    service = built_by_kind["Service"]
    deployment = built_by_kind["Deployment"]

    [port] = service["spec"]["ports"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["type"] == "ClusterIP"
    assert port["port"] == 8501
    assert port["targetPort"] == container["ports"][0]["name"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_container_settings_are_valid_app_settings(
    built_by_kind: dict[str, Manifest], container: dict[str, Any]
) -> None:
    config_map = built_by_kind["ConfigMap"]
    [env_from] = container["envFrom"]
    environ = {
        **config_map["data"],
        **{e["name"]: e["value"] for e in container["env"]},
    }

    settings = load_settings(environ)

    assert env_from["configMapRef"]["name"] == config_map["metadata"]["name"]
    assert settings.sandbox == "off"
    assert settings.port == container["ports"][0]["containerPort"]


def test_config_map_sets_only_known_variables(
    built_by_kind: dict[str, Manifest],
) -> None:
    config_map = built_by_kind["ConfigMap"]
    aliases = {field.alias for field in AppSettings.model_fields.values()}

    unknown = set(config_map["data"]) - aliases

    assert unknown == set()
