"""Command line for scripts and GitOps: `python -m dynamote_core render ...`.

Prints a DynamoGraphDeployment (YAML, or JSON with `--output json`) built from
the same validation and builder the app uses; talks to no cluster. Bad
arguments exit with status 2 and the field-level messages, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from dynamote_core.catalog import ENGINES, load_catalog
from dynamote_core.config import (
    API_VERSIONS,
    DEFAULT_DYNAMO_VERSION,
    DEFAULT_SECRET_NAME,
    MODES,
    ROUTER_MODES,
    default_deployment_name,
    validate_config,
)
from dynamote_core.errors import ConfigError, DynamoteError, FieldError
from dynamote_core.manifest import (
    build_graph_deployment,
    render_manifest_json,
    render_manifest_yaml,
)

EXIT_INVALID = 2
EXIT_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one subcommand, `render`, with a flag per setting."""
    parser = argparse.ArgumentParser(
        prog="python -m dynamote_core",
        description="Render NVIDIA Dynamo DynamoGraphDeployment manifests.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="print a DynamoGraphDeployment")
    render.add_argument(
        "--model", required=True, help="Hugging Face model id from the catalog"
    )
    # Choices are checked by validate_config, so the messages match the app's.
    render.add_argument("--engine", required=True, help=f"one of {', '.join(ENGINES)}")
    render.add_argument("--mode", default="aggregated", help=" or ".join(MODES))
    render.add_argument("--router", default="none", help=", ".join(ROUTER_MODES))
    render.add_argument(
        "--api-version", default="v1beta1", help=" or ".join(API_VERSIONS)
    )
    render.add_argument(
        "--name", help="deployment name (default: from model and engine)"
    )
    render.add_argument("--namespace", default="default")
    render.add_argument("--served-model-name")
    render.add_argument("--replicas", default="1", help="aggregated workers, 1-4")
    render.add_argument("--prefill-replicas", default="1", help="1-4")
    render.add_argument("--decode-replicas", default="1", help="1-4")
    render.add_argument(
        "--hf-secret",
        default=DEFAULT_SECRET_NAME,
        help="Secret holding HF_TOKEN; empty string for none",
    )
    render.add_argument("--context-length", help="max tokens per sequence")
    render.add_argument("--enforce-eager", action="store_true")
    render.add_argument(
        "--no-prefix-caching", dest="prefix_caching", action="store_false", default=True
    )
    render.add_argument("--trust-remote-code", action="store_true")
    render.add_argument(
        "--engine-args", default="", help="YAML or JSON mapping of flags"
    )
    render.add_argument(
        "--gpus-per-worker", default="1", help="tensor parallel size, 1-8"
    )
    render.add_argument("--memory", help="worker memory, e.g. 32Gi")
    render.add_argument("--dynamo-version", default=DEFAULT_DYNAMO_VERSION)
    render.add_argument("--image", help="custom runtime image")
    render.add_argument("--output", choices=("yaml", "json"), default="yaml")
    render.add_argument(
        "--catalog", help="catalog file (default: $DYNAMOTE_CATALOG or bundled)"
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The raw settings `validate_config` takes, from parsed arguments."""
    return {
        "name": args.name or default_deployment_name(args.model, args.engine),
        "namespace": args.namespace,
        "model_id": args.model,
        "engine": args.engine,
        "mode": args.mode,
        "router_mode": args.router,
        "served_model_name": args.served_model_name,
        "replicas": args.replicas,
        "prefill_replicas": args.prefill_replicas,
        "decode_replicas": args.decode_replicas,
        "hf_secret_name": args.hf_secret,
        "context_length": args.context_length,
        "enforce_eager": args.enforce_eager,
        "prefix_caching": args.prefix_caching,
        "trust_remote_code": args.trust_remote_code,
        "engine_args": args.engine_args,
        "gpus_per_worker": args.gpus_per_worker,
        "memory": args.memory,
        "dynamo_version": args.dynamo_version,
        "image": args.image,
    }


def render(args: argparse.Namespace) -> str:
    """The manifest text for parsed `render` arguments.

    Raises:
        ConfigError: invalid settings (including an unknown --api-version).
        DynamoteError: the catalog or the manifest failed.
    """
    catalog = load_catalog(args.catalog)
    config = validate_config(settings_from_args(args), catalog)
    if args.api_version not in API_VERSIONS:
        raise ConfigError([_api_version_error(args.api_version)])
    manifest = build_graph_deployment(
        config, catalog.get(config.model_id), args.api_version
    )
    if args.output == "json":
        return render_manifest_json(manifest)
    return render_manifest_yaml(manifest)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        text = render(args)
    except ConfigError as exc:
        for error in exc.field_errors:
            line = f"error: {_flag_name(error.field)}: {error.problem} {error.fix}"
            print(line.rstrip(), file=sys.stderr)
        return EXIT_INVALID
    except DynamoteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    sys.stdout.write(text)
    return 0


_FLAGS = {
    "model_id": "--model",
    "router_mode": "--router",
    "hf_secret_name": "--hf-secret",
    "prefix_caching": "--no-prefix-caching",
}


def _flag_name(field: str) -> str:
    """The CLI flag of a settings field, so messages point at what to change."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def _api_version_error(value: str) -> FieldError:
    return FieldError(
        "api_version",
        f"{value!r} is not one of {', '.join(API_VERSIONS)}.",
        "Use v1beta1 for Dynamo 1.2 and later, v1alpha1 for older operators.",
    )


if __name__ == "__main__":
    sys.exit(main())
