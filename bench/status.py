"""Benchmark part 3: the Deployments status table, `list_deployments` over N DGDs.

The headline runs the sandbox in a process of its own, as a real API server runs
apart from the app: the server's JSON encoding and the client's parsing then do not
share one interpreter lock. The same table with the sandbox inside the benchmark's
process is kept next to it for comparison, with the client-side work alone.

In both, the DGDs are created through the API as Dynamote creates them, and the
simulated operator is paused once every DGD is Running: a real operator runs
elsewhere, and the simulated one's ticks would otherwise compete with the server.
`bench.run` calls `bench_status_table`, and borrows `fill_deployments` to fill the
sandbox of its sessions part.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, CustomObjectsApi

from bench.timing import Row, median_ms, p99_ms
from dynamote_core import cluster, deployments
from dynamote_core.catalog import Model, load_catalog
from dynamote_core.config import DeploymentConfig
from dynamote_core.deployments import Deployment, list_deployments
from dynamote_core.kube import new_api_client
from dynamote_core.manifest import build_graph_deployment
from dynamote_core.sandbox import CONTEXT, Sandbox

NAMESPACE = "dynamo-system"
API_VERSION = "v1beta1"
MODEL_ID = "Qwen/Qwen3-0.6B"
PODS_PER_DGD = 4  # disaggregated with two decode workers: frontend, prefill, 2 decode
SMALL_COUNT = 10
SETTLE_SECONDS = 600.0


def bench_status_table(count: int, rounds: int) -> list[Row]:
    """Time the status table for `count` DGDs, over `rounds` refreshes each way."""
    model = load_catalog().get(MODEL_ID)
    with sandbox_process(_nodes_for(count)) as remote:
        client = new_api_client(str(remote.kubeconfig), CONTEXT)
        per_refresh = count_requests_per_refresh(client, model, remote, count)
        remote.pause_operator()
        apart, table = time_refreshes(client, rounds)
        derive = time_derive_only(client, rounds)
    in_process = time_in_process(model, count, rounds)
    pods = sum(len(row.pods) for row in table)
    return [
        (
            f"Status table: {len(table)} DGDs, {pods} pods (sandbox in its own "
            f"process, {rounds} refreshes)",
            f"median {median_ms(apart):.0f} ms, p99 {p99_ms(apart):.0f} ms",
            "target < 300 ms",
        ),
        (
            "  same, sandbox inside the benchmark's process",
            f"median {median_ms(in_process):.0f} ms, p99 {p99_ms(in_process):.0f} ms",
            "server and client share one interpreter",
        ),
        (
            "  of which deriving the table from the two answers",
            f"median {median_ms(derive):.0f} ms",
            "the rest is the two API calls",
        ),
        (
            "API requests per refresh",
            ", ".join(f"{n} DGDs: {r}" for n, r in per_refresh.items()),
            "target: constant",
        ),
    ]


def _nodes_for(count: int) -> str:
    # Three GPUs per DGD; 8-GPU nodes for two DGDs each leave room to spare.
    return f"{max(count // 2, 1)}x8xA100-80"


# ------------------------------------------------------------ measurements


def count_requests_per_refresh(
    client: ApiClient, model: Model, remote: RemoteSandbox, count: int
) -> dict[int, int]:
    """Requests one refresh sends with SMALL_COUNT DGDs, then with `count`."""
    per_refresh: dict[int, int] = {}
    created = 0
    for target in (SMALL_COUNT, count):
        created = fill_deployments(client, model, created, target)
        wait_until_running(client, target)
        before = remote.request_count()
        list_deployments(client, NAMESPACE, API_VERSION)
        per_refresh[target] = remote.request_count() - before
    return per_refresh


def time_refreshes(
    client: ApiClient, rounds: int
) -> tuple[list[float], list[Deployment]]:
    """Seconds per `list_deployments`, after one untimed refresh to warm up."""
    table = list_deployments(client, NAMESPACE, API_VERSION)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        table = list_deployments(client, NAMESPACE, API_VERSION)
        samples.append(time.perf_counter() - start)
    return samples, table


def time_derive_only(client: ApiClient, rounds: int) -> list[float]:
    """Time the client-side work alone: grouping pods and summarizing each DGD."""
    dgds = cluster.list_graph_deployments(client, NAMESPACE, API_VERSION)
    pods = deployments._list_dgd_pods(client, NAMESPACE, None)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        grouped = deployments._group_pods(pods)
        now = deployments._now()
        for dgd in dgds:
            deployments.summarize_deployment(
                dgd, grouped.get(cluster.object_name(dgd), []), now
            )
        samples.append(time.perf_counter() - start)
    return samples


def time_in_process(model: Model, count: int, rounds: int) -> list[float]:
    """The same refreshes with the sandbox's server in this very process."""
    with (
        Sandbox(nodes=_nodes_for(count), speed=0.05) as sandbox,
        tempfile.TemporaryDirectory() as tmp,
    ):
        kubeconfig = sandbox.write_kubeconfig(Path(tmp) / "kubeconfig")
        client = new_api_client(str(kubeconfig), CONTEXT)
        fill_deployments(client, model, 0, count)
        wait_until_running(client, count)
        sandbox.operator.stop()
        samples, _ = time_refreshes(client, rounds)
    return samples


# ------------------------------------------------------------ filling


def fill_deployments(client: ApiClient, model: Model, start: int, stop: int) -> int:
    """Create DGDs bench-<start>..bench-<stop - 1> through the API; returns `stop`.

    Each is disaggregated vLLM with two decode workers, so 4 pods, built and
    validated as Dynamote builds them. Not timed.
    """
    api = CustomObjectsApi(client)
    for index in range(start, stop):
        config = DeploymentConfig(
            name=f"bench-{index:04d}",
            namespace=NAMESPACE,
            model_id=model.id,
            engine="vllm",
            mode="disaggregated",
            decode_replicas=2,
        )
        manifest = build_graph_deployment(config, model, API_VERSION)
        api.create_namespaced_custom_object(
            "nvidia.com", API_VERSION, NAMESPACE, "dynamographdeployments", manifest
        )
    return stop


def wait_until_running(client: ApiClient, count: int) -> None:
    """Poll until `count` DGDs with all their pods are Running; raise after a while.

    Timing a table still rolling out would measure a moving target (and, in the
    same process, an operator writing at full speed).
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        table = list_deployments(client, NAMESPACE, API_VERSION)
        running = [row for row in table if row.status == "Running"]
        pods = sum(len(row.pods) for row in running)
        if len(running) >= count and pods >= count * PODS_PER_DGD:
            return
        time.sleep(0.5)
    raise TimeoutError(f"{count} DGDs were not all Running in {SETTLE_SECONDS:.0f} s")


# ------------------------------------------------------------ the sandbox apart


class RemoteSandbox:
    """A sandbox served by a child process, steered over a pipe."""

    def __init__(self, kubeconfig: Path, commands: Connection) -> None:
        self.kubeconfig = kubeconfig
        self._commands = commands

    def request_count(self) -> int:
        return int(self._ask("request-count"))

    def pause_operator(self) -> None:
        self._ask("pause-operator")

    def _ask(self, command: str) -> Any:
        self._commands.send(command)
        return self._commands.recv()


@contextmanager
def sandbox_process(nodes: str, speed: float = 0.05) -> Iterator[RemoteSandbox]:
    """Run a `Sandbox` in a fresh interpreter (spawned, not forked) until exit.

    `python -m dynamote_core.sandbox` serves the same `Sandbox`, but offers no way
    to pause the operator or count requests, which the benchmark needs.
    """
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    with tempfile.TemporaryDirectory() as tmp:
        kubeconfig = Path(tmp) / "kubeconfig"
        child = spawn.Process(
            target=serve_sandbox, args=(nodes, speed, str(kubeconfig), theirs)
        )
        child.start()
        try:
            if not ours.poll(60) or ours.recv() != "ready":
                raise RuntimeError("the sandbox process did not start")
            yield RemoteSandbox(kubeconfig, ours)
        finally:
            ours.send("stop")
            child.join(timeout=20)
            if child.is_alive():
                child.terminate()


def serve_sandbox(nodes: str, speed: float, kubeconfig: str, commands: Any) -> None:
    """The child process: serve a sandbox and answer the parent's commands."""
    with Sandbox(nodes=nodes, speed=speed) as sandbox:
        sandbox.write_kubeconfig(kubeconfig)
        commands.send("ready")
        while (command := commands.recv()) != "stop":
            if command == "pause-operator":
                sandbox.operator.stop()
                commands.send("paused")
            elif command == "request-count":
                commands.send(sandbox.request_count)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.status`: this part alone, printed, no report written."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--count", type=int, default=500, help="DGDs to list")
    parser.add_argument("--rounds", type=int, default=5, help="timed refreshes")
    arguments = parser.parse_args(argv)
    for row in bench_status_table(arguments.count, arguments.rounds):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
