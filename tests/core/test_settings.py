"""AppSettings from environment variables: defaults, parsing, errors, sandbox choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynamote_core.errors import ConfigError
from dynamote_core.settings import REPO_CATALOG, AppSettings, load_settings


def test_defaults_apply_when_nothing_is_set(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path)}

    settings = load_settings(environ)

    assert settings.default_namespace == "dynamo-system"
    assert settings.default_hf_secret == "hf-token-secret"
    assert settings.catalog_path == REPO_CATALOG
    assert settings.dynamo_version == "1.6.1"
    assert settings.refresh_seconds == 10
    assert settings.sandbox == "auto"
    assert settings.log_level == "INFO"
    assert settings.kubeconfig is None
    assert settings.kube_context is None
    assert settings.api_version == "auto"
    assert settings.port == 8501
    assert settings.in_cluster is False


def test_repo_catalog_is_the_file_beside_the_package() -> None:
    assert REPO_CATALOG.name == "catalog.json"
    assert (REPO_CATALOG.parent / "dynamote_core").is_dir()


def test_every_variable_is_read() -> None:
    environ = {
        "DEFAULT_NAMESPACE": "team-a",
        "DEFAULT_HF_SECRET": "hf.token",
        "DYNAMOTE_CATALOG": "/etc/dynamote/catalog.json",
        "DYNAMO_VERSION": "1.4.0",
        "DYNAMOTE_REFRESH_SECONDS": "30",
        "DYNAMOTE_SANDBOX": "ON",
        "DYNAMOTE_LOG_LEVEL": "debug",
        "KUBECONFIG": "/a/config:/b/config",
        "DYNAMOTE_KUBE_CONTEXT": "prod",
        "DYNAMOTE_API_VERSION": "v1alpha1",
        "PORT": "9000",
    }

    settings = load_settings(environ)

    assert settings.default_namespace == "team-a"
    assert settings.default_hf_secret == "hf.token"
    assert settings.catalog_path == Path("/etc/dynamote/catalog.json")
    assert settings.dynamo_version == "1.4.0"
    assert settings.refresh_seconds == 30
    assert settings.sandbox == "on"
    assert settings.log_level == "DEBUG"
    assert settings.kubeconfig_paths() == (Path("/a/config"), Path("/b/config"))
    assert settings.kube_context == "prod"
    assert settings.api_version == "v1alpha1"
    assert settings.port == 9000


def test_empty_variables_take_the_default() -> None:
    environ = {"DEFAULT_NAMESPACE": "", "PORT": "  ", "KUBECONFIG": ""}

    settings = load_settings(environ)

    assert settings.default_namespace == "dynamo-system"
    assert settings.port == 8501
    assert settings.kubeconfig is None


def test_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DYNAMOTE_REFRESH_SECONDS", "42")

    settings = load_settings()

    assert settings.refresh_seconds == 42


def test_settings_are_frozen() -> None:
    settings = load_settings({})

    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DEFAULT_NAMESPACE", "Team_A"),
        ("DEFAULT_NAMESPACE", "a" * 64),
        ("DEFAULT_HF_SECRET", "-token"),
        ("DYNAMO_VERSION", "latest"),
        ("DYNAMOTE_REFRESH_SECONDS", "0"),
        ("DYNAMOTE_REFRESH_SECONDS", "ten"),
        ("DYNAMOTE_SANDBOX", "maybe"),
        ("DYNAMOTE_LOG_LEVEL", "loud"),
        ("DYNAMOTE_API_VERSION", "v2"),
        ("PORT", "70000"),
    ],
    ids=lambda value: value if len(value) < 20 else "too-long",
)
def test_bad_value_names_its_variable(variable: str, value: str) -> None:
    environ = {variable: value}

    with pytest.raises(ConfigError) as caught:
        load_settings(environ)

    [error] = caught.value.field_errors
    assert error.field == variable
    assert repr(value) in error.problem
    assert error.fix


def test_every_bad_variable_is_reported_at_once() -> None:
    environ = {"PORT": "x", "DYNAMOTE_SANDBOX": "maybe"}

    with pytest.raises(ConfigError) as caught:
        load_settings(environ)

    fields = {error.field for error in caught.value.field_errors}
    assert fields == {"PORT", "DYNAMOTE_SANDBOX"}


def test_unrelated_variables_are_ignored() -> None:
    environ = {"PATH": "/usr/bin", "SOMETHING_ELSE": "x"}

    settings = load_settings(environ)

    assert settings == load_settings({})


def _write_kubeconfig(home: Path) -> None:
    (home / ".kube").mkdir()
    (home / ".kube" / "config").write_text("apiVersion: v1\nkind: Config\n")


@pytest.mark.parametrize(
    ("mode", "has_kubeconfig", "in_cluster", "expected"),
    [
        ("on", True, True, True),
        ("off", False, False, False),
        ("auto", False, False, True),
        ("auto", True, False, False),
        ("auto", False, True, False),
    ],
    ids=[
        "on-wins",
        "off-wins",
        "auto-nothing-configured",
        "auto-kubeconfig",
        "auto-in-cluster",
    ],
)
def test_sandbox_choice(
    tmp_path: Path, mode: str, has_kubeconfig: bool, in_cluster: bool, expected: bool
) -> None:
    if has_kubeconfig:
        _write_kubeconfig(tmp_path)
    environ = {"HOME": str(tmp_path), "DYNAMOTE_SANDBOX": mode}
    if in_cluster:
        environ["KUBERNETES_SERVICE_HOST"] = "10.96.0.1"

    settings = load_settings(environ)

    assert settings.is_sandbox_wanted() is expected


def test_kubeconfig_variable_replaces_the_default_file(tmp_path: Path) -> None:
    _write_kubeconfig(tmp_path)
    environ = {"HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "missing")}

    settings = load_settings(environ)

    assert settings.is_sandbox_wanted() is True


def test_field_aliases_are_the_documented_variables() -> None:
    aliases = {field.alias for field in AppSettings.model_fields.values()}

    assert aliases >= {"DEFAULT_NAMESPACE", "DYNAMOTE_SANDBOX", "PORT", "KUBECONFIG"}
