"""The expression language of CrowdSec (expr-lang/expr as used by CrowdSec).

    program = compile_expr("evt.Parsed.program == 'sshd'", ctx, where="file.yaml: node x")
    program.run({"evt": event})   # -> True / False / any value

An expression is parsed once and compiled into nested Python closures; `run`
only evaluates them. Errors: `ExprCompileError` at load time (names `where` and
the expression), `ExprRuntimeError` for every failure during `run`.
"""

from __future__ import annotations

import weakref
from functools import lru_cache

from crowdsec_mp.engine.expr.builtins import make_builtins
from crowdsec_mp.engine.expr.compiler import Compiler
from crowdsec_mp.engine.expr.errors import (
    ExprCompileError,
    ExprError,
    ExprRuntimeError,
    ExprSyntaxError,
)
from crowdsec_mp.engine.expr.helpers import make_helpers
from crowdsec_mp.engine.expr.parser import parse

__all__ = ["compile_expr", "Program", "ExprError", "ExprCompileError", "ExprRuntimeError"]

_default_context = None
# id(ctx) -> (weak reference to ctx, builtins + helpers bound to it)
_function_tables: dict = {}


def _default_ctx():
    global _default_context
    if _default_context is None:
        from crowdsec_mp.engine.context import EngineContext

        _default_context = EngineContext()
    return _default_context


@lru_cache(maxsize=16384)
def _parse_cached(source: str):
    """Syntax trees are immutable and context-free: parse each text once per
    process (hub tests load the same parsers and assert lines many times)."""
    return parse(source)


def _functions_for(ctx) -> dict:
    """Builtins and helpers bound to `ctx`, built once per context."""
    key = id(ctx)
    cached = _function_tables.get(key)
    if cached is not None and cached[0]() is ctx:
        return cached[1]
    table = {**make_builtins(ctx), **make_helpers(ctx)}
    try:
        reference = weakref.ref(
            ctx, lambda _ref, key=key, tables=_function_tables: tables.pop(key, None))
    except TypeError:  # not weak-referenceable: do not cache
        return table
    _function_tables[key] = (reference, table)
    return table


class Program:
    """A compiled expression. `run(env)` evaluates it against `env` (a dict of
    variables, e.g. {"evt": event}); it never raises anything but
    ExprRuntimeError."""

    __slots__ = ("source", "where", "_fn", "_private_env")

    def __init__(self, source: str, where: str, fn, private_env: bool = False):
        self.source = source
        self.where = where
        self._fn = fn
        # The compiled code keeps per-run values in its env (shared pure
        # calls): it gets a copy, so that the caller's env is left untouched
        # and nothing survives from one run to the next.
        self._private_env = private_env

    def run(self, env: dict):
        try:
            if self._private_env:
                return self._fn(dict(env))
            return self._fn(env)
        except ExprRuntimeError as exc:
            if getattr(exc, "expression", None) is None:
                exc.expression = self.source
            raise
        except Exception as exc:  # a helper or operator failed: same contract
            error = ExprRuntimeError(f"{type(exc).__name__}: {exc}")
            error.expression = self.source
            raise error from exc

    def __repr__(self):
        return f"Program({self.source!r})"


def compile_expr(source: str, ctx=None, where: str = "", extra_funcs: dict | None = None) -> Program:
    """Compile `source`; raises ExprCompileError naming `where` and the expression.

    `extra_funcs` adds (or overrides) functions, e.g. hubtest's `basename`.
    Helpers that need data files, the stash, GeoIP or the time use `ctx`
    (a default EngineContext when None).
    """
    if not isinstance(source, str):
        raise ExprCompileError(f"expression must be a string, got {type(source).__name__}",
                               source=repr(source), where=where)
    ctx = ctx if ctx is not None else _default_ctx()
    functions = _functions_for(ctx)
    if extra_funcs:
        functions = {**functions, **extra_funcs}
    try:
        if not source.strip():
            raise ExprSyntaxError("empty expression")
        tree = _parse_cached(source)
        # Sharing relies on knowing which functions are pure: not with
        # caller-supplied functions.
        fn, private_env = Compiler(functions, share_pure_calls=not extra_funcs).compile_root(tree)
    except ExprSyntaxError as exc:
        raise ExprCompileError(str(exc), source=source, where=where) from None
    except RecursionError:
        raise ExprCompileError("expression nested too deeply", source=source,
                               where=where) from None
    return Program(source, where, fn, private_env)
