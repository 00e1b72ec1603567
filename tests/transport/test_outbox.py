"""The outbox between frame producers and the writer: order, batching, backpressure and closing."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import pytest

from server.transport.outbox import Outbox

pytestmark = pytest.mark.anyio


async def test_the_writer_takes_everything_queued_as_one_write_in_order() -> None:
    outbox = Outbox(10)
    for n in range(3):
        outbox.send_nowait(b"%d\n" % n)
    assert await outbox.take() == b"0\n1\n2\n"
    outbox.close()
    assert await outbox.take() is None  # nothing was left behind


async def test_a_write_is_bounded_by_batch_bytes_but_always_holds_one_frame() -> None:
    outbox = Outbox(10, batch_bytes=4)
    for frame in (b"aaaaaa\n", b"b\n", b"c\n", b"d\n"):
        outbox.send_nowait(frame)
    assert [await outbox.take() for _ in range(3)] == [b"aaaaaa\n", b"b\nc\n", b"d\n"]


async def take_while_waiting(outbox: Outbox, then: Callable[[], None]) -> bytes | None:
    """What a writer waiting on an empty outbox takes once `then()` runs."""
    taken: list[bytes | None] = []

    async def writer() -> None:
        taken.append(await outbox.take())

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await anyio.wait_all_tasks_blocked()
            then()
    return taken[0]


async def test_a_waiting_writer_wakes_for_the_next_frame() -> None:
    outbox = Outbox(10)
    assert await take_while_waiting(outbox, lambda: outbox.send_nowait(b"late\n")) == b"late\n"


async def test_a_full_outbox_refuses_at_once_and_holds_a_sender_until_the_writer_takes() -> None:
    outbox = Outbox(2)
    outbox.send_nowait(b"1\n")
    outbox.send_nowait(b"2\n")
    with pytest.raises(anyio.WouldBlock):
        outbox.send_nowait(b"3\n")
    sent = anyio.Event()

    async def producer() -> None:
        await outbox.send(b"3\n")
        sent.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            await anyio.wait_all_tasks_blocked()
            assert not sent.is_set()
            assert await outbox.take() == b"1\n2\n"
            await sent.wait()
    assert await outbox.take() == b"3\n"


async def test_closing_hands_over_what_is_queued_then_ends_the_writer_and_refuses_senders() -> None:
    outbox = Outbox(1)
    outbox.send_nowait(b"kept\n")
    outcome: list[str] = []

    async def blocked_producer() -> None:
        try:
            await outbox.send(b"never\n")
        except anyio.ClosedResourceError:
            outcome.append("refused")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(blocked_producer)
            await anyio.wait_all_tasks_blocked()
            outbox.close()
    assert outcome == ["refused"]
    assert await outbox.take() == b"kept\n"
    assert await outbox.take() is None
    with pytest.raises(anyio.ClosedResourceError):
        outbox.send_nowait(b"after\n")


async def test_closing_wakes_a_writer_waiting_on_an_empty_outbox() -> None:
    outbox = Outbox(4)
    assert await take_while_waiting(outbox, outbox.close) is None
