"""Errors raised by the expression language.

`ExprCompileError` is a load-time error (it is also a `ConfigError`, so loaders
that report configuration problems report it the same way); `ExprRuntimeError`
is raised by `Program.run` for every failure during evaluation, whatever Python
exception caused it.
"""

from __future__ import annotations

from crowdsec_mp.errors import ConfigError, CrowdsecMPError


class ExprError(CrowdsecMPError):
    """Base class of expression errors."""


class ExprCompileError(ExprError, ConfigError):
    """The expression cannot be compiled (syntax, unknown function, bad regex...)."""

    def __init__(self, message: str, *, source: str = "", where: str = ""):
        self.source = source
        self.where = where
        self.reason = message
        prefix = f"{where}: " if where else ""
        ConfigError.__init__(self, f"{prefix}cannot compile expression {source!r}: {message}")


class ExprRuntimeError(ExprError):
    """Evaluation failed (nil access, wrong operand type, helper failure...)."""


class ExprSyntaxError(Exception):
    """Internal: raised by the lexer/parser, turned into ExprCompileError by compile_expr."""

    def __init__(self, message: str, pos: int | None = None):
        self.pos = pos
        super().__init__(message if pos is None else f"{message} (at offset {pos})")
