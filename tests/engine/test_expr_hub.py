"""Compatibility: every expression of the CrowdSec hub snapshot compiles.

Expressions come from parsers, scenarios and postoverflows (keys filter,
expression, groupby, distinct, cancel_on, condition, overflow_filter,
scope.expression, stash key/value, whitelist expression lists, bayesian
conditions) and from every line of every hub-test .assert file (compiled with
`basename` as an extra function, like the hubtest runner does).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from crowdsec_mp.engine.expr import ExprCompileError, compile_expr

EXPRESSION_KEYS = {"filter", "expression", "groupby", "distinct", "cancel_on", "condition",
                   "overflow_filter"}


def _basename(path):
    return os.path.basename(path.rstrip("/")) or "."


def _expressions_in(node, found, trail=""):
    if isinstance(node, dict):
        for key, value in node.items():
            where = f"{trail}.{key}"
            is_expr_key = key in EXPRESSION_KEYS or (key in ("key", "value") and ".stash" in trail)
            if is_expr_key and isinstance(value, str):
                found.append((where, value))
            elif is_expr_key and key == "expression" and isinstance(value, list):
                found.extend((where, item) for item in value if isinstance(item, str))
            else:
                _expressions_in(value, found, where)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _expressions_in(item, found, f"{trail}[{index}]")


def hub_item_expressions(hub: Path) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for area in ("parsers", "scenarios", "postoverflows"):
        for path in sorted((hub / area).rglob("*.yaml")):
            with open(path, encoding="utf-8") as handle:
                for doc_index, doc in enumerate(yaml.safe_load_all(handle)):
                    _expressions_in(doc, found, f"{path.relative_to(hub)}#{doc_index}")
    return found


def hub_assert_lines(hub: Path) -> list[tuple[str, str]]:
    lines = []
    for path in sorted((hub / "tests").glob("*/*.assert")):
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if line != "":
                lines.append((f"{path.relative_to(hub)}:{number}", line))
    return lines


def _compile_all(items, extra_funcs=None):
    failures = []
    for where, source in items:
        try:
            compile_expr(source, where=where, extra_funcs=extra_funcs)
        except ExprCompileError as exc:
            failures.append(str(exc))
    return failures


def test_every_hub_item_expression_compiles(shared_hub):
    items = hub_item_expressions(shared_hub)
    assert len(items) > 2000, "the hub snapshot should hold thousands of expressions"
    failures = _compile_all(items)
    assert failures == [], f"{len(failures)} of {len(items)} failed:\n" + "\n".join(failures[:20])


def test_every_hub_assert_line_compiles(shared_hub):
    lines = hub_assert_lines(shared_hub)
    assert len(lines) > 10000
    failures = _compile_all(lines, extra_funcs={"basename": _basename})
    assert failures == [], f"{len(failures)} of {len(lines)} failed:\n" + "\n".join(failures[:20])


def test_unknown_function_in_hub_style_expression_is_reported_with_where():
    with pytest.raises(ExprCompileError) as info:
        compile_expr("basename(results[0].x) == 'a'", where="tests/x/parser.assert:3")
    assert "tests/x/parser.assert:3" in str(info.value)
    assert "basename" in str(info.value)
