"""Deployment: one deployment's details at /deployment?name=<dgd>.

Hidden from the navigation: the Deployments list, Configure and old
/deployments?name= links open it.
"""

import pandas as pd
import streamlit as st

from dynamote_core.config import FIELD_LABELS, is_object_name
from dynamote_core.errors import ClusterNotFound, DynamoteError
from dynamote_core.manifest import kubectl_commands, render_manifest_yaml
from ui import connection, state
from ui.deployment_actions import (
    LIST_PAGE,
    REFRESH_SECONDS,
    ask_delete,
    current_api_version,
    open_list,
    render_delete_dialog,
    show_flash_message,
    show_read_error,
)
from ui.render import escape_markdown, format_age, guarded, label_status
from ui.try_it import render_try_it

SAMPLE_CURL = (
    "curl localhost:8000/v1/chat/completions -H 'Content-Type: application/json' "
    '-d \'{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello"}}], '
    '"max_tokens": 32}}\''
)


# What an unset optional setting means, in the words of the Configure page.
UNSET_TEXT = {
    "served_model_name": "same as model",
    "hf_secret_name": "none",
    "context_length": "model default",
    "memory": "no limit",
    "image": "engine default",
    "engine_args": "none",
}


def format_setting(field: str, value: object) -> str:
    """A setting's value as a reader says it: on/off, or what unset means."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None or value == "":
        return UNSET_TEXT.get(field, "-")
    return str(value)


def settings_table(config) -> None:
    # Custom engine args can run long: they close the table. Worker counts the
    # mode does not use would only mislead.
    unused = (
        {"prefill_replicas", "decode_replicas"}
        if config.mode == "aggregated"
        else {"replicas"}
    )
    values = config.model_dump(exclude={"engine_args", *unused})
    values["engine_args"] = config.engine_args
    rows = [
        {
            "Setting": FIELD_LABELS.get(field, field),
            "Value": format_setting(field, value),
        }
        for field, value in values.items()
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
                st.code(
                    "\n".join(explanation.evidence), language="text", wrap_lines=True
                )


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
        st.caption("Newest first.")
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
        if st.session_state.get(state.DETAILS_GONE) != name:
            # Deleted while shown (from another tab, or kubectl): redraw the
            # whole page, so the Try it tab and Delete go too. Once per name.
            st.session_state[state.DETAILS_GONE] = name
            st.rerun(scope="app")
        render_not_found(conn, name)
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
        settings_table(details.config)
    render_tables(details)
    if details.manifest:
        with st.expander("Manifest (as stored in the cluster)"):
            st.code(render_manifest_yaml(details.manifest), language="yaml")


def is_missing(conn, name: str) -> bool:
    """True when the cluster says there is no such DGD (other errors show later)."""
    try:
        connection.fetch_deployment_details(conn, name, current_api_version(conn))
    except ClusterNotFound:
        return True
    except DynamoteError:
        return False
    return False


def render_not_found(conn, name: str) -> None:
    st.warning(
        escape_markdown(
            f"No deployment named {name} in namespace {conn.namespace}: it was "
            "deleted, or it lives in another namespace (change it in Settings)."
        ),
        icon=":material/search_off:",
    )
    st.page_link(LIST_PAGE, label="All deployments", icon=":material/deployed_code:")


def try_deployment(conn, name: str) -> None:
    """The Try it tab: chat with the deployment through the API server's proxy."""
    try:
        details = connection.fetch_deployment_details(
            conn, name, current_api_version(conn)
        )
    except ClusterNotFound:
        render_not_found(conn, name)
        return
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
        open_list()
    st.title(escape_markdown(name), anchor=False)
    if is_missing(conn, name):
        render_not_found(conn, name)
        return
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


def render_missing_name() -> None:
    st.title("Deployment", anchor=False)
    st.info("No deployment chosen.", icon=":material/search_off:")
    st.page_link(LIST_PAGE, label="All deployments", icon=":material/deployed_code:")


def render_bad_name(name: str) -> None:
    """A ?name= no object can have: say so, without asking the cluster."""
    shown = name if len(name) <= 60 else f"{name[:57]}…"
    st.title("Deployment", anchor=False)
    st.warning(
        escape_markdown(
            f"'{shown}' cannot be a deployment's name: names are at most 253 "
            "lowercase letters, digits, '-' and '.'. Check the link, or pick the "
            "deployment in the list."
        ),
        icon=":material/link_off:",
    )
    st.page_link(LIST_PAGE, label="All deployments", icon=":material/deployed_code:")


def main() -> None:
    conn = connection.resolve_connection()
    show_flash_message()
    name = st.query_params.get(state.QUERY_NAME)
    if not name:
        # Leaving for another page records /deployment without the name first
        # (how Streamlit's history works), and Back lands there: show again
        # the deployment this session showed last.
        name = st.session_state.get(state.DETAILS_SHOWN)
        if not name:
            render_missing_name()
            return
        st.query_params[state.QUERY_NAME] = name
    if not is_object_name(name):
        render_bad_name(name)
        return
    st.session_state[state.DETAILS_SHOWN] = name
    render_details(conn, name)
    render_delete_dialog(conn)


main()
