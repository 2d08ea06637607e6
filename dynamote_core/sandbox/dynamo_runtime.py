"""The real Dynamo frontend and its mocker engine, run on loopback behind sandbox DGDs.

`DynamoRuntime` starts, per DGD, one `python -m dynamo.frontend` and one
`python -m dynamo.mocker` process per worker replica (or per prefill and decode replica
in a disaggregated graph), all with the interpreter of `.dynamo-venv`, a virtual
environment of their own: `ai-dynamo` pins older libraries than Dynamote uses. The
processes find each other through files (no etcd, no NATS) and advertise only
127.0.0.1. Each graph gets a fresh discovery directory, HOME and log files under one
temporary directory, which `RunningGraph.stop` removes.

Must not: use a shell (argv lists only), listen on anything but 127.0.0.1, outlive
the sandbox (every process runs in its own process group, stopped on `stop`, on
`stop_all` and at interpreter exit), import `kubernetes`. Called by the sandbox's
simulated operator (`dynamote_core.sandbox`) and by the tests.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dynamote_core.errors import DynamoteError
from dynamote_core.sandbox.mocker_model import write_mocker_model

log = logging.getLogger(__name__)

PYTHON_ENV = "DYNAMOTE_DYNAMO_PYTHON"
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PYTHON = REPO_ROOT / ".dynamo-venv" / "bin" / "python"
INSTALL_HINT = (
    "Install it with scripts/install_dynamo_runtime "
    "(or scripts/setup --dev), or point DYNAMOTE_DYNAMO_PYTHON at a Python that has "
    "ai-dynamo 1.6.1."
)
SPEEDUP_RATIO = "100"
STOP_GRACE_SECONDS = 4.0
LOG_TAIL_CHARS = 2000
MAX_PROCESSES_PER_ROLE = 4

Mode = Literal["aggregated", "disaggregated"]


class DynamoRuntimeError(DynamoteError):
    """The Dynamo runtime is missing, or its processes could not start or serve."""


def find_dynamo_python() -> Path:
    """The Dynamo runtime's interpreter: `$DYNAMOTE_DYNAMO_PYTHON` or `.dynamo-venv`."""
    override = os.environ.get(PYTHON_ENV)
    return Path(override) if override else DEFAULT_PYTHON


def find_free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class GraphProcess:
    """One started program of a graph: its role, its `Popen` and its log file."""

    role: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def read_log_tail(self) -> str:
        """The end of the process's combined stdout and stderr."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:]


@dataclass
class RunningGraph:
    """A frontend and its mocker workers serving one DGD on loopback.

    Attributes:
        url: the frontend's base URL, e.g. `http://127.0.0.1:41234`.
        processes: the frontend first, then the workers.
    """

    namespace: str
    dgd_name: str
    served_model_name: str
    url: str
    workdir: Path
    mode: Mode = "aggregated"
    processes: list[GraphProcess] = field(default_factory=list)
    _stopped: bool = False
    _answered: bool = False

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def is_running(self) -> bool:
        """True while every process of the graph is alive."""
        return bool(self.processes) and all(p.is_alive() for p in self.processes)

    def list_models(self, timeout: float = 1.0) -> list[str]:
        """The model ids on the frontend's `/v1/models`; empty if it does not answer."""
        try:
            with urllib.request.urlopen(  # noqa: S310 - a loopback URL we built
                f"{self.url}/v1/models", timeout=timeout
            ) as response:
                document = json.load(response)
        except (OSError, ValueError):
            return []
        return [str(entry.get("id")) for entry in document.get("data", [])]

    def is_serving(self, timeout: float = 1.0) -> bool:
        """True when the served model is listed on the frontend's `/v1/models`.

        A disaggregated graph must also have answered one request: its model is
        listed as soon as a decode worker registers, but the frontend answers 503
        until it has also picked up the prefill worker.
        """
        if self.served_model_name not in self.list_models(timeout):
            return False
        if self.mode == "disaggregated" and not self._answered:
            self._answered = self.is_answering(timeout)
            return self._answered
        return True

    def is_answering(self, timeout: float = 1.0) -> bool:
        """True when a one-token chat completion succeeds."""
        body = {
            "model": self.served_model_name,
            "messages": [{"role": "user", "content": "ping"}],
            "max_tokens": 1,
        }
        request = urllib.request.Request(  # noqa: S310 - a loopback URL we built
            f"{self.url}/v1/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return bool(response.status == 200)
        except OSError:
            return False

    def wait_until_serving(self, timeout: float = 30.0) -> None:
        """Block until the model is listed.

        Raises:
            DynamoRuntimeError: a process exited, or the model was not listed in time.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_serving():
                return
            self.raise_if_exited()
            time.sleep(0.1)
        raise DynamoRuntimeError(
            f"Model {self.served_model_name!r} of {self.namespace}/{self.dgd_name} was "
            f"not listed on {self.url}/v1/models within {timeout:g} s. "
            f"Logs are in {self.workdir}."
        )

    def raise_if_exited(self) -> None:
        """Raise with the log tail of the first process that has exited."""
        for process in self.processes:
            code = process.popen.poll()
            if code is not None and not self._stopped:
                raise DynamoRuntimeError(
                    f"The Dynamo {process.role} of {self.namespace}/{self.dgd_name} "
                    f"exited with code {code}. Log tail:\n{process.read_log_tail()}"
                )

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop every process: SIGTERM to each process group, SIGKILL after `grace` s.

        Safe to call twice. Removes the graph's temporary directory.
        """
        if self._stopped:
            return
        self._stopped = True
        for process in self.processes:
            signal_process_group(process, signal.SIGTERM)

        deadline = time.monotonic() + grace
        for process in self.processes:
            remaining = max(0.0, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=remaining)

        # A leader that exited may leave children in its group; SIGKILL reaches them.
        for process in self.processes:
            signal_process_group(process, signal.SIGKILL)
            process.popen.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)
        log.info("Stopped Dynamo graph %s/%s", self.namespace, self.dgd_name)


def signal_process_group(process: GraphProcess, signum: signal.Signals) -> None:
    """Send `signum` to the process group the process leads, if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


class DynamoRuntime:
    """Starts and stops Dynamo graphs (frontend + mocker workers) on loopback.

    Thread-safe: the sandbox's server threads may start and stop graphs concurrently.
    """

    def __init__(self, python: Path | None = None) -> None:
        self.python = python if python is not None else find_dynamo_python()
        self._graphs: dict[tuple[str, str], RunningGraph] = {}
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._model_dir: Path | None = None
        self._available: bool | None = None
        atexit.register(self.stop_all)

    def is_available(self) -> bool:
        """True when the interpreter exists and can import the frontend and mocker."""
        if self._available is None:
            self._available = self._probe_interpreter()
        return self._available

    def _probe_interpreter(self) -> bool:
        if not os.access(self.python, os.X_OK):
            return False
        check = (
            "import importlib.util as u, sys; "
            "sys.exit(any(u.find_spec(m) is None for m in "
            "('dynamo.frontend', 'dynamo.mocker')))"
        )
        try:
            result = subprocess.run(
                [str(self.python), "-c", check], capture_output=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0

    def require_available(self) -> None:
        """Raise `DynamoRuntimeError` with install instructions when unavailable."""
        if not self.is_available():
            raise DynamoRuntimeError(
                f"The Dynamo runtime is not installed ({self.python} cannot run "
                f"dynamo.frontend and dynamo.mocker). {INSTALL_HINT}"
            )

    def get_graph(self, namespace: str, dgd_name: str) -> RunningGraph | None:
        """The running graph of a DGD, if any."""
        with self._lock:
            return self._graphs.get((namespace, dgd_name))

    def start_graph(
        self,
        namespace: str,
        dgd_name: str,
        served_model_name: str,
        router_mode: str | None = None,
        workers: int = 1,
        mode: Mode = "aggregated",
        prefill: int = 1,
        decode: int = 1,
    ) -> RunningGraph:
        """Start a frontend and its mocker workers for one DGD; return without waiting.

        A graph already running for the DGD is stopped first, so a changed DGD restarts.

        Args:
            router_mode: the frontend's `--router-mode` (`kv`, `round-robin`, ...);
                None or "none" keeps the frontend's default (round-robin).
            workers: worker processes of an aggregated graph.
            mode: "aggregated" or "disaggregated".
            prefill: prefill worker processes of a disaggregated graph.
            decode: decode worker processes of a disaggregated graph.

        Raises:
            DynamoRuntimeError: the runtime is missing, or a process did not start.
        """
        self.require_available()
        self.stop_graph(namespace, dgd_name)
        workdir = Path(
            tempfile.mkdtemp(prefix=f"graph-{dgd_name}-", dir=self._ensure_root())
        )
        port = find_free_port()
        graph = RunningGraph(
            namespace=namespace,
            dgd_name=dgd_name,
            served_model_name=served_model_name,
            url=f"http://127.0.0.1:{port}",
            workdir=workdir,
            mode=mode,
        )
        env = build_environment(workdir)
        kv = router_mode == "kv"
        try:
            graph.processes.append(
                self._spawn("frontend", frontend_args(port, router_mode), env, workdir)
            )
            for role, args in worker_arg_lists(
                self._ensure_model_dir(),
                served_model_name,
                mode,
                workers,
                prefill,
                decode,
                kv,
            ):
                graph.processes.append(self._spawn(role, args, env, workdir))
        except OSError as error:
            graph.stop()
            raise DynamoRuntimeError(
                f"Could not start Dynamo for {namespace}/{dgd_name}: {error}"
            ) from error

        with self._lock:
            self._graphs[(namespace, dgd_name)] = graph
        log.info(
            "Started Dynamo graph %s/%s on %s (%s, router %s, pids %s)",
            namespace, dgd_name, graph.url, mode, router_mode or "default", graph.pids,
        )  # fmt: skip
        return graph

    def start_graph_for(self, dgd: dict[str, Any]) -> RunningGraph:
        """Start the graph that serves a (v1beta1) DGD; see `read_graph_options`."""
        options = read_graph_options(dgd)
        metadata = dgd.get("metadata") or {}
        return self.start_graph(
            str(metadata.get("namespace") or "default"),
            str(metadata["name"]),
            options.served_model_name,
            router_mode=options.router_mode,
            workers=options.workers,
            mode=options.mode,
            prefill=options.prefill,
            decode=options.decode,
        )

    def stop_graph(self, namespace: str, dgd_name: str) -> None:
        """Stop a DGD's graph, if one runs."""
        with self._lock:
            graph = self._graphs.pop((namespace, dgd_name), None)
        if graph is not None:
            graph.stop()

    def stop_all(self) -> None:
        """Stop every graph and remove the runtime's temporary directory."""
        with self._lock:
            graphs = list(self._graphs.values())
            self._graphs.clear()
        for graph in graphs:
            graph.stop()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
            self._model_dir = None

    def _ensure_root(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="dynamote-dynamo-"))
            return self._root

    def _ensure_model_dir(self) -> Path:
        root = self._ensure_root()
        with self._lock:
            if self._model_dir is None:
                self._model_dir = write_mocker_model(root / "model")
            return self._model_dir

    def _spawn(
        self, role: str, args: list[str], env: dict[str, str], workdir: Path
    ) -> GraphProcess:
        log_path = workdir / f"{role}.log"
        with log_path.open("wb") as log_file:
            popen = subprocess.Popen(
                [str(self.python), *args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=workdir,
                # Its own process group, so stop() reaches anything it forks.
                start_new_session=True,
            )
        return GraphProcess(role=role, popen=popen, log_path=log_path)


def build_environment(workdir: Path) -> dict[str, str]:
    """The environment of a graph's processes: file discovery, loopback, own HOME."""
    home = workdir / "home"
    discovery = workdir / "discovery"
    home.mkdir()
    discovery.mkdir()
    # Inherited DYN_* settings could point the graph at etcd, NATS or another graph.
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("DYN_")
    }
    env.update(
        {
            "DYN_DISCOVERY_BACKEND": "file",
            "DYN_FILE_KV": str(discovery),
            "DYN_TCP_RPC_HOST": "127.0.0.1",
            "DYN_TCP_RESPONSE_STREAM_HOST": "127.0.0.1",
            "DYN_EVENT_PLANE_HOST": "127.0.0.1",
            "DYN_SELF_HOST_METADATA": "0",
            "HOME": str(home),
            "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def frontend_args(port: int, router_mode: str | None) -> list[str]:
    """Arguments after the interpreter for the frontend."""
    args = [
        "-m",
        "dynamo.frontend",
        "--http-host",
        "127.0.0.1",
        "--http-port",
        str(port),
    ]
    if router_mode and router_mode != "none":
        args += ["--router-mode", router_mode]
    return args


@dataclass(frozen=True)
class GraphOptions:
    """What `start_graph` needs, read from a DGD."""

    served_model_name: str
    router_mode: str | None
    mode: Mode
    workers: int
    prefill: int
    decode: int


def read_graph_options(dgd: dict[str, Any]) -> GraphOptions:
    """The served model, router mode and replicas of a DGD in its v1beta1 form.

    The served name is the workers' `--served-model-name`, else their `--model` /
    `--model-path`, else the `dynamote.io/model` annotation, else the DGD's name. The
    router mode is the frontend's `DYN_ROUTER_MODE` env or `--router-mode` argument.
    Replicas are capped at MAX_PROCESSES_PER_ROLE: each mocker costs about 90 MB.
    """
    components = (dgd.get("spec") or {}).get("components") or []
    by_type: dict[str, list[dict[str, Any]]] = {}
    for component in components:
        by_type.setdefault(str(component.get("type") or ""), []).append(component)
    split = bool(by_type.get("prefill") or by_type.get("decode"))
    engines = [*by_type.get("worker", []), *by_type.get("prefill", [])]
    engines += by_type.get("decode", [])
    return GraphOptions(
        served_model_name=find_served_model_name(dgd, engines),
        router_mode=find_router_mode(by_type.get("frontend", [])),
        mode="disaggregated" if split else "aggregated",
        workers=count_replicas(by_type.get("worker", [])),
        prefill=count_replicas(by_type.get("prefill", [])),
        decode=count_replicas(by_type.get("decode", [])),
    )


def main_container(component: dict[str, Any]) -> dict[str, Any]:
    """The container named `main` of a v1beta1 component (empty if missing)."""
    containers = ((component.get("podTemplate") or {}).get("spec") or {}).get(
        "containers"
    ) or []
    return next((c for c in containers if c.get("name") == "main"), {})


def read_flag(args: list[str], *names: str) -> str | None:
    """The value of the first of `names` in an argument list (`--f v` or `--f=v`)."""
    for name in names:
        for index, arg in enumerate(args):
            if arg == name and index + 1 < len(args):
                return args[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def find_served_model_name(dgd: dict[str, Any], workers: list[dict[str, Any]]) -> str:
    for component in workers:
        args = [str(arg) for arg in main_container(component).get("args") or []]
        name = read_flag(args, "--served-model-name") or read_flag(
            args, "--model", "--model-path"
        )
        if name:
            return name
    annotations = (dgd.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get("dynamote.io/model") or dgd["metadata"]["name"])


def find_router_mode(frontends: list[dict[str, Any]]) -> str | None:
    for component in frontends:
        container = main_container(component)
        for variable in container.get("env") or []:
            if variable.get("name") == "DYN_ROUTER_MODE" and variable.get("value"):
                return str(variable["value"])
        args = [str(arg) for arg in container.get("args") or []]
        mode = read_flag(args, "--router-mode")
        if mode:
            return mode
    return None


def count_replicas(components: list[dict[str, Any]]) -> int:
    total = sum(int(c.get("replicas", 1)) for c in components)
    return max(0, min(total, MAX_PROCESSES_PER_ROLE))


def worker_arg_lists(
    model_dir: Path,
    served_model_name: str,
    mode: Mode,
    workers: int,
    prefill: int,
    decode: int,
    kv: bool,
) -> list[tuple[str, list[str]]]:
    """(role, arguments) for each mocker process of a graph, one per replica."""
    base = [
        "-m", "dynamo.mocker",
        "--model-path", str(model_dir),
        "--model-name", served_model_name,
        "--speedup-ratio", SPEEDUP_RATIO,
    ]  # fmt: skip
    if mode == "aggregated":
        return [(f"worker-{i}", list(base)) for i in range(workers)]

    roles: list[tuple[str, list[str]]] = []
    for i in range(prefill):
        args = [*base, "--disaggregation-mode", "prefill"]
        # With the KV router, decode workers meet their prefill worker at this port.
        if kv:
            args += ["--bootstrap-ports", str(find_free_port())]
        roles.append((f"prefill-{i}", args))
    for i in range(decode):
        roles.append((f"decode-{i}", [*base, "--disaggregation-mode", "decode"]))
    return roles


def main() -> None:
    """`python -m dynamote_core.sandbox.dynamo_runtime [MODEL]`: serve one graph."""
    logging.basicConfig(level=logging.INFO)
    runtime = DynamoRuntime()
    graph = runtime.start_graph(
        "default", "demo", sys.argv[1] if len(sys.argv) > 1 else "demo"
    )
    graph.wait_until_serving()
    print(graph.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        signal.pause()
    runtime.stop_all()


if __name__ == "__main__":
    main()
