"""Threadline's wire protocol: generated types and registry, JSON-RPC envelopes, the codec and a typed client.

Everything under ``protocol._generated`` is generated from ``schema/`` by ``scripts/gen_protocol.py``; this
package imports nothing from ``server``.
"""

from ._base import UNSET, MethodSpec, UnsetType, WireStruct

__all__ = ["UNSET", "MethodSpec", "UnsetType", "WireStruct"]
