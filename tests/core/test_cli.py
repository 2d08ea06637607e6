"""Tests for `python -m dynamote_core`: output, options, and field errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dynamote_core.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def test_render_prints_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["render", "--model", "Qwen/Qwen3-0.6B", "--engine", "vllm"])

    out = capsys.readouterr().out
    manifest = yaml.safe_load(out)
    assert status == 0
    assert out.startswith(
        "apiVersion: nvidia.com/v1beta1\nkind: DynamoGraphDeployment\n"
    )
    assert manifest["metadata"]["name"] == "qwen3-0-6b-vllm"
    assert manifest["metadata"]["namespace"] == "default"


def test_render_passes_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "render",
        "--model",
        "Qwen/Qwen3-0.6B",
        "--engine",
        "sglang",
        "--mode",
        "disaggregated",
        "--router",
        "kv",
        "--api-version",
        "v1alpha1",
        "--name",
        "chat",
        "--namespace",
        "llm",
        "--served-model-name",
        "chat-model",
        "--prefill-replicas",
        "2",
        "--decode-replicas",
        "3",
        "--hf-secret",
        "",
        "--context-length",
        "8192",
        "--enforce-eager",
        "--no-prefix-caching",
        "--trust-remote-code",
        "--engine-args",
        "max-running-requests: 8",
        "--gpus-per-worker",
        "2",
        "--memory",
        "32Gi",
        "--dynamo-version",
        "1.4.0",
        "--image",
        "my/runtime:custom",
        "--output",
        "json",
    ]

    status = main(argv)

    manifest = json.loads(capsys.readouterr().out)
    assert status == 0
    services = manifest["spec"]["services"]
    decode = services["decode"]
    args = decode["extraPodSpec"]["mainContainer"]["args"]
    assert manifest["apiVersion"] == "nvidia.com/v1alpha1"
    assert manifest["metadata"] == manifest["metadata"] | {
        "name": "chat",
        "namespace": "llm",
    }
    assert services["Frontend"]["envs"] == [{"name": "DYN_ROUTER_MODE", "value": "kv"}]
    assert decode["replicas"] == 3 and services["prefill"]["replicas"] == 2
    assert decode["resources"]["limits"] == {"gpu": "2", "memory": "32Gi"}
    assert decode["runtimeVersionOverride"] == "1.4.0"
    assert "envFromSecret" not in decode
    for flag in [
        "--served-model-name",
        "chat-model",
        "--context-length",
        "8192",
        "--disable-cuda-graph",
        "--disable-radix-cache",
        "--trust-remote-code",
        "--tp",
        "2",
        "--max-running-requests",
        "8",
    ]:
        assert flag in args


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--engine", "tgi"], "--engine: 'tgi' is not one of"),
        (["--engine", "vllm", "--replicas", "0"], "--replicas: 0 is too small"),
        (["--engine", "vllm", "--replicas", "9"], "--replicas: 9 is too large"),
        (["--engine", "vllm", "--context-length", "-1"], "--context-length: -1"),
        (["--engine", "vllm", "--context-length", "lots"], "--context-length: 'lots'"),
        (["--engine", "vllm", "--name", "Bad_Name"], "--name: 'Bad_Name'"),
        (["--engine", "vllm", "--engine-args", "[1]"], "--engine-args:"),
        (
            ["--engine", "vllm", "--engine-args", "model: x"],
            "--model is set by Dynamote",
        ),
        (["--engine", "vllm", "--api-version", "v2"], "--api-version: 'v2'"),
    ],
    ids=[
        "engine",
        "replicas-0",
        "replicas-9",
        "ctx-negative",
        "ctx-text",
        "name",
        "args-list",
        "args-managed",
        "api-version",
    ],
)
def test_bad_arguments_exit_non_zero_with_field_messages(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    status = main(["render", "--model", "Qwen/Qwen3-0.6B", *extra])

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert message in captured.err
    assert "Traceback" not in captured.err


def test_unknown_model_is_a_field_error(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["render", "--model", "acme/none", "--engine", "vllm", "--name", "x"])

    assert status == 2
    assert "--model: 'acme/none' is not in the catalog" in capsys.readouterr().err


def test_a_broken_catalog_exits_with_its_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "catalog.json"
    broken.write_text("{")

    status = main(
        ["render", "--model", "a/b", "--engine", "vllm", "--catalog", str(broken)]
    )

    assert status == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_module_runs_as_a_program() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dynamote_core",
            "render",
            "--model",
            "Qwen/Qwen3-0.6B",
            "--engine",
            "trtllm",
            "--replicas",
            "9",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )

    assert result.returncode == 2
    assert "--replicas: 9 is too large" in result.stderr
    assert "Traceback" not in result.stderr
