"""``list_threads``: filters, sort orders, keyset cursors (PROTOCOL §3.4 semantics; cursor format is ours).

Every query is checked against a plain-Python reference over the same records, paging through to the end.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import AsyncIterator

import msgspec
import pytest

from server.store import InvalidCursor, SqliteStore, ThreadQuery, ThreadRecord, WriteBatch, cursors
from server.store import reads as store_reads
from server.store.connections import ReadPool, connect_writer, prepare_files
from server.store.migrations import migrate

from .factories import blob, thread_record

CWDS = ["/src/alpha", "/src/beta", "/src/gamma"]
SOURCES = ["vscode", "cli", "appServer", "subAgent"]


def reference(records: list[ThreadRecord], query: ThreadQuery) -> list[str]:
    def keep(record: ThreadRecord) -> bool:
        term = query.search_term or ""
        return (
            record.archived == query.archived
            and (not query.cwds or record.cwd in query.cwds)
            and (not query.model_providers or record.model_provider in query.model_providers)
            and (not query.source_kinds or record.source_kind in query.source_kinds)
            and (not term or term in (record.name or "") or term in record.preview)
            and (not query.require_preview or record.preview != "")
            and record.id not in query.exclude_ids
        )

    kept = sorted(
        filter(keep, records),
        key=lambda record: (getattr(record, query.sort_key), record.id),
        reverse=query.direction == "desc",
    )
    return [record.id for record in kept]


async def page_through(store: SqliteStore, query: ThreadQuery) -> list[str]:
    ids: list[str] = []
    while True:
        page = await store.list_threads(query)
        assert len(page.items) <= query.limit
        ids += [record.id for record in page.items]
        if page.next_cursor is None:
            return ids
        query = msgspec.structs.replace(query, cursor=page.next_cursor)


@pytest.fixture
async def populated(store: SqliteStore) -> AsyncIterator[tuple[SqliteStore, list[ThreadRecord]]]:
    rng = random.Random(7)
    records = []
    for index in range(90):
        record = thread_record(
            created_at=1000 + index // 3,  # ties on the sort value: the id breaks them
            updated_at=5000 - index * 7 % 200,
            cwd=rng.choice(CWDS),
            model_provider=rng.choice(["openai", "ollama"]),
            source_kind=rng.choice(SOURCES),
            name=rng.choice([None, "Refactor ÉCOLE module", "lint"]),
            preview=rng.choice(["", "fix the Straße parser", "add tests"]),
            archived=index % 5 == 0,
        )
        batch = WriteBatch(record.id).create_thread(record)
        if index % 3:
            batch.put_turn("t1", "completed", blob(id="t1"))
            record = msgspec.structs.replace(record, turn_count=1)
        await store.write(batch)
        records.append(record)
    yield store, records


QUERIES = {
    "default (created_at desc, non-archived)": ThreadQuery(limit=7),
    "ascending": ThreadQuery(limit=7, direction="asc"),
    "by updated_at": ThreadQuery(limit=7, sort_key="updated_at"),
    "by updated_at ascending": ThreadQuery(limit=4, sort_key="updated_at", direction="asc"),
    "archived only": ThreadQuery(limit=5, archived=True),
    "one cwd": ThreadQuery(limit=5, cwds=("/src/beta",)),
    "two cwds by updated_at": ThreadQuery(limit=5, cwds=("/src/beta", "/src/gamma"), sort_key="updated_at"),
    "providers": ThreadQuery(limit=6, model_providers=("ollama",)),
    "source kinds": ThreadQuery(limit=6, source_kinds=("vscode", "cli")),
    "search in name": ThreadQuery(limit=3, search_term="ÉCOLE mod"),
    "search in preview": ThreadQuery(limit=3, search_term="Straße"),
    "search in another case finds nothing": ThreadQuery(limit=3, search_term="école"),
    "search is no LIKE pattern": ThreadQuery(limit=3, search_term="fix%parser"),
    "require a preview": ThreadQuery(limit=8, require_preview=True),
    "everything at once": ThreadQuery(
        limit=2, cwds=("/src/alpha", "/src/beta"), source_kinds=("vscode", "cli", "appServer"), require_preview=True
    ),
    "a term nothing has": ThreadQuery(search_term="nowhere"),
}


@pytest.mark.anyio
@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
async def test_listing_pages_match_the_reference_filter_and_order(populated, query: ThreadQuery) -> None:
    store, records = populated
    assert await page_through(store, query) == reference(records, query)


@pytest.mark.anyio
async def test_excluded_ids_are_left_out(populated) -> None:
    store, records = populated
    excluded = tuple(record.id.upper() for record in records[1:40:3])  # any case: ids are case-insensitive
    query = ThreadQuery(limit=10, exclude_ids=excluded)
    ids = await page_through(store, query)
    assert ids == reference(records, msgspec.structs.replace(query, exclude_ids=tuple(map(str.lower, excluded))))
    assert not set(ids) & {record.id for record in records[1:40:3]}


@pytest.mark.anyio
async def test_a_cursor_stays_valid_while_new_threads_are_created(populated) -> None:
    store, records = populated
    first = await store.list_threads(ThreadQuery(limit=10))
    newer = [thread_record(created_at=9_000 + index) for index in range(5)]  # land before the cursor: never seen
    older = [thread_record(created_at=1 + index) for index in range(5)]  # land after it: seen at the end
    for record in newer + older:
        await store.write(WriteBatch(record.id).create_thread(record))
    rest = await page_through(store, ThreadQuery(limit=10, cursor=first.next_cursor))
    seen = [record.id for record in first.items] + rest
    assert len(seen) == len(set(seen))
    assert seen == reference(records + older, ThreadQuery())


@pytest.mark.anyio
async def test_the_backwards_cursor_pages_the_other_way_from_the_first_row_including_it(populated) -> None:
    store, records = populated
    everything = reference(records, ThreadQuery())
    second = await store.list_threads(
        ThreadQuery(limit=10, cursor=(await store.list_threads(ThreadQuery(limit=10))).next_cursor)
    )
    assert [record.id for record in second.items] == everything[10:20]
    back = await store.list_threads(ThreadQuery(limit=4, direction="asc", cursor=second.backwards_cursor))
    assert [record.id for record in back.items] == everything[10:6:-1]
    assert (await store.list_threads(ThreadQuery(limit=1))).backwards_cursor is not None
    assert (await store.list_threads(ThreadQuery(search_term="nowhere"))).backwards_cursor is None


@pytest.mark.anyio
async def test_a_cursor_from_another_sort_or_direction_or_listing_is_rejected(populated) -> None:
    store, records = populated
    cursor = (await store.list_threads(ThreadQuery(limit=3))).next_cursor
    turns_cursor = (await store.list_turns(records[1].id, limit=1)).backwards_cursor
    with pytest.raises(InvalidCursor, match="another listing"):
        await store.list_threads(ThreadQuery(cursor=cursor, sort_key="updated_at"))
    with pytest.raises(InvalidCursor, match="direction 'desc'"):
        await store.list_threads(ThreadQuery(cursor=cursor, direction="asc"))
    with pytest.raises(InvalidCursor, match="another listing"):
        await store.list_threads(ThreadQuery(cursor=turns_cursor))
    for garbage in ["", "!!!", "eyJub3QiOiAiYSBjdXJzb3IifQ", '{"id": 3}']:
        with pytest.raises(InvalidCursor) as refused:
            await store.list_threads(ThreadQuery(cursor=garbage))
        assert str(refused.value) == f"invalid cursor: {garbage}"  # Codex's words


def test_every_listing_is_an_index_range_scan_without_a_sort(tmp_path) -> None:
    """Our performance contract: page cost independent of thread count (no OFFSET, no temp B-tree sort)."""
    path = prepare_files(tmp_path / "home")
    writer = connect_writer(path)
    migrate(writer)
    pool = ReadPool(path)
    statements: list[str] = []
    cursor = cursors.encode("threads", "updated_at", "desc", cursors.Anchor(5, "x", False))
    queries = [*QUERIES.values(), ThreadQuery(sort_key="updated_at", cursor=cursor, exclude_ids=("a", "b"))]

    def run(conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(statements.append)
        for query in queries:
            store_reads.list_threads(conn, query)
        conn.set_trace_callback(None)
        for statement in statements:
            if statement.startswith("SELECT"):
                plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + statement))
                assert plan.startswith("SEARCH threads USING INDEX threads_by_"), (statement, plan)
                assert "TEMP B-TREE" not in plan, (statement, plan)

    pool.run(run)
    pool.close()
    writer.close()
    assert sum(statement.startswith("SELECT") for statement in statements) == len(queries)
