"""Compile a syntax tree into nested Python closures `fn(env) -> value`.

`env` is a dict: the caller's variables (`evt`, `results`...) plus, inside
predicates and `let` bodies, a private copy holding `#`, `#index`, `#acc` and
the `let` names. Everything that can be decided at compile time is: function
lookup and arity, literal regexes, literal lists for `in`, constant folding.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta

from crowdsec_mp.engine.datafiles import DataLines
from crowdsec_mp.engine.expr import ast, fastpred
from crowdsec_mp.engine.expr import values as V
from crowdsec_mp.engine.expr.builtins import PREDICATE_FUNCTIONS
from crowdsec_mp.engine.expr.errors import ExprRuntimeError, ExprSyntaxError
from crowdsec_mp.engine.expr.gotime import DURATION_METHODS, TIME_METHODS
from crowdsec_mp.engine.expr.regex import compile_go_regex
from crowdsec_mp.engine.expr.typecheck import EVENT_TYPES, check_event_path, check_operand_kinds


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
    def __init__(self, functions: dict, share_pure_calls: bool = True):
        #: name -> callable for plain calls (builtins, helpers, extra functions).
        self.functions = functions
        self.share_pure_calls = share_pure_calls
        #: repr of a pure call -> env key of its value, for calls computed once per run.
        self._shared: dict = {}
        self._shared_keys: frozenset = frozenset()

    def compile_root(self, tree):
        """Compile a whole expression. Returns (fn, needs_private_env): when
        true, `fn` stores computed values in the env it is given, so each run
        must get a fresh copy of the caller's env."""
        if self.share_pure_calls:
            self._shared_keys = fastpred.shared_pure_calls(tree, self.functions)
        fn = self.compile(tree)
        return fn, bool(self._shared)

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
            if type(key) is str and V.is_public_name(key):
                step = _member_step
                return lambda env: step(obj(env), key)
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
            check_event_path(keys)
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
            attribute_types, str_map = EVENT_TYPES, _STR_MAP

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
            call = lambda env: func(arg0(env))  # noqa: E731
        elif len(args) == 2:
            arg0, arg1 = args
            call = lambda env: func(arg0(env), arg1(env))  # noqa: E731
        else:
            call = lambda env: func(*[arg(env) for arg in args])  # noqa: E731
        if func in fastpred.PURE_STRING_FUNCTIONS:
            if args and all(isinstance(arg, ast.Const) for arg in node.args):
                return _fold(call)  # Upper('literal'): computed once, here
            if self._shared_keys:
                key = repr(node)
                if key in self._shared_keys:
                    return self._share(key, call)
        return call

    def _share(self, key, call):
        """`call` computed at most once per run; the value is kept in the run's
        private env under a key no expression can name. Errors are not kept:
        a failing call fails again, as it would have without sharing."""
        slot = self._shared.setdefault(key, _SharedSlot(key))
        missing = _MISSING

        def shared(env):
            value = env.get(slot, missing)
            if value is missing:
                value = env[slot] = call(env)
            return value

        return shared

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
        if name in ("any", "none") and isinstance(node.args[1], ast.Closure):
            fast = self._compile_line_predicate(name, node.args[0], node.args[1].body, impl,
                                                compiled)
            if fast is not None:
                return fast
        return lambda env: impl(env, *compiled)

    def _compile_line_predicate(self, name, list_node, body, impl, compiled):
        """`any/none(<data file>, {E op #})` answered by a matcher precomputed
        per file (fastpred.py); anything the matcher cannot answer exactly
        (not a data file, E fails or is not a string) runs the generic loop."""
        shape = fastpred.match_line_predicate(body, self.functions)
        if shape is None:
            return None
        op, invariant_node, transform, line_on_right = shape
        invariant = self.compile(invariant_node)
        items_fn, pred = compiled
        key = (op, transform, line_on_right)
        negate = name == "none"
        # `File("name")` with our own helper: once the file is loaded its lines
        # never change (DataLibrary loads a name once), so the list and its
        # matcher are kept after the first call that finds them loaded.
        constant_file = (self.share_pure_calls and isinstance(list_node, ast.Call)
                         and list_node.name == "File" and len(list_node.args) == 1
                         and isinstance(list_node.args[0], ast.Const)
                         and type(list_node.args[0].value) is str)
        kept = []  # [] or [lines, matcher]

        def build(lines):
            return fastpred.build_matcher(lines, op, transform, line_on_right)

        def line_predicate(env):
            if kept:
                items, matcher = kept
            else:
                items = items_fn(env)
                if type(items) is not DataLines or not items:
                    return impl(env, lambda _env: items, pred)
                matcher = items.matcher(key, build)
                if constant_file:
                    kept[:] = (items, matcher)
            try:
                value = invariant(env)
            except Exception:  # the generic loop raises it as it always did
                value = None
            if type(value) is str:
                found = matcher(value)
                return not found if negate else found
            return impl(env, lambda _env: items, pred)

        return line_predicate

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
        check_operand_kinds(op, node.left, node.right)
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

    @staticmethod
    def _chain_operands(node, ops):
        """Operands of a left-deep chain `a || b || c` (flattened so that long
        Sigma-style chains neither recurse deeply nor nest closures)."""
        operands = []
        while isinstance(node, ast.Binary) and node.op in ops:
            operands.append(node.right)
            node = node.left
        operands.append(node)
        operands.reverse()
        return operands

    def _compile_and(self, node):
        return self._compile_logical(node, ("and", "&&"), stop_on=False, symbol="&&")

    def _compile_or(self, node):
        return self._compile_logical(node, ("or", "||"), stop_on=True, symbol="||")

    def _compile_logical(self, node, ops, stop_on: bool, symbol: str):
        """Short-circuit `and`/`or`: every operand must be a bool (runtime error
        otherwise); evaluation stops at the first operand equal to `stop_on`."""
        operands = [self.compile(operand) for operand in self._chain_operands(node, ops)]
        kind_name = V.kind_name

        def logical(env):
            for operand in operands:
                value = operand(env)
                if value is stop_on:
                    return stop_on
                if value is not (not stop_on):
                    raise ExprRuntimeError(f"invalid operation: {kind_name(value)} {symbol} ...")
            return not stop_on

        if len(operands) == 2:
            first, second = operands

            def logical_pair(env):
                value = first(env)
                if value is stop_on:
                    return stop_on
                if value is not (not stop_on):
                    raise ExprRuntimeError(f"invalid operation: {kind_name(value)} {symbol} ...")
                value = second(env)
                if type(value) is not bool:
                    raise ExprRuntimeError(f"invalid operation: bool {symbol} {kind_name(value)}")
                return value

            return logical_pair
        return logical

    def _compile_literal_in(self, node, left):
        items = node.right.items
        if not all(isinstance(item, ast.Const) for item in items):
            return None
        constants = [item.value for item in items]
        negate = node.op == "not in"
        contains = V.contains_op
        if constants and (all(type(value) is str for value in constants)
                          or all(type(value) is int for value in constants)):
            # A frozenset answers for values of the same family; Go's numeric
            # equality (1 == 1.0) holds for Python sets too. Other kinds
            # (bool, nil...) take the generic path.
            members = frozenset(constants)
            fast_types = (str,) if type(constants[0]) is str else (int, float)

            def in_set(env):
                value = left(env)
                if type(value) in fast_types:
                    return (value not in members) if negate else (value in members)
                found = contains(value, constants)
                return not found if negate else found

            return in_set

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
_MISSING = object()


class _SharedSlot:
    """Env key of a shared call's value (not a string: no name can reach it)."""

    __slots__ = ("source",)

    def __init__(self, source):
        self.source = source

    def __repr__(self):
        return f"<shared {self.source}>"


def _member_step(value, key):
    """`value.key` with fast paths for our string maps, event dataclasses and
    plain dicts; everything else goes through values.get_member."""
    t = type(value)
    if t is _STR_MAP:
        return value[key]
    if t in EVENT_TYPES:
        try:
            return getattr(value, key)
        except AttributeError:
            raise ExprRuntimeError(f"cannot fetch {key} from {t.__name__}") from None
    if t is dict:
        return value.get(key)
    return V.get_member(value, key)


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
