"""Threadline: a JSON-RPC app-server daemon over stdio speaking the Codex app-server v2 protocol."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("threadline")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
