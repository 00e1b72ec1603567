"""Identifiers: UUIDv7 (time-ordered, as Codex uses for threads and turns) and clock helpers."""

from __future__ import annotations

import itertools
import os
import time
import uuid

__all__ = ["next_request_id", "now_ms", "now_s", "uuid7"]

_request_ids = itertools.count()  # from 0, as Codex numbers them


def next_request_id() -> int:
    """The id of the next server→client request: unique in the process, so one request can go to several
    connections under one id, and no two connections' requests are ever confused in a log."""
    return next(_request_ids)


def uuid7() -> str:
    """A random UUIDv7 string: 48-bit Unix milliseconds, version 7, variant RFC 4122, 74 random bits."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def now_s() -> int:
    return int(time.time())


def now_ms() -> int:
    return time.time_ns() // 1_000_000
