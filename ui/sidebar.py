"""The connection panel shown in the sidebar of every page."""

from __future__ import annotations

import streamlit as st

from dynamote_core.errors import DynamoteError
from ui import connection, state
from ui.render import escape_markdown


def render_connection_panel() -> None:
    """Connected or not, context, namespace, API version, and the sandbox badge.

    One markdown element when the cluster answers: the panel is drawn on every
    page's first run, and each element costs the browser time before the page
    shows.
    """
    with st.sidebar:
        try:
            conn = connection.resolve_connection()
            status = connection.fetch_cluster_status(conn)
        except DynamoteError as error:
            st.markdown("**Cluster**")
            _render_unreachable(str(error))
            return

        badges = []
        if conn.is_sandbox:
            badges.append(
                ":orange-badge[:material/science: Sandbox (simulated cluster)]"
            )
        if status.reachable:
            badges.append(":green-badge[:material/check_circle: Connected]")
        st.markdown(
            "\n\n".join(
                ["**Cluster**", " ".join(badges), _describe_facts(conn, status)]
            )
        )
        if not status.reachable:
            problem = (
                status.problems[0]
                if status.problems
                else "The API server did not answer."
            )
            _render_unreachable(str(problem))


def _describe_facts(conn: connection.Connection, status: object) -> str:
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
    return "  \n".join(f":small[:gray[{escape_markdown(line)}]]" for line in lines)


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
