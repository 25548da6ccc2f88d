"""Line splitting rules (spec/event.md §1) and the over-long line rule (lines.py docstring)."""

import random

from hypothesis import given, settings, strategies as st

from crowdsec_mp.acquisition.lines import LineSplitter, split_lines


def test_split_rules_from_event_spec():
    data = b"first\r\n\nsecond\n\r\nthird\r\r\nlast-without-newline"
    assert split_lines(data) == ["first", "second", "third\r", "last-without-newline"]


def test_whitespace_only_line_is_kept():
    assert split_lines(b" \n\t\n") == [" ", "\t"]


def test_invalid_utf8_is_replaced_not_raised():
    lines = split_lines(b"ok\n\xff\xfe\x00garbage\n")
    assert lines == ["ok", "\ufffd\ufffd\x00garbage"]


def test_overlong_line_is_truncated_once_and_counted():
    splitter = LineSplitter(max_line_bytes=10)
    out = splitter.feed(b"short\n" + b"x" * 25)
    out += splitter.feed(b"y" * 5 + b"\nafter\n")
    assert out == ["short", "x" * 10, "after"]
    assert splitter.truncated_lines == 1
    assert splitter.pending_bytes == 0


def test_line_of_exactly_max_bytes_is_not_truncated():
    splitter = LineSplitter(max_line_bytes=4)
    assert splitter.feed(b"abcd") == []
    assert splitter.feed(b"\n") == ["abcd"]
    assert splitter.truncated_lines == 0


def test_pending_bytes_counts_unfinished_line():
    splitter = LineSplitter(max_line_bytes=4)
    splitter.feed(b"done\nabcdefgh")
    assert splitter.pending_bytes == 8


def test_one_megabyte_line_keeps_memory_bounded():
    splitter = LineSplitter()
    out = []
    for _ in range(16):
        out += splitter.feed(b"z" * 65536)
        assert splitter.pending_bytes <= 16 * 65536
        assert len(splitter._buffer) <= splitter.max_line_bytes
    out += splitter.feed(b"\nnext\n")
    assert out == ["z" * 65536, "next"]
    assert splitter.truncated_lines == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12), st.integers(min_value=1, max_value=30))
def test_chunking_does_not_change_result(pieces, chunk):
    data = b"\n".join(pieces)
    expected = split_lines(data, max_line_bytes=1 << 20)
    splitter = LineSplitter(max_line_bytes=1 << 20)
    got = []
    for start in range(0, len(data), chunk):
        got += splitter.feed(data[start:start + chunk])
    got += splitter.finish()
    assert got == expected
    # Reference: the spec's rule written independently of the splitter.
    reference = []
    for piece in data.split(b"\n"):
        if piece.endswith(b"\r"):
            piece = piece[:-1]
        if piece:
            reference.append(piece.decode("utf-8", "replace"))
    assert got == reference
