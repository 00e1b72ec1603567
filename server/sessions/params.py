"""Reading optional params: the generated types keep "absent" (``UNSET``) apart from ``null``; most handlers
treat both as "not given"."""

from __future__ import annotations

from typing import TypeVar

from msgspec import UNSET, UnsetType

__all__ = ["opt"]

T = TypeVar("T")


def opt(value: T | UnsetType | None) -> T | None:
    """``value`` when the client gave one, else None (absent and null alike)."""
    return None if value is UNSET else value  # type: ignore[return-value]
