"""Deployments list and details pages: pods, port-forward, delete by dialog."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from dynamote_core import deployments
from dynamote_core.catalog import load_catalog
from dynamote_core.config import validate_config
from dynamote_core.manifest import build_graph_deployment
from tests.app.conftest import assert_no_exception
from tests.app.test_try_it import deploy, wait_until_serving
from ui import connection, state

CONFIGURE = "views/configure.py"
PAGE = "views/deployments.py"
DETAILS = "views/details.py"
GROUP, VERSION, NAMESPACE, PLURAL = (
    "nvidia.com",
    "v1beta1",
    "dynamo-system",
    "dynamographdeployments",
)


@pytest.fixture
def deployed(open_page) -> str:
    """A DGD created through the Configure page, as a user would."""
    name = f"list-{uuid.uuid4().hex[:8]}"
    at = open_page(CONFIGURE)
    at.text_input(key=state.CONFIG_NAME).input(name).run()
    at.button(key=state.CONFIG_DEPLOY).click().run()
    assert_no_exception(at)
    return name


def rerun_until(at, condition, seconds: float = 10.0):
    """Rerun until `condition(at)` holds: the sandbox operator works in steps."""
    deadline = time.monotonic() + seconds
    while not condition(at):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.2)
        at.run()
    return at


@pytest.fixture
def app_sandbox() -> Iterator[object]:
    """The app's own sandbox; denials and a stopped operator are undone afterwards."""
    sandbox, _ = connection.start_app_sandbox()
    yield sandbox
    sandbox.allow_all()
    sandbox.operator.set_available(True)


def texts(elements) -> str:
    """The elements' text as a reader sees it (markdown escapes removed)."""
    return " ".join(str(e.value) for e in elements).replace("\\", "")


def has_pods_table(at) -> bool:
    return any("Pod" in frame.value.columns for frame in at.dataframe)


def table_names(at) -> list[str]:
    frames = [frame.value for frame in at.dataframe if "Status" in frame.value.columns]
    return list(frames[0]["Name"]) if frames else []


def test_list_shows_the_new_deployment_with_status_text(open_page, deployed) -> None:
    at = open_page(PAGE)

    assert_no_exception(at)
    frame = next(
        frame.value for frame in at.dataframe if "Status" in frame.value.columns
    )
    row = frame[frame["Name"] == deployed].iloc[0]
    assert row["Status"].split(" ", 1)[1] in {
        "Pending",
        "Deploying",
        "Running",
        "Failed",
    }
    assert "/" in row["Ready"]


def test_refresh_now_shows_a_deployment_created_elsewhere(
    open_page, custom_objects
) -> None:
    at = open_page(PAGE)
    name = f"elsewhere-{uuid.uuid4().hex[:6]}"
    catalog = load_catalog()
    model = catalog.models[0]
    config = validate_config(
        {"name": name, "namespace": NAMESPACE, "model_id": model.id, "engine": "vllm"},
        catalog,
    )
    custom_objects.create_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, build_graph_deployment(config, model)
    )

    at.button(key=state.DEPLOYMENTS_REFRESH).click().run()

    assert_no_exception(at)
    frame = next(f.value for f in at.dataframe if "Status" in f.value.columns)
    assert name in set(frame["Name"])
    # The picker beside the table refreshes with it.
    assert name in at.selectbox(key=state.DEPLOYMENTS_PICK).options


def test_list_in_a_namespace_the_cluster_lacks_says_how_to_create_it(
    open_page,
) -> None:
    at = open_page("views/settings.py")
    at.text_input(key=state.SETTINGS_NAMESPACE).input("team-nowhere").run()
    at.button(key=state.SETTINGS_SAVE).click().run()

    at.switch_page(PAGE).run()

    assert_no_exception(at)
    assert "team\\-nowhere does not exist on the cluster" in at.warning[0].value
    assert "kubectl create namespace team-nowhere" in [code.value for code in at.code]
    assert not at.get("page_link")


def test_deployment_reaches_running_in_the_list(open_page, deployed) -> None:
    at = open_page(PAGE)

    def running(at) -> bool:
        frame = next(
            frame.value for frame in at.dataframe if "Status" in frame.value.columns
        )
        return (frame[frame["Name"] == deployed]["Status"] == "✅ Running").any()

    rerun_until(at, running)


def test_view_details_opens_pods_and_port_forward(open_page, deployed) -> None:
    at = open_page(PAGE)

    at.selectbox(key=state.DEPLOYMENTS_PICK).set_value(deployed).run()
    at.button(key=state.DEPLOYMENTS_VIEW).click().run()

    assert texts(at.title) == deployed
    assert at.query_params[state.QUERY_NAME] == deployed

    def has_port_forward(at) -> bool:
        return any("kubectl port-forward svc/" in code.value for code in at.code)

    rerun_until(at, has_port_forward)
    assert_no_exception(at)
    pods = next(frame.value for frame in at.dataframe if "Pod" in frame.value.columns)
    assert len(pods) > 0
    assert any("curl" in code.value for code in at.code)


def settings_of(at) -> dict[str, str]:
    frame = next(f.value for f in at.dataframe if "Setting" in f.value.columns)
    return dict(zip(frame["Setting"], frame["Value"], strict=True))


def test_details_settings_use_labels_and_plain_values(open_page, deployed) -> None:
    at = open_page(DETAILS, **{state.QUERY_NAME: deployed})

    settings = settings_of(at)

    assert_no_exception(at)
    assert settings["Prefix caching"] == "on"
    assert settings["Enforce eager mode"] == "off"
    assert settings["Custom image"] == "engine default"
    # No memory given: the manifest sets no limit (Configure: "Empty sets no limit").
    assert settings["Memory per worker"] == "no limit"
    assert "prefix_caching" not in settings
    assert settings["Workers"] == "1"
    assert "Prefill workers" not in settings
    assert "Decode workers" not in settings


def test_unknown_name_in_url_says_so(open_page) -> None:
    at = open_page(DETAILS, name="does-not-exist")

    assert_no_exception(at)
    assert len(at.warning) == 1
    assert "No deployment named does\\-not\\-exist" in at.warning[0].value
    assert not at.tabs
    assert state.DETAILS_DELETE not in [button.key for button in at.button]
    assert not at.error


@pytest.mark.parametrize("name", ["a" * 3000, "Not_A_Name", "<b>x</b>"])
def test_a_name_no_object_can_have_is_refused_without_asking(open_page, name) -> None:
    at = open_page(DETAILS, name=name)

    assert_no_exception(at)
    assert texts(at.title) == "Deployment"
    assert len(at.warning) == 1
    assert "cannot be a deployment's name" in at.warning[0].value
    assert len(at.warning[0].value) < 400
    assert not at.tabs


def test_old_details_link_opens_the_details_page(open_page, deployed) -> None:
    at = open_page(PAGE, name=deployed)

    assert_no_exception(at)
    assert texts(at.title) == deployed
    assert at.query_params[state.QUERY_NAME] == deployed


def test_details_without_a_name_link_to_the_list(open_page) -> None:
    at = open_page(DETAILS)

    assert_no_exception(at)
    assert "No deployment chosen." in at.info[0].value
    assert at.get("page_link")[0].proto.page == "deployments"


def test_back_button_opens_the_list(open_page, deployed) -> None:
    at = open_page(DETAILS, name=deployed)

    at.button(key=state.DETAILS_BACK).click().run()

    assert_no_exception(at)
    assert at.title[0].value == "Deployments"
    assert state.QUERY_NAME not in at.query_params


def test_delete_asks_for_the_name_then_deletes(
    open_page, deployed, custom_objects
) -> None:
    at = open_page(DETAILS, name=deployed)
    at.button(key=state.DETAILS_DELETE).click().run()
    assert at.button(key=state.DELETE_CONFIRM).disabled

    at.text_input(key=state.DELETE_CONFIRM_TEXT).input(deployed).run()
    at.button(key=state.DELETE_CONFIRM).click().run()

    assert_no_exception(at)
    assert state.QUERY_NAME not in at.query_params
    assert at.title[0].value == "Deployments"
    deadline = time.monotonic() + 10
    while True:
        try:
            custom_objects.get_namespaced_custom_object(
                GROUP, VERSION, NAMESPACE, PLURAL, deployed
            )
        except ApiException as error:
            assert error.status == 404
            break
        assert time.monotonic() < deadline, "the DGD was not deleted"
        time.sleep(0.2)


def test_cancel_keeps_the_deployment(open_page, deployed, custom_objects) -> None:
    at = open_page(PAGE)
    at.selectbox(key=state.DEPLOYMENTS_PICK).set_value(deployed).run()
    at.button(key=state.DEPLOYMENTS_DELETE).click().run()

    at.button(key=state.DELETE_CANCEL).click().run()

    found = custom_objects.get_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, deployed
    )
    assert found["metadata"]["name"] == deployed


def test_denied_events_name_the_permission_and_keep_the_details(
    open_page, deployed, app_sandbox
) -> None:
    app_sandbox.deny("list", "events", NAMESPACE)

    at = rerun_until(open_page(DETAILS, name=deployed), has_pods_table)

    assert_no_exception(at)
    assert f"kubectl auth can-i list events -n {NAMESPACE}" in texts(at.warning)
    assert "Events are hidden" in texts(at.warning)


def test_running_without_a_frontend_process_is_not_serving_yet(
    open_page, deployed
) -> None:
    at = open_page(DETAILS, name=deployed)

    def shows_serving_state(at) -> bool:
        return "not serving yet" in texts(at.warning)

    rerun_until(at, shows_serving_state)
    assert_no_exception(at)
    assert "Likely causes" in texts(at.markdown)
    assert "Serving." not in texts(at.success)


def test_list_says_where_serving_is_shown(open_page, deployed) -> None:
    at = open_page(PAGE)

    assert "Open a deployment to see whether its model is serving." in texts(at.caption)


def test_stuck_delete_asks_whether_the_operator_runs(
    open_page, deployed, app_sandbox, custom_objects, monkeypatch
) -> None:
    def has_finalizer() -> bool:
        dgd = custom_objects.get_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, PLURAL, deployed
        )
        return deployments.FINALIZER in (dgd["metadata"].get("finalizers") or [])

    rerun_until(open_page(PAGE), lambda at: has_finalizer())
    app_sandbox.operator.set_available(False)
    custom_objects.delete_namespaced_custom_object(
        GROUP, VERSION, NAMESPACE, PLURAL, deployed
    )
    later = deployments._now() + timedelta(minutes=2)
    monkeypatch.setattr(deployments, "_now", lambda: later)
    connection.forget_cluster_reads()

    at = open_page(PAGE)

    assert_no_exception(at)
    warning = texts(at.warning)
    assert deployed in warning
    assert "remove its finalizer; is the operator running?" in warning


@pytest.fixture
def dynamo_app(
    dynamo_kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The app on a kubeconfig whose cluster the real Dynamo runtime serves."""
    monkeypatch.setenv("DYNAMOTE_SANDBOX", "off")
    monkeypatch.setenv("KUBECONFIG", str(dynamo_kubeconfig))
    connection.get_app_settings.clear()
    connection.forget_cluster_reads()
    yield
    connection.get_app_settings.clear()
    connection.forget_cluster_reads()


@pytest.mark.dynamo
def test_served_model_shows_serving(
    open_page, dynamo_app, dynamo_api_client: ApiClient
) -> None:
    name = deploy(dynamo_api_client, "served")
    wait_until_serving(dynamo_api_client, name)

    at = rerun_until(
        open_page(DETAILS, name=name), lambda at: "Serving" in texts(at.success)
    )

    assert_no_exception(at)
    assert "Serving. Qwen/Qwen3-0.6B is listed." in texts(at.success)
