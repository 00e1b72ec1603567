"""The base class every generated wire Struct derives from.

Generated Structs are keyword-only. Absent optional fields default to ``UNSET`` and are never encoded, so
"absent" stays distinct from an explicit ``null``; fields whose value is ``None`` are encoded as ``null``.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

__all__ = ["UNSET", "UnsetType", "WireStruct"]


class WireStruct(msgspec.Struct, kw_only=True, omit_defaults=False):
    """Base for protocol Structs: keyword-only construction, every set field encoded."""
