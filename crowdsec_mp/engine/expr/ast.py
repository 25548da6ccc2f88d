"""Syntax tree of the expression language: small immutable node classes."""

from __future__ import annotations


class Node:
    __slots__ = ()

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"


class Const(Node):
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class Ident(Node):
    """A variable from the environment or a `let`."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class Pointer(Node):
    """`#` (name ""), `#index`, `#acc` inside a closure."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class Member(Node):
    """`obj.name`, `obj[key]`, `obj?.name`; `key` is a node (Const for `.name`)."""

    __slots__ = ("obj", "key", "optional")

    def __init__(self, obj, key, optional=False):
        self.obj = obj
        self.key = key
        self.optional = optional


class Slice(Node):
    __slots__ = ("obj", "low", "high")

    def __init__(self, obj, low, high):
        self.obj = obj
        self.low = low
        self.high = high


class Call(Node):
    """Call of a named function (builtin, CrowdSec helper or extra function)."""

    __slots__ = ("name", "args")

    def __init__(self, name, args):
        self.name = name
        self.args = args


class MethodCall(Node):
    __slots__ = ("obj", "name", "args", "optional")

    def __init__(self, obj, name, args, optional=False):
        self.obj = obj
        self.name = name
        self.args = args
        self.optional = optional


class Unary(Node):
    __slots__ = ("op", "operand")

    def __init__(self, op, operand):
        self.op = op
        self.operand = operand


class Binary(Node):
    __slots__ = ("op", "left", "right")

    def __init__(self, op, left, right):
        self.op = op
        self.left = left
        self.right = right


class Ternary(Node):
    __slots__ = ("cond", "then", "otherwise")

    def __init__(self, cond, then, otherwise):
        self.cond = cond
        self.then = then
        self.otherwise = otherwise


class Let(Node):
    __slots__ = ("name", "value", "body")

    def __init__(self, name, value, body):
        self.name = name
        self.value = value
        self.body = body


class Array(Node):
    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items


class MapLit(Node):
    __slots__ = ("pairs",)

    def __init__(self, pairs):
        self.pairs = pairs


class Closure(Node):
    """A predicate `{ body }` (or a bare predicate expression) given to a builtin."""

    __slots__ = ("body",)

    def __init__(self, body):
        self.body = body


class Chain(Node):
    """A member/call chain containing `?.`: a nil met at a `?.` makes it all nil."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node
