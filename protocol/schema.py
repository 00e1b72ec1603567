"""The protocol's JSON Schema at runtime: the merged bundle shipped as ``protocol/_generated/bundle.json``.

``schema_bundle()`` returns the parsed bundle (one namespace, refs ``#/$defs/<Name>``), so the installed package
needs no ``schema/`` folder. ``validator_for(name)`` returns a draft 2020-12 validator for one definition, used by
tests (the test client validates every server message) and tooling; jsonschema is imported on first use only,
so the daemon's hot path never pays for it. Both are cached; treat the returned dict as read-only.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

__all__ = ["schema_bundle", "validator_for"]


@cache
def schema_bundle() -> dict[str, Any]:
    """The merged schema bundle (``{"$defs": {...}, ...}``), loaded once."""
    data = resources.files("protocol._generated").joinpath("bundle.json").read_bytes()
    return msgspec.json.decode(data)


@cache
def validator_for(def_name: str) -> Draft202012Validator:
    """A cached validator for ``{"$ref": "#/$defs/<def_name>"}`` resolved within the bundle.

    Raises:
        KeyError: the bundle has no definition ``def_name``.
    """
    from jsonschema import Draft202012Validator

    bundle = schema_bundle()
    if def_name not in bundle["$defs"]:
        raise KeyError(f"no schema definition {def_name!r}")
    schema = {"$schema": bundle["$schema"], "$defs": bundle["$defs"], "$ref": f"#/$defs/{def_name}"}
    return Draft202012Validator(schema)
