"""JSON Schemas that clients hand us — a dynamic tool's `inputSchema`, a turn's `outputSchema`.

Contract: `schema_problem(schema)` says why a schema cannot be used to validate (None when it can): it is
checked against the draft it names in `$schema` (2020-12 when it names none), the same draft `validator`
then validates with, and every `$ref` in it must resolve inside the schema itself (nothing is fetched). A
schema that passes compiles once (`validator`, cached by its encoded bytes); a problem found only while
validating still surfaces as `SchemaUnusable`, never as an unexpected exception in a turn.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema
import msgspec
import referencing.exceptions  # jsonschema's own reference resolver (a dependency of jsonschema >= 4.18)
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = ["SchemaUnusable", "schema_problem", "validation_errors"]

_ROOT = "urn:threadline:client-schema"
# Keywords whose values are data, not subschemas: a "$ref" key inside them is not a reference.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


class SchemaUnusable(Exception):
    """The schema cannot validate anything (found while validating)."""


def schema_problem(schema: Any) -> str | None:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return exc.message
    if not isinstance(schema, dict):
        return None  # true / false
    root = Resource.from_contents(schema, default_specification=DRAFT202012)
    dangling = _first_dangling_ref(schema, Registry().with_resource(_ROOT, root).resolver(_ROOT))
    return None if dangling is None else f"$ref {dangling!r} does not resolve within the schema"


def _first_dangling_ref(node: Any, resolver: Any) -> str | None:
    """The first `$ref` under `node` that does not resolve (each against the `$id` in scope where it sits)."""
    if isinstance(node, list):
        return next((ref for value in node if (ref := _first_dangling_ref(value, resolver)) is not None), None)
    if not isinstance(node, dict):
        return None
    if isinstance(node.get("$id"), str):
        resolver = resolver.in_subresource(Resource.from_contents(node, default_specification=DRAFT202012))
    ref = node.get("$ref")
    if isinstance(ref, str):
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable:
            return ref
    for key, value in node.items():
        if key not in _DATA_KEYWORDS and (found := _first_dangling_ref(value, resolver)) is not None:
            return found
    return None


@lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> Any:
    schema = msgspec.json.decode(schema_json)
    return jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)


def validation_errors(schema: Any, instance: Any) -> list[jsonschema.ValidationError]:
    """What is wrong with `instance`, shallowest path first; raises `SchemaUnusable`."""
    try:
        errors = list(_validator(msgspec.json.encode(schema)).iter_errors(instance))
    except (jsonschema.SchemaError, referencing.exceptions.Unresolvable) as exc:
        raise SchemaUnusable(str(exc).split("\n", 1)[0]) from exc
    return sorted(errors, key=lambda e: (len(list(e.absolute_path)), list(map(str, e.absolute_path))))
