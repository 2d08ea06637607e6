"""Which cluster the app talks to, and cached access to it.

The sandbox (a simulated cluster on loopback) is used when settings ask for it
or when there is no kubeconfig and no in-cluster service account; one sandbox
serves the whole server process. Clients are cached per (kubeconfig, context).
Cluster reads go through `st.cache_data` keyed by connection and namespace, so
many sessions watching the same namespace cost about the API calls of one.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cachetools
import streamlit as st

from dynamote_core.config import DeploymentConfig
from dynamote_core.errors import ConfigError, DynamoteError
from dynamote_core.settings import AppSettings, load_settings
from ui import models, storage

if TYPE_CHECKING:
    from dynamote_core import chat

# The modules that talk to the cluster load the kubernetes client (about a
# second on a 2-core machine), so each function here imports them when it
# first runs: a server's first Catalog draws its cards before that happens.

log = logging.getLogger(__name__)

# Seconds per simulated operator step: slow enough that the demo shows progress.
# Without discovery (cluster unreachable, setting "auto"), previews use the newest API.
FALLBACK_API_VERSION = "v1beta1"
STATUS_TTL_SECONDS = 5
# The details fragment reruns every refresh; one /v1/models probe per few seconds.
SERVING_TTL_SECONDS = 3


def _read_shared_ttl() -> float:
    # Decorators need the TTL at import; a bad environment is reported elsewhere.
    # Just under one refresh period: each page refresh sees at most one fetch in
    # flight, however many sessions refresh, and data is never older than that.
    try:
        return max(1.0, load_settings().refresh_seconds * 0.8)
    except ConfigError:
        return 8.0


def shared_read(
    ttl: float, *, serve_stale_for: float = 0.0
) -> Callable[[Callable[..., Any]], Any]:
    """Cache a cluster read for every session of this server, one fetch at a time.

    With st.cache_data, sessions that miss together all fetch: 20 sessions on the
    Deployments page refresh in step and sent 13x the API requests of one.
    cachetools' `condition` makes them wait for the single fetch in flight.
    Results are shared objects: callers read them and never change them.

    With `serve_stale_for`, a value past its `ttl` is still returned for that many
    more seconds while one background thread fetches a fresh one, so a page never
    waits on the cluster for a read it made moments ago. A failed refresh drops
    the value: the next read fetches in line and shows the error.
    """

    def decorate(func: Callable[..., Any]) -> Any:
        condition = threading.Condition()
        cache: cachetools.TTLCache[Any, Any] = cachetools.TTLCache(
            256, ttl + serve_stale_for
        )

        # Bumped by cache_clear; a refresh that started before a clear is dropped.
        state = {"generation": 0}
        refreshing: set[Any] = set()
        name = getattr(func, "__name__", repr(func))

        def fetch_stamped(*args: Any) -> tuple[float, int, Any]:
            generation = state["generation"]
            return time.monotonic(), generation, func(*args)

        cached = cachetools.cached(cache, lock=condition, condition=condition)(
            fetch_stamped
        )

        def refresh(key: Any, args: tuple[Any, ...]) -> None:
            try:
                fresh = fetch_stamped(*args)
            except Exception as error:  # the next read fetches in line and shows it
                log.debug("Background refresh of %s failed: %s", name, error)
                fresh = None
            with condition:
                refreshing.discard(key)
                if fresh is not None and fresh[1] == state["generation"]:
                    cache[key] = fresh
                elif fresh is None:
                    cache.pop(key, None)

        def start_refresh(args: tuple[Any, ...]) -> None:
            key = cachetools.keys.hashkey(*args)
            with condition:
                if key in refreshing:
                    return
                refreshing.add(key)
            threading.Thread(
                target=refresh, args=(key, args), name="dynamote-refresh", daemon=True
            ).start()

        @functools.wraps(func)
        def read(*args: Any) -> Any:
            fetched_at, _, value = cached(*args)
            if serve_stale_for and time.monotonic() - fetched_at > ttl:
                start_refresh(args)
            return value

        def cache_clear() -> None:
            with condition:
                state["generation"] += 1
                cache.clear()

        read.cache_clear = cache_clear  # type: ignore[attr-defined]
        return read

    return decorate


@dataclass(frozen=True)
class Connection:
    """Where this session's cluster calls go, and with which settings."""

    kubeconfig: str | None
    context: str | None
    in_cluster: bool
    is_sandbox: bool
    namespace: str
    hf_secret: str
    api_version_setting: str

    @property
    def client_key(self) -> tuple[str | None, str | None, bool]:
        return (self.kubeconfig, self.context, self.in_cluster)


@st.cache_resource(show_spinner=False)
def get_app_settings() -> AppSettings:
    """The process settings from environment variables, read once."""
    return load_settings()


def sandbox_options(settings: AppSettings) -> tuple[float, bool]:
    """The sandbox's operator speed, and whether real Dynamo processes serve it.

    `auto` uses the Dynamo runtime when scripts/install_dynamo_runtime put it in
    place, so the demo's Try it tab talks to the real frontend.
    """
    dynamo = settings.sandbox_dynamo == "on"
    if settings.sandbox_dynamo == "auto":
        dynamo = is_dynamo_runtime_available()
    return settings.sandbox_speed, dynamo


@st.cache_resource(show_spinner=False)
def is_dynamo_runtime_available() -> bool:
    """Whether the Dynamo runtime is installed; probed once per process.

    The probe starts that runtime's interpreter (~100 ms): once per page run, it
    was most of the time the sidebar took.
    """
    from dynamote_core.sandbox.dynamo_runtime import DynamoRuntime

    return DynamoRuntime().is_available()


@st.cache_resource(show_spinner="Starting the sandbox cluster…")
def start_sandbox(speed: float, dynamo: bool = False) -> tuple[Any, str]:
    """Start the process's one sandbox; returns it and its kubeconfig path."""
    from dynamote_core.sandbox import Sandbox

    # A test-and-demo knob: the secrets check plants a token it can search for.
    hf_token = os.environ.get("DYNAMOTE_SANDBOX_HF_TOKEN") or None
    sandbox = Sandbox(
        port=0, speed=speed, hf_token=hf_token, dynamo_runtime=dynamo
    ).start()
    directory = Path(tempfile.mkdtemp(prefix="dynamote-sandbox-"))
    # Streamlit exits normally on Ctrl+C or SIGTERM, so atexit runs.
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    kubeconfig = sandbox.write_kubeconfig(directory / "kubeconfig")
    log.info("Sandbox cluster started at %s (kubeconfig %s)", sandbox.url, kubeconfig)
    return sandbox, str(kubeconfig)


def start_app_sandbox() -> tuple[Any, str]:
    """The sandbox this process's settings ask for (started once, then cached)."""
    return start_sandbox(*sandbox_options(get_app_settings()))


def resolve_connection() -> Connection:
    """This session's connection: the sandbox or a kubeconfig context."""
    settings = get_app_settings()
    chosen = storage.current_settings()
    common = {
        "namespace": chosen.namespace,
        "hf_secret": chosen.hf_secret,
        "api_version_setting": chosen.api_version,
    }
    if settings.is_sandbox_wanted():
        _, kubeconfig = start_app_sandbox()
        return Connection(kubeconfig, None, False, True, **common)

    has_kubeconfig = any(path.is_file() for path in settings.kubeconfig_paths())
    in_cluster = settings.in_cluster and not has_kubeconfig
    context = chosen.kube_context or settings.kube_context
    return Connection(settings.kubeconfig, context, in_cluster, False, **common)


@st.cache_resource(show_spinner=False)
def _get_api_client(
    kubeconfig: str | None, context: str | None, in_cluster: bool
) -> Any:
    from dynamote_core import kube

    return kube.new_api_client(
        kubeconfig=kubeconfig, context=context, in_cluster=in_cluster
    )


def get_api_client(connection: Connection) -> Any:
    """The cached ApiClient for the connection's kubeconfig and context."""
    return _get_api_client(*connection.client_key)


def list_kube_contexts() -> tuple[list[str], str | None]:
    """Context names of the kubeconfig the app would use, and the current one."""
    from dynamote_core import kube

    settings = get_app_settings()
    if settings.is_sandbox_wanted():
        _, kubeconfig = start_app_sandbox()
        return kube.list_contexts(kubeconfig)
    return kube.list_contexts(settings.kubeconfig)


# The sidebar shows the cluster's facts on every page's first run: they change
# slowly, so a page shows the last ones at once while a fresh read runs behind it.
@shared_read(ttl=_read_shared_ttl(), serve_stale_for=60)
def _fetch_cluster_status(
    kubeconfig: str | None,
    context: str | None,
    in_cluster: bool,
    namespace: str,
    hf_secret: str,
    api_version_setting: str,
) -> Any:
    from dynamote_core import cluster

    client = _get_api_client(kubeconfig, context, in_cluster)
    return cluster.get_cluster_status(client, namespace, hf_secret, api_version_setting)


def fetch_cluster_status(connection: Connection) -> Any:
    """The connection's ClusterStatus, shared across sessions for a few seconds."""
    return _fetch_cluster_status(
        *connection.client_key,
        connection.namespace,
        connection.hf_secret,
        connection.api_version_setting,
    )


def resolve_api_version(connection: Connection, status: Any | None) -> str:
    """The DGD API version to use: discovered, chosen, or the newest as fallback."""
    if status is not None and getattr(status, "api_version", None):
        return str(status.api_version)
    if connection.api_version_setting != "auto":
        return connection.api_version_setting
    return FALLBACK_API_VERSION


@shared_read(ttl=_read_shared_ttl())
def _fetch_deployments(
    kubeconfig: str | None,
    context: str | None,
    in_cluster: bool,
    namespace: str,
    api_version: str,
) -> list[Any]:
    from dynamote_core import deployments

    client = _get_api_client(kubeconfig, context, in_cluster)
    return deployments.list_deployments(client, namespace, api_version)


def fetch_deployments(connection: Connection, api_version: str) -> list[Any]:
    """Deployments in the connection's namespace, shared across sessions briefly."""
    return _fetch_deployments(*connection.client_key, connection.namespace, api_version)


@shared_read(ttl=1)
def _fetch_details(
    kubeconfig: str | None,
    context: str | None,
    in_cluster: bool,
    namespace: str,
    name: str,
    api_version: str,
) -> Any:
    from dynamote_core import deployments

    client = _get_api_client(kubeconfig, context, in_cluster)
    return deployments.get_deployment_details(client, namespace, name, api_version)


def fetch_deployment_details(
    connection: Connection, name: str, api_version: str
) -> Any:
    """One deployment's details (cached for a second against double renders)."""
    return _fetch_details(
        *connection.client_key, connection.namespace, name, api_version
    )


@shared_read(ttl=SERVING_TTL_SECONDS)
def _summarize_serving(
    kubeconfig: str | None,
    context: str | None,
    in_cluster: bool,
    namespace: str,
    name: str,
    model: str,
    deployment_status: str,
) -> chat.ServingSummary:
    # The summary, not the ServingState: its ClusterError does not survive pickling.
    from dynamote_core import chat

    client = _get_api_client(kubeconfig, context, in_cluster)
    state = chat.check_serving(client, namespace, name, model)
    return chat.summarize_serving(deployment_status, model, state)


def summarize_serving(
    connection: Connection, name: str, model: str, deployment_status: str
) -> chat.ServingSummary:
    """Whether the frontend lists the model (never raises); reused for a few seconds."""
    return _summarize_serving(
        *connection.client_key, connection.namespace, name, model, deployment_status
    )


def peek_cluster_status(connection: Connection) -> Any | None:
    """The cluster status when the cluster answers, else None (never raises)."""
    try:
        status = fetch_cluster_status(connection)
    except DynamoteError as error:
        log.debug("No cluster status: %s", error)
        return None
    return status if status.reachable else None


@st.cache_data(ttl=STATUS_TTL_SECONDS, show_spinner="Running pre-flight checks…")
def _run_preflight(
    kubeconfig: str | None,
    context: str | None,
    in_cluster: bool,
    config_json: str,
    model_id: str,
    api_version: str,
) -> list[Any]:
    from dynamote_core import deployments

    client = _get_api_client(kubeconfig, context, in_cluster)
    config = DeploymentConfig.model_validate_json(config_json)
    model = models.find_model(model_id)
    return deployments.run_preflight(client, config, model, api_version)


def run_preflight_checks(
    connection: Connection, config: DeploymentConfig, model_id: str, api_version: str
) -> list[Any]:
    """Pre-flight checks for a config, reused for a few seconds."""
    return _run_preflight(
        *connection.client_key, config.model_dump_json(), model_id, api_version
    )


def forget_cluster_reads() -> None:
    """Drop cached cluster reads, after a write or when the user asks to retry."""
    _run_preflight.clear()
    _fetch_cluster_status.cache_clear()
    _fetch_deployments.cache_clear()
    _fetch_details.cache_clear()
    _summarize_serving.cache_clear()
