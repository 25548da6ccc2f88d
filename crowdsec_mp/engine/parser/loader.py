"""Load parser / postoverflow files into a `ParserTree` (spec/parsers.md §1).

`load_parsers(files, ctx, patterns)`:
* `files` is a list of `(stage, path)` — or `(stage, path, text)` to supply the
  YAML text directly (hubtest's generated `00_overrides.yaml`). The stage comes
  from the entry, never from the YAML `stage:` key.
* Files are loaded in the order of their *installed* path `<stage>/<file name>`
  (CrowdSec sorts `<config>/parsers/<stage>/<file>` by full path; hub files are
  installed flat, without the author directory), ties broken by full path.
* Each YAML document is one top-level node; documents without name, description
  and author are skipped; a `format` outside [1.0, 3.0] skips the node.
* `pattern_syntax` entries go into `patterns` (shared by every node compiled
  later; first definition wins); `data:` entries are loaded into `ctx.data` from
  `ctx.data_dir`; expressions are compiled once, named
  "<file>: node '<name>' field '<field>'" in errors.

Postoverflows use the same function with their own `PatternLibrary`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import operator
import os
import re
from pathlib import Path

import yaml

from crowdsec_mp.engine.expr.parser import parse as parse_expression
from crowdsec_mp.engine.parser.memo import memoised
from crowdsec_mp.engine.parser.node import (
    DEST_ENRICHED,
    DEST_META,
    DEST_METHOD,
    DEST_PARSED,
    DEST_TARGET,
    SOURCE_EXPRESSION,
    SOURCE_LINE_RAW,
    SOURCE_PARSED,
    FilterStaticsNode,
    Grok,
    GrokLeafNode,
    Node,
    StageOrder,
    Stash,
    Static,
    Whitelist,
)
from crowdsec_mp.engine.parser.spec import NodeSpec, load_documents
from crowdsec_mp.engine.parser.tree import ParserTree
from crowdsec_mp.engine.parser.values import parse_go_duration
from crowdsec_mp.errors import ConfigError

log = logging.getLogger(__name__)

#: Parser format versions the engine accepts (CrowdSec: ">= 1.0, <= 3.0").
MIN_FORMAT = (1, 0)
MAX_FORMAT = (3, 0)


def load_parsers(files, ctx, patterns) -> ParserTree:
    """Load and compile every node of `files` (see module docstring)."""
    entries = [_normalize_entry(entry) for entry in files]
    entries.sort(key=lambda e: (f"{e[0]}/{os.path.basename(str(e[1]))}", str(e[1])))
    order = StageOrder()
    compiler = _Compiler(ctx, patterns, order)
    nodes = []
    for stage, path, text in entries:
        for document in _read_documents(path, text):
            if document is None:
                continue
            spec = NodeSpec.from_yaml(document, file=path)
            if spec.is_blank:
                continue
            if not format_supported(spec.format):
                log.error("%s: node %r: unsupported format %r, node skipped", path, spec.name, spec.format)
                continue
            nodes.append(compiler.compile(spec, stage, str(path), top_level=True))
    order.set(sorted({node.stage for node in nodes}))
    return ParserTree(nodes, order, ctx)


#: Postoverflows have the same format; call with a separate PatternLibrary.
load_postoverflows = load_parsers


def find_stage_files(root) -> list[tuple[str, Path]]:
    """`(stage, path)` of every `<root>/<stage>/*.yaml|yml` (an installed parsers/ or
    postoverflows/ directory). Sub-directories of a stage are ignored (§1.1)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return [
        (stage_dir.name, path)
        for stage_dir in sorted(root.iterdir()) if stage_dir.is_dir()
        for path in sorted(stage_dir.iterdir())
        if path.is_file() and path.suffix in (".yaml", ".yml")
    ]


_MAP_MEMBER = re.compile(r"^\s*evt\.(Parsed|Meta|Enriched)(?:\.(\w+)|\[\s*(?:\"(\w+)\"|'(\w+)')\s*\])\s*$")
_STRING_FIELD = re.compile(r"^\s*evt\.(Line\.Raw|Line\.Src|Line\.Module|StrTime|StrTimeFormat|MarshaledTime)\s*$")


def map_member(source: str):
    """("Parsed"|"Meta"|"Enriched", key) when `source` is exactly `evt.<Map>.key`
    (or `evt.<Map>["key"]`), else None: the value `simple_reader` reads."""
    match = _MAP_MEMBER.match(source)
    if match is None:
        return None
    return match.group(1), match.group(2) or match.group(3) or match.group(4)


def simple_reader(source: str):
    """A direct reader equivalent to a trivial expression, or None.

    `evt.Parsed.x` (or `evt.Parsed["x"]`) reads a StrMap ("" when missing, like
    the expression); `evt.Line.Raw` and other string fields read the attribute.
    Most hub statics are of this form, so this skips the interpreter there.
    """
    match = _MAP_MEMBER.match(source)
    if match:
        attr = match.group(1)
        key = match.group(2) or match.group(3) or match.group(4)
        return lambda evt: getattr(evt, attr)[key]
    match = _STRING_FIELD.match(source)
    if match:
        return operator.attrgetter(match.group(1))
    return None


def format_supported(text: str) -> bool:
    if not text:
        return True
    try:
        parts = [int(p) for p in text.strip().lstrip("v").split(".")]
    except ValueError:
        return False
    version = tuple((parts + [0, 0])[:2])
    return MIN_FORMAT <= version <= MAX_FORMAT


def _normalize_entry(entry):
    if len(entry) == 2:
        stage, path = entry
        return str(stage), path, None
    stage, path, text = entry
    return str(stage), path, text


def _read_documents(path, text):
    if text is None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read parser file: {exc.strerror or exc}", file=path) from exc
    try:
        return load_documents(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from exc


class _Compiler:
    """Turns NodeSpecs into Nodes for one tree (one pattern library, one context)."""

    def __init__(self, ctx, patterns, order: StageOrder):
        self.ctx = ctx
        self.patterns = patterns
        self.order = order

    # -- helpers ---------------------------------------------------------------
    def _error(self, file, name, fieldname, message):
        return ConfigError(message, file=file, item=name or "<unnamed node>", field=fieldname)

    def _expr(self, source, file, name, fieldname):
        from crowdsec_mp.engine.expr import compile_expr

        where = f"{file}: node '{name}' field '{fieldname}'"
        # ExprCompileError is a ConfigError whose message names `where` and the source.
        program = compile_expr(source, ctx=self.ctx, where=where)
        # It compiled, so it parses: the same tree, to see whether a memo is exact.
        return memoised(program, parse_expression(source))

    # -- node ------------------------------------------------------------------
    def compile(self, spec: NodeSpec, stage: str, file: str, *, top_level: bool,
                parent_name: str = "") -> Node:
        # Unnamed children are called child-<parent name> (logs and errors only).
        name = spec.name or ("" if top_level else f"child-{parent_name}")
        if name != spec.name:
            spec = dataclasses.replace(spec, name=name)
        if spec.is_empty:
            raise self._error(file, name, None, "Node is empty")
        if spec.onsuccess is None:
            onsuccess = "continue" if top_level else ""
        else:
            onsuccess = spec.onsuccess

        self._load_data(spec, file)
        for pattern_name, regex in spec.pattern_syntax.items():
            try:
                self.patterns.add(pattern_name, regex, ignore_existing=True,
                                  where=f"{file}: node '{name}' field 'pattern_syntax.{pattern_name}'")
            except ConfigError:
                raise
            except Exception as exc:
                raise self._error(file, name, f"pattern_syntax.{pattern_name}", str(exc)) from exc

        filter_program = self._expr(spec.filter, file, name, "filter") if spec.filter else None
        whitelist = self._whitelist(spec, file)
        grok = self._grok(spec, file)
        stashes = self._stashes(spec, file)
        children = [
            self.compile(child, stage, file, top_level=False, parent_name=name) for child in spec.nodes
        ]
        statics = self._statics(spec.statics, file, name, "statics", validate=True)
        node = Node(
            name=name, stage=stage, file=file, filter=filter_program, whitelist=whitelist,
            grok=grok, stashes=stashes, children=children, statics=statics,
            next_stage=onsuccess == "next_stage", order=self.order, ctx=self.ctx,
        )
        if GrokLeafNode.applies_to(node):
            node.__class__ = GrokLeafNode  # same slots, leaner process() (hot path)
        elif FilterStaticsNode.applies_to(node):
            node.__class__ = FilterStaticsNode  # same slots, leaner process()
        return node

    def _load_data(self, spec: NodeSpec, file):
        for index, entry in enumerate(spec.data):
            if not entry.type:
                continue  # CrowdSec only loads typed entries
            if not entry.dest_file:
                raise self._error(file, spec.name, f"data[{index}].dest_file", "dest_file is required")
            path = os.path.join(self.ctx.data_dir or "", entry.dest_file)
            if not os.path.isfile(path):
                log.warning("%s: node %r: data file %s not found, ignored", file, spec.name, path)
                continue
            try:
                self.ctx.data.load(entry.dest_file, entry.type, path)
            except Exception as exc:  # name the parser file and node, keep the cause
                raise self._error(file, spec.name, f"data[{index}]", f"cannot load {path}: {exc}") from exc

    def _grok(self, spec: NodeSpec, file):
        grok_spec = spec.grok
        if grok_spec is None:
            return None
        name = spec.name
        regex = None
        if grok_spec.has_regex:
            if not grok_spec.apply_on and not grok_spec.expression:
                raise self._error(file, name, "grok", "grok requires 'expression' or 'apply_on'")
            # `name` takes precedence over `pattern`.
            pattern = "%{" + grok_spec.name + "}" if grok_spec.name else grok_spec.pattern
            fieldname = "grok.name" if grok_spec.name else "grok.pattern"
            where = f"{file}: node '{name}' field '{fieldname}'"
            try:
                if grok_spec.name:
                    regex = self.patterns.compile_named(grok_spec.name, where=where)
                else:
                    regex = self.patterns.compile(pattern, where=where)
            except ConfigError:
                raise
            except Exception as exc:
                raise self._error(file, name, fieldname, f"cannot compile grok {pattern!r}: {exc}") from exc
        program = None
        if grok_spec.apply_on == "Line.Raw":
            kind = SOURCE_LINE_RAW
        elif grok_spec.apply_on:
            kind = SOURCE_PARSED
        else:
            kind = SOURCE_EXPRESSION
            if grok_spec.expression:
                program = self._expr(grok_spec.expression, file, name, "grok.expression")
        statics = self._statics(grok_spec.statics, file, name, "grok.statics")
        if kind == SOURCE_EXPRESSION and program is None and regex is not None:
            raise self._error(file, name, "grok", "grok requires 'expression' or 'apply_on'")
        return Grok(regex, kind, grok_spec.apply_on, program, statics)

    def _statics(self, specs, file, name, fieldname, *, validate=False):
        """Compile statics. CrowdSec validates node-level statics only: grok statics with
        just `enriched:` (crowdsec-testdata base-grok-import) or no value are accepted."""
        from crowdsec_mp.engine.enrich import METHODS

        compiled = []
        for index, static in enumerate(specs):
            label = f"{fieldname}[{index}]"
            if validate and not (static.meta or static.parsed or static.target or static.method):
                raise self._error(file, name, label, "static needs one of meta, parsed, target or method")
            if validate and not static.value and not static.expression:
                raise self._error(file, name, label, "static needs a value or an expression")
            program = None
            if not static.value and static.expression:
                program = self._expr(static.expression, file, name, f"{label}.expression")
            fast_get = simple_reader(static.expression) if program is not None else None
            source_member = map_member(static.expression) if fast_get is not None else None
            method = None
            if static.method:
                dest, key = DEST_METHOD, static.method
                method = METHODS.get(static.method)
                if method is None:
                    log.warning("%s: node %r: unknown method %r", file, name, static.method)
            elif static.parsed:
                dest, key = DEST_PARSED, static.parsed
            elif static.meta:
                dest, key = DEST_META, static.meta
            elif static.enriched:
                dest, key = DEST_ENRICHED, static.enriched
            else:
                dest, key = DEST_TARGET, static.target
            compiled.append(Static(
                value=static.value, program=program, dest=dest, key=key, method=method,
                fast_get=fast_get, source_member=source_member,
                where=f"{file}: node '{name}' {label}",
            ))
        return compiled

    def _stashes(self, spec: NodeSpec, file):
        stashes = []
        for index, entry in enumerate(spec.stash):
            label = f"stash[{index}]"
            for key in ("name", "key", "value", "ttl"):
                if not getattr(entry, key):
                    raise self._error(file, spec.name, f"{label}.{key}", f"stash {key} is required")
            try:
                ttl = parse_go_duration(entry.ttl)
            except ValueError as exc:
                raise self._error(file, spec.name, f"{label}.ttl", str(exc)) from exc
            stashes.append(Stash(
                entry.name,
                self._expr(entry.key, file, spec.name, f"{label}.key"),
                self._expr(entry.value, file, spec.name, f"{label}.value"),
                ttl, entry.size, entry.strategy,
            ))
        return stashes

    def _whitelist(self, spec: NodeSpec, file):
        wl = spec.whitelist
        if wl is None or wl.is_empty:
            return None
        ips = set()
        for index, text in enumerate(wl.ip):
            try:
                ips.add(ipaddress.ip_address(text.strip()))
            except ValueError as exc:
                raise self._error(file, spec.name, f"whitelist.ip[{index}]", f"invalid IP {text!r}") from exc
        networks = []
        for index, text in enumerate(wl.cidr):
            try:
                # Host bits are accepted: 10.0.0.1/8 == 10.0.0.0/8.
                networks.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError as exc:
                raise self._error(file, spec.name, f"whitelist.cidr[{index}]", f"invalid CIDR {text!r}") from exc
        programs = [
            self._expr(source, file, spec.name, f"whitelist.expression[{index}]")
            for index, source in enumerate(wl.expression)
        ]
        return Whitelist(wl.reason, ips, networks, programs)
