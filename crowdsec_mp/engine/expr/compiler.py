"""Compile a syntax tree into nested Python closures `fn(env) -> value`.

`env` is a dict: the caller's variables (`evt`, `results`...) plus, inside
predicates and `let` bodies, a private copy holding `#`, `#index`, `#acc` and
the `let` names. Everything that can be decided at compile time is: function
lookup and arity, literal regexes, literal lists for `in`, constant folding.
"""

from __future__ import annotations

import inspect
import typing
from datetime import datetime, timedelta

from crowdsec_mp.engine.expr import ast
from crowdsec_mp.engine.expr import values as V
from crowdsec_mp.engine.expr.builtins import PREDICATE_FUNCTIONS
from crowdsec_mp.engine.expr.errors import ExprRuntimeError, ExprSyntaxError
from crowdsec_mp.engine.expr.gotime import DURATION_METHODS, TIME_METHODS
from crowdsec_mp.engine.expr.regex import compile_go_regex


class NilChain(Exception):
    """Internal: a `?.` met nil; the enclosing Chain node turns it into nil."""


_BINARY_FUNCTIONS = {
    "+": V.add, "-": V.subtract, "*": V.multiply, "/": V.divide, "%": V.modulo,
    "**": V.power, "^": V.power, "..": V.int_range,
    "<": V.less, "<=": V.less_equal, ">": V.greater, ">=": V.greater_equal,
    "==": V.go_equal, "!=": lambda a, b: not V.go_equal(a, b),
    "in": V.contains_op, "not in": lambda a, b: not V.contains_op(a, b),
    "contains": V.str_contains, "not contains": lambda a, b: not V.str_contains(a, b),
    "startsWith": V.str_starts, "not startsWith": lambda a, b: not V.str_starts(a, b),
    "endsWith": V.str_ends, "not endsWith": lambda a, b: not V.str_ends(a, b),
}
_UNARY_FUNCTIONS = {"-": V.negate, "+": V.plus, "!": V.logical_not}


class Compiler:
    def __init__(self, functions: dict):
        #: name -> callable for plain calls (builtins, helpers, extra functions).
        self.functions = functions

    # -- dispatch -------------------------------------------------------------
    def compile(self, node: ast.Node):
        method = getattr(self, "compile_" + type(node).__name__)
        return method(node)

    def compile_Const(self, node):
        value = node.value
        return lambda env: value

    def compile_Ident(self, node):
        name = node.name
        if name == "$env":
            return lambda env: env

        def ident(env):
            try:
                return env[name]
            except KeyError:
                raise ExprRuntimeError(f"unknown name {name}") from None

        return ident

    def compile_Pointer(self, node):
        key = "#" + node.name
        if node.name not in ("", "index", "acc"):
            raise ExprSyntaxError(f"unknown pointer #{node.name}")

        def pointer(env):
            try:
                return env[key]
            except KeyError:
                raise ExprRuntimeError(f"{key} is not defined here") from None

        return pointer

    def compile_Chain(self, node):
        inner = self.compile(node.node)

        def chain(env):
            try:
                return inner(env)
            except NilChain:
                return None

        return chain

    def compile_Member(self, node):
        fast = self._compile_member_chain(node)
        if fast is not None:
            return fast
        obj = self.compile(node.obj)
        optional = node.optional
        get_member = V.get_member
        if isinstance(node.key, ast.Const):
            key = node.key.value
            if optional:
                def optional_member(env):
                    value = obj(env)
                    if value is None:
                        raise NilChain()
                    return get_member(value, key)
                return optional_member
            if type(key) is str:
                str_map = V.StrMap

                def member(env):
                    value = obj(env)
                    # Fast paths for the typed string maps and plain dicts.
                    if type(value) is str_map:
                        return value[key]
                    return get_member(value, key)
                return member
            return lambda env: get_member(obj(env), key)
        key_fn = self.compile(node.key)

        def index(env):
            value = obj(env)
            if value is None and optional:
                raise NilChain()
            return get_member(value, key_fn(env))

        return index

    def _compile_member_chain(self, node):
        """`root.a.b.c` (an identifier or `#` followed by plain `.name` steps):
        one closure walking the steps, with fast paths for our string maps,
        plain dicts and event dataclasses."""
        keys = []
        current = node
        while (isinstance(current, ast.Member) and not current.optional
               and isinstance(current.key, ast.Const) and type(current.key.value) is str
               and V.is_public_name(current.key.value)):
            keys.append(current.key.value)
            current = current.obj
        if not keys or not isinstance(current, (ast.Ident, ast.Pointer)):
            return None
        if isinstance(current, ast.Ident) and current.name == "$env":
            return None
        keys.reverse()
        root = current.name if isinstance(current, ast.Ident) else "#" + current.name
        if root == "evt":
            _check_event_path(keys)
        step = _member_step

        if len(keys) == 1:
            (k1,) = keys

            def fetch1(env):
                try:
                    value = env[root]
                except KeyError:
                    raise ExprRuntimeError(f"unknown name {root}") from None
                return step(value, k1)

            return fetch1
        if len(keys) == 2:
            k1, k2 = keys
            attribute_types, str_map = _ATTRIBUTE_TYPES, _STR_MAP

            def fetch2(env):
                # The dominant shape (`evt.Parsed.x`, `evt.Meta.y`), unrolled.
                try:
                    value = env[root]
                except KeyError:
                    raise ExprRuntimeError(f"unknown name {root}") from None
                if type(value) in attribute_types:
                    try:
                        value = getattr(value, k1)
                    except AttributeError:
                        raise ExprRuntimeError(f"cannot fetch {k1} from "
                                               f"{type(value).__name__}") from None
                else:
                    value = step(value, k1)
                if type(value) is str_map:
                    return value[k2]
                return step(value, k2)

            return fetch2

        def fetch(env):
            try:
                value = env[root]
            except KeyError:
                raise ExprRuntimeError(f"unknown name {root}") from None
            for key in keys:
                value = step(value, key)
            return value

        return fetch

    def compile_Slice(self, node):
        obj = self.compile(node.obj)
        low = self.compile(node.low) if node.low is not None else (lambda env: None)
        high = self.compile(node.high) if node.high is not None else (lambda env: None)
        return lambda env: V.get_slice(obj(env), low(env), high(env))

    def compile_MethodCall(self, node):
        obj = self.compile(node.obj)
        name = node.name
        optional = node.optional
        args = [self.compile(arg) for arg in node.args]
        if not V.is_public_name(name):
            raise ExprSyntaxError(f"cannot call private method {name}")

        def method_call(env):
            target = obj(env)
            if target is None:
                if optional:
                    raise NilChain()
                raise ExprRuntimeError(f"cannot call {name} on <nil>")
            method = _bound_method(target, name)
            return method(*[arg(env) for arg in args])

        return method_call

    def compile_Call(self, node):
        name = node.name
        if name in PREDICATE_FUNCTIONS:
            return self._compile_predicate_call(node)
        func = self.functions.get(name)
        if func is None:
            raise ExprSyntaxError(f"unknown function {name}()")
        _check_arity(name, func, len(node.args))
        args = [self.compile(arg) for arg in node.args]
        if len(args) == 1:
            (arg0,) = args
            return lambda env: func(arg0(env))
        if len(args) == 2:
            arg0, arg1 = args
            return lambda env: func(arg0(env), arg1(env))
        return lambda env: func(*[arg(env) for arg in args])

    def _compile_predicate_call(self, node):
        name = node.name
        impl, min_args, max_args = PREDICATE_FUNCTIONS[name]
        if not min_args <= len(node.args) <= max_args:
            raise ExprSyntaxError(f"{name}() takes {min_args} to {max_args} arguments, "
                                  f"{len(node.args)} given")
        # The parser wrapped the predicate argument in a Closure; its body is
        # evaluated by `impl` once per element, in a scope holding `#`.
        compiled = [self.compile(arg.body if isinstance(arg, ast.Closure) else arg)
                    for arg in node.args]
        return lambda env: impl(env, *compiled)

    def compile_Closure(self, node):
        raise ExprSyntaxError("a predicate is only allowed as an argument of a builtin")

    def compile_Unary(self, node):
        operand = self.compile(node.operand)
        func = _UNARY_FUNCTIONS[node.op]
        if isinstance(node.operand, ast.Const):
            return _fold(lambda env: func(operand(env)))
        return lambda env: func(operand(env))

    def compile_Binary(self, node):
        op = node.op
        _check_operand_kinds(op, node.left, node.right)
        if op in ("and", "&&"):
            return self._compile_and(node)
        if op in ("or", "||"):
            return self._compile_or(node)
        if op == "??":
            left, right = self.compile(node.left), self.compile(node.right)

            def coalesce(env):
                value = left(env)
                return right(env) if value is None else value

            return coalesce
        if op in ("matches", "not matches"):
            return self._compile_matches(node)
        left, right = self.compile(node.left), self.compile(node.right)
        if op in ("in", "not in") and isinstance(node.right, ast.Array):
            fast = self._compile_literal_in(node, left)
            if fast is not None:
                return fast
        if op in ("==", "!=") and isinstance(node.right, ast.Const) and type(node.right.value) is str:
            constant = node.right.value
            if op == "==":
                return lambda env: left(env) == constant
            return lambda env: left(env) != constant
        func = _BINARY_FUNCTIONS[op]
        result = lambda env: func(left(env), right(env))  # noqa: E731
        if isinstance(node.left, ast.Const) and isinstance(node.right, ast.Const):
            return _fold(result)
        return result

    def _compile_and(self, node):
        left, right = self.compile(node.left), self.compile(node.right)

        def logical_and(env):
            value = left(env)
            if value is False:
                return False
            if value is not True:
                raise ExprRuntimeError(f"invalid operation: {V.kind_name(value)} && ...")
            value = right(env)
            if type(value) is not bool:
                raise ExprRuntimeError(f"invalid operation: bool && {V.kind_name(value)}")
            return value

        return logical_and

    def _compile_or(self, node):
        left, right = self.compile(node.left), self.compile(node.right)

        def logical_or(env):
            value = left(env)
            if value is True:
                return True
            if value is not False:
                raise ExprRuntimeError(f"invalid operation: {V.kind_name(value)} || ...")
            value = right(env)
            if type(value) is not bool:
                raise ExprRuntimeError(f"invalid operation: bool || {V.kind_name(value)}")
            return value

        return logical_or

    def _compile_literal_in(self, node, left):
        items = node.right.items
        if not all(isinstance(item, ast.Const) for item in items):
            return None
        constants = [item.value for item in items]
        negate = node.op == "not in"
        contains = V.contains_op
        if constants and all(type(value) is str for value in constants):
            members = frozenset(constants)

            def in_strings(env):
                value = left(env)
                if type(value) is str:
                    return (value not in members) if negate else (value in members)
                found = contains(value, constants)
                return not found if negate else found

            return in_strings

        def in_constants(env):
            found = contains(left(env), constants)
            return not found if negate else found

        return in_constants

    def _compile_matches(self, node):
        left = self.compile(node.left)
        negate = node.op == "not matches"
        kind_name = V.kind_name
        if isinstance(node.right, ast.Const):
            pattern = node.right.value
            if not isinstance(pattern, str):
                raise ExprSyntaxError(f"matches needs a string pattern, got {kind_name(pattern)}")
            try:
                search = compile_go_regex(pattern).search
            except Exception as exc:  # re.error, ValueError from the translator
                raise ExprSyntaxError(f"invalid regular expression {pattern!r}: {exc}") from None

            def match_literal(env):
                value = left(env)
                if type(value) is not str and not isinstance(value, str):
                    raise ExprRuntimeError(f"invalid operation: {kind_name(value)} matches string")
                found = search(value) is not None
                return not found if negate else found

            return match_literal
        right = self.compile(node.right)

        def match_dynamic(env):
            value, pattern = left(env), right(env)
            V.require_strings("matches", value, pattern)
            try:
                regex = compile_go_regex(pattern)
            except Exception as exc:
                raise ExprRuntimeError(f"invalid regular expression {pattern!r}: {exc}") from None
            found = regex.search(value) is not None
            return not found if negate else found

        return match_dynamic

    def compile_Ternary(self, node):
        cond, then, otherwise = (self.compile(node.cond), self.compile(node.then),
                                 self.compile(node.otherwise))

        def ternary(env):
            value = cond(env)
            if value is True:
                return then(env)
            if value is False:
                return otherwise(env)
            raise ExprRuntimeError(f"non-bool {V.kind_name(value)} used as condition")

        return ternary

    def compile_Let(self, node):
        name = node.name
        value, body = self.compile(node.value), self.compile(node.body)

        def let(env):
            scope = dict(env)
            scope[name] = value(env)
            return body(scope)

        return let

    def compile_Array(self, node):
        items = [self.compile(item) for item in node.items]
        if all(isinstance(item, ast.Const) for item in node.items):
            constant = [item.value for item in node.items]
            return lambda env: list(constant)
        return lambda env: [item(env) for item in items]

    def compile_MapLit(self, node):
        pairs = [(self.compile(k), self.compile(v)) for k, v in node.pairs]

        def map_literal(env):
            result = {}
            for key, value in pairs:
                k = key(env)
                try:
                    result[k] = value(env)
                except TypeError:
                    raise ExprRuntimeError(f"invalid map key {V.kind_name(k)}") from None
            return result

        return map_literal


_STR_MAP = V.StrMap


def _event_types():
    from crowdsec_mp.engine import event as event_module

    return frozenset(value for value in vars(event_module).values()
                     if isinstance(value, type) and hasattr(value, "__dataclass_fields__")
                     and value.__module__ == event_module.__name__)


_ATTRIBUTE_TYPES = _event_types()


def _member_step(value, key):
    t = type(value)
    if t is _STR_MAP:
        return value[key]
    if t in _ATTRIBUTE_TYPES:
        try:
            return getattr(value, key)
        except AttributeError:
            raise ExprRuntimeError(f"cannot fetch {key} from {t.__name__}") from None
    if t is dict:
        return value.get(key)
    return V.get_member(value, key)


def _dataclass_of(annotation):
    """The event dataclass named by a field annotation (`Alert | None` -> Alert)."""
    if annotation in _ATTRIBUTE_TYPES:
        return annotation
    for member in typing.get_args(annotation):
        if member in _ATTRIBUTE_TYPES:
            return member
    return None


_FIELD_TYPES: dict = {}


def _field_types(cls) -> dict:
    hints = _FIELD_TYPES.get(cls)
    if hints is None:
        hints = _FIELD_TYPES[cls] = typing.get_type_hints(cls)
    return hints


def _check_event_path(keys):
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
            if annotation is V.StrMap and rest == 1:
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
            return _check_event_path(keys)
    return None


# Operators whose operands must be numbers (or, for the ordering ones and +,
# two strings): a certain mismatch is a compile error, as in CrowdSec where
# `evt.Parsed.status >= 400` fails to load.
_NUMERIC_OPS = frozenset({"-", "*", "/", "%", "**", "^"})
_ORDER_OPS = frozenset({"<", "<=", ">", ">=", "+"})
_STRING_OPS = frozenset({"contains", "startsWith", "endsWith", "matches", "not contains",
                         "not startsWith", "not endsWith", "not matches"})
_NUMBER_KINDS = ("int", "float")


def _check_operand_kinds(op, left_node, right_node):
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


def _fold(fn):
    """Evaluate a constant sub-expression now; keep it lazy if it fails
    (the error then happens at run time, as in expr-lang)."""
    try:
        value = fn({})
    except Exception:
        return fn
    if isinstance(value, (list, dict)):
        return fn
    return lambda env: value


def _bound_method(target, name):
    if isinstance(target, datetime):
        method = TIME_METHODS.get(name)
        if method is None:
            raise ExprRuntimeError(f"time.Time has no method {name}")
        return lambda *args: method(target, *args)
    if isinstance(target, timedelta):
        method = DURATION_METHODS.get(name)
        if method is None:
            raise ExprRuntimeError(f"time.Duration has no method {name}")
        return lambda *args: method(target, *args)
    if isinstance(target, dict):
        method = target.get(name)
    elif isinstance(target, (str, int, float, bool, list, tuple, bytes)) and not hasattr(
            type(target), "String"):
        raise ExprRuntimeError(f"{V.kind_name(target)} has no method {name}")
    else:
        method = getattr(target, name, None)
    if not callable(method):
        raise ExprRuntimeError(f"{type(target).__name__} has no method {name}")
    return method


_SIGNATURES: dict = {}


def _check_arity(name, func, count):
    signature = _SIGNATURES.get(func, False)
    if signature is False:
        try:
            signature = inspect.signature(func)
        except (TypeError, ValueError):
            signature = None
        try:
            _SIGNATURES[func] = signature
        except TypeError:
            pass
    if signature is None:
        return
    try:
        signature.bind(*([None] * count))
    except TypeError:
        raise ExprSyntaxError(f"wrong number of arguments for {name}(): {count} given") from None
