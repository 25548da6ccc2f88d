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

from crowdsec_mp.engine.event import OVFLW
from crowdsec_mp.engine.parser.values import (
    compile_target,
    grok_source_text,
    static_value_text,
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

    __slots__ = ("value", "program", "fast_get", "dest", "key", "setter", "method", "always_call",
                 "where", "apply")

    def __init__(self, *, value, program, dest, key, method=None, where="", fast_get=None):
        self.value = value          # literal text, "" when an expression is used
        self.program = program      # compiled expression or None
        # Direct reader for trivial expressions (`evt.Parsed.x`, `evt.Line.Raw`): the
        # same value as program.run without the interpreter (hot path, spec §5.1).
        self.fast_get = fast_get
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


def apply_statics(statics, evt, env, ctx):
    """Apply statics in order. Raises StaticAbort when CrowdSec would abort the parse."""
    for static in statics:
        static.apply(evt, env, ctx)


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

    __slots__ = ("reason", "ips", "networks", "programs")

    def __init__(self, reason, ips, networks, programs):
        self.reason = reason
        self.ips = ips              # set of ipaddress objects
        self.networks = networks    # list of ip_network objects
        self.programs = programs

    def matches(self, evt, env) -> bool:
        if self.ips or self.networks:
            for address in evt.ParseIPSources():
                if address in self.ips:
                    return True
                # `in` is False across families: ::ffff:10.0.0.1 is not in 10.0.0.0/8.
                for network in self.networks:
                    if address in network:
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
    __slots__ = ("regex", "source_kind", "apply_on", "program", "statics")

    def __init__(self, regex, source_kind, apply_on, program, statics):
        self.regex = regex          # GrokPattern or None (expression-only grok)
        self.source_kind = source_kind
        self.apply_on = apply_on
        self.program = program
        self.statics = statics

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
        "statics", "next_stage", "order", "ctx",
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
        self.next_stage = next_stage
        self.order = order
        self.ctx = ctx

    def process(self, evt, env) -> bool:
        """Run the node on `evt` (§4). Raises StaticAbort to abort the whole parse."""
        # 1. filter: anything but boolean true (or an error) means "not entered".
        if self.filter is not None:
            try:
                if self.filter.run(env) is not True:
                    return False
            except Exception as exc:
                log.debug("node %r: filter error: %s", self.name, exc)
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
                    if grok.statics:
                        apply_statics(grok.statics, evt, env, self.ctx)
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
        if self.statics and (is_whitelisted or whitelist is None):
            apply_statics(self.statics, evt, env, self.ctx)
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
        if grok.statics:
            apply_statics(grok.statics, evt, env, self.ctx)
        if self.statics:
            apply_statics(self.statics, evt, env, self.ctx)
        if self.next_stage:
            evt.Stage = self.order.next_of.get(evt.Stage, evt.Stage)
        return True
