"""Cutting SSE events out of byte chunks: OpenCode's shape and the rest of the spec."""

from __future__ import annotations

import itertools

import pytest
from httpx_sse._decoders import SSEDecoder, SSELineDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from opencode_orchestrator.opencode.sse import SseDecoder


def _feed(*chunks: bytes) -> list[bytes]:
    decoder = SseDecoder()
    return [data for chunk in chunks for data in decoder.feed(chunk)]


def test_opencodes_frames_packed_in_one_chunk() -> None:
    stream = b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: {"c"'
    decoder = SseDecoder()
    assert decoder.feed(stream) == [b'{"a":1}', b'{"b":2}']
    assert decoder.feed(b":3}\n") == []
    assert decoder.feed(b"\n") == [b'{"c":3}']


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"data: a\r\n\r\ndata: b\r\r"], [b"a", b"b"]),
        # A CR ends its line at once; the LF opening the next chunk joins it.
        ([b"data: a\r", b"\n\r\n"], [b"a"]),
        ([b"data: a\r\r", b"\ndata: b\n\n"], [b"a", b"b"]),
        ([b"data: a\r", b"\r"], [b"a"]),
        ([b"data: a\n", b"\r\n"], [b"a"]),
    ],
)
def test_cr_and_crlf_end_lines_even_across_chunks(
    chunks: list[bytes], expected: list[bytes]
) -> None:
    assert _feed(*chunks) == expected


def test_the_rest_of_the_format_follows_the_spec() -> None:
    stream = (
        b": a comment\n"
        b"event: ignored\nid: 7\nretry: 100\n"
        b"data: first line\ndata:second line\ndata\n"
        b"unknown: field\n"
        b"\n"
        b"\n\n\n"  # blank lines end empty events: nothing
        b"id: 8\n\n"  # an event without data: nothing
        b"data: \n\n"  # empty data: nothing
        b"data:  two spaces\n\n"
    )
    assert _feed(stream) == [b"first line\nsecond line\n", b" two spaces"]


def test_a_byte_order_mark_is_dropped_at_the_start_only() -> None:
    bom = b"\xef\xbb\xbf"
    assert _feed(bom + b"data: a\n\n") == [b"a"]
    assert _feed(bom[:1], bom[1:2], bom[2:] + b"data: a\n\n") == [b"a"]
    # Later, it is part of its line: a field named BOM + "data", which is ignored.
    assert _feed(b"data: a\n\n" + bom + b"data: b\n\n") == [b"a"]


def test_an_event_the_stream_ends_in_is_not_returned() -> None:
    assert _feed(b"data: a\n\ndata: b\n", b"") == [b"a"]


def _reference(chunks: list[bytes]) -> list[bytes]:
    # httpx-sse's decoders, on text as httpx decodes it: what the stream used before.
    lines, fields = SSELineDecoder(), SSEDecoder()
    found = []
    for chunk in chunks:
        for line in lines.decode(chunk.decode()):
            item = fields.decode(line)
            if item is not None and item.data:
                found.append(item.data.encode())
    return found


_LINES = st.sampled_from(
    [
        'data: {"type":"session.idle"}',
        "data:x",
        "data",
        "data: ",
        ": comment",
        "event: e",
        "id: 1",
        "retry: 5",
        "",
    ]
)
_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.tuples(_LINES, _ENDS), max_size=30),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_any_stream_cut_anywhere_decodes_as_httpx_sse_does(
    lines: list[tuple[str, str]], cuts: list[int]
) -> None:
    # A final LF line: httpx-sse holds back a trailing CR until more text comes.
    text = ("".join(line + end for line, end in lines) + "\n").encode()
    points = sorted({0, len(text), *(c for c in cuts if c < len(text))})
    chunks = [text[a:b] for a, b in itertools.pairwise(points)]
    assert _feed(*chunks) == _reference(chunks)
