"""Newline framing: LF/CRLF, blank lines, chunk boundaries, bounded oversized lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.transport.framing import HEAD_BYTES, FrameTooLarge, LineSplitter


def feed_all(chunks: list[bytes], max_frame: int = 1024) -> list[bytes | FrameTooLarge]:
    splitter = LineSplitter(max_frame)
    out: list[bytes | FrameTooLarge] = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    out.extend(splitter.finish())
    return out


def test_lf_and_crlf_both_end_a_frame() -> None:
    assert feed_all([b'{"a":1}\n{"b":2}\r\n']) == [b'{"a":1}', b'{"b":2}']


def test_blank_lines_are_skipped() -> None:
    assert feed_all([b"\n\r\n  \n{}\n"]) == [b"{}"]


def test_a_frame_split_across_chunks_is_reassembled() -> None:
    assert feed_all([b'{"me', b'thod":', b'"x"}\n']) == [b'{"method":"x"}']


def test_an_unterminated_last_line_still_counts_at_eof() -> None:
    assert feed_all([b"{}\n{\"x\":1}"]) == [b"{}", b'{"x":1}']


def test_an_oversized_line_becomes_one_marker_and_the_next_line_survives() -> None:
    big = b"x" * 50
    assert feed_all([big[:30], big[30:] + b"\n{}\n"], max_frame=40) == [FrameTooLarge(40, big), b"{}"]


def test_an_oversized_line_within_one_chunk_is_dropped_too() -> None:
    assert feed_all([b"y" * 100 + b"\n{}\n"], max_frame=40) == [FrameTooLarge(40, b"y" * 100), b"{}"]


def test_an_oversized_line_keeps_only_its_first_bytes_however_it_was_chunked() -> None:
    line = b'{"id":7,"method":"thread/start","params":{"baseInstructions":"' + b"z" * 20_000 + b'"}}'
    for step in (1000, 3000, 7000, len(line)):
        chunks = [line[i:i + step] for i in range(0, len(line), step)]
        assert feed_all([*chunks, b"\n{}\n"], max_frame=10_000) == [FrameTooLarge(10_000, line[:HEAD_BYTES]), b"{}"]


def test_u2028_inside_a_frame_does_not_split_it() -> None:
    line = '{"t":"a\u2028b\u2029c"}'.encode()
    assert feed_all([line + b"\n"]) == [line]


@given(st.lists(st.binary(max_size=40).filter(lambda b: b"\n" not in b and b.strip()), max_size=20),
       st.integers(min_value=1, max_value=7))
def test_any_chunking_yields_the_same_frames(lines: list[bytes], step: int) -> None:
    stream = b"".join(line + b"\n" for line in lines)
    chunks = [stream[i:i + step] for i in range(0, len(stream), step)]
    expected = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    assert feed_all(chunks, max_frame=1 << 20) == [e for e in expected if e.strip()]
