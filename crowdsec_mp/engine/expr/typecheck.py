"""Compile-time checks that need no environment: the typed `evt` root.

CrowdSec compiles expressions against a typed environment, so `evt.Foo`
(unknown field) or `evt.Parsed.status >= 400` (string vs int) fail to load.
We know the Event dataclasses, so we reproduce those errors; anything whose
type is not certain is left to run time.
"""

from __future__ import annotations

import typing

from crowdsec_mp.engine.expr import ast
from crowdsec_mp.engine.expr.errors import ExprSyntaxError
from crowdsec_mp.engine.expr.values import StrMap


def _event_types():
    """Every dataclass of engine/event.py (Event, Line, RuntimeAlert...)."""
    from crowdsec_mp.engine import event as event_module

    return frozenset(value for value in vars(event_module).values()
                     if isinstance(value, type) and hasattr(value, "__dataclass_fields__")
                     and value.__module__ == event_module.__name__)


EVENT_TYPES = _event_types()


def _dataclass_of(annotation):
    """The event dataclass named by a field annotation (`Alert | None` -> Alert)."""
    if annotation in EVENT_TYPES:
        return annotation
    for member in typing.get_args(annotation):
        if member in EVENT_TYPES:
            return member
    return None


_FIELD_TYPES: dict = {}


def _field_types(cls) -> dict:
    hints = _FIELD_TYPES.get(cls)
    if hints is None:
        hints = _FIELD_TYPES[cls] = typing.get_type_hints(cls)
    return hints


def check_event_path(keys):
    """`evt.<Unknown>` (and `evt.Line.<Unknown>`...) is a compile error, as in
    CrowdSec where the environment is typed. The walk stops at the first step
    whose type is not one of our event dataclasses (maps, lists, Any).
    Returns the static kind of the value ("string", "int", "bool") when it is
    certain, else None."""
    from crowdsec_mp.engine.event import Event

    cls, trail = Event, "evt"
    for position, key in enumerate(keys):
        if key not in cls.__dataclass_fields__:
            if callable(getattr(cls, key, None)):
                return None  # a method; its result type is not tracked
            raise ExprSyntaxError(f"unknown field {key} of {trail} (type {cls.__name__})")
        annotation = _field_types(cls).get(key)
        cls = _dataclass_of(annotation)
        if cls is None:
            rest = len(keys) - position - 1
            if annotation is StrMap and rest == 1:
                return "string"  # map[string]string value
            if rest == 0:
                return _STATIC_KINDS.get(annotation)
            return None
        trail += "." + key
    return None


_STATIC_KINDS = {str: "string", int: "int", bool: "bool", float: "float"}


def _static_kind(node):
    """The kind a node certainly evaluates to, or None when unknown."""
    if isinstance(node, ast.Const):
        value = node.value
        if isinstance(value, bool):
            return "bool"
        return _STATIC_KINDS.get(type(value))
    if isinstance(node, ast.Member):
        keys = []
        current = node
        while (isinstance(current, ast.Member) and not current.optional
               and isinstance(current.key, ast.Const) and type(current.key.value) is str):
            keys.append(current.key.value)
            current = current.obj
        if keys and isinstance(current, ast.Ident) and current.name == "evt":
            keys.reverse()
            return check_event_path(keys)
    return None


# Operators whose operands must be numbers (or, for the ordering ones and +,
# two strings): a certain mismatch is a compile error, as in CrowdSec where
# `evt.Parsed.status >= 400` fails to load.
_NUMERIC_OPS = frozenset({"-", "*", "/", "%", "**", "^"})
_ORDER_OPS = frozenset({"<", "<=", ">", ">=", "+"})
_STRING_OPS = frozenset({"contains", "startsWith", "endsWith", "matches", "not contains",
                         "not startsWith", "not endsWith", "not matches"})
_NUMBER_KINDS = ("int", "float")


def check_operand_kinds(op, left_node, right_node):
    left, right = _static_kind(left_node), _static_kind(right_node)
    if left is None and right is None:
        return
    bad = False
    if op in _STRING_OPS:
        bad = (left not in (None, "string")) or (right not in (None, "string"))
    elif op in _NUMERIC_OPS:
        bad = (left not in (None,) + _NUMBER_KINDS) or (right not in (None,) + _NUMBER_KINDS)
    elif op in _ORDER_OPS and left is not None and right is not None:
        same_family = (left == right == "string") or (left in _NUMBER_KINDS
                                                      and right in _NUMBER_KINDS)
        bad = not same_family
    elif op in _ORDER_OPS:
        known = left or right
        bad = known == "bool"
    if bad:
        raise ExprSyntaxError(f"invalid operation: {left or 'interface'} {op} "
                              f"{right or 'interface'} (mismatched types)")
