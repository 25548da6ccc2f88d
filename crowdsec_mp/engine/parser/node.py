"""Compiled parser nodes and their runtime behaviour (spec/parsers.md §4, §5, §8, §9).

A `Node` is built once by the loader from a `NodeSpec`; `Node.process(evt, env)`
runs it on one event. `env` is the expression environment `{"evt": evt}` built once
per parse by the tree, so nodes allocate nothing per event on the common path.

Everything here follows CrowdSec's observable semantics literally, including the
odd ones (a `continue` skeleton node returns the result of its last child), because
hub tests assert them.
"""

from __future__ import annotations

import logging

from crowdsec_mp.engine.event import LOG, OVFLW, parse_ip
from crowdsec_mp.engine.parser.values import (
    compile_target,
    grok_source_text,
    static_value_text,
    target_parts,
)

log = logging.getLogger(__name__)


class StageOrder:
    """Sorted stage names of one tree, shared by its nodes for `onsuccess: next_stage`."""

    def __init__(self):
        self.stages: list[str] = []
        self.next_of: dict[str, str] = {}

    def set(self, stages: list[str]):
        self.stages = list(stages)
        # The last stage maps to itself: next_stage there is a no-op (§2).
        self.next_of = {
            stage: stages[i + 1] if i + 1 < len(stages) else stage for i, stage in enumerate(stages)
        }


# -- statics -------------------------------------------------------------------

DEST_METHOD, DEST_PARSED, DEST_META, DEST_ENRICHED, DEST_TARGET = range(5)


class Static:
    """One compiled static: a value source and a destination (§5)."""

    __slots__ = ("value", "program", "fast_get", "source_member", "dest", "key", "setter",
                 "method", "always_call", "where", "apply")

    def __init__(self, *, value, program, dest, key, method=None, where="", fast_get=None,
                 source_member=None):
        self.value = value          # literal text, "" when an expression is used
        self.program = program      # compiled expression or None
        # Direct reader for trivial expressions (`evt.Parsed.x`, `evt.Line.Raw`): the
        # same value as program.run without the interpreter (hot path, spec §5.1).
        self.fast_get = fast_get
        #: ("Parsed"|"Meta"|"Enriched", key) when `fast_get` reads exactly that map
        #: key (`evt.Meta.x`), else None: lets `statics_runner` batch the static.
        self.source_member = source_member if fast_get is not None else None
        self.dest = dest
        self.key = key              # map key, target path or method name
        self.setter = compile_target(key) if dest == DEST_TARGET else None
        self.method = method        # enrichment callable for DEST_METHOD (None = unknown)
        # ParseDate is called even with "" (it falls back to "now"), §5.2.
        self.always_call = dest == DEST_METHOD and key == "ParseDate"
        self.where = where
        #: `apply(evt, env, ctx)`: this static on one event (see apply_statics).
        self.apply = self._specialised_apply()

    def _specialised_apply(self):
        """The common shape `meta|parsed|enriched: <simple reader>` as one small
        closure (statics run ~30 times per event); everything else runs the
        general code. Both do exactly what apply_statics documents."""
        if not self.value and self.fast_get is not None and self.dest in (DEST_METHOD, DEST_TARGET):
            return self._simple_reader_to_method_or_target()
        if self.dest not in (DEST_META, DEST_PARSED, DEST_ENRICHED) or (
                not self.value and self.fast_get is None and self.program is None):
            return lambda evt, env, ctx: _apply_static(self, evt, env, ctx)
        fast_get, key = self.fast_get, self.key
        field = {DEST_META: "Meta", DEST_PARSED: "Parsed", DEST_ENRICHED: "Enriched"}[self.dest]
        text_of = static_value_text
        if self.value:  # a non-empty literal: always written
            literal = self.value

            def apply_literal(evt, env, ctx):
                getattr(evt, field)[key] = literal

            return apply_literal
        if fast_get is None:
            run, where = self.program.run, self.where

            def apply_expression(evt, env, ctx):
                try:
                    value = run(env)
                except Exception as exc:  # ExprRuntimeError: static skipped (§5.1)
                    log.debug("%s: static skipped: %s", where, exc)
                    return
                if value.__class__ is not str:
                    value = text_of(value)
                if value != "":
                    getattr(evt, field)[key] = value

            return apply_expression

        def apply_simple(evt, env, ctx):
            value = fast_get(evt)
            if value.__class__ is not str:
                value = text_of(value)
            if value != "":
                getattr(evt, field)[key] = value

        return apply_simple

    def _simple_reader_to_method_or_target(self):
        """`method: X` or `target: path` fed by a simple reader (`evt.Meta.source_ip`
        into GeoIpCity, `evt.Parsed.time_local` into evt.StrTime) as one closure
        doing what `_apply_static` does for it."""
        fast_get, text_of, where, key = self.fast_get, static_value_text, self.where, self.key
        always_call = self.always_call
        if self.dest == DEST_TARGET:
            setter = self.setter

            def apply_to_target(evt, env, ctx):
                value = fast_get(evt)
                if value.__class__ is not str:
                    value = text_of(value)
                if value == "":
                    return
                if not setter(evt, value):
                    log.debug("%s: cannot set target %r", where, key)

            return apply_to_target
        method = self.method
        if method is None:  # unknown method: the value is still read (it may abort)

            def apply_unknown_method(evt, env, ctx):
                value = fast_get(evt)
                if value.__class__ is not str:
                    text_of(value)

            return apply_unknown_method

        def apply_method(evt, env, ctx):
            value = fast_get(evt)
            if value.__class__ is not str:
                value = text_of(value)
            if value == "" and not always_call:
                return
            try:
                produced = method(value, evt, ctx)
            except Exception as exc:  # a method error is only logged (§5.3)
                log.warning("%s: method %s failed: %s", where, key, exc)
                return
            if produced:
                evt.Enriched.update(produced)

        return apply_method

    def copy_step(self):
        """This static as `(source, source_key, dest, dest_key)` when it only copies
        a map value or writes a literal into `evt.Parsed|Meta|Enriched`, else None.

        `source` and `dest` index `(evt.Parsed, evt.Meta, evt.Enriched)`; a
        literal has source `_LITERAL` and the literal text as source_key, a
        string field (`evt.Line.Raw`) has source `_READ_WITH_GETTER` and the
        static's `fast_get` as source_key. Such statics are run in batches by
        `_copy_batch` (see `statics_runner`).
        """
        if self.dest in _MAP_INDEX_OF_DEST:
            dest, dest_key = _MAP_INDEX_OF_DEST[self.dest], self.key
        elif self.dest == DEST_TARGET:
            parts = target_parts(self.key)
            # compile_target writes `evt.<Map>.<key>[.ignored]` straight into the map.
            if len(parts) < 2 or parts[0] not in _MAP_INDEX or not parts[1]:
                return None
            dest, dest_key = _MAP_INDEX[parts[0]], parts[1]
        else:
            return None
        if self.value:  # a non-empty literal is always written
            return (_LITERAL, self.value, dest, dest_key)
        if self.source_member is not None and self.source_member[0] in _MAP_INDEX:
            field, key = self.source_member
            return (_MAP_INDEX[field], key, dest, dest_key)
        if self.fast_get is not None:  # a string field (`evt.Line.Raw`): read by fast_get
            return (_READ_WITH_GETTER, self.fast_get, dest, dest_key)
        return None


#: Index of each event map in the tuple `_copy_batch` reads once per batch.
_MAP_INDEX = {"Parsed": 0, "Meta": 1, "Enriched": 2}
_MAP_INDEX_OF_DEST = {DEST_PARSED: 0, DEST_META: 1, DEST_ENRICHED: 2}
#: Copy-step sources that are not a map: the literal itself, or `fast_get(evt)`.
_LITERAL, _READ_WITH_GETTER = -1, -2


def apply_statics(statics, evt, env, ctx):
    """Apply statics in order. Raises StaticAbort when CrowdSec would abort the parse."""
    for static in statics:
        static.apply(evt, env, ctx)


def statics_runner(statics):
    """One function `(evt, env, ctx)` that does exactly `apply_statics(statics, ...)`.

    Consecutive statics that only copy a map value or write a literal (most
    hub statics: `meta: source_ip` from `evt.Parsed.remote_addr`) run as one
    batch in a single call; the others keep their own `apply`. Returns None
    for an empty list.
    """
    steps, batch = [], []
    for static in statics:
        step = static.copy_step()
        if step is not None:
            batch.append(step)
            continue
        if batch:
            steps.append(_copy_batch(tuple(batch)))
            batch = []
        steps.append(static.apply)
    if batch:
        steps.append(_copy_batch(tuple(batch)))
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    steps = tuple(steps)

    def apply_all(evt, env, ctx):
        for step in steps:
            step(evt, env, ctx)

    return apply_all


def _copy_batch(steps):
    """Apply copy steps (see `Static.copy_step`) in order, as their `apply` would.

    The three maps are read once for the whole batch: a copy step only writes
    keys into them and never replaces them (nor any attribute of the event),
    so `evt.Parsed` is the same object before and after each step.
    """
    text_of = static_value_text

    def apply_copies(evt, env, ctx):
        maps = (evt.Parsed, evt.Meta, evt.Enriched)
        for source, key, dest, dest_key in steps:
            if source >= 0:
                value = maps[source][key]
            elif source == _LITERAL:
                maps[dest][dest_key] = key
                continue
            else:  # _READ_WITH_GETTER: `key` is the static's fast_get
                value = key(evt)
            if value.__class__ is not str:
                value = text_of(value)
            if value != "":
                maps[dest][dest_key] = value

    return apply_copies


def _apply_static(static, evt, env, ctx):
    """One static (§5): value from the literal, the simple reader or the
    expression (an expression error skips it), then the destination; an empty
    value is not written (ParseDate is called anyway)."""
    if static.value:
        value = static.value
    elif static.fast_get is not None:
        value = static_value_text(static.fast_get(evt))
    elif static.program is not None:
        try:
            result = static.program.run(env)
        except Exception as exc:  # ExprRuntimeError: static skipped (§5.1)
            log.debug("%s: static skipped: %s", static.where, exc)
            return
        value = static_value_text(result)
    else:
        value = ""
    if value == "" and not static.always_call:
        return
    dest = static.dest
    if dest == DEST_META:
        evt.Meta[static.key] = value
    elif dest == DEST_PARSED:
        evt.Parsed[static.key] = value
    elif dest == DEST_ENRICHED:
        evt.Enriched[static.key] = value
    elif dest == DEST_TARGET:
        if not static.setter(evt, value):
            log.debug("%s: cannot set target %r", static.where, static.key)
    elif static.method is not None:
        try:
            produced = static.method(value, evt, ctx)
        except Exception as exc:  # a method error is only logged (§5.3)
            log.warning("%s: method %s failed: %s", static.where, static.key, exc)
            return
        if produced:
            evt.Enriched.update(produced)


# -- stash ---------------------------------------------------------------------


class Stash:
    __slots__ = ("name", "key", "value", "ttl_seconds", "size", "strategy")

    def __init__(self, name, key, value, ttl_seconds, size, strategy):
        self.name = name
        self.key = key
        self.value = value
        self.ttl_seconds = ttl_seconds
        self.size = size
        self.strategy = strategy


def apply_stashes(stashes, env, ctx):
    for stash in stashes:
        try:
            value = stash.value.run(env)
            key = stash.key.run(env)
        except Exception:  # runtime error: entry skipped (expr.md §1.7)
            continue
        if isinstance(value, str) and isinstance(key, str):
            ctx.stash.set(stash.name, key, value, stash.ttl_seconds, size=stash.size,
                          strategy=stash.strategy)


# -- whitelist -----------------------------------------------------------------


class Whitelist:
    """IP/CIDR sets and expressions of a `whitelist:` block (§8)."""

    __slots__ = ("reason", "ips", "networks", "programs", "_listed_by_text")

    #: Bound of the per-whitelist memo of source IP texts (cleared when full).
    MEMO_SIZE = 65536

    def __init__(self, reason, ips, networks, programs):
        self.reason = reason
        self.ips = ips              # set of ipaddress objects
        self.networks = networks    # list of ip_network objects
        self.programs = programs
        #: source IP text -> `address_listed(parse_ip(text))` (see source_listed).
        self._listed_by_text: dict[str, bool] = {}

    def address_listed(self, address) -> bool:
        """Whether an ipaddress object is one of the IPs or in one of the CIDRs."""
        if address in self.ips:
            return True
        # `in` is False across families: ::ffff:10.0.0.1 is not in 10.0.0.0/8.
        for network in self.networks:
            if address in network:
                return True
        return False

    def source_listed(self, text: str) -> bool:
        """`address_listed` of the IP spelled `text` (False when not an IP).

        A pure function of the text (the sets never change after loading), so
        it is memoised: the same sources come back line after line, and
        hashing an ipaddress object and testing each network costs a few
        microseconds in Python.
        """
        listed = self._listed_by_text.get(text)
        if listed is None:
            address = parse_ip(text)
            listed = address is not None and self.address_listed(address)
            if len(self._listed_by_text) >= self.MEMO_SIZE:
                self._listed_by_text.clear()
            self._listed_by_text[text] = listed
        return listed

    def matches(self, evt, env) -> bool:
        if self.ips or self.networks:
            if evt.Type == LOG:
                # What ParseIPSources returns for a log event, via the memo
                # when the source is a str (other types keep the plain path).
                meta = evt.Meta
                if "source_ip" in meta:
                    source = meta["source_ip"]
                    if source.__class__ is str:
                        if self.source_listed(source):
                            return True
                    else:
                        address = parse_ip(source)
                        if address is not None and self.address_listed(address):
                            return True
            else:
                for address in evt.ParseIPSources():
                    if self.address_listed(address):
                        return True
        for program in self.programs:
            try:
                result = program.run(env)
            except Exception:  # runtime error: stop, not whitelisted (§8.2)
                return False
            if result is True:
                return True
        return False


# -- grok ----------------------------------------------------------------------

SOURCE_LINE_RAW, SOURCE_PARSED, SOURCE_EXPRESSION = range(3)


class Grok:
    __slots__ = ("regex", "source_kind", "apply_on", "program", "statics", "run_statics")

    def __init__(self, regex, source_kind, apply_on, program, statics):
        self.regex = regex          # GrokPattern or None (expression-only grok)
        self.source_kind = source_kind
        self.apply_on = apply_on
        self.program = program
        self.statics = statics
        #: `statics_runner(statics)`: None when there are no statics.
        self.run_statics = statics_runner(statics)

    def source(self, evt, env):
        """Text to match, or None when the grok fails before matching (§3.1)."""
        kind = self.source_kind
        if kind == SOURCE_LINE_RAW:
            return evt.Line.Raw
        if kind == SOURCE_PARSED:
            parsed = evt.Parsed
            key = self.apply_on
            # A missing key fails the grok; present-but-empty is matched as "".
            return parsed[key] if dict.__contains__(parsed, key) else None
        try:
            value = self.program.run(env)
        except Exception:
            return None
        text = grok_source_text(value)
        return "" if text is None else text


# -- node ----------------------------------------------------------------------


class Node:
    """A compiled node (top-level or child)."""

    __slots__ = (
        "name", "stage", "file", "filter", "whitelist", "grok", "stashes", "children",
        "statics", "next_stage", "order", "ctx", "run_statics",
    )

    def __init__(self, *, name, stage, file, filter, whitelist, grok, stashes, children,
                 statics, next_stage, order, ctx):
        self.name = name
        self.stage = stage
        self.file = file
        self.filter = filter
        self.whitelist = whitelist
        self.grok = grok
        self.stashes = stashes
        self.children = children
        self.statics = statics
        #: `statics_runner(statics)`: None when there are no statics.
        self.run_statics = statics_runner(statics)
        self.next_stage = next_stage
        self.order = order
        self.ctx = ctx

    def entered(self, env) -> bool:
        """The filter: anything but boolean true (or an error) means "not entered"."""
        try:
            return self.filter.run(env) is True
        except Exception as exc:
            log.debug("node %r: filter error: %s", self.name, exc)
            return False

    def process(self, evt, env) -> bool:
        """Run the node on `evt` (§4). Raises StaticAbort to abort the whole parse."""
        # 1. filter
        if self.filter is not None and not self.entered(env):
            return False

        # 2. whitelist, before grok.
        whitelist = self.whitelist
        is_whitelisted = False
        if whitelist is not None:
            is_whitelisted = whitelist.matches(evt, env)
            if is_whitelisted and not evt.Whitelisted:
                evt.Whitelisted = True
                evt.WhitelistReason = whitelist.reason
                if evt.Type == OVFLW:
                    evt.Overflow.Whitelisted = True

        # 3. grok
        grok = self.grok
        grok_ok = False
        if grok is not None and grok.regex is not None:
            state = False
            text = grok.source(evt, env)
            if text is not None:
                captures = grok.regex.match(text)
                if captures:
                    evt.Parsed.update(captures)
                    if grok.run_statics is not None:
                        grok.run_statics(evt, env, self.ctx)
                    state = grok_ok = True
        else:
            state = True

        # 4. stash: only after a matched grok, or on nodes without grok regex.
        if self.stashes and (grok_ok or grok is None or grok.regex is None):
            apply_stashes(self.stashes, env, self.ctx)

        # 5. children: the PARENT's onsuccess decides whether to stop at a success.
        for child in self.children:
            if child.process(evt, env):
                state = True
                if self.next_stage:
                    break
            elif not grok_ok:
                state = False

        # 6. result
        if not state:
            return False
        if self.run_statics is not None and (is_whitelisted or whitelist is None):
            self.run_statics(evt, env, self.ctx)
        if self.next_stage:
            evt.Stage = self.order.next_of.get(evt.Stage, evt.Stage)
        return True


class GrokLeafNode(Node):
    """A node that is only a grok on `Line.Raw` or a Parsed key (+ statics).

    Most children of hub parsers look like this and most of them fail on a given
    line, so this is the hot path. `process` does exactly what `Node.process` does
    for such a node (no filter, whitelist, stash or children), with less work.
    """

    __slots__ = ()

    @staticmethod
    def applies_to(node: Node) -> bool:
        grok = node.grok
        return (
            node.filter is None and node.whitelist is None and not node.stashes
            and not node.children and grok is not None and grok.regex is not None
            and grok.source_kind in (SOURCE_LINE_RAW, SOURCE_PARSED)
        )

    def process(self, evt, env) -> bool:
        grok = self.grok
        if grok.source_kind == SOURCE_LINE_RAW:
            text = evt.Line.Raw
        else:
            parsed = evt.Parsed
            if not dict.__contains__(parsed, grok.apply_on):
                return False
            text = parsed[grok.apply_on]
        captures = grok.regex.match(text)
        if not captures:
            return False
        evt.Parsed.update(captures)
        if grok.run_statics is not None:
            grok.run_statics(evt, env, self.ctx)
        if self.run_statics is not None:
            self.run_statics(evt, env, self.ctx)
        if self.next_stage:
            evt.Stage = self.order.next_of.get(evt.Stage, evt.Stage)
        return True


class FilterStaticsNode(Node):
    """A node that is only an optional filter and statics (`dateparse-enrich`,
    `geoip-enrich`, `non-syslog`, statics-only children).

    `process` does exactly what `Node.process` does for such a node (no
    whitelist, grok, stash or children: entered means succeeded), with less
    work.
    """

    __slots__ = ()

    @staticmethod
    def applies_to(node: Node) -> bool:
        return (
            node.whitelist is None and node.grok is None and not node.stashes
            and not node.children
        )

    def process(self, evt, env) -> bool:
        if self.filter is not None and not self.entered(env):
            return False
        if self.run_statics is not None:
            self.run_statics(evt, env, self.ctx)
        if self.next_stage:
            evt.Stage = self.order.next_of.get(evt.Stage, evt.Stage)
        return True
