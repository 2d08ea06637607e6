"""Settings: namespace, HF token secret, context, versions; stored in this browser."""

from dataclasses import asdict

import streamlit as st

from dynamote_core.errors import DynamoteError
from dynamote_core.manifest import create_secret_command
from ui import connection, state, storage
from ui.render import escape_markdown, show_missing_namespace

HELP = {
    "namespace": "Namespace where deployments are created and listed.",
    "hf_secret": "Name of the Kubernetes Secret holding your Hugging Face token. "
    "Dynamote only checks that it exists; it never reads the token.",
    "kube_context": "Kubeconfig context to talk to. "
    "Empty uses the kubeconfig's current context.",
    "dynamo_version": "Dynamo release whose runtime images the manifests use.",
    "api_version": "DynamoGraphDeployment API version to write; "
    "auto picks the newest the cluster serves.",
}


def seed_form(settings: storage.BrowserSettings) -> None:
    """Put the current settings into the form's widgets, unless being edited."""
    for name, key in storage.SETTINGS_WIDGET_KEYS.items():
        if key not in st.session_state:
            st.session_state[key] = getattr(settings, name)


def read_form() -> dict[str, str]:
    return {
        name: st.session_state.get(key, "")
        for name, key in storage.SETTINGS_WIDGET_KEYS.items()
    }


def show_field_errors(label: str, errors) -> None:
    for error in errors:
        if error.field == label:
            st.error(
                escape_markdown(f"{error.field}: {error.problem} {error.fix}".strip()),
                icon=":material/error:",
            )


def source_caption(field: storage.SettingField, default: str) -> None:
    st.caption(escape_markdown(f"Default {default or '(none)'} from {field.env_var}."))


def context_options(current: str) -> list[str]:
    try:
        names, _ = connection.list_kube_contexts()
    except DynamoteError as error:
        st.caption(escape_markdown(f"Cannot list contexts: {error}"))
        names = []
    return list(dict.fromkeys(["", *names, current]))


def render_form(defaults: storage.BrowserSettings, errors) -> None:
    fields = {field.name: field for field in storage.FIELDS}
    default_values = asdict(defaults)

    st.text_input(
        fields["namespace"].label, key=state.SETTINGS_NAMESPACE, help=HELP["namespace"]
    )
    show_field_errors(fields["namespace"].label, errors)
    source_caption(fields["namespace"], default_values["namespace"])

    st.text_input(
        fields["hf_secret"].label, key=state.SETTINGS_HF_SECRET, help=HELP["hf_secret"]
    )
    show_field_errors(fields["hf_secret"].label, errors)
    source_caption(fields["hf_secret"], default_values["hf_secret"])

    st.selectbox(
        fields["kube_context"].label,
        context_options(st.session_state.get(state.SETTINGS_KUBE_CONTEXT, "")),
        format_func=lambda name: name or "(kubeconfig's current context)",
        key=state.SETTINGS_KUBE_CONTEXT,
        help=HELP["kube_context"],
    )
    show_field_errors(fields["kube_context"].label, errors)
    source_caption(fields["kube_context"], default_values["kube_context"])

    st.text_input(
        fields["dynamo_version"].label,
        key=state.SETTINGS_DYNAMO_VERSION,
        help=HELP["dynamo_version"],
    )
    show_field_errors(fields["dynamo_version"].label, errors)
    source_caption(fields["dynamo_version"], default_values["dynamo_version"])

    st.segmented_control(
        fields["api_version"].label,
        storage.API_VERSION_CHOICES,
        key=state.SETTINGS_API_VERSION,
        required=True,
        help=HELP["api_version"],
    )
    show_field_errors(fields["api_version"].label, errors)
    source_caption(fields["api_version"], default_values["api_version"])


def save_form() -> None:
    """Validate the form; save when valid, else keep the errors for display."""
    settings, errors = storage.validate_browser_settings(read_form())
    st.session_state[state.SETTINGS_MESSAGE] = errors
    if settings is not None:
        storage.save_settings(settings)
        connection.forget_cluster_reads()
        st.session_state[state.SETTINGS_MESSAGE] = "saved"


def reset_form() -> None:
    storage.reset_settings()
    connection.forget_cluster_reads()
    st.session_state[state.SETTINGS_MESSAGE] = "reset"


def warn_about_missing_objects() -> None:
    """After a save: say so when the namespace or the secret is not on the cluster."""
    conn = connection.resolve_connection()
    status = connection.peek_cluster_status(conn)
    if status is None:
        return
    if status.namespace_exists is False:
        show_missing_namespace(conn.namespace, "Create it, or choose another:")
    elif status.hf_secret_exists is False:
        st.info(
            escape_markdown(
                f"Secret {conn.hf_secret} does not exist in namespace {conn.namespace}:"
                " gated models cannot download without it. Create it with:"
            ),
            icon=":material/key:",
        )
        st.code(create_secret_command(conn.hf_secret, conn.namespace), language="bash")


st.title("Settings", anchor=False)
st.caption("Stored in this browser: they survive a reload and differ per browser.")

defaults = storage.read_default_settings(connection.get_app_settings())
seed_form(storage.current_settings())
# The browser confirms a write with one more rerun: keep the outcome until then,
# so "saved in this browser" is said only once it is true.
writing = storage.is_write_pending()
if writing:
    outcome = st.session_state.get(state.SETTINGS_MESSAGE)
else:
    outcome = st.session_state.pop(state.SETTINGS_MESSAGE, None)
field_errors = outcome if isinstance(outcome, list) else []

with st.container(border=True, width=640):
    render_form(defaults, field_errors)
    with st.container(horizontal=True):
        st.button(
            "Save",
            key=state.SETTINGS_SAVE,
            type="primary",
            icon=":material/save:",
            on_click=save_form,
        )
        st.button(
            "Reset to defaults",
            key=state.SETTINGS_RESET,
            icon=":material/restart_alt:",
            on_click=reset_form,
        )

if field_errors:
    st.error("Nothing was saved: fix the fields marked above.", icon=":material/error:")
elif outcome == "saved" and writing:
    st.success(
        "Settings saved for this session; storing them in this browser…",
        icon=":material/hourglass_top:",
    )
elif outcome == "saved":
    st.success("Settings saved in this browser.", icon=":material/check:")
if outcome == "saved":
    warn_about_missing_objects()
elif outcome == "reset":
    st.success("Settings reset to the defaults.", icon=":material/check:")
