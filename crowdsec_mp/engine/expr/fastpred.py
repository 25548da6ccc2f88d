"""Fast paths for predicates over data-file lines: `any(File("f"), {E op #})`.

CrowdSec's HTTP scenarios test one request field against every line of a data
file (`any(File("backdoors.txt"), { evt.Parsed.file_name == # })`,
`{ Upper(evt.Parsed.http_args) contains Upper(#) }`...). Run element by element
this costs one closure call, one scope write and one or two helper calls per
line, hundreds of lines per event. Here the predicate is recognised at compile
time and answered with one precomputed structure per (file, shape):

* `E` (the side that does not mention `#`) is evaluated once per call, not
  once per line: it must be pure (no pointer, no `$env`, only whitelisted
  side-effect-free functions), so evaluating it once gives the same value;
* the `#` side (`#`, `Upper(#)` or `Lower(#)`) is applied to every line once
  per file and kept;
* `==` is a set lookup, `startsWith`/`endsWith` one C-level call with a tuple,
  `contains` one C-level scan (and a bounded per-value cache).

Results are identical to the generic loop, including errors: whenever the fast
path cannot answer exactly (the list is not a data file, E fails or is not a
string), the generic implementation runs instead and does what it always did.
"""

from __future__ import annotations

from crowdsec_mp.engine.expr import ast
from crowdsec_mp.engine.expr.helpers import text as _text

#: Operators the fast path answers, with `#` on either side.
FAST_OPERATORS = ("==", "contains", "startsWith", "endsWith")
#: Functions without side effects whose result depends only on their arguments.
#: By identity, so that an `extra_funcs` override of the same name is never
#: treated as pure.
PURE_STRING_FUNCTIONS = frozenset(
    _text.FUNCTIONS[name] for name in (
        "Upper", "Lower", "Index", "IndexAny", "Replace", "ReplaceAll", "Trim", "TrimLeft",
        "TrimRight", "TrimPrefix", "TrimSuffix", "TrimSpace", "PathUnescape",
        "QueryUnescape", "PathEscape", "QueryEscape", "ToString",
    )
)
#: Functions that may be applied to `#` (one string argument, string result).
LINE_TRANSFORMS = {_text.Upper, _text.Lower}
#: Per-matcher cache of `contains` answers (cleared when full).
CONTAINS_CACHE_SIZE = 4096
#: Separator when the lines are joined for "value inside a line" scans: no line
#: of a data file contains it (files are split on it).
_SEPARATOR = "\n"


def is_invariant(node, functions: dict) -> bool:
    """True when `node` neither reads `#`/`#index`/`#acc` nor `$env` and only
    calls pure functions: its value is the same for every element of a
    predicate loop, so evaluating it once per call is exact."""
    if isinstance(node, ast.Const):
        return True
    if isinstance(node, ast.Ident):
        return node.name != "$env"
    if isinstance(node, ast.Member):
        return is_invariant(node.obj, functions) and is_invariant(node.key, functions)
    if isinstance(node, ast.Chain):
        return is_invariant(node.node, functions)
    if isinstance(node, ast.Call):
        func = functions.get(node.name)
        return (func is not None and func in PURE_STRING_FUNCTIONS
                and all(is_invariant(arg, functions) for arg in node.args))
    return False


def _line_side(node, functions: dict):
    """For the `#` side of the predicate: the transform applied to `#` (None for
    `#` itself), or False when the node is not one of the supported shapes."""
    if isinstance(node, ast.Pointer) and node.name == "":
        return None
    if (isinstance(node, ast.Call) and len(node.args) == 1
            and isinstance(node.args[0], ast.Pointer) and node.args[0].name == ""):
        func = functions.get(node.name)
        if func is not None and func in LINE_TRANSFORMS:
            return func
    return False


def match_line_predicate(body, functions: dict):
    """Recognise `E op L` / `L op E` where L is `#`, `Upper(#)` or `Lower(#)`
    and E is invariant. Returns (op, invariant node, transform, line_on_right)
    or None."""
    if not isinstance(body, ast.Binary) or body.op not in FAST_OPERATORS:
        return None
    transform = _line_side(body.right, functions)
    if transform is not False and is_invariant(body.left, functions):
        return body.op, body.left, transform, True
    transform = _line_side(body.left, functions)
    if transform is not False and is_invariant(body.right, functions):
        return body.op, body.right, transform, False
    return None


def build_matcher(lines, op: str, transform, line_on_right: bool):
    """`matcher(value) -> bool`, equal to `any(pred(line) for line in lines)`
    for a string `value`, where pred is `value op t(line)` (line on the right)
    or `t(line) op value`. `lines` are strings without the separator."""
    derived = [transform(line) for line in lines] if transform is not None else list(lines)
    if op == "==":
        members = frozenset(derived)
        return members.__contains__
    if line_on_right:
        if op == "endsWith":
            suffixes = tuple(derived)
            return lambda value: value.endswith(suffixes)
        if op == "startsWith":
            prefixes = tuple(derived)
            return lambda value: value.startswith(prefixes)
        return _contains_any_matcher(derived)
    # The line is on the left: is `value` inside / a prefix / a suffix of a line?
    joined = _SEPARATOR + _SEPARATOR.join(derived) + _SEPARATOR
    slow = _slow_line_left(derived, op)

    def value_in_lines(value):
        if _SEPARATOR in value:
            return slow(value)
        if op == "contains":
            return value in joined
        if op == "startsWith":
            return (_SEPARATOR + value) in joined
        return (value + _SEPARATOR) in joined

    return value_in_lines


def _contains_any_matcher(needles):
    """Does value contain at least one of the needles? Scans in C; answers
    are cached per value since request fields repeat a lot."""
    needles = tuple(dict.fromkeys(needles))  # duplicates cannot change the answer
    cache: dict = {}

    def contains_any(value):
        found = cache.get(value)
        if found is None:
            found = any(map(value.__contains__, needles))
            if len(cache) >= CONTAINS_CACHE_SIZE:
                cache.clear()
            cache[value] = found
        return found

    return contains_any


def _slow_line_left(derived, op):
    if op == "contains":
        return lambda value: any(value in line for line in derived)
    if op == "startsWith":
        return lambda value: any(line.startswith(value) for line in derived)
    return lambda value: any(line.endswith(value) for line in derived)


# -- shared pure sub-expressions ---------------------------------------------------


def _children(node):
    for name in node.__slots__:
        value = getattr(node, name)
        if isinstance(value, ast.Node):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, ast.Node):
                    yield item
                elif isinstance(item, tuple):
                    yield from (part for part in item if isinstance(part, ast.Node))


def walk(node, inside_closure=False):
    """(node, inside a predicate closure) for every node of the tree."""
    stack = [(node, inside_closure)]
    while stack:
        current, closed = stack.pop()
        yield current, closed
        closed = closed or isinstance(current, ast.Closure)
        stack.extend((child, closed) for child in _children(current))


def _reads_names(node, names) -> bool:
    return any(isinstance(n, ast.Ident) and n.name in names for n, _ in walk(node))


def shared_pure_calls(tree, functions: dict) -> frozenset:
    """Keys (`repr` of the subtree) of the pure calls that are worth computing
    once per run: `Upper(evt.Meta.http_path)` written ten times in one filter,
    or an invariant call inside a predicate (evaluated once per element
    otherwise).

    Computing such a call once per run is exact when nothing can change its
    inputs during the run: so none at all when the expression has a method call
    (`evt.SetMeta(...)` mutates the event) or reads `$env`; never for calls
    reading `#` (differs per element) or a `let` name (differs per scope), or
    with only constant arguments (folded at compile time instead).
    """
    let_names = set()
    calls = []  # (call of a pure function, inside a closure)
    for node, in_closure in walk(tree):
        if isinstance(node, ast.MethodCall):
            return frozenset()
        if isinstance(node, ast.Ident) and node.name == "$env":
            return frozenset()
        if isinstance(node, ast.Let):
            let_names.add(node.name)
        elif (isinstance(node, ast.Call) and node.args
              and functions.get(node.name) in PURE_STRING_FUNCTIONS):
            calls.append((node, in_closure))
    counts: dict = {}
    for node, in_closure in calls:
        if (not all(isinstance(arg, ast.Const) for arg in node.args)
                and is_invariant(node, functions)
                and not _reads_names(node, let_names)):
            key = repr(node)
            counts[key] = counts.get(key, 0) + (2 if in_closure else 1)
    return frozenset(key for key, count in counts.items() if count >= 2)
