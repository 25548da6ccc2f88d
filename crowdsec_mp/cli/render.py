"""Output rendering shared by every `cscli-mp` command (spec/cli.md §1).

Three formats, chosen by the global `-o`:
  * human: an aligned text table (what an operator reads),
  * json:  `json.dumps` with 2-space indent; an empty list prints `[]`, never `null`,
  * raw:   CSV with a header line (what scripts parse).
Data goes to stdout; informational messages go to stderr (`info()`), so that
`cscli-mp ... -o json | jq` never sees them.
"""

from __future__ import annotations

import csv
import json
import sys
import unicodedata
from datetime import date, datetime
from pathlib import Path

OUTPUT_FORMATS = ("human", "json", "raw")


def display_width(text: str) -> int:
    """Terminal columns used by `text`: wide (CJK, emoji) characters take two,
    combining marks and variation selectors none."""
    width = 0
    previous = 0
    for char in text:
        if char == "\ufe0f":
            # Emoji presentation selector: the previous symbol is drawn two columns wide.
            width += 1 if previous == 1 else 0
            previous = 2
            continue
        if unicodedata.combining(char) or char in "\u200d\ufe0e":
            continue
        previous = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        width += previous
    return width


def cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ", ".join(cell_text(v) for v in value)
    return str(value)


def table_text(headers, rows) -> str:
    """A plain table: header, a dashed rule, one line per row; columns are
    separated by ` | ` and padded to the widest cell."""
    headers = [cell_text(h) for h in headers]
    rows = [[cell_text(c) for c in row] for row in rows]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"table row has {len(row)} cells, expected {len(headers)}: {row!r}")
    widths = [display_width(h) for h in headers]
    for row in rows:
        widths = [max(w, display_width(c)) for w, c in zip(widths, row)]

    def line(cells):
        padded = [c + " " * (w - display_width(c)) for c, w in zip(cells, widths)]
        return (" " + " | ".join(padded)).rstrip()

    rule = "-" + "-+-".join("-" * w for w in widths) + "-"
    return "\n".join([line(headers), rule] + [line(r) for r in rows]) + "\n"


def json_default(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def json_text(data) -> str:
    if data is None:
        data = []
    return json.dumps(data, indent=2, ensure_ascii=False, default=json_default) + "\n"


def csv_text(headers, rows) -> str:
    out = _StringSink()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([cell_text(h) for h in headers])
    for row in rows:
        writer.writerow([cell_text(c) for c in row])
    return out.text


class _StringSink:
    def __init__(self):
        self.parts = []

    def write(self, text):
        self.parts.append(text)

    @property
    def text(self):
        return "".join(self.parts)


def render(output, *, headers=None, rows=None, data=None, raw_headers=None, raw_rows=None,
           empty_message=None, out=None) -> None:
    """Print one result in the requested format.

    `headers`/`rows` make the human table (and the CSV unless `raw_headers`/
    `raw_rows` are given: CrowdSec's CSV columns often differ from the table's);
    `data` is what JSON prints. With no rows, human output prints
    `empty_message` (if given) instead of an empty table.
    """
    out = out or sys.stdout
    if output == "json":
        out.write(json_text(data))
    elif output == "raw":
        out.write(csv_text(raw_headers or headers or [], raw_rows if raw_rows is not None else rows or []))
    elif output == "human":
        if not rows and empty_message is not None:
            out.write(empty_message + "\n")
        else:
            out.write(table_text(headers or [], rows or []))
    else:
        raise ValueError(f"unknown output format {output!r} (expected one of {', '.join(OUTPUT_FORMATS)})")


def info(message: str, err=None) -> None:
    """An informational message for the operator (stderr, never mixed with data)."""
    (err or sys.stderr).write(message + "\n")
