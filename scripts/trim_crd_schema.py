"""Trim the DynamoGraphDeployment CRD into the structural schemas Dynamote ships.

Usage: .venv/bin/python scripts/trim_crd_schema.py [CRD_YAML] [OUT_DIR]
(defaults: ../shared/dynamo/crds/nvidia.com_dynamographdeployments.yaml and
dynamote_core/schemas/). Writes one `dgd-<version>.json` per served version.

What the trim does, and why:
- drops descriptions, defaults and Kubernetes list/map hints (structure only);
- drops CEL rules (`x-kubernetes-validations`): jsonschema cannot run them, and
  `dynamote_core.schema` checks the admission rules that matter in Python;
- makes objects strict: an object with `properties` and without
  `x-kubernetes-preserve-unknown-fields` gets `additionalProperties: false`,
  as the API server prunes (and strict clients reject) unknown fields;
- translates `x-kubernetes-int-or-string` and `nullable` into JSON Schema;
- keeps `status` as a free object: a manifest never carries it.
The test suite re-runs this on ../shared and compares with the shipped files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CRD = ROOT.parent / "shared/dynamo/crds/nvidia.com_dynamographdeployments.yaml"
DEFAULT_OUT = ROOT / "dynamote_core/schemas"

KEPT_KEYWORDS = (
    "type",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
)


def trim_node(node: dict[str, Any]) -> dict[str, Any]:
    """One schema node, trimmed (recursively) as the module docstring says."""
    trimmed = {key: node[key] for key in KEPT_KEYWORDS if key in node}
    if node.get("x-kubernetes-int-or-string"):
        trimmed.pop("type", None)
        trimmed["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in trimmed:
        trimmed["type"] = [trimmed["type"], "null"]
    if "items" in node:
        trimmed["items"] = trim_node(node["items"])
    if "properties" in node:
        trimmed["properties"] = {
            name: trim_node(child) for name, child in node["properties"].items()
        }
    additional = node.get("additionalProperties")
    if isinstance(additional, dict):
        trimmed["additionalProperties"] = trim_node(additional)
    elif additional is not None:
        trimmed["additionalProperties"] = additional
    elif "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        trimmed["additionalProperties"] = False
    return trimmed


def trim_crd(crd: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Version name -> trimmed schema, for every served version of the CRD."""
    schemas = {}
    for version in crd["spec"]["versions"]:
        if not version.get("served", False):
            continue
        schema = trim_node(version["schema"]["openAPIV3Schema"])
        schema["properties"]["status"] = {"type": "object"}
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        schemas[version["name"]] = schema
    return schemas


def render_schema(schema: dict[str, Any]) -> str:
    """The file text of one schema: sorted keys, one level of indent, final newline."""
    return json.dumps(schema, indent=1, sort_keys=True) + "\n"


def load_crd(crd_path: Path) -> dict[str, Any]:
    """The CRD document, parsed with libyaml when available (the file is 1.6 MB)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd: dict[str, Any] = yaml.load(crd_path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    return crd


def render_crd_files(crd_path: Path) -> dict[str, str]:
    """File name -> text of every schema file the CRD at `crd_path` yields."""
    crd = load_crd(crd_path)
    return {
        f"dgd-{version}.json": render_schema(schema)
        for version, schema in trim_crd(crd).items()
    }


def main(argv: list[str]) -> int:
    crd_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_CRD
    out_dir = Path(argv[2]) if len(argv) > 2 else DEFAULT_OUT
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in render_crd_files(crd_path).items():
        (out_dir / name).write_text(text, encoding="utf-8")
        print(f"wrote {out_dir / name} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
