"""What the Deployments list and the Deployment details page share.

Reading errors, the refresh period and the delete dialog. It builds no manifest
and talks to the cluster only through ui.connection. views/deployments.py and
views/details.py call it.
"""

import streamlit as st

from dynamote_core.deployments import delete_deployment
from dynamote_core.errors import ClusterUnreachable, DynamoteError
from ui import connection, state
from ui.render import escape_markdown, show_cluster_problem, show_error

LIST_PAGE = "views/deployments.py"
DETAILS_PAGE = "views/details.py"
REFRESH_SECONDS = connection.get_app_settings().refresh_seconds


def open_details(name: str) -> None:
    """Switch to the deployment's page; the list remembers it opened `name`.

    Streamlit records the switch as two history entries, /deployments?name=<name>
    and then /deployment?name=<name>, so Back from the details lands on the first:
    the list must show there, not open the details again.
    """
    opened = st.session_state.setdefault(state.DEPLOYMENTS_OPENED, set())
    opened.add(name)
    st.switch_page(DETAILS_PAGE, query_params={state.QUERY_NAME: name})


def open_list() -> None:
    st.switch_page(LIST_PAGE)


def current_api_version(conn) -> str:
    return connection.resolve_api_version(conn, connection.peek_cluster_status(conn))


def show_read_error(error: DynamoteError, retry_key: str) -> None:
    if isinstance(error, ClusterUnreachable):
        if show_cluster_problem(error, retry_key=retry_key):
            connection.forget_cluster_reads()
            st.rerun(scope="app")
    else:
        show_error(error)


def forget_delete_target() -> None:
    st.session_state.pop(state.DELETE_TARGET, None)
    st.session_state.pop(state.DELETE_CONFIRM_TEXT, None)


def ask_delete(name: str) -> None:
    """Open the confirmation dialog; it stays open across reruns until closed."""
    st.session_state[state.DELETE_TARGET] = name


@st.dialog(
    "Delete deployment", icon=":material/delete:", on_dismiss=forget_delete_target
)
def confirm_delete(conn, name: str, api_version: str) -> None:
    st.markdown(
        escape_markdown(
            f"This deletes {name} in namespace {conn.namespace} and all its pods."
        )
    )
    typed = st.text_input(
        "Type the deployment name to confirm",
        key=state.DELETE_CONFIRM_TEXT,
        # Delete enables as soon as the name matches, without Enter or Tab.
        live="0ms",
    )
    with st.container(horizontal=True):
        # Not the accent colour: that marks the safe, forward action elsewhere.
        confirmed = st.button(
            ":red[Delete]",
            key=state.DELETE_CONFIRM,
            type="secondary",
            icon=":material/delete:",
            disabled=typed.strip() != name,
        )
        cancelled = st.button("Cancel", key=state.DELETE_CANCEL)
    if cancelled:
        forget_delete_target()
        st.rerun()
    if not confirmed:
        return
    try:
        delete_deployment(
            connection.get_api_client(conn), conn.namespace, name, api_version
        )
    except DynamoteError as error:
        show_error(error)
        return
    forget_delete_target()
    connection.forget_cluster_reads()
    st.session_state[state.FLASH_MESSAGE] = (
        f"Deleting {name}: it disappears once its pods are gone."
    )
    open_list()


def show_flash_message() -> None:
    flash = st.session_state.pop(state.FLASH_MESSAGE, None)
    if flash:
        st.success(escape_markdown(flash), icon=":material/check:")


def render_delete_dialog(conn) -> None:
    """Reopen the confirmation dialog on every rerun while a delete is pending."""
    target = st.session_state.get(state.DELETE_TARGET)
    if target:
        confirm_delete(conn, target, current_api_version(conn))
