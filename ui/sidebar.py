"""The connection panel shown in the sidebar of every page."""

from __future__ import annotations

import streamlit as st

from dynamote_core.errors import DynamoteError
from ui import connection, state
from ui.render import escape_markdown


def render_connection_panel() -> None:
    """Connected or not, context, namespace, API version, and the sandbox badge."""
    with st.sidebar:
        st.subheader("Cluster", anchor=False)
        try:
            conn = connection.resolve_connection()
            status = connection.fetch_cluster_status(conn)
        except DynamoteError as error:
            _render_unreachable(str(error))
            return

        if conn.is_sandbox:
            st.badge(
                "Sandbox (simulated cluster)", icon=":material/science:", color="orange"
            )
        if not status.reachable:
            problem = (
                status.problems[0]
                if status.problems
                else "The API server did not answer."
            )
            _render_unreachable(str(problem))
        else:
            st.badge("Connected", icon=":material/check_circle:", color="green")
        _render_facts(conn, status)


def _render_facts(conn: connection.Connection, status: object) -> None:
    context = getattr(status, "context", None) or conn.context or _current_context()
    api_version = connection.resolve_api_version(
        conn, status if _is_reachable(status) else None
    )
    lines = [
        f"Context: {context}",
        f"Namespace: {conn.namespace}",
        f"Dynamo API: nvidia.com/{api_version}",
    ]
    server_version = getattr(status, "server_version", None)
    if server_version:
        lines.append(f"Kubernetes: {server_version}")
    for line in lines:
        st.caption(escape_markdown(line))


def _current_context() -> str:
    try:
        _, current = connection.list_kube_contexts()
    except DynamoteError:
        return "unknown"
    return current or "unknown"


def _is_reachable(status: object) -> bool:
    return bool(getattr(status, "reachable", False))


def _render_unreachable(problem: str) -> None:
    st.badge("Not connected", icon=":material/cloud_off:", color="red")
    st.caption(escape_markdown(problem))
    if st.button("Retry", key=state.SIDEBAR_RETRY, icon=":material/refresh:"):
        connection.forget_cluster_reads()
        st.rerun()
