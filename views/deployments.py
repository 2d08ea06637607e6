"""Deployments: the live list; /deployments?name=<dgd> opens that deployment's page."""

import pandas as pd
import streamlit as st

from dynamote_core.errors import DynamoteError
from ui import connection, state
from ui.deployment_actions import (
    REFRESH_SECONDS,
    ask_delete,
    current_api_version,
    open_details,
    render_delete_dialog,
    show_flash_message,
    show_read_error,
)
from ui.render import (
    ENGINE_LABELS,
    escape_markdown,
    format_age,
    guarded,
    label_status,
    show_missing_namespace,
)


def deployment_rows(items) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "Name": item.name,
                "Model": item.model or "-",
                "Engine": ENGINE_LABELS.get(item.engine or "", item.engine or "-"),
                "Status": label_status(item.status),
                "Ready": f"{item.ready_replicas}/{item.desired_replicas}",
                "Age": format_age(item.age_seconds),
                "Pods": item.pod_health,
            }
            for item in items
        ]
    )


@st.fragment(run_every=REFRESH_SECONDS)
@guarded
def deployments_table(conn) -> None:
    """The table; reruns alone every refresh so the rest of the page stays still."""
    try:
        items = connection.fetch_deployments(conn, current_api_version(conn))
    except DynamoteError as error:
        show_read_error(error, state.DEPLOYMENTS_RETRY)
        return
    if not items:
        status = connection.peek_cluster_status(conn)
        if status is not None and status.namespace_exists is False:
            show_missing_namespace(
                conn.namespace, "Create it, or choose another namespace in Settings:"
            )
            return
        st.info(
            escape_markdown(f"No deployments in namespace {conn.namespace} yet."),
            icon=":material/inbox:",
        )
        st.page_link(
            "views/catalog.py",
            label="Pick a model in the Catalog",
            icon=":material/apps:",
        )
        return
    event = st.dataframe(
        deployment_rows(items),
        key=table_key(),
        on_select="rerun",
        selection_mode="single-row",
        hide_index=True,
        column_config={
            "Name": st.column_config.TextColumn(
                help="Select a row to open its details"
            ),
            "Status": st.column_config.TextColumn(
                help="Pending, Deploying, Running, Failed or Terminating"
            ),
            "Ready": st.column_config.TextColumn("Ready / desired"),
        },
    )
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(
            f"Refreshes every {REFRESH_SECONDS} s. Select a row to open its "
            "details. Open a deployment to see whether its model is serving."
        )
        st.button(
            "Refresh now",
            key=state.DEPLOYMENTS_REFRESH,
            icon=":material/refresh:",
            type="tertiary",
            # Before the fragment reruns, so that run reads the cluster afresh.
            on_click=connection.forget_cluster_reads,
        )
    show_stuck_deletes(items)
    # In the fragment, so the picker lists what the table shows after a refresh.
    render_actions([item.name for item in items])
    if event.selection.rows:
        # The browser keeps a row's selection, and sends it again when Back
        # returns to this page: under a new key the table comes back unselected,
        # instead of opening the same details again.
        st.session_state[state.DEPLOYMENTS_TABLE_ROUND] = table_round() + 1
        open_details(items[event.selection.rows[0]].name)


def table_round() -> int:
    return int(st.session_state.get(state.DEPLOYMENTS_TABLE_ROUND, 0))


def table_key() -> str:
    """The table's widget key: deployments_table, then deployments_table_1, ..."""
    round_ = table_round()
    return f"{state.DEPLOYMENTS_TABLE}_{round_}" if round_ else state.DEPLOYMENTS_TABLE


def show_stuck_deletes(items) -> None:
    for item in items:
        if item.delete_stuck:
            st.warning(
                escape_markdown(f"{item.name}: {item.status_reason}"),
                icon=":material/hourglass_disabled:",
            )


def render_actions(names: list[str]) -> None:
    """Keyboard-friendly way to open or delete one deployment."""
    with st.container(horizontal=True, vertical_alignment="bottom"):
        picked = st.selectbox(
            "Deployment", names, key=state.DEPLOYMENTS_PICK, width=360
        )
        if st.button(
            "View details", key=state.DEPLOYMENTS_VIEW, icon=":material/visibility:"
        ):
            open_details(picked)
        if st.button("Delete…", key=state.DEPLOYMENTS_DELETE, icon=":material/delete:"):
            ask_delete(picked)
            # The dialog belongs to the whole page, not to this fragment.
            st.rerun(scope="app")


def render_list(conn) -> None:
    st.title("Deployments", anchor=False)
    st.caption(
        escape_markdown(f"DynamoGraphDeployments in namespace {conn.namespace}.")
    )
    deployments_table(conn)


def main() -> None:
    name = st.query_params.get(state.QUERY_NAME)
    if name in st.session_state.get(state.DEPLOYMENTS_OPENED, ()):
        # Back from details this session opened: show the list (on Back, the
        # browser's entry is replaced, so the address loses the name too).
        del st.query_params[state.QUERY_NAME]
    elif name:
        # Links shared before the details had their own page.
        open_details(name)
    conn = connection.resolve_connection()
    show_flash_message()
    render_list(conn)
    render_delete_dialog(conn)


main()
