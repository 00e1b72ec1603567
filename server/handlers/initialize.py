"""``initialize``: the handshake. Exactly once per connection; it sets the connection's capabilities.

The result names Threadline and its own version in ``userAgent``, and the protocol release it implements in
``serverInfo.version``.

``userAgent`` follows Codex's shape, ``<name>/<version> (<os> <os version>; <arch>) <terminal> (<client>;
<client version>)``, because clients split it at the first ``/`` to learn the runtime and its version.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import TYPE_CHECKING

from protocol._base import UNSET
from protocol._generated.methods import ClientMethod
from protocol._generated.types import InitializeParams, InitializeResponse, ServerInfo

from ..errors import InvalidRequest

if TYPE_CHECKING:
    from ..app import App
    from ..rpc.connection import RequestContext
    from ..rpc.router import Router

__all__ = ["PROTOCOL_VERSION", "register", "user_agent"]

PROTOCOL_VERSION = "0.163.0"
"""The Codex app-server release whose v2 protocol Threadline implements (schema/ was checked against it).

Reported as ``serverInfo.version``: the official SDK gates optional fields (``excludeTurns``, ``turnTrigger``,
``toolOutput``, ``serviceTierForTurn``) on the runtime version it reads there, and Threadline supports them.
"""


def _os_description() -> str:
    try:
        release = platform.freedesktop_os_release()
        return f"{release.get('NAME', platform.system())} {release.get('VERSION_ID', platform.release())}"
    except OSError:
        return f"{platform.system()} {platform.release()}"


def user_agent(version: str, client_name: str, client_version: str, env: dict[str, str] | None = None) -> str:
    env = dict(os.environ if env is None else env)
    terminal = env.get("TERM_PROGRAM") or env.get("TERM") or "unknown"
    return (f"threadline/{version} ({_os_description()}; {platform.machine() or 'unknown'}) {terminal} "
            f"({client_name}; {client_version})")


def _platform_os() -> str:
    if sys.platform == "darwin":
        return "macos"
    return "windows" if sys.platform.startswith("win") else "linux"


def register(router: Router, app: App) -> None:
    async def initialize(ctx: RequestContext, params: InitializeParams) -> InitializeResponse:
        conn = ctx.connection
        if conn.initialize_answered:
            raise InvalidRequest("Already initialized")
        caps = params.capabilities
        if caps is not None and caps is not UNSET:
            methods = caps.opt_out_notification_methods
            conn.set_capabilities(experimental_api=caps.experimental_api is True,
                                  opt_out=frozenset(methods) if isinstance(methods, list) else frozenset())
        conn.client_name = params.client_info.name
        conn.client_version = params.client_info.version
        conn.initialize_answered = True
        return InitializeResponse(
            user_agent=user_agent(app.version, params.client_info.name, params.client_info.version,
                                  dict(app.settings.env)),
            codex_home=str(app.settings.home.resolve()),
            platform_family="windows" if sys.platform.startswith("win") else "unix",
            platform_os=_platform_os(),
            server_info=ServerInfo(name="threadline", version=PROTOCOL_VERSION),
        )

    router.add(ClientMethod.INITIALIZE, initialize)
