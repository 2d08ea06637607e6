"""Deployments: the live list, and one deployment's details at ?name=<dgd>."""

import pandas as pd
import streamlit as st

from dynamote_core.deployments import delete_deployment
from dynamote_core.errors import ClusterNotFound, ClusterUnreachable, DynamoteError
from dynamote_core.manifest import kubectl_commands, render_manifest_yaml
from ui import connection, state
from ui.render import (
    ENGINE_LABELS,
    escape_markdown,
    format_age,
    guarded,
    label_status,
    show_cluster_problem,
    show_error,
)
from ui.try_it import render_try_it

REFRESH_SECONDS = connection.get_app_settings().refresh_seconds
SAMPLE_CURL = (
    "curl localhost:8000/v1/chat/completions -H 'Content-Type: application/json' "
    '-d \'{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello"}}], '
    '"max_tokens": 32}}\''
)


def open_details(name: str) -> None:
    st.query_params[state.QUERY_NAME] = name
    st.rerun(scope="app")


def close_details() -> None:
    st.query_params.pop(state.QUERY_NAME, None)
    st.session_state.pop(state.DEPLOYMENTS_TABLE, None)


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
        "Type the deployment name to confirm", key=state.DELETE_CONFIRM_TEXT
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
    close_details()
    st.rerun()


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
        key=state.DEPLOYMENTS_TABLE,
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
    st.caption(
        f"Refreshes every {REFRESH_SECONDS} s. Select a row to open its details. "
        "Open a deployment to see whether its model is serving."
    )
    show_stuck_deletes(items)
    if event.selection.rows:
        open_details(items[event.selection.rows[0]].name)


def show_stuck_deletes(items) -> None:
    for item in items:
        if item.delete_stuck:
            st.warning(
                escape_markdown(f"{item.name}: {item.status_reason}"),
                icon=":material/hourglass_disabled:",
            )


def render_actions(conn) -> None:
    """Keyboard-friendly way to open or delete one deployment."""
    try:
        names = [
            item.name
            for item in connection.fetch_deployments(conn, current_api_version(conn))
        ]
    except DynamoteError:
        return
    if not names:
        return
    with st.container(horizontal=True, vertical_alignment="bottom"):
        picked = st.selectbox(
            "Deployment", names, key=state.DEPLOYMENTS_PICK, width=360
        )
        if st.button(
            "View details", key=state.DEPLOYMENTS_VIEW, icon=":material/visibility:"
        ):
            open_details(picked)
        st.button(
            "Delete…",
            key=state.DEPLOYMENTS_DELETE,
            icon=":material/delete:",
            on_click=ask_delete,
            args=(picked,),
        )


def render_list(conn) -> None:
    st.title("Deployments", anchor=False)
    st.caption(
        escape_markdown(f"DynamoGraphDeployments in namespace {conn.namespace}.")
    )
    deployments_table(conn)
    render_actions(conn)


def key_value_table(values: dict) -> None:
    rows = [
        {"Setting": key, "Value": "" if value is None else str(value)}
        for key, value in values.items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, height="content")


def render_explanations(details) -> None:
    for explanation in details.explanations:
        with st.container(border=True):
            st.error(escape_markdown(explanation.title), icon=":material/report:")
            st.markdown("**Why:** " + escape_markdown(explanation.cause))
            st.markdown("**Fix:** " + escape_markdown(explanation.fix))
            if explanation.evidence:
                st.caption("Evidence")
                st.code("\n".join(explanation.evidence), language="text")


def render_problems(details) -> None:
    """What the details leave out for lack of a permission, with the can-i line."""
    for problem in details.problems:
        st.warning(escape_markdown(problem), icon=":material/lock:")


def served_model(details) -> str | None:
    config = details.config
    return (config.served_model_name or config.model_id) if config else None


def render_serving(conn, details) -> None:
    """Serving only when the frontend lists the model; else why not, or unknown."""
    model = served_model(details)
    if model is None:
        st.info(
            "Serving state unknown: this deployment does not say which model it "
            "serves. The Try it tab lists what its frontend serves.",
            icon=":material/help:",
        )
        return
    summary = connection.summarize_serving(
        conn, details.deployment.name, model, details.deployment.status
    )
    text = escape_markdown(f"{summary.label}. {summary.detail}")
    if summary.serving:
        st.success(text, icon="✅")
    elif summary.causes:
        st.warning(text, icon="⏳")
        st.markdown(
            "Likely causes:\n"
            + "\n".join(f"- {escape_markdown(cause)}" for cause in summary.causes)
        )
    else:
        st.info(text, icon="❔")


def render_access(details, conn) -> None:
    st.subheader("Try it", anchor=False)
    if details.port_forward:
        model = (
            details.config.served_model_name or details.config.model_id
            if details.config
            else "<model>"
        )
        curl = (
            kubectl_commands(details.config).curl
            if details.config
            else SAMPLE_CURL.format(model=model)
        )
        st.code(f"{details.port_forward}\n{curl}", language="bash", wrap_lines=True)
    else:
        st.caption(
            "The frontend Service is not there yet; "
            "the port-forward line appears once it is."
        )


def render_tables(details) -> None:
    st.subheader("Components", anchor=False)
    st.dataframe(
        pd.DataFrame(
            [
                {"Component": c.name, "Type": c.type, "Ready": f"{c.ready}/{c.desired}"}
                for c in details.components
            ]
        ),
        hide_index=True,
    )
    st.subheader("Pods", anchor=False)
    if details.pods:
        pods = [
            {
                "Pod": p.name,
                "Component": p.component or "-",
                "Phase": p.phase,
                "Ready": "yes" if p.ready else "no",
                "Restarts": p.restarts,
                "Reason": p.reason or "",
                "Age": format_age(p.age_seconds),
            }
            for p in details.pods
        ]
        st.dataframe(pd.DataFrame(pods), hide_index=True)
    else:
        st.caption("No pods yet.")
    st.subheader("Events", anchor=False)
    if details.events:
        events = [
            {
                "Type": e.type,
                "Reason": e.reason,
                "Message": e.message,
                "Count": e.count,
                "Object": e.object,
            }
            for e in details.events
        ]
        st.dataframe(
            pd.DataFrame(events),
            hide_index=True,
            # The message says what happened: it comes before the long object name.
            column_config={"Message": st.column_config.TextColumn(width=520)},
        )
    else:
        st.caption("No events.")


@st.fragment(run_every=REFRESH_SECONDS)
@guarded
def details_body(conn, name: str) -> None:
    try:
        details = connection.fetch_deployment_details(
            conn, name, current_api_version(conn)
        )
    except ClusterNotFound:
        st.warning(
            escape_markdown(
                f"No deployment named {name} in namespace {conn.namespace}."
            ),
            icon=":material/search_off:",
        )
        return
    except DynamoteError as error:
        show_read_error(error, state.DEPLOYMENTS_RETRY)
        return

    item = details.deployment
    with st.container(horizontal=True):
        st.metric("Status", label_status(item.status))
        st.metric("Ready / desired", f"{item.ready_replicas}/{item.desired_replicas}")
        st.metric("Age", format_age(item.age_seconds))
        st.metric("Pods", item.pod_health)
    if item.status_reason:
        st.caption(escape_markdown(item.status_reason))
    if item.status == "Running":
        render_serving(conn, details)
    render_problems(details)
    render_explanations(details)
    render_access(details, conn)
    if details.config is not None:
        st.subheader("Settings", anchor=False)
        key_value_table(
            details.config.model_dump(exclude={"engine_args"})
            | {"engine_args": details.config.engine_args}
        )
    render_tables(details)
    if details.manifest:
        with st.expander("Manifest (as stored in the cluster)"):
            st.code(render_manifest_yaml(details.manifest), language="yaml")


def try_deployment(conn, name: str) -> None:
    """The Try it tab: chat with the deployment through the API server's proxy."""
    try:
        details = connection.fetch_deployment_details(
            conn, name, current_api_version(conn)
        )
    except DynamoteError as error:
        show_read_error(error, state.DEPLOYMENTS_RETRY)
        return
    config = details.config
    render_try_it(
        lambda: connection.get_api_client(conn),
        conn.namespace,
        name,
        (config.served_model_name or config.model_id) if config else None,
        details.deployment.status,
    )


def render_details(conn, name: str) -> None:
    if st.button(
        "All deployments",
        key=state.DETAILS_BACK,
        icon=":material/arrow_back:",
        type="tertiary",
    ):
        close_details()
        st.rerun()
    st.title(escape_markdown(name), anchor=False)
    st.caption(escape_markdown(f"DynamoGraphDeployment in namespace {conn.namespace}"))
    overview, try_it = st.tabs(["Overview", "Try it"])
    with overview:
        details_body(conn, name)
    # Outside the refreshing fragment: a timed rerun would cut a streamed reply.
    with try_it:
        try_deployment(conn, name)
    st.button(
        "Delete…",
        key=state.DETAILS_DELETE,
        icon=":material/delete:",
        on_click=ask_delete,
        args=(name,),
    )


def main() -> None:
    conn = connection.resolve_connection()
    flash = st.session_state.pop(state.FLASH_MESSAGE, None)
    if flash:
        st.success(escape_markdown(flash), icon=":material/check:")
    name = st.query_params.get(state.QUERY_NAME)
    if name:
        render_details(conn, name)
    else:
        render_list(conn)
    target = st.session_state.get(state.DELETE_TARGET)
    if target:
        confirm_delete(conn, target, current_api_version(conn))


main()
