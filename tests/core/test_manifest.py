"""Tests for dynamote_core.manifest: grid, goldens, official examples, options."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from dynamote_core.catalog import Catalog, load_catalog
from dynamote_core.config import (
    API_VERSIONS,
    MODES,
    ROUTER_MODES,
    DeploymentConfig,
    validate_config,
)
from dynamote_core.errors import ManifestError
from dynamote_core.manifest import (
    build_graph_deployment,
    kubectl_commands,
    render_manifest_json,
    render_manifest_yaml,
)
from dynamote_core.schema import validate_graph_deployment

ENGINES = ("vllm", "sglang", "trtllm")
EXAMPLES = Path(__file__).resolve().parents[3] / "shared/dynamo/examples"
GOLDEN = Path(__file__).resolve().parents[1] / "resources/golden"
UPDATE_GOLDEN = os.environ.get("DYNAMOTE_UPDATE_GOLDEN") == "1"
GRID = list(itertools.product(ENGINES, MODES, ROUTER_MODES, API_VERSIONS))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _config(catalog: Catalog, engine: str = "vllm", **changes: Any) -> DeploymentConfig:
    settings = {
        "name": f"qwen3-{engine}",
        "namespace": "dynamo",
        "model_id": "Qwen/Qwen3-0.6B",
        "engine": engine,
        **changes,
    }
    return validate_config(settings, catalog)


def _build(
    catalog: Catalog, engine: str = "vllm", version: str = "v1beta1", **changes: Any
):
    config = _config(catalog, engine, **changes)
    return build_graph_deployment(config, catalog.get(config.model_id), version)  # type: ignore[arg-type]


def _components(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        component["name"]: component for component in manifest["spec"]["components"]
    }


def _main(component: dict[str, Any]) -> dict[str, Any]:
    return component["podTemplate"]["spec"]["containers"][0]


def _flags(args: list[str]) -> dict[str, str | None]:
    flags: dict[str, str | None] = {}
    for index, item in enumerate(args):
        if item.startswith("--"):
            following = args[index + 1] if index + 1 < len(args) else None
            flags[item] = (
                None if following is None or following.startswith("--") else following
            )
    return flags


@pytest.mark.parametrize(
    ("engine", "mode", "router", "version"),
    GRID,
    ids=["-".join(combo) for combo in GRID],
)
def test_every_combination_passes_schema_and_admission(
    catalog: Catalog, engine: str, mode: str, router: str, version: str
) -> None:
    manifest = _build(catalog, engine, version, mode=mode, router_mode=router)

    assert validate_graph_deployment(manifest) == []
    assert manifest["apiVersion"] == f"nvidia.com/{version}"
    spec_key = "components" if version == "v1beta1" else "services"
    assert len(manifest["spec"][spec_key]) == (2 if mode == "aggregated" else 3)


@pytest.mark.parametrize(
    ("engine", "mode", "version"),
    list(itertools.product(ENGINES, MODES, API_VERSIONS)),
    ids=lambda value: value,
)
def test_manifest_matches_its_golden_file(
    catalog: Catalog, engine: str, mode: str, version: str
) -> None:
    trust = engine == "sglang"  # the official SGLang examples always trust remote code
    manifest = _build(catalog, engine, version, mode=mode, trust_remote_code=trust)
    path = GOLDEN / f"{engine}-{mode}-{version}.yaml"

    text = render_manifest_yaml(manifest)
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    assert text == path.read_text()


# Where our output differs from the official example on purpose:
# - TRT-LLM 1.6.1 examples publish KV events with no KV router; we add the flag
#   only in `kv` router mode (events nobody reads cost a ZMQ socket per worker).
KNOWN_DIFFERENCES = {
    ("trtllm", "worker"): {"--publish-kv-events"},
    ("trtllm", "prefill"): {"--publish-kv-events"},
}


@pytest.mark.parametrize(
    ("example", "engine", "mode"),
    [
        ("vllm-agg.yaml", "vllm", "aggregated"),
        ("vllm-disagg.yaml", "vllm", "disaggregated"),
        ("sglang-agg.yaml", "sglang", "aggregated"),
        ("sglang-disagg.yaml", "sglang", "disaggregated"),
        ("trtllm-agg.yaml", "trtllm", "aggregated"),
        ("trtllm-disagg.yaml", "trtllm", "disaggregated"),
    ],
    ids=lambda value: value if value.endswith(".yaml") else None,
)
def test_manifest_follows_the_official_1_6_1_example(
    catalog: Catalog, example: str, engine: str, mode: str
) -> None:
    official = yaml.safe_load((EXAMPLES / "v1.6.1" / example).read_text())
    ours = _build(catalog, engine, mode=mode, trust_remote_code=(engine == "sglang"))

    by_type = {c["type"]: c for c in ours["spec"]["components"]}
    assert sorted(by_type) == sorted(c["type"] for c in official["spec"]["components"])
    for component in official["spec"]["components"]:
        theirs, mine = _main(component), _main(by_type[component["type"]])
        assert mine["image"] == theirs["image"]
        assert mine["command"] == theirs["command"]
        assert mine.get("workingDir") == theirs.get("workingDir")
        assert mine["envFrom"][0]["secretRef"]["name"] == "hf-token-secret"
        if component["type"] == "frontend":
            assert mine["args"] == theirs["args"]
            continue
        assert mine["resources"]["limits"] == theirs["resources"]["limits"]
        expected = _flags(theirs["args"])
        for flag in KNOWN_DIFFERENCES.get((engine, component["type"]), set()):
            expected.pop(flag)
        assert {
            flag: _flags(mine["args"]).get(flag, "<missing>") for flag in expected
        } == expected


@pytest.mark.parametrize(
    ("example", "engine", "mode"),
    [
        ("vllm-agg_router.yaml", "vllm", "aggregated"),
        ("vllm-disagg_router.yaml", "vllm", "disaggregated"),
        ("sglang-agg_router.yaml", "sglang", "aggregated"),
        ("trtllm-agg_router.yaml", "trtllm", "aggregated"),
        ("trtllm-disagg_router.yaml", "trtllm", "disaggregated"),
    ],
    ids=lambda value: value if value.endswith(".yaml") else None,
)
def test_kv_router_follows_the_official_router_examples(
    catalog: Catalog, example: str, engine: str, mode: str
) -> None:
    official = yaml.safe_load((EXAMPLES / example).read_text())
    ours = _build(catalog, engine, mode=mode, router_mode="kv")

    kv_flags = {
        "--kv-events-config",
        "--publish-kv-events",
        "--publish-events-and-metrics",
    }
    by_type = {c["type"]: c for c in ours["spec"]["components"]}
    for component in official["spec"]["components"]:
        theirs, mine = _main(component), _main(by_type[component["type"]])
        if component["type"] == "frontend":
            assert (
                mine["env"]
                == theirs["env"]
                == [{"name": "DYN_ROUTER_MODE", "value": "kv"}]
            )
            continue
        assert bool(kv_flags & set(mine["args"])) == bool(
            kv_flags & set(theirs["args"])
        )
        their_events = _flags(theirs["args"]).get("--kv-events-config")
        assert _flags(mine["args"]).get("--kv-events-config") == their_events


@pytest.mark.parametrize("router", ["none", "round-robin"])
@pytest.mark.parametrize("version", API_VERSIONS)
def test_router_mode_sets_the_frontend_env(
    catalog: Catalog, router: str, version: str
) -> None:
    manifest = _build(catalog, version=version, router_mode=router)

    if version == "v1beta1":
        env = _main(_components(manifest)["Frontend"]).get("env")
    else:
        env = manifest["spec"]["services"]["Frontend"].get("envs")

    expected = (
        None if router == "none" else [{"name": "DYN_ROUTER_MODE", "value": router}]
    )
    assert env == expected


def test_frontend_and_workers_share_the_image_and_command(catalog: Catalog) -> None:
    manifest = _build(catalog, "sglang", mode="disaggregated")

    components = _components(manifest)

    assert list(components) == ["Frontend", "prefill", "decode"]
    assert {_main(c)["image"] for c in components.values()} == {
        "nvcr.io/nvidia/ai-dynamo/sglang-runtime:1.6.1"
    }
    assert _main(components["Frontend"])["command"] == ["python3"]
    assert _main(components["Frontend"])["args"] == ["-m", "dynamo.frontend"]
    assert _main(components["decode"])["command"] == ["python3", "-m", "dynamo.sglang"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("version", API_VERSIONS)
def test_replicas_and_gpus_per_worker(
    catalog: Catalog, engine: str, version: str
) -> None:
    agg = _build(catalog, engine, version, replicas=3, gpus_per_worker=4)
    disagg = _build(
        catalog,
        engine,
        version,
        mode="disaggregated",
        prefill_replicas=2,
        decode_replicas=4,
    )

    if version == "v1beta1":
        worker = _components(agg)["worker"]
        assert worker["replicas"] == 3
        assert _main(worker)["resources"]["limits"]["nvidia.com/gpu"] == "4"
        assert _components(disagg)["prefill"]["replicas"] == 2
        assert _components(disagg)["decode"]["replicas"] == 4
    else:
        worker = agg["spec"]["services"]["worker"]
        assert worker["replicas"] == 3
        assert worker["resources"]["limits"]["gpu"] == "4"
        assert disagg["spec"]["services"]["prefill"]["subComponentType"] == "prefill"
        assert disagg["spec"]["services"]["decode"]["replicas"] == 4


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("version", API_VERSIONS)
def test_memory_sets_request_and_limit(
    catalog: Catalog, engine: str, version: str
) -> None:
    plain = _build(catalog, engine, version)
    with_memory = _build(catalog, engine, version, memory="24Gi")

    def resources(manifest: dict[str, Any]) -> dict[str, Any]:
        if version == "v1beta1":
            return _main(_components(manifest)["worker"])["resources"]
        return manifest["spec"]["services"]["worker"]["resources"]

    assert "memory" not in resources(plain)["limits"]
    assert resources(with_memory)["limits"]["memory"] == "24Gi"
    assert resources(with_memory)["requests"]["memory"] == "24Gi"


@pytest.mark.parametrize("engine", ENGINES)
def test_custom_image_with_a_version_tag_needs_no_override(
    catalog: Catalog, engine: str
) -> None:
    manifest = _build(
        catalog, engine, image="registry.local/dynamo/runtime:1.6.1-cuda13"
    )

    for component in manifest["spec"]["components"]:
        assert _main(component)["image"] == "registry.local/dynamo/runtime:1.6.1-cuda13"
        assert "runtimeVersionOverride" not in component


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("version", API_VERSIONS)
@pytest.mark.parametrize(
    "image",
    ["my-registry/runtime:my-tag", "my-registry/runtime", "r.io/x@sha256:" + "a" * 64],
)
def test_custom_image_without_a_version_tag_sets_the_override(
    catalog: Catalog, engine: str, version: str, image: str
) -> None:
    manifest = _build(catalog, engine, version, image=image, dynamo_version="1.5.0")

    components = (
        manifest["spec"].get("components") or manifest["spec"]["services"].values()
    )
    assert {c["runtimeVersionOverride"] for c in components} == {"1.5.0"}


def test_dynamo_version_picks_the_image_tag(catalog: Catalog) -> None:
    manifest = _build(catalog, "trtllm", dynamo_version="1.4.0")

    images = {_main(c)["image"] for c in manifest["spec"]["components"]}

    assert images == {"nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:1.4.0"}


@pytest.mark.parametrize(
    ("model_id", "optional"),
    [("Qwen/Qwen3-0.6B", True), ("meta-llama/Llama-3.2-1B-Instruct", False)],
    ids=["public", "gated"],
)
def test_secret_is_optional_only_for_public_models(
    catalog: Catalog, model_id: str, optional: bool
) -> None:
    manifest = _build(catalog, model_id=model_id)

    refs = [_main(c)["envFrom"][0]["secretRef"] for c in manifest["spec"]["components"]]

    assert len(refs) == 2
    for ref in refs:
        assert ref["name"] == "hf-token-secret"
        assert ref.get("optional", False) is optional


def test_v1alpha1_uses_env_from_secret_for_gated_models(catalog: Catalog) -> None:
    gated = _build(
        catalog, version="v1alpha1", model_id="meta-llama/Llama-3.2-1B-Instruct"
    )
    public = _build(catalog, version="v1alpha1")

    for service in gated["spec"]["services"].values():
        assert service["envFromSecret"] == "hf-token-secret"
        assert "envFrom" not in service["extraPodSpec"]["mainContainer"]
    for service in public["spec"]["services"].values():
        assert "envFromSecret" not in service
        ref = service["extraPodSpec"]["mainContainer"]["envFrom"][0]["secretRef"]
        assert ref == {"name": "hf-token-secret", "optional": True}


@pytest.mark.parametrize("version", API_VERSIONS)
def test_no_secret_name_references_no_secret(catalog: Catalog, version: str) -> None:
    manifest = _build(catalog, version=version, hf_secret_name="")

    text = json.dumps(manifest)

    assert "secretRef" not in text
    assert "envFromSecret" not in text


def test_labels_and_annotations(catalog: Catalog) -> None:
    config = _config(catalog, "sglang", mode="disaggregated", router_mode="kv")

    metadata = build_graph_deployment(config, catalog.get(config.model_id))["metadata"]

    assert metadata["name"] == "qwen3-sglang"
    assert metadata["namespace"] == "dynamo"
    assert metadata["labels"] == {"app.kubernetes.io/managed-by": "dynamote"}
    annotations = metadata["annotations"]
    assert annotations["dynamote.io/model"] == "Qwen/Qwen3-0.6B"
    assert annotations["dynamote.io/engine"] == "sglang"
    assert annotations["dynamote.io/mode"] == "disaggregated"
    assert annotations["dynamote.io/router-mode"] == "kv"
    assert (
        validate_config(json.loads(annotations["dynamote.io/config"]), catalog)
        == config
    )


def _has_none(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_none(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_none(item) for item in value)
    return value is None


def test_yaml_has_a_stable_readable_order_and_no_nulls(catalog: Catalog) -> None:
    manifest = _build(catalog)
    manifest["extra"] = None

    text = render_manifest_yaml(manifest)

    assert list(yaml.safe_load(text)) == ["apiVersion", "kind", "metadata", "spec"]
    assert not _has_none(yaml.safe_load(text))
    assert render_manifest_yaml(manifest) == text


def test_json_rendering_matches_the_yaml(catalog: Catalog) -> None:
    manifest = _build(catalog, "trtllm", mode="disaggregated", enforce_eager=True)

    as_json = json.loads(render_manifest_json(manifest))

    assert as_json == yaml.safe_load(render_manifest_yaml(manifest))
    assert list(as_json) == ["apiVersion", "kind", "metadata", "spec"]


def test_kubectl_commands(catalog: Catalog) -> None:
    config = _config(catalog, served_model_name="chat")

    commands = kubectl_commands(config)

    assert commands.apply == "kubectl apply -f qwen3-vllm.yaml -n dynamo"
    assert (
        commands.port_forward
        == "kubectl port-forward svc/qwen3-vllm-frontend 8000:8000 -n dynamo"
    )
    assert commands.create_secret == (
        "kubectl create secret generic hf-token-secret "
        "--from-literal=HF_TOKEN=<your token> -n dynamo"
    )
    assert commands.get_pods == (
        "kubectl get pods -n dynamo "
        "-l nvidia.com/dynamo-graph-deployment-name=qwen3-vllm"
    )
    assert "localhost:8000/v1/chat/completions" in commands.curl
    assert '"model": "chat"' in commands.curl
    assert commands.as_list()[0] == commands.create_secret


def test_kubectl_commands_without_a_secret(catalog: Catalog) -> None:
    commands = kubectl_commands(_config(catalog, hf_secret_name=None))

    assert commands.create_secret is None
    assert all("secret" not in line for line in commands.as_list())


def test_an_invalid_manifest_raises_manifest_error(catalog: Catalog) -> None:
    # a config built without validate_config can still carry what admission refuses
    config = _config(catalog).model_copy(
        update={"image": "registry/runtime:latest", "dynamo_version": "not-a-version"}
    )

    with pytest.raises(ManifestError) as caught:
        build_graph_deployment(config, catalog.get(config.model_id))

    assert any("runtimeVersionOverride" in e.field for e in caught.value.field_errors)
