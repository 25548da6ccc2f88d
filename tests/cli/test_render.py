"""Shared CLI rendering: human tables, JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from crowdsec_mp.cli.render import display_width, render, table_text


def rendered(output, **kwargs):
    out = io.StringIO()
    render(output, out=out, **kwargs)
    return out.getvalue()


def test_table_columns_are_aligned_and_separated():
    text = table_text(["Name", "Count"], [["a", 1], ["longer name", 22]])
    lines = text.splitlines()
    assert lines[0] == " Name        | Count"
    assert lines[1] == "-------------+-------"
    assert lines[2] == " a           | 1"
    assert lines[3] == " longer name | 22"


def test_wide_characters_count_as_two_columns():
    assert display_width("📦 Status") == 9
    assert display_width("✔️") == 2
    assert display_width("abc") == 3
    lines = table_text(["📦", "x"], [["ab", "y"]]).splitlines()
    # the separator sits in the same terminal column on every line
    columns = [display_width(line[: line.index("|")]) for line in (lines[0], lines[2])]
    assert columns == [4, 4]


def test_row_of_wrong_length_is_refused():
    with pytest.raises(ValueError, match="2 cells, expected 3"):
        table_text(["a", "b", "c"], [[1, 2]])


def test_human_empty_message_and_empty_table():
    assert rendered("human", headers=["A"], rows=[], empty_message="No decisions") == "No decisions\n"
    assert rendered("human", headers=["A"], rows=[]) == " A\n---\n"


def test_json_prints_empty_list_not_null_and_converts_values():
    assert json.loads(rendered("json", data=None)) == []
    when = datetime(2024, 3, 10, 6, 0, tzinfo=timezone.utc)
    data = json.loads(rendered("json", data={"at": when, "path": Path("/x"), "tags": {"b", "a"}}))
    assert data == {"at": "2024-03-10T06:00:00+00:00", "path": "/x", "tags": ["a", "b"]}


def test_raw_is_csv_with_header_and_quoting():
    text = rendered("raw", headers=["name", "note"], rows=[["a,b", 'say "hi"'], [None, True]])
    assert list(csv.reader(io.StringIO(text))) == [["name", "note"], ["a,b", 'say "hi"'], ["", "true"]]
    text = rendered("raw", headers=["Human"], rows=[["x"]], raw_headers=["h"], raw_rows=[["y"]])
    assert text == "h\ny\n"


def test_unknown_format_is_an_error():
    with pytest.raises(ValueError, match="unknown output format 'xml'"):
        rendered("xml", headers=[], rows=[])
