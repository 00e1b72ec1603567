"""Read ``schema/*.json``, check each file, and merge the ``$defs`` into one bundle.

Contract: :func:`load_bundle` returns a :class:`Bundle` only if every file is JSON, a valid draft 2020-12
schema holding ``$defs``, no name is defined twice, every definition's ``title`` equals its key, and every
``$ref`` is ``#/$defs/<Name>`` naming a definition of the bundle. Otherwise it raises ``GenError`` listing all
problems found.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .ir import GenError, Origin

DRAFT = "https://json-schema.org/draft/2020-12/schema"
_TOP_LEVEL_KEYS = {"$schema", "$id", "$comment", "title", "description", "$defs"}
_REF = re.compile(r"^#/\$defs/([^/]+)$")
# Keywords whose values are data, not schemas: a "$ref" key inside them is not a reference.
_DATA_KEYWORDS = {"default", "examples", "const", "enum"}
# Keywords whose values map arbitrary names (which may be spelled "default" …) to schemas.
_NAME_MAP_KEYWORDS = {"properties", "$defs", "patternProperties", "dependentSchemas"}


@dataclass(frozen=True)
class Bundle:
    defs: dict[str, Any]  # name → schema, sorted by name
    files: dict[str, str]  # name → file label it came from
    digest: str  # sha256 over the input files (names and bytes)
    source: str  # label of the schema directory, e.g. "schema/"

    def origin(self, name: str) -> Origin:
        return Origin(self.files[name], f"$defs/{name}")

    def as_document(self, banner: str) -> dict[str, Any]:
        """The bundle as one JSON Schema document (what ``bundle.json`` holds)."""
        return {
            "$comment": banner,
            "$schema": DRAFT,
            "title": "Threadline protocol",
            "description": "Every definition of schema/*.json merged into one namespace; refs are #/$defs/<Name>.",
            "$defs": self.defs,
        }


def label_for(path: Path, root: Path) -> str:
    """A stable, human-readable label: relative to the repo root when inside it, else as given."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def load_bundle(schema_dir: Path, root: Path) -> Bundle:
    """Load and check every ``*.json`` in ``schema_dir`` (not recursive).

    Raises:
        GenError: any of the problems listed in the module docstring.
    """
    errors: list[str] = []
    paths = sorted(schema_dir.glob("*.json"))
    source = label_for(schema_dir, root).rstrip("/") + "/"
    if not paths:
        raise GenError([f"{source}: no *.json schema files"])
    digest = hashlib.sha256()
    defs: dict[str, Any] = {}
    files: dict[str, str] = {}
    for path in paths:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw + b"\0")
        label = label_for(path, root)
        try:
            doc = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            errors.append(f"{label}: not JSON: {exc}")
            continue
        if not isinstance(doc, dict):
            errors.append(f"{label}: the document is not a JSON object")
            continue
        try:
            Draft202012Validator.check_schema(doc)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(top level)"
            errors.append(f"{label}: {where}: not a valid draft 2020-12 schema: {exc.message}")
            continue
        extra = sorted(set(doc) - _TOP_LEVEL_KEYS)
        if extra:
            errors.append(f"{label}: top level may only hold $defs and annotations, found {', '.join(extra)}")
        file_defs = doc.get("$defs")
        if not isinstance(file_defs, dict) or not file_defs:
            errors.append(f"{label}: no $defs")
            continue
        for name, schema in file_defs.items():
            if name in defs:
                errors.append(f"{label}: $defs/{name}: {name} is defined in both {files[name]} and {label}")
                continue
            defs[name] = schema
            files[name] = label
    for name, schema in defs.items():
        origin = Origin(files[name], f"$defs/{name}")
        if not isinstance(schema, dict):
            errors.append(f"{origin}: a definition must be a schema object")
            continue
        title = schema.get("title")
        if title != name:
            errors.append(f"{origin}: title {title!r} must equal the definition's key {name!r}")
        _check_refs(schema, origin, defs, errors)
    if errors:
        raise GenError(errors)
    return Bundle(
        defs={name: defs[name] for name in sorted(defs)},
        files=files,
        digest=digest.hexdigest(),
        source=source,
    )


def _check_refs(node: Any, origin: Origin, defs: dict[str, Any], errors: list[str]) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_refs(item, origin.child(i), defs, errors)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key == "$ref":
            match = _REF.match(value) if isinstance(value, str) else None
            if match is None:
                errors.append(f"{origin}: $ref {value!r} must be written '#/$defs/<Name>'")
            elif match.group(1) not in defs:
                errors.append(f"{origin}: $ref {value!r} does not resolve: no definition {match.group(1)!r}")
        elif key in _NAME_MAP_KEYWORDS and isinstance(value, dict):
            for name, sub in value.items():
                _check_refs(sub, origin.child(key, name), defs, errors)
        elif key not in _DATA_KEYWORDS:
            _check_refs(value, origin.child(key), defs, errors)
