"""Thread method handlers: thin adapters from decoded params to ``server.sessions``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocol._generated.methods import ClientMethod as M
from protocol._generated.types import (
    ThreadArchiveParams,
    ThreadArchiveResponse,
    ThreadDeleteParams,
    ThreadDeleteResponse,
    ThreadForkParams,
    ThreadForkResponse,
    ThreadItemsListParams,
    ThreadItemsListResponse,
    ThreadListParams,
    ThreadListResponse,
    ThreadLoadedListParams,
    ThreadLoadedListResponse,
    ThreadMetadataUpdateParams,
    ThreadMetadataUpdateResponse,
    ThreadReadParams,
    ThreadReadResponse,
    ThreadResumeParams,
    ThreadResumeResponse,
    ThreadRevertParams,
    ThreadRevertResponse,
    ThreadSetNameParams,
    ThreadSetNameResponse,
    ThreadStartParams,
    ThreadStartResponse,
    ThreadTurnsListParams,
    ThreadTurnsListResponse,
    ThreadUnarchiveParams,
    ThreadUnarchiveResponse,
    ThreadUnsubscribeParams,
    ThreadUnsubscribeResponse,
)

from ..sessions import browse, lifecycle, manage, metadata

if TYPE_CHECKING:
    from ..app import App
    from ..rpc.connection import RequestContext
    from ..rpc.router import Handler, Router

__all__ = ["register"]


def register(router: Router, app: App) -> None:
    async def start(ctx: RequestContext, params: ThreadStartParams) -> ThreadStartResponse:
        result, after = await lifecycle.start_thread(app.sessions, params, ctx.connection, ctx.connection.client_name)
        ctx.after_response(after)
        return result

    async def resume(ctx: RequestContext, params: ThreadResumeParams) -> ThreadResumeResponse:
        result, after = await lifecycle.resume_thread(app.sessions, params, ctx.connection)
        ctx.after_response(after)
        return result

    async def fork(ctx: RequestContext, params: ThreadForkParams) -> ThreadForkResponse:
        result, after = await lifecycle.fork_thread(app.sessions, params, ctx.connection, ctx.connection.client_name)
        ctx.after_response(after)
        return result

    async def list_(ctx: RequestContext, params: ThreadListParams) -> ThreadListResponse:
        return await browse.list_threads(app.sessions, params)

    async def read(ctx: RequestContext, params: ThreadReadParams) -> ThreadReadResponse:
        return await browse.read_thread(app.sessions, params, ctx.connection)

    async def loaded(ctx: RequestContext, params: ThreadLoadedListParams) -> ThreadLoadedListResponse:
        return await browse.list_loaded(app.sessions, params)

    async def turns(ctx: RequestContext, params: ThreadTurnsListParams) -> ThreadTurnsListResponse:
        return await browse.list_turns(app.sessions, params)

    async def items(ctx: RequestContext, params: ThreadItemsListParams) -> ThreadItemsListResponse:
        return await browse.list_items(app.sessions, params)

    async def archive(ctx: RequestContext, params: ThreadArchiveParams) -> ThreadArchiveResponse:
        ctx.after_response(await manage.archive(app.sessions, params.thread_id, ctx.connection))
        return ThreadArchiveResponse()

    async def delete(ctx: RequestContext, params: ThreadDeleteParams) -> ThreadDeleteResponse:
        ctx.after_response(await manage.delete(app.sessions, params.thread_id, ctx.connection))
        return ThreadDeleteResponse()

    async def unarchive(ctx: RequestContext, params: ThreadUnarchiveParams) -> ThreadUnarchiveResponse:
        result, after = await manage.unarchive(app.sessions, params.thread_id, ctx.connection)
        ctx.after_response(after)
        return result

    async def set_name(ctx: RequestContext, params: ThreadSetNameParams) -> ThreadSetNameResponse:
        ctx.after_response(await manage.set_name(app.sessions, params))
        return ThreadSetNameResponse()

    async def update_metadata(ctx: RequestContext, params: ThreadMetadataUpdateParams) -> ThreadMetadataUpdateResponse:
        return await metadata.update_metadata(app.sessions, params)

    async def unsubscribe(ctx: RequestContext, params: ThreadUnsubscribeParams) -> ThreadUnsubscribeResponse:
        return await manage.unsubscribe(app.sessions, params.thread_id, ctx.connection)

    async def revert(ctx: RequestContext, params: ThreadRevertParams) -> ThreadRevertResponse:
        result, after = await manage.revert(app.sessions, params, ctx.connection)
        ctx.after_response(after)
        return result

    routes: list[tuple[str, Handler]] = [
        (M.THREAD_START, start), (M.THREAD_RESUME, resume), (M.THREAD_FORK, fork), (M.THREAD_LIST, list_),
        (M.THREAD_READ, read), (M.THREAD_LOADED_LIST, loaded), (M.THREAD_TURNS_LIST, turns),
        (M.THREAD_ITEMS_LIST, items), (M.THREAD_ARCHIVE, archive), (M.THREAD_UNARCHIVE, unarchive),
        (M.THREAD_DELETE, delete),
        (M.THREAD_NAME_SET, set_name), (M.THREAD_METADATA_UPDATE, update_metadata),
        (M.THREAD_UNSUBSCRIBE, unsubscribe), (M.THREAD_REVERT, revert),
    ]
    for method, handler in routes:
        router.add(method, handler, repair=with_tool_types if method == M.THREAD_START else None)


def with_tool_types(params: Any) -> Any:
    """``thread/start`` params with each ``dynamicTools`` entry's ``type`` filled in where it is missing (a group
    has ``tools``, anything else is a function): Codex accepts specs without it, and its own README shows one."""
    tools = params.get("dynamicTools") if isinstance(params, dict) else None
    return {**params, "dynamicTools": _typed(tools)} if isinstance(tools, list) else params


def _typed(tools: list[Any]) -> list[Any]:
    typed = []
    for tool in tools:
        if isinstance(tool, dict) and "type" not in tool:
            tool = {"type": "namespace" if "tools" in tool else "function", **tool}
        if isinstance(tool, dict) and isinstance(tool.get("tools"), list):
            tool = {**tool, "tools": _typed(tool["tools"])}
        typed.append(tool)
    return typed
