"""Configure: settings for one model, live manifest preview, pre-flight, deploy."""

import logging
import re

import pandas as pd
import streamlit as st

from dynamote_core.config import (
    DEFAULT_DYNAMO_VERSION,
    MAX_NAME_LENGTH,
    VERSION_PATTERN,
    context_length_warning,
    validate_config,
)
from dynamote_core.deployments import deploy, run_preflight
from dynamote_core.engines import runtime_image
from dynamote_core.errors import ConfigError, DynamoteError
from dynamote_core.manifest import (
    build_graph_deployment,
    kubectl_commands,
    render_manifest_yaml,
)
from ui import connection, form, models, state, storage
from ui.render import (
    ENGINE_LABELS,
    MODE_LABELS,
    escape_markdown,
    format_context,
    label_verdict,
    render_model_badges,
    show_cluster_problem,
    show_error,
)

log = logging.getLogger(__name__)
ROUTER_LABELS = {
    "none": "Frontend default (round robin)",
    "kv": "KV-aware",
    "round-robin": "Round robin, pinned",
}
ROUTER_HELP = (
    "How the frontend spreads requests over workers. The default sets nothing "
    "and the frontend routes round robin; 'pinned' sets DYN_ROUTER_MODE=round-robin "
    "so a later Dynamo default cannot change it. KV-aware sends each request to "
    "the worker already holding its prefix in cache, and turns on the workers' "
    "KV events."
)
PERSIST = "session"


def choose_model_id(catalog) -> str:
    """The model from ?model=, else from the Catalog page, else the first one."""
    for candidate in (
        st.query_params.get(state.QUERY_MODEL),
        st.session_state.get(state.SELECTED_MODEL),
    ):
        if candidate and candidate in catalog:
            return candidate
    return catalog.ids[0]


def on_model_change() -> None:
    st.session_state[state.SELECTED_MODEL] = st.session_state[state.CONFIG_MODEL]
    st.query_params[state.QUERY_MODEL] = st.session_state[state.CONFIG_MODEL]


def render_model_summary(model) -> None:
    with st.container(border=True):
        st.subheader(escape_markdown(model.display_name), anchor=False)
        st.caption(escape_markdown(f"{model.id} · {model.publisher} · {model.family}"))
        render_model_badges(model, gated_label="Gated: needs an HF token")
        st.markdown(escape_markdown(model.description))
        facts = {
            "Parameters": f"{model.parameters_b:g} B",
            "Default context": f"{format_context(model.context_length)} tokens",
            "Engines": ", ".join(ENGINE_LABELS.get(e, e) for e in model.engines),
        }
        # Lines of text, not a table: a narrow column wraps them instead of
        # cutting the engines off.
        st.markdown(
            "  \n".join(
                f"**{label}:** {escape_markdown(text)}" for label, text in facts.items()
            )
        )


def largest_gpu_memory() -> float | None:
    """The memory of the cluster's largest GPUs, when the cluster says."""
    status = connection.peek_cluster_status(connection.resolve_connection())
    sizes = [
        pool.memory_gib for pool in (status.gpus if status else []) if pool.memory_gib
    ]
    return max(sizes, default=None)


def int_or(value, fallback: int) -> int:
    return value if isinstance(value, int) and value > 0 else fallback


def render_memory(model, errors: form.FieldErrors) -> None:
    # An invalid context is the field's one error; estimating it too would
    # pile memory warnings about a context no engine would start with.
    context_length = model.context_length
    if not errors.has("context_length"):
        context_length = int_or(
            st.session_state.get(state.CONFIG_CONTEXT_LENGTH), model.context_length
        )
    gpus = int_or(st.session_state.get(state.CONFIG_GPUS_PER_WORKER), 1)
    estimate = models.estimate_model_memory(model.id, context_length, gpus)

    st.subheader("GPU memory per worker", anchor=False)
    st.caption(
        f"≈ {estimate.total_gib:.1f} GiB per worker "
        f"at {format_context(context_length)} context, "
        f"{estimate.per_gpu_gib:.1f} GiB per GPU across {gpus} GPU(s)."
    )
    parts = pd.DataFrame(
        {
            "Part": ["Weights", "KV cache", "Overhead"],
            "GiB": [estimate.weights_gib, estimate.kv_cache_gib, estimate.overhead_gib],
        }
    )
    st.bar_chart(parts, x="Part", y="GiB", horizontal=True, height=180, color="#76B900")
    # Its own row: beside the chart the headers were cut at 1280 px.
    rows = [
        {
            "GPU memory": f"{size} GiB",
            "GPUs per worker": "does not fit" if count is None else str(count),
        }
        for size, count in sorted(estimate.gpus_needed.items())
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    for warning in estimate.warnings:
        st.warning(escape_markdown(warning), icon=":material/warning:")


def render_core_fields(model, errors: form.FieldErrors) -> None:
    left, right = st.columns(2)
    with left:
        st.selectbox(
            "Engine",
            model.engines,
            format_func=lambda e: ENGINE_LABELS.get(e, e),
            key=state.CONFIG_ENGINE,
            on_change=form.follow_default_name,
            args=(model.id,),
            persist_state=PERSIST,
        )
        errors.show("engine")
        written_for = form.args_engine_changed()
        if written_for:
            engine = st.session_state.get(state.CONFIG_ENGINE)
            st.warning(
                "Custom engine args (Advanced options) were written for "
                f"{ENGINE_LABELS.get(written_for, written_for)}; they are passed "
                f"to {ENGINE_LABELS.get(engine, engine)} as written. Check that "
                "it has those flags, or clear them.",
                icon=":material/warning:",
            )
        st.radio(
            "Mode",
            list(MODE_LABELS),
            format_func=MODE_LABELS.get,
            key=state.CONFIG_MODE,
            horizontal=True,
            persist_state=PERSIST,
        )
        errors.show("mode")
        st.selectbox(
            "Router",
            list(ROUTER_LABELS),
            format_func=ROUTER_LABELS.get,
            key=state.CONFIG_ROUTER_MODE,
            help=ROUTER_HELP,
            persist_state=PERSIST,
        )
        errors.show("router_mode")
        render_replicas(errors)
    with right:
        st.text_input(
            "Deployment name",
            key=state.CONFIG_NAME,
            persist_state=PERSIST,
            help=(
                "Name of the DynamoGraphDeployment: lowercase letters, digits "
                f"and '-', starting with a letter, at most {MAX_NAME_LENGTH} "
                "characters (the operator derives longer names from it)."
            ),
        )
        errors.show("name")
        st.text_input(
            "Served model name",
            key=state.CONFIG_SERVED_MODEL_NAME,
            persist_state=PERSIST,
            help="The model name clients send in OpenAI requests.",
        )
        errors.show("served_model_name")
        st.text_input(
            "HF token secret",
            key=state.CONFIG_HF_SECRET,
            persist_state=PERSIST,
            help="Name of the Secret with your Hugging Face token; "
            "its value is never read.",
        )
        errors.show("hf_secret_name")
        st.number_input(
            "Context length (tokens)",
            value=None,
            step=1024,
            key=state.CONFIG_CONTEXT_LENGTH,
            persist_state=PERSIST,
            placeholder=f"The model's default ({model.context_length})",
            help="Leave it empty for the model's default.",
        )
        errors.show("context_length")
        render_context_warning(model, errors)
        st.number_input(
            "GPUs per worker",
            step=1,
            key=state.CONFIG_GPUS_PER_WORKER,
            persist_state=PERSIST,
        )
        errors.show("gpus_per_worker")
        st.text_input(
            "Memory per worker (optional)",
            key=state.CONFIG_MEMORY,
            persist_state=PERSIST,
            placeholder="e.g. 64Gi",
            help="The worker container's RAM limit, not GPU memory. "
            "Empty sets no limit.",
        )
        errors.show("memory")


def render_context_warning(model, errors: form.FieldErrors) -> None:
    if errors.has("context_length"):
        return
    warning = context_length_warning(
        model, st.session_state.get(state.CONFIG_CONTEXT_LENGTH)
    )
    if warning:
        st.warning(escape_markdown(warning), icon=":material/warning:")


def image_placeholder() -> str:
    """The runtime image the chosen engine and version would use."""
    version = str(st.session_state.get(state.CONFIG_DYNAMO_VERSION) or "").strip()
    if not VERSION_PATTERN.fullmatch(version):
        version = DEFAULT_DYNAMO_VERSION
    return runtime_image(st.session_state[state.CONFIG_ENGINE], version)


def render_replicas(errors: form.FieldErrors) -> None:
    if st.session_state.get(state.CONFIG_MODE) == "disaggregated":
        prefill, decode = st.columns(2)
        with prefill:
            st.number_input(
                "Prefill workers",
                step=1,
                key=state.CONFIG_PREFILL_REPLICAS,
                persist_state=PERSIST,
            )
            errors.show("prefill_replicas")
        with decode:
            st.number_input(
                "Decode workers",
                step=1,
                key=state.CONFIG_DECODE_REPLICAS,
                persist_state=PERSIST,
            )
            errors.show("decode_replicas")
    else:
        st.number_input(
            "Workers (replicas)",
            step=1,
            key=state.CONFIG_REPLICAS,
            persist_state=PERSIST,
            help="From 1 to 4.",
        )
    errors.show("replicas")


def render_advanced(errors: form.FieldErrors) -> None:
    with st.expander("Advanced options", expanded=False, icon=":material/build:"):
        st.checkbox(
            "Enforce eager mode (no CUDA graphs)",
            key=state.CONFIG_ENFORCE_EAGER,
            persist_state=PERSIST,
        )
        errors.show("enforce_eager")
        st.checkbox(
            "Prefix caching", key=state.CONFIG_PREFIX_CACHING, persist_state=PERSIST
        )
        errors.show("prefix_caching")
        st.checkbox(
            "Trust remote code",
            key=state.CONFIG_TRUST_REMOTE_CODE,
            persist_state=PERSIST,
        )
        errors.show("trust_remote_code")
        st.text_area(
            "Custom engine args",
            key=state.CONFIG_ENGINE_ARGS,
            height=120,
            persist_state=PERSIST,
            placeholder="max-num-seqs: 64",
            help=(
                "Extra engine flags: YAML (max-num-seqs: 64, one a line), a JSON "
                "object, or as on a command line (--max-num-seqs 64). They reach "
                "the engine as written; check the engine's docs for its flags."
            ),
            on_change=form.note_args_engine,
        )
        errors.show("engine_args")
        st.text_input(
            "Dynamo version", key=state.CONFIG_DYNAMO_VERSION, persist_state=PERSIST
        )
        errors.show("dynamo_version")
        st.text_input(
            "Custom image (optional)",
            key=state.CONFIG_IMAGE,
            persist_state=PERSIST,
            placeholder=image_placeholder(),
        )
        errors.show("image")


def render_preview(config, model, api_version: str) -> str | None:
    """Manifest YAML, download and kubectl lines; returns the manifest dict's YAML."""
    st.subheader("Manifest preview", anchor=False)
    try:
        manifest = build_graph_deployment(config, model, api_version)
        text = render_manifest_yaml(manifest)
    except DynamoteError as error:
        show_error(error)
        return None
    st.code(text, language="yaml")
    st.download_button(
        "Download YAML",
        text,
        file_name=f"{config.name}.yaml",
        mime="application/yaml",
        key=state.CONFIG_DOWNLOAD,
        icon=":material/download:",
    )
    commands = kubectl_commands(config, f"{config.name}.yaml")
    st.caption("Or apply it yourself:")
    st.code("\n".join(commands.as_list()), language="bash", wrap_lines=True)
    return manifest


def render_preflight(checks) -> bool:
    """Each check as a block of plain text, never clipped; True when none failed."""
    st.caption("Pre-flight checks against the cluster:")
    for check in checks:
        render_check(check)
    return all(check.verdict != "fail" for check in checks)


# A kubectl command inside a fix, e.g. "Install ..., or check: kubectl get pods".
KUBECTL_COMMAND = re.compile(r"\bkubectl\s.*$")


def render_check(check) -> None:
    with st.container(border=True):
        st.markdown(
            f"**{escape_markdown(label_verdict(check.verdict))}** · "
            f"{escape_markdown(check.name)}"
        )
        st.markdown(escape_markdown(check.message))
        fix = check.fix or ""
        command = KUBECTL_COMMAND.search(fix)
        prose = fix[: command.start()].strip() if command else fix
        if prose:
            st.markdown(escape_markdown(f"Fix: {prose}"))
        if command:
            if not prose:
                st.markdown("Fix:")
            st.code(command.group().rstrip("."), language="bash", wrap_lines=True)


def deploy_now(conn, config, manifest, model, api_version: str) -> None:
    client = connection.get_api_client(conn)
    with st.status(f"Deploying {config.name}…", expanded=True) as progress:
        st.write("Running pre-flight checks…")
        checks = run_preflight(client, config, model, api_version)
        failed = [check for check in checks if check.verdict == "fail"]
        if failed:
            progress.update(
                label="Pre-flight failed: nothing was created.", state="error"
            )
            for check in failed:
                st.error(
                    escape_markdown(f"{check.name}: {check.message} {check.fix or ''}")
                )
            return
        st.write(
            "Validating with a server-side dry run, "
            "then creating the DynamoGraphDeployment…"
        )
        try:
            deploy(client, manifest, api_version)
        except DynamoteError as error:
            progress.update(label="Deploy failed: nothing was created.", state="error")
            show_error(error)
            return
        progress.update(
            label=f"Created {config.name} in {config.namespace}.", state="complete"
        )
    connection.forget_cluster_reads()
    st.session_state[state.LAST_DEPLOYED] = config.name
    # Redraw: the checks above were made before the create ("the name is free").
    st.rerun()


def render_deploy(
    conn, config, manifest, model, api_version: str, errors_present: bool
) -> None:
    st.subheader("Deploy", anchor=False)
    status = None
    try:
        status = connection.fetch_cluster_status(conn)
    except DynamoteError as error:
        if show_cluster_problem(error, retry_key=state.CONFIG_RETRY):
            connection.forget_cluster_reads()
            st.rerun()
    if status is not None and not status.reachable:
        problem = (
            status.problems[0] if status.problems else "The API server did not answer."
        )
        if show_cluster_problem(problem, retry_key=state.CONFIG_RETRY):
            connection.forget_cluster_reads()
            st.rerun()
        status = None

    deployed = st.session_state.get(state.LAST_DEPLOYED)
    just_deployed = bool(deployed) and config is not None and deployed == config.name
    preflight_ok = False
    # Once deployed, the checks would fail on its own name: the success says more.
    if (
        not just_deployed
        and status is not None
        and config is not None
        and manifest is not None
    ):
        try:
            checks = connection.run_preflight_checks(
                conn, config, model.id, api_version
            )
            preflight_ok = render_preflight(checks)
        except DynamoteError as error:
            show_error(error)
    can_deploy = (
        status is not None
        and not errors_present
        and manifest is not None
        and preflight_ok
    )
    if just_deployed:
        st.caption("Deployed. To deploy another, change the deployment name.")
    elif errors_present:
        st.caption("Deploy is disabled until the fields marked above are fixed.")
    elif status is not None and not preflight_ok:
        st.caption("Deploy is disabled while a pre-flight check fails.")
    if st.button(
        "Deploy",
        key=state.CONFIG_DEPLOY,
        type="primary",
        icon=":material/rocket_launch:",
        disabled=not can_deploy,
    ):
        deploy_now(conn, config, manifest, model, api_version)

    if just_deployed:
        st.success(
            escape_markdown(f"{deployed} was created. It starts in the background."),
            icon=":material/check:",
        )
        st.page_link(
            "views/details.py",
            label=f"Open {deployed} in Deployments",
            icon=":material/open_in_new:",
            query_params={state.QUERY_NAME: deployed},
        )


def main() -> None:
    catalog = models.get_catalog()
    settings = storage.current_settings()
    asked = st.query_params.get(state.QUERY_MODEL)
    model_id = choose_model_id(catalog)
    model = catalog.get(model_id)
    if st.session_state.get(state.CONFIG_FORM_MODEL) != model_id:
        form.seed_form(model, settings, largest_gpu_memory())
    st.session_state[state.SELECTED_MODEL] = model_id
    st.session_state[state.CONFIG_MODEL] = model_id
    st.query_params[state.QUERY_MODEL] = model_id

    st.title("Configure a deployment", anchor=False)
    if asked and asked not in catalog:
        st.warning(
            escape_markdown(
                f"{asked} is not in the catalog, so {model_id} is shown instead. "
                "Pick a model below or on the Catalog page."
            ),
            icon=":material/search_off:",
        )
    st.selectbox(
        "Model",
        catalog.ids,
        key=state.CONFIG_MODEL,
        on_change=on_model_change,
        format_func=lambda mid: f"{catalog.get(mid).display_name} ({mid})",
    )
    conn = connection.resolve_connection()
    st.caption(escape_markdown(f"Namespace {conn.namespace} (change it in Settings)."))

    config, error = None, None
    try:
        config = validate_config(form.read_form(model_id, conn.namespace), catalog)
    except ConfigError as raised:
        error = raised
    errors = form.FieldErrors(error)

    summary, memory = st.columns([2, 3])
    with summary:
        render_model_summary(model)
    with memory:
        render_memory(model, errors)

    st.subheader("Settings", anchor=False)
    render_core_fields(model, errors)
    render_advanced(errors)
    errors.show_rest()

    api_version = connection.resolve_api_version(conn, None)
    manifest = None
    if config is not None:
        status = connection.peek_cluster_status(conn)
        api_version = connection.resolve_api_version(conn, status)
        manifest = render_preview(config, model, api_version)
    else:
        st.info(
            "Fix the fields marked above to see the manifest.", icon=":material/edit:"
        )
    render_deploy(
        conn, config, manifest, model, api_version, errors_present=error is not None
    )


main()
