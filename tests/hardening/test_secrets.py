"""A planted HF token never leaves the cluster's Secret: not in logs, results or errors.

Runs the core flow the pages run (status, pre-flight, deploy, list, details with
events and logs, chat errors, delete) against a sandbox whose hf-token-secret
holds a known token, with every logger at DEBUG, then searches everything.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient
from pydantic import BaseModel

from dynamote_core import chat, deployments, kube
from dynamote_core.catalog import load_catalog
from dynamote_core.cluster import get_cluster_status
from dynamote_core.deployments import (
    delete_deployment,
    deploy,
    get_deployment_details,
    list_deployments,
    run_preflight,
)
from dynamote_core.errors import ClusterError
from dynamote_core.manifest import (
    build_graph_deployment,
    kubectl_commands,
    render_manifest_json,
    render_manifest_yaml,
)
from dynamote_core.sandbox import Sandbox
from tests.fixtures_sandbox import make_deployment_config, wait_until
from tests.hardening.secrets import assert_token_absent, token_forms

TOKEN = "hf_PLANTEDtokenDoNotLeak0123456789"
NAMESPACE = "dynamo-system"


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[tuple[Sandbox, ApiClient]]:
    with Sandbox(speed=0.01, hf_token=TOKEN) as sandbox:
        kubeconfig = sandbox.write_kubeconfig(tmp_path / "kubeconfig")
        client = kube.new_api_client(str(kubeconfig))
        yield sandbox, client
        client.close()


def describe(value: Any) -> str:
    """repr plus JSON of a result, as a page or a log could show it."""
    if isinstance(value, BaseModel):
        return repr(value) + value.model_dump_json()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return repr(value)
    if isinstance(value, list):
        return "".join(describe(item) for item in value)
    return repr(value) + json.dumps(value, default=str)


def error_texts(error: BaseException) -> str:
    parts = [repr(error), str(error)]
    for name in ("remedy", "can_i", "causes", "field_errors"):
        parts.append(repr(getattr(error, name, "")))
    return " ".join(parts)


def test_assert_token_absent_finds_every_form(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "app.log").write_text(f"data: {token_forms(TOKEN)[0]}")

    with pytest.raises(AssertionError) as raised:
        assert_token_absent([tmp_path, "clean text"], TOKEN)

    assert "app.log" in str(raised.value)
    assert_token_absent(["clean", tmp_path / "missing"], TOKEN)


def test_the_planted_token_is_really_in_the_cluster(
    planted: tuple[Sandbox, ApiClient],
) -> None:
    sandbox, _ = planted

    stored = sandbox.store.get("secrets", NAMESPACE, "hf-token-secret")

    with pytest.raises(AssertionError):
        assert_token_absent([json.dumps(stored)], TOKEN)


def test_the_core_flow_never_shows_the_token(
    planted: tuple[Sandbox, ApiClient],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox, api = planted
    monkeypatch.setattr(deployments, "CREATE_CHECK_DELAYS", (0.1,))
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    catalog = load_catalog()

    for model_id, name, fail in [
        ("Qwen/Qwen3-0.6B", "public", "crash-loop"),
        ("meta-llama/Llama-3.2-1B-Instruct", "gated", None),
    ]:
        config = make_deployment_config(name, NAMESPACE, model_id)
        model = catalog.get(model_id)
        seen.append(describe(get_cluster_status(api, NAMESPACE, config.hf_secret_name)))
        seen.append(describe(run_preflight(api, config, model, "v1beta1")))
        for api_version in ("v1beta1", "v1alpha1"):
            manifest = build_graph_deployment(config, model, api_version)
            seen += [render_manifest_yaml(manifest), render_manifest_json(manifest)]
        seen.append(describe(kubectl_commands(config).as_list()))
        manifest = build_graph_deployment(config, model, "v1beta1")
        if fail:
            manifest["metadata"]["annotations"]["sandbox.dynamote.io/fail"] = fail
        seen.append(describe(deploy(api, manifest, "v1beta1")))

    wait_until(lambda: details_with_logs(api), timeout=10)
    seen.append(describe(list_deployments(api, NAMESPACE, "v1beta1")))
    for name in ("public", "gated"):
        seen.append(describe(get_deployment_details(api, NAMESPACE, name, "v1beta1")))
        seen.append(describe(chat.check_serving(api, NAMESPACE, name, "x")))
        seen += collect_errors(api, sandbox, name)
        delete_deployment(api, NAMESPACE, name, "v1beta1")

    seen += [record.getMessage() for record in caplog.records]
    seen += [logging.Formatter().format(record) for record in caplog.records]
    assert len(seen) > 30
    assert_token_absent(seen, TOKEN)


def details_with_logs(api: ApiClient) -> bool:
    found = get_deployment_details(api, NAMESPACE, "public", "v1beta1")
    return bool(found.events) and any(len(e.evidence) > 1 for e in found.explanations)


def collect_errors(api: ApiClient, sandbox: Sandbox, name: str) -> list[str]:
    """Every error a page could show for this deployment, as text."""
    texts: list[str] = []
    attempts = [
        lambda: chat.list_served_models(api, NAMESPACE, name),
        lambda: list(
            chat.stream_chat(
                api, NAMESPACE, name, "x", [{"role": "user", "content": "hi"}], 8, 0
            )
        ),
        lambda: deploy_again(api, name),
        lambda: get_deployment_details(api, NAMESPACE, name + "-missing", "v1beta1"),
    ]
    sandbox.deny("get", "secrets")
    attempts.append(lambda: kube_secret_probe(api))
    for attempt in attempts:
        try:
            attempt()
        except ClusterError as error:
            texts.append(error_texts(error))
    sandbox.allow_all()
    assert len(texts) >= 4
    return texts


def deploy_again(api: ApiClient, name: str) -> None:
    existing = get_deployment_details(api, NAMESPACE, name, "v1beta1").manifest
    manifest = {
        "apiVersion": existing["apiVersion"],
        "kind": existing["kind"],
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": existing["spec"],
    }
    deploy(api, manifest, "v1beta1")


def kube_secret_probe(api: ApiClient) -> bool:
    from dynamote_core.cluster import has_secret

    return has_secret(api, NAMESPACE, "hf-token-secret")
