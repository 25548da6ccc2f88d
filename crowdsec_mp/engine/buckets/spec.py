"""Scenario files -> validated `Scenario` objects (spec/scenarios.md §2).

A scenario file is multi-document YAML, one bucket spec per document. Decoding
is strict: an unknown key, a bad duration, an expression that does not compile
or a missing mandatory field is a `ConfigError` naming the file, the scenario
and the field, and nothing of the file is loaded. A document whose `format`
is outside [1.0, 3.0] is skipped (logged), as CrowdSec does.

Expressions are compiled once here; the bucket store only runs them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from crowdsec_mp.engine.buckets.timeutil import format_go_duration, parse_go_duration
from crowdsec_mp.errors import ConfigError

log = logging.getLogger(__name__)

BUCKET_TYPES = ("leaky", "trigger", "counter", "conditional", "bayesian")

KNOWN_KEYS = frozenset(
    {
        "type", "name", "description", "filter", "groupby", "distinct", "capacity",
        "leakspeed", "duration", "cache_size", "blackhole", "reprocess", "overflow_filter",
        "cancel_on", "condition", "bayesian_prior", "bayesian_threshold",
        "bayesian_conditions", "scope", "labels", "data", "debug", "format", "references",
        "version",
    }
)
BAYES_CONDITION_KEYS = frozenset({"condition", "prob_given_evil", "prob_given_benign", "guillotine"})
SCOPE_KEYS = frozenset({"type", "expression"})
DATA_KEYS = frozenset({"source_url", "dest_file", "type", "strategy", "size", "ttl", "cache"})

SCOPE_IP = "Ip"
SCOPE_RANGE = "Range"


@dataclass
class BayesCondition:
    program: Any
    source: str
    prob_given_evil: float
    prob_given_benign: float
    guillotine: bool


@dataclass
class Scenario:
    """One bucket spec, compiled. `index` is its position in load order."""

    name: str
    description: str
    type: str
    file: str
    filter: Any
    filter_source: str
    groupby: Any = None
    groupby_source: str = ""
    distinct: Any = None
    cancel_on: Any = None
    overflow_filter: Any = None
    condition: Any = None
    capacity: int = 0
    leakspeed_ns: int = 0
    duration_ns: int = 0
    cache_size: int = 0
    blackhole_ns: int = 0
    reprocess: bool = False
    scope_type: str = SCOPE_IP
    scope_expr: Any = None
    labels: dict = field(default_factory=dict)
    bayesian_prior: float = 0.0
    bayesian_threshold: float = 0.0
    bayesian_conditions: list = field(default_factory=list)
    debug: bool = False
    format: str = "1.0"
    references: list = field(default_factory=list)
    hash: str = ""
    version: str = ""
    index: int = 0

    # -- derived values (computed once by `finish()`) ----------------------
    timer_ns: int = 0
    timed_overflow: bool = False
    queue_limit: int = -1
    leakspeed_text: str = "0s"
    remediation: bool = False

    def finish(self) -> "Scenario":
        """Compute the derived values; called by the loader (and by tests building specs)."""
        self.timed_overflow = self.duration_ns > 0
        if self.timed_overflow:
            self.timer_ns = self.duration_ns
        elif self.type == "leaky":
            self.timer_ns = (self.capacity + 1) * self.leakspeed_ns
        else:  # conditional and bayesian: inactivity = leakspeed; trigger has no timer
            self.timer_ns = self.leakspeed_ns
        # §3.4: the queue keeps at most limit+1 events; -1 means unbounded.
        limit = self.capacity
        if self.cache_size > 0 and (self.cache_size <= self.capacity or self.capacity == -1):
            limit = self.cache_size
        self.queue_limit = limit
        self.leakspeed_text = format_go_duration(self.leakspeed_ns)
        self.remediation = self.labels.get("remediation") is True
        return self


def _compile(source, ctx, where):
    # Imported lazily: the expression package is built in parallel and the
    # rest of this module (durations, validation) must not depend on it.
    from crowdsec_mp.engine.expr import compile_expr

    return compile_expr(source, ctx=ctx, where=where)


def file_sha256(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def hub_version_for(digest: str, name: str, hub_index: dict | None) -> str:
    """The hub version whose digest is `digest`; "?" when unknown/tainted, "" without an index."""
    if hub_index is None:
        return ""
    item = (hub_index.get("scenarios") or {}).get(name) or {}
    for version, info in sorted((item.get("versions") or {}).items()):
        if isinstance(info, dict) and info.get("digest") == digest:
            return version
    return "?"


def _format_in_range(value) -> bool:
    """`format` must satisfy >= 1.0 and <= 3.0 (semantic-version comparison)."""
    try:
        parts = [int(p) for p in str(value).split(".")]
    except ValueError:
        return False
    parts = (parts + [0, 0, 0])[:3]
    return (1, 0, 0) <= tuple(parts) <= (3, 0, 0)


class _Doc:
    """Typed accessors over one YAML document that raise located ConfigErrors."""

    def __init__(self, raw: dict, path: str, item: str):
        self.raw = raw
        self.path = path
        self.item = item

    def error(self, message, field=None):
        return ConfigError(message, file=self.path, item=self.item, field=field)

    def string(self, key, default=""):
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(f"must be a string, got {type(value).__name__}", key)
        return str(value)

    def integer(self, key, default=0):
        value = self.raw.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"must be an integer, got {value!r}", key)
        return value

    def number(self, key, default=0.0, raw=None, field_name=None):
        source = self.raw if raw is None else raw
        value = source.get(key, default)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(f"must be a number, got {value!r}", field_name or key)
        return float(value)

    def boolean(self, key, default=False):
        value = self.raw.get(key, default)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"must be true or false, got {value!r}", key)
        return value

    def duration(self, key):
        value = self.raw.get(key)
        if value in (None, ""):
            return 0
        try:
            return parse_go_duration(str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value)
        except ValueError as exc:
            raise self.error(str(exc), key) from None

    def expr(self, key, ctx, raw=None, field_name=None):
        source = self.raw if raw is None else raw
        value = source.get(key)
        if value is None or value == "":
            return None, ""
        if isinstance(value, bool):
            value = "true" if value else "false"  # Go's YAML decoder keeps the scalar text
        elif isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            raise self.error(f"must be an expression string, got {value!r}", field_name or key)
        where = f"{self.path}: scenario {self.item!r}: {field_name or key}"
        try:
            return _compile(value, ctx, where), value
        except ConfigError as exc:  # ExprCompileError: its message already has `where`
            exc.file, exc.item, exc.field = self.path, self.item, field_name or key
            raise


def _load_data_entries(doc: _Doc, ctx) -> None:
    entries = doc.raw.get("data")
    if entries in (None, []):
        return
    if not isinstance(entries, list):
        raise doc.error("must be a list of data file entries", "data")
    for position, entry in enumerate(entries):
        where = f"data[{position}]"
        if not isinstance(entry, dict):
            raise doc.error("must be a mapping", where)
        unknown = sorted(set(entry) - DATA_KEYS)
        if unknown:
            raise doc.error(f"unknown key {unknown[0]!r}", f"{where}.{unknown[0]}")
        dest = entry.get("dest_file")
        if not dest:
            # CrowdSec logs this and skips the entry (spec §2 `data`).
            log.error("%s: scenario %r: %s has no dest_file, skipped", doc.path, doc.item, where)
            continue
        if ctx is None or getattr(ctx, "data", None) is None:
            raise doc.error("data files need an EngineContext with a data library", where)
        data_dir = getattr(ctx, "data_dir", None) or ""
        path = os.path.join(data_dir, dest)
        try:
            ctx.data.load(dest, entry.get("type") or "string", path)
        except ConfigError:
            raise
        except (OSError, ValueError) as exc:
            raise doc.error(f"cannot load data file {path}: {exc}", f"{where}.dest_file") from exc


def _scope(doc: _Doc, ctx) -> tuple[str, Any]:
    raw = doc.raw.get("scope")
    if raw is None:
        return SCOPE_IP, None
    if not isinstance(raw, dict):
        raise doc.error("must be a mapping {type, expression}", "scope")
    unknown = sorted(set(raw) - SCOPE_KEYS)
    if unknown:
        raise doc.error(f"unknown key {unknown[0]!r}", f"scope.{unknown[0]}")
    scope_type = raw.get("type") or SCOPE_IP
    if not isinstance(scope_type, str):
        raise doc.error("must be a string", "scope.type")
    program, _ = doc.expr("expression", ctx, raw=raw, field_name="scope.expression")
    if scope_type == SCOPE_IP and program is not None:
        raise doc.error("scope Ip cannot have an expression", "scope.expression")
    if scope_type not in (SCOPE_IP, SCOPE_RANGE) and program is None:
        raise doc.error(f"scope {scope_type!r} needs an expression", "scope.expression")
    return scope_type, program


def _bayes_conditions(doc: _Doc, ctx) -> list[BayesCondition]:
    raw = doc.raw.get("bayesian_conditions")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise doc.error("must be a list", "bayesian_conditions")
    conditions = []
    for position, item in enumerate(raw):
        where = f"bayesian_conditions[{position}]"
        if not isinstance(item, dict):
            raise doc.error("must be a mapping", where)
        unknown = sorted(set(item) - BAYES_CONDITION_KEYS)
        if unknown:
            raise doc.error(f"unknown key {unknown[0]!r}", f"{where}.{unknown[0]}")
        program, source = doc.expr("condition", ctx, raw=item, field_name=f"{where}.condition")
        if program is None:
            raise doc.error("condition is mandatory", f"{where}.condition")
        guillotine = item.get("guillotine", False)
        if not isinstance(guillotine, bool):
            raise doc.error("must be true or false", f"{where}.guillotine")
        conditions.append(
            BayesCondition(
                program=program,
                source=source,
                prob_given_evil=doc.number("prob_given_evil", raw=item, field_name=f"{where}.prob_given_evil"),
                prob_given_benign=doc.number("prob_given_benign", raw=item, field_name=f"{where}.prob_given_benign"),
                guillotine=guillotine,
            )
        )
    return conditions


def _validate(sc: Scenario, doc: _Doc) -> None:
    """Type-specific rules (spec §2), run after everything compiled."""
    if not sc.name:
        raise doc.error("nameless bucket: name is mandatory", "name")
    if not sc.description:
        raise doc.error("description is mandatory", "description")
    if sc.type == "leaky":
        if sc.capacity <= 0:
            raise doc.error("leaky bucket must have capacity > 0", "capacity")
        if sc.leakspeed_ns <= 0:
            raise doc.error("leaky bucket must have a leakspeed > 0", "leakspeed")
    elif sc.type == "trigger":
        if sc.capacity != 0:
            raise doc.error("trigger bucket must have capacity 0", "capacity")
    elif sc.type == "counter":
        if sc.duration_ns <= 0:
            raise doc.error("counter bucket must have a duration > 0", "duration")
        if sc.capacity != -1:
            raise doc.error("counter bucket must have capacity -1", "capacity")
    elif sc.type == "conditional":
        if sc.condition is None:
            raise doc.error("conditional bucket must have a condition", "condition")
        if sc.leakspeed_ns <= 0:
            raise doc.error("conditional bucket must have a leakspeed > 0", "leakspeed")
        if sc.capacity != -1:
            log.warning("%s: scenario %r: conditional bucket should have capacity -1", doc.path, sc.name)
    elif sc.type == "bayesian":
        if not sc.bayesian_conditions:
            raise doc.error("bayesian bucket must have bayesian_conditions", "bayesian_conditions")
        if not 0 < sc.bayesian_prior <= 1:
            raise doc.error("bayesian_prior must be in (0, 1]", "bayesian_prior")
        if not 0 < sc.bayesian_threshold <= 1:
            raise doc.error("bayesian_threshold must be in (0, 1]", "bayesian_threshold")
        if sc.capacity != -1:
            raise doc.error("bayesian bucket must have capacity -1", "capacity")


def _build(doc: _Doc, ctx, path: str, digest: str, hub_index) -> Scenario | None:
    raw = doc.raw
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise doc.error(f"unknown key {unknown[0]!r}", unknown[0])
    fmt = raw.get("format")
    if fmt is not None and not _format_in_range(fmt):
        log.warning("%s: scenario %r: format %r is not in [1.0, 3.0], skipped", path, doc.item, fmt)
        return None
    bucket_type = doc.string("type")
    if bucket_type not in BUCKET_TYPES:
        raise doc.error(f"unknown bucket type {bucket_type!r} (one of {', '.join(BUCKET_TYPES)})", "type")
    leakspeed_ns = doc.duration("leakspeed")
    duration_ns = doc.duration("duration")
    filter_program, filter_source = doc.expr("filter", ctx)
    if filter_program is None:
        raise doc.error("missing filter directive", "filter")
    groupby, groupby_source = doc.expr("groupby", ctx)
    distinct, _ = doc.expr("distinct", ctx)
    cancel_on, _ = doc.expr("cancel_on", ctx)
    overflow_filter, _ = doc.expr("overflow_filter", ctx)
    blackhole_ns = doc.duration("blackhole")
    condition, _ = doc.expr("condition", ctx)
    bayes = _bayes_conditions(doc, ctx)
    _load_data_entries(doc, ctx)
    scope_type, scope_expr = _scope(doc, ctx)
    labels = raw.get("labels") or {}
    if not isinstance(labels, dict):
        raise doc.error("must be a mapping", "labels")
    references = raw.get("references") or []
    if not isinstance(references, list):
        raise doc.error("must be a list", "references")
    cache_size = doc.integer("cache_size")
    name = doc.string("name")
    scenario = Scenario(
        name=name,
        description=doc.string("description"),
        type=bucket_type,
        file=path,
        filter=filter_program,
        filter_source=filter_source,
        groupby=groupby,
        groupby_source=groupby_source,
        distinct=distinct,
        cancel_on=cancel_on,
        overflow_filter=overflow_filter,
        condition=condition,
        capacity=doc.integer("capacity"),
        leakspeed_ns=leakspeed_ns,
        duration_ns=duration_ns,
        cache_size=cache_size,
        blackhole_ns=blackhole_ns,
        reprocess=doc.boolean("reprocess"),
        scope_type=scope_type,
        scope_expr=scope_expr,
        labels=labels,
        bayesian_prior=doc.number("bayesian_prior"),
        bayesian_threshold=doc.number("bayesian_threshold"),
        bayesian_conditions=bayes,
        debug=doc.boolean("debug"),
        format=str(fmt) if fmt is not None else "1.0",
        references=references,
        hash=digest if hub_index is not None else "",
        version=hub_version_for(digest, name, hub_index),
    )
    _validate(scenario, doc)
    return scenario.finish()


def load_scenario_file(path: str, ctx, *, hub_index: dict | None = None) -> list[Scenario]:
    """All scenarios of one file, in document order (ConfigError on any bad document)."""
    try:
        with open(path, "rb") as handle:
            content = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read scenario file: {exc.strerror or exc}", file=path) from exc
    digest = hashlib.sha256(content).hexdigest()
    try:
        documents = list(yaml.safe_load_all(content.decode("utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from exc
    scenarios = []
    for position, raw in enumerate(documents):
        if raw is None:
            continue  # empty document (e.g. a trailing '---')
        item = f"document {position + 1}"
        if not isinstance(raw, dict):
            raise ConfigError("a scenario must be a mapping", file=path, item=item)
        name = raw.get("name")
        if isinstance(name, str) and name:
            item = name
        scenario = _build(_Doc(raw, path, item), ctx, path, digest, hub_index)
        if scenario is not None:
            scenarios.append(scenario)
    return scenarios


def load_scenarios(files, ctx, *, hub_index: dict | None = None) -> list[Scenario]:
    """Load scenario files in order; `Scenario.index` is the position in the result.

    `hub_index` (the parsed hub `.index.json`) fills `hash`/`version` as CrowdSec
    does for installed items; without it both stay "" (unit tests).
    """
    scenarios: list[Scenario] = []
    for path in files:
        scenarios.extend(load_scenario_file(str(path), ctx, hub_index=hub_index))
    for position, scenario in enumerate(scenarios):
        scenario.index = position
    return scenarios
