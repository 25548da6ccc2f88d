"""Recursive-descent / precedence-climbing parser (spec/expr.md §1.2-§1.4).

`parse(source) -> Node`. Unary operators parse their operand at their own
precedence, which is why `not a == b` is `(not a) == b` (as in expr-lang).
"""

from __future__ import annotations

from crowdsec_mp.engine.expr import ast
from crowdsec_mp.engine.expr.errors import ExprSyntaxError
from crowdsec_mp.engine.expr.lexer import Token, tokenize

# operator -> (precedence, right associative)
BINARY = {
    "??": (500, False),
    "**": (100, True), "^": (100, True),
    "*": (60, False), "/": (60, False), "%": (60, False),
    "+": (30, False), "-": (30, False),
    "..": (25, False),
    "==": (20, False), "!=": (20, False), "<": (20, False), ">": (20, False),
    "<=": (20, False), ">=": (20, False), "in": (20, False), "matches": (20, False),
    "contains": (20, False), "startsWith": (20, False), "endsWith": (20, False),
    "and": (15, False), "&&": (15, False),
    "or": (10, False), "||": (10, False),
    "|": (0, False),
}
# Operators that can follow `not` to form a negated operator (`a not in b`).
NEGATABLE = ("in", "matches", "contains", "startsWith", "endsWith")

UNARY = {"-": 90, "+": 90, "not": 50, "!": 50}

# Builtins whose second argument is a predicate (a closure body, braces optional).
PREDICATE_BUILTINS = frozenset({
    "all", "any", "none", "one", "filter", "map", "count", "sum", "find", "findIndex",
    "findLast", "findLastIndex", "groupBy", "sortBy", "reduce",
})

_WORD_OPERATORS = frozenset({"in", "matches", "contains", "startsWith", "endsWith",
                             "and", "or", "not"})
_LITERAL_NAMES = {"true": True, "false": False, "nil": None}


class _Parser:
    def __init__(self, source: str):
        self.tokens = tokenize(source)
        self.index = 0
        self.closure_depth = 0

    # -- token helpers ----------------------------------------------------
    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.index + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def is_op(self, value: str, token: Token | None = None) -> bool:
        token = token or self.current
        return token.kind == "op" and token.value == value

    def is_name(self, value: str, token: Token | None = None) -> bool:
        token = token or self.current
        return token.kind == "name" and token.value == value

    def expect_op(self, value: str) -> Token:
        if not self.is_op(value):
            raise ExprSyntaxError(f"expected {value!r}, found {self.describe(self.current)}",
                                  self.current.pos)
        return self.advance()

    @staticmethod
    def describe(token: Token) -> str:
        if token.kind == "eof":
            return "end of expression"
        if token.kind == "ptr":
            return repr("#" + token.value)
        return repr(token.value)

    # -- grammar ------------------------------------------------------------
    def parse(self) -> ast.Node:
        node = self.parse_expression(0)
        if self.current.kind != "eof":
            raise ExprSyntaxError(f"unexpected token {self.describe(self.current)}",
                                  self.current.pos)
        return node

    def binary_operator(self) -> tuple[str, int, bool, int] | None:
        """The binary operator at the cursor: (name, precedence, right_assoc, n_tokens)."""
        token = self.current
        if token.kind == "op" and token.value in BINARY:
            prec, right = BINARY[token.value]
            return token.value, prec, right, 1
        if token.kind == "name":
            if token.value == "not":
                nxt = self.peek()
                if nxt.kind == "name" and nxt.value in NEGATABLE:
                    prec, right = BINARY[nxt.value]
                    return "not " + nxt.value, prec, right, 2
                return None
            if token.value in BINARY:
                prec, right = BINARY[token.value]
                return token.value, prec, right, 1
        return None

    def parse_expression(self, min_prec: int) -> ast.Node:
        if min_prec == 0 and self.is_name("let"):
            return self.parse_let()
        if min_prec == 0 and self.is_name("if"):
            return self.parse_if()
        left = self.parse_unary()
        while True:
            found = self.binary_operator()
            if found is None:
                break
            name, prec, right_assoc, width = found
            if prec < min_prec:
                break
            for _ in range(width):
                self.advance()
            if name == "|":
                left = self.parse_pipe(left)
                continue
            right = self.parse_expression(prec if right_assoc else prec + 1)
            left = ast.Binary(name, left, right)
        if min_prec == 0 and self.is_op("?"):
            left = self.parse_ternary(left)
        return left

    def parse_let(self) -> ast.Node:
        self.advance()
        token = self.advance()
        if token.kind != "name" or token.value in _WORD_OPERATORS or token.value in _LITERAL_NAMES:
            raise ExprSyntaxError(f"expected a variable name after 'let', found "
                                  f"{self.describe(token)}", token.pos)
        self.expect_op("=")
        value = self.parse_expression(0)
        self.expect_op(";")
        body = self.parse_expression(0)
        return ast.Let(token.value, value, body)

    def parse_if(self) -> ast.Node:
        """`if cond { a } else { b }` (also `else if ...`): a ternary."""
        self.advance()
        cond = self.parse_expression(0)
        then = self.parse_block()
        if not self.is_name("else"):
            raise ExprSyntaxError(f"expected 'else', found {self.describe(self.current)}",
                                  self.current.pos)
        self.advance()
        otherwise = self.parse_if() if self.is_name("if") else self.parse_block()
        return ast.Ternary(cond, then, otherwise)

    def parse_block(self) -> ast.Node:
        self.expect_op("{")
        body = self.parse_expression(0)
        self.expect_op("}")
        return body

    def parse_ternary(self, cond: ast.Node) -> ast.Node:
        self.expect_op("?")
        if self.is_op(":"):
            # Short form `a ?: b` == `a ? a : b`.
            self.advance()
            return ast.Ternary(cond, cond, self.parse_expression(0))
        then = self.parse_expression(0)
        self.expect_op(":")
        otherwise = self.parse_expression(0)
        return ast.Ternary(cond, then, otherwise)

    def parse_pipe(self, left: ast.Node) -> ast.Node:
        token = self.advance()
        if token.kind != "name" or not self.is_op("("):
            raise ExprSyntaxError("the right side of '|' must be a function call", token.pos)
        args = self.parse_call_args(token.value, first=left)
        return self.parse_postfix(ast.Call(token.value, args))

    def parse_unary(self) -> ast.Node:
        token = self.current
        op = None
        if token.kind == "op" and token.value in ("-", "+", "!"):
            op = token.value
        elif self.is_name("not"):
            op = "not"
        if op is None:
            return self.parse_postfix(self.parse_primary())
        self.advance()
        operand = self.parse_expression(UNARY[op])
        if op == "-" and isinstance(operand, ast.Const) and type(operand.value) in (int, float):
            return ast.Const(-operand.value)
        return ast.Unary("!" if op == "not" else op, operand)

    def parse_primary(self) -> ast.Node:
        token = self.advance()
        kind, value = token.kind, token.value
        if kind in ("num", "str"):
            return ast.Const(value)
        if kind == "ptr":
            if value not in ("", "index", "acc"):
                raise ExprSyntaxError(f"unknown pointer '#{value}'", token.pos)
            if self.closure_depth == 0:
                raise ExprSyntaxError(f"'#{value}' used outside of a predicate", token.pos)
            return ast.Pointer(value)
        if kind == "name":
            if value in _LITERAL_NAMES:
                return ast.Const(_LITERAL_NAMES[value])
            if value == "if":
                self.index -= 1
                return self.parse_if()
            if value in _WORD_OPERATORS or value == "let":
                raise ExprSyntaxError(f"unexpected {value!r}", token.pos)
            if self.is_op("("):
                return ast.Call(value, self.parse_call_args(value))
            return ast.Ident(value)
        if kind == "op":
            if value == "(":
                node = self.parse_expression(0)
                self.expect_op(")")
                return node
            if value == "[":
                return self.parse_array()
            if value == "{":
                return self.parse_map()
            if value == "." and self.closure_depth > 0 and self.current.kind == "name":
                # `.field` is shorthand for `#.field` inside a predicate.
                name = self.advance().value
                if self.is_op("("):
                    return ast.MethodCall(ast.Pointer(""), name, self.parse_call_args(""))
                return ast.Member(ast.Pointer(""), ast.Const(name))
        raise ExprSyntaxError(f"unexpected token {self.describe(token)}", token.pos)

    def parse_array(self) -> ast.Node:
        items = []
        while not self.is_op("]"):
            items.append(self.parse_expression(0))
            if not self.is_op(","):
                break
            self.advance()
        self.expect_op("]")
        return ast.Array(items)

    def parse_map(self) -> ast.Node:
        pairs = []
        while not self.is_op("}"):
            token = self.current
            if token.kind in ("name", "str", "num"):
                self.advance()
                key = ast.Const(token.value)
            elif self.is_op("("):
                self.advance()
                key = self.parse_expression(0)
                self.expect_op(")")
            else:
                raise ExprSyntaxError(f"invalid map key {self.describe(token)}", token.pos)
            self.expect_op(":")
            pairs.append((key, self.parse_expression(0)))
            if not self.is_op(","):
                break
            self.advance()
        self.expect_op("}")
        return ast.MapLit(pairs)

    def parse_call_args(self, name: str, first: ast.Node | None = None) -> list[ast.Node]:
        self.expect_op("(")
        args: list[ast.Node] = [] if first is None else [first]
        while not self.is_op(")"):
            if name in PREDICATE_BUILTINS and len(args) == 1:
                args.append(self.parse_closure())
            else:
                args.append(self.parse_expression(0))
            if not self.is_op(","):
                break
            self.advance()
        self.expect_op(")")
        return args

    def parse_closure(self) -> ast.Node:
        braced = self.is_op("{")
        if braced:
            self.advance()
        self.closure_depth += 1
        try:
            body = self.parse_expression(0)
        finally:
            self.closure_depth -= 1
        if braced:
            self.expect_op("}")
        return ast.Closure(body)

    def parse_postfix(self, node: ast.Node) -> ast.Node:
        has_optional = False
        while True:
            token = self.current
            if token.kind != "op":
                break
            if token.value in (".", "?."):
                optional = token.value == "?."
                self.advance()
                if optional and self.is_op("["):
                    has_optional = True
                    node = self.parse_index(node, optional=True)
                    continue
                name_token = self.advance()
                if name_token.kind != "name":
                    raise ExprSyntaxError(f"expected a field name after {token.value!r}, found "
                                          f"{self.describe(name_token)}", name_token.pos)
                has_optional = has_optional or optional
                if self.is_op("("):
                    args = self.parse_call_args("")
                    node = ast.MethodCall(node, name_token.value, args, optional)
                else:
                    node = ast.Member(node, ast.Const(name_token.value), optional)
            elif token.value == "[":
                node = self.parse_index(node, optional=False)
            else:
                break
        return ast.Chain(node) if has_optional else node

    def parse_index(self, node: ast.Node, optional: bool) -> ast.Node:
        self.expect_op("[")
        if self.is_op(":"):
            self.advance()
            high = None if self.is_op("]") else self.parse_expression(0)
            self.expect_op("]")
            return ast.Slice(node, None, high)
        index = self.parse_expression(0)
        if self.is_op(":"):
            self.advance()
            high = None if self.is_op("]") else self.parse_expression(0)
            self.expect_op("]")
            return ast.Slice(node, index, high)
        self.expect_op("]")
        return ast.Member(node, index, optional)


def parse(source: str) -> ast.Node:
    """Parse `source` into a syntax tree; raises ExprSyntaxError."""
    return _Parser(source).parse()
