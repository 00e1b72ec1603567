"""The base class every generated wire Struct derives from.

Generated Structs are keyword-only. Absent optional fields default to ``UNSET`` and are never encoded, so
"absent" stays distinct from an explicit ``null``; fields whose value is ``None`` are encoded as ``null``.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["UNSET", "MethodSpec", "UnsetType", "WireStruct"]


class WireStruct(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Base for protocol Structs: keyword-only construction, every set field encoded."""


class MethodSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of the generated method registry.

    ``params``/``result`` are the generated Struct types (``None`` where a message has no params or result);
    ``experimental`` marks a method that needs ``capabilities.experimentalApi``; ``experimental_fields``
    lists the wire names of params fields that need it.
    """

    method: str
    params: type | None
    result: type | None = None
    experimental: bool = False
    experimental_fields: frozenset[str] = frozenset()
