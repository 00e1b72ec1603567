"""``generate-json-schema``: write the protocol schema in the layout Codex's command uses.

Top level: ``ClientRequest.json``, ``ClientNotification.json``, ``ServerRequest.json``,
``ServerNotification.json``; under ``v2/`` one ``<Type>.json`` per params, response and notification type.
Each file is self-contained (its own ``$defs`` holding every type it references), so a tool can read one file
alone — the official SDK reads ``v2/TurnStartParams.json`` and friends to learn what an unversioned runtime
supports. Without ``--experimental``, experimental methods and fields are left out.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import msgspec

from protocol.schema import schema_bundle

__all__ = ["UNIONS", "build_schema_files", "write_schema_bundle"]

UNIONS = ("ClientRequest", "ClientNotification", "ServerRequest", "ServerNotification")
_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REF = "#/$defs/"


def _strip_experimental(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip_experimental(n) for n in node if not (isinstance(n, dict) and n.get("x-experimental"))]
    if not isinstance(node, dict):
        return node
    out = {k: _strip_experimental(v) for k, v in node.items()}
    props = out.get("properties")
    if isinstance(props, dict):
        dropped = {k for k, v in node["properties"].items() if isinstance(v, dict) and v.get("x-experimental")}
        out["properties"] = {k: v for k, v in props.items() if k not in dropped}
        if "required" in out:
            out["required"] = [r for r in out["required"] if r not in dropped]
    return out


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            found.add(ref[len(_REF):])
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _closure(defs: dict[str, Any], root: Any) -> dict[str, Any]:
    todo: set[str] = set()
    _refs(root, todo)
    seen: dict[str, Any] = {}
    while todo:
        name = todo.pop()
        if name in seen or name not in defs:
            continue
        seen[name] = defs[name]
        _refs(defs[name], todo)
    return dict(sorted(seen.items()))


def _document(defs: dict[str, Any], name: str) -> dict[str, Any]:
    body = copy.deepcopy(defs[name])
    doc: dict[str, Any] = {"$schema": _DIALECT, **body}
    closure = _closure(defs, body)
    closure.pop(name, None)
    if _REF + name in msgspec.json.encode(body).decode():
        closure[name] = defs[name]  # recursive type: keep itself addressable
    if closure:
        doc["$defs"] = closure
    return doc


def _payload_types(unions: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for union in unions.values():
        for variant in union.get("oneOf", []):
            params = variant.get("properties", {}).get("params", {})
            for node in (params, variant.get("x-response", {})):
                ref = node.get("$ref") if isinstance(node, dict) else None
                if isinstance(ref, str) and ref.startswith(_REF):
                    names.add(ref[len(_REF):])
    return names


def build_schema_files(*, experimental: bool) -> dict[str, dict[str, Any]]:
    """Relative path → JSON document."""
    defs: dict[str, Any] = copy.deepcopy(schema_bundle()["$defs"])
    if not experimental:
        defs = {name: _strip_experimental(body) for name, body in defs.items()}
    files = {f"{union}.json": _document(defs, union) for union in UNIONS if union in defs}
    unions = {union: defs[union] for union in UNIONS if union in defs}
    for name in sorted(_payload_types(unions)):
        files[f"v2/{name}.json"] = _document(defs, name)
    return files


def write_schema_bundle(out: str | Path, *, experimental: bool) -> list[Path]:
    root = Path(out)
    written: list[Path] = []
    for rel, doc in build_schema_files(experimental=experimental).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(msgspec.json.format(msgspec.json.encode(doc), indent=2) + b"\n")
        written.append(path)
    return written
