"""Settings page: validation with inline messages, save, reset."""

from __future__ import annotations

import pytest

from tests.app.conftest import assert_no_exception, error_texts
from ui import state

PAGE = "views/settings.py"


@pytest.mark.parametrize(
    ("key", "value", "label"),
    [
        (state.SETTINGS_NAMESPACE, "Bad_Namespace", "Namespace"),
        (state.SETTINGS_NAMESPACE, "", "Namespace"),
        (state.SETTINGS_HF_SECRET, "secret/with/slashes", "HF token secret name"),
        (state.SETTINGS_DYNAMO_VERSION, "latest", "Dynamo version"),
    ],
    ids=["namespace-uppercase", "namespace-empty", "secret-slashes", "version-word"],
)
def test_invalid_value_is_named_and_nothing_is_saved(
    open_page, key, value, label
) -> None:
    at = open_page(PAGE)
    before = at.session_state[state.SETTINGS]

    at.text_input(key=key).input(value).run()
    at.button(key=state.SETTINGS_SAVE).click().run()

    assert_no_exception(at)
    assert any(text.startswith(label) for text in error_texts(at))
    assert any("Nothing was saved" in text for text in error_texts(at))
    assert at.session_state[state.SETTINGS] == before
    assert at.text_input(key=key).value == value


def test_valid_settings_are_saved_for_the_session(open_page) -> None:
    at = open_page(PAGE)

    at.text_input(key=state.SETTINGS_NAMESPACE).input("team-a").run()
    at.button(key=state.SETTINGS_SAVE).click().run()

    assert not error_texts(at)
    assert at.session_state[state.SETTINGS].namespace == "team-a"
    assert "Saved" in at.success[0].value or "saved" in at.success[0].value
    sidebar_text = " ".join(text.value for text in at.sidebar.markdown)
    assert "team\\-a" in sidebar_text


def test_reset_brings_back_the_environment_defaults(open_page) -> None:
    at = open_page(PAGE)
    at.text_input(key=state.SETTINGS_NAMESPACE).input("team-b").run()
    at.button(key=state.SETTINGS_SAVE).click().run()

    at.button(key=state.SETTINGS_RESET).click().run()

    assert at.session_state[state.SETTINGS].namespace == "dynamo-system"
    assert at.text_input(key=state.SETTINGS_NAMESPACE).value == "dynamo-system"


def test_each_field_says_which_variable_gives_its_default(open_page) -> None:
    at = open_page(PAGE)

    captions = " ".join(caption.value for caption in at.caption)

    for variable in (
        "DEFAULT\\_NAMESPACE",
        "DEFAULT\\_HF\\_SECRET",
        "DYNAMO\\_VERSION",
    ):
        assert variable in captions


def test_settings_from_the_cookie_apply_on_the_first_run(
    open_page, monkeypatch
) -> None:
    from ui import storage

    stored = {"namespace": "team-c", "hf_secret": "team-c-token"}
    monkeypatch.setattr(storage, "read_settings_cookie", lambda: stored)

    at = open_page()

    assert_no_exception(at)
    assert at.session_state[state.SETTINGS].namespace == "team-c"
    sidebar_text = " ".join(text.value for text in at.sidebar.markdown)
    assert "team\\-c" in sidebar_text


def test_invalid_settings_in_the_cookie_are_ignored(open_page, monkeypatch) -> None:
    from ui import storage

    monkeypatch.setattr(
        storage, "read_settings_cookie", lambda: {"namespace": "Not_Valid"}
    )

    at = open_page()

    assert_no_exception(at)
    assert at.session_state[state.SETTINGS].namespace == "dynamo-system"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("%7B%22namespace%22%3A%22team-a%22%7D", {"namespace": "team-a"}),
        ('{"namespace":"team-a"}', {"namespace": "team-a"}),
        ("not json", None),
        ("", None),
        (None, None),
        (object(), None),
    ],
    ids=["url-encoded", "plain-json", "garbage", "empty", "absent", "not-a-string"],
)
def test_settings_cookie_is_decoded_or_ignored(raw, expected) -> None:
    from ui import storage

    assert storage.decode_settings_cookie(raw) == expected


def test_saving_a_namespace_the_cluster_lacks_says_how_to_create_it(
    open_page,
) -> None:
    at = open_page(PAGE)

    at.text_input(key=state.SETTINGS_NAMESPACE).input("team-missing").run()
    at.button(key=state.SETTINGS_SAVE).click().run()

    assert_no_exception(at)
    assert at.session_state[state.SETTINGS].namespace == "team-missing"
    assert "team\\-missing does not exist" in at.warning[0].value
    assert "kubectl create namespace team-missing" in [code.value for code in at.code]


def test_saving_a_secret_the_namespace_lacks_says_how_to_create_it(
    open_page,
) -> None:
    at = open_page(PAGE)

    at.text_input(key=state.SETTINGS_HF_SECRET).input("no-such-secret").run()
    at.button(key=state.SETTINGS_SAVE).click().run()

    assert_no_exception(at)
    assert "no\\-such\\-secret does not exist" in at.info[0].value
    assert any(
        "kubectl create secret generic no-such-secret" in code.value
        and "<your token>" in code.value
        for code in at.code
    )


def test_saved_settings_reach_a_configure_form_filled_earlier(open_page) -> None:
    at = open_page("views/configure.py", model="Qwen/Qwen3-0.6B")
    at.text_input(key=state.CONFIG_NAME).input("typed-by-me").run()
    at.switch_page(PAGE).run()

    at.text_input(key=state.SETTINGS_HF_SECRET).input("team-secret").run()
    at.text_input(key=state.SETTINGS_DYNAMO_VERSION).input("1.5.0").run()
    at.button(key=state.SETTINGS_SAVE).click().run()
    at.switch_page("views/configure.py").run()

    assert_no_exception(at)
    assert at.text_input(key=state.CONFIG_HF_SECRET).value == "team-secret"
    assert at.text_input(key=state.CONFIG_NAME).value == "typed-by-me"
    manifest = " ".join(code.value for code in at.code)
    assert "vllm-runtime:1.5.0" in manifest
    assert "name: team-secret" in manifest
