"""The YAML shape of a parser node (spec/parsers.md §1.3), decoded strictly.

`NodeSpec.from_yaml(doc, file=...)` turns one YAML document (or one entry of a
`nodes:` list) into plain dataclasses. Nothing is compiled here: expressions and
grok patterns stay text, so this module has no dependency on the expression or
grok engines. Compilation lives in `compile.py`.

Decoding is strict like CrowdSec's: an unknown key anywhere in a node is a
ConfigError naming the file, the node and the key. Type mismatches (a list
where a mapping is expected...) are ConfigErrors too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from crowdsec_mp.errors import ConfigError

ONSUCCESS_VALUES = ("next_stage", "continue", "")


class StringScalarLoader(yaml.SafeLoader):
    """YAML loader that keeps every scalar as its text (only null is resolved).

    CrowdSec decodes parser YAML into Go string fields, which keep the scalar's
    text: `value: yes` is the string "yes", not a bool, and `value: 010` stays
    "010". Bool and int fields (`debug`, `size`) are converted by the decoder here.
    """


StringScalarLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_documents(text: str) -> list:
    """All YAML documents of a parser file, scalars kept as text."""
    return list(yaml.load_all(text, Loader=StringScalarLoader))


@dataclass
class StaticSpec:
    """One entry of a `statics:` list (spec/parsers.md §5)."""

    method: str = ""
    meta: str = ""
    parsed: str = ""
    enriched: str = ""
    target: str = ""
    value: str = ""
    expression: str = ""


@dataclass
class GrokSpec:
    pattern: str = ""
    name: str = ""
    apply_on: str = ""
    expression: str = ""
    statics: list[StaticSpec] = field(default_factory=list)

    @property
    def has_regex(self) -> bool:
        return bool(self.name or self.pattern)


@dataclass
class StashSpec:
    name: str = ""
    key: str = ""
    value: str = ""
    ttl: str = ""
    size: int = 100
    strategy: str = "LRU"


@dataclass
class WhitelistSpec:
    reason: str = ""
    ip: list[str] = field(default_factory=list)
    cidr: list[str] = field(default_factory=list)
    expression: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.ip or self.cidr or self.expression)


@dataclass
class DataSpec:
    """One `data:` entry; only `dest_file` and `type` matter at load time."""

    source_url: str = ""
    dest_file: str = ""
    type: str = ""
    cache: Any = None
    strategy: str = ""
    size: Any = None
    ttl: Any = None


@dataclass
class NodeSpec:
    name: str = ""
    description: str = ""
    author: str = ""
    references: list = field(default_factory=list)
    format: str = ""
    debug: bool = False
    profiling: bool = False
    stage: str = ""
    filter: str = ""
    onsuccess: str | None = None  # None = key absent (top-level default "continue")
    pattern_syntax: dict[str, str] = field(default_factory=dict)
    grok: GrokSpec | None = None
    nodes: list["NodeSpec"] = field(default_factory=list)
    statics: list[StaticSpec] = field(default_factory=list)
    stash: list[StashSpec] = field(default_factory=list)
    whitelist: WhitelistSpec | None = None
    data: list[DataSpec] = field(default_factory=list)

    @property
    def is_blank(self) -> bool:
        """No name, description or author: the document is skipped (trailing `---`)."""
        return not (self.name or self.description or self.author)

    @property
    def is_empty(self) -> bool:
        """Nothing to do: CrowdSec rejects such a node ("Node is empty")."""
        has_grok = self.grok is not None and bool(
            self.grok.name or self.grok.pattern or self.grok.expression
        )
        has_whitelist = self.whitelist is not None and not self.whitelist.is_empty
        return not (has_grok or self.nodes or self.statics or has_whitelist)

    @classmethod
    def from_yaml(cls, doc, *, file, node_name=None) -> "NodeSpec":
        """Decode one node mapping. `node_name` names the parent for error messages."""
        where = _Where(file, node_name)
        mapping = where.mapping(doc, None)
        where.item = _text(mapping.get("name")) or node_name
        return _decode_node(mapping, where)


# -- decoding helpers -----------------------------------------------------------


class _Where:
    """Where we are in the file, for error messages."""

    def __init__(self, file, item):
        self.file = str(file)
        self.item = item

    def error(self, message, fieldname=None) -> ConfigError:
        return ConfigError(message, file=self.file, item=self.item or "<unnamed node>", field=fieldname)

    def mapping(self, value, fieldname) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"must be a mapping, got {type(value).__name__}", fieldname)
        return value

    def seq(self, value, fieldname) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(f"must be a list, got {type(value).__name__}", fieldname)
        return value

    def string(self, value, fieldname) -> str:
        if value is None:
            return ""
        if isinstance(value, bool) or isinstance(value, (dict, list)):
            raise self.error(f"must be a string, got {type(value).__name__}", fieldname)
        # YAML turns `value: 1` into an int; Go decodes it into a string field.
        return str(value)

    def boolean(self, value, fieldname) -> bool:
        if value is None or isinstance(value, bool):
            return bool(value)
        text = str(value).strip().lower()
        if text in ("true", "yes", "on", "y"):
            return True
        if text in ("false", "no", "off", "n", ""):
            return False
        raise self.error(f"must be a boolean, got {value!r}", fieldname)

    def check_keys(self, mapping, allowed, fieldname=None):
        for key in mapping:
            if key not in allowed:
                label = f"{fieldname}.{key}" if fieldname else str(key)
                raise self.error(f"unknown key {key!r}", label)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


_NODE_KEYS = {
    "name", "description", "author", "references", "format", "debug", "profiling", "stage",
    "filter", "onsuccess", "pattern_syntax", "grok", "nodes", "statics", "stash", "whitelist",
    "data",
}
_GROK_KEYS = {"pattern", "name", "apply_on", "expression", "statics"}
_STATIC_KEYS = {"method", "meta", "parsed", "enriched", "target", "value", "expression"}
_STASH_KEYS = {"name", "key", "value", "ttl", "size", "strategy"}
_WHITELIST_KEYS = {"reason", "ip", "cidr", "expression"}
_DATA_KEYS = {"source_url", "dest_file", "type", "cache", "strategy", "size", "ttl"}


def _decode_node(mapping: dict, where: _Where) -> NodeSpec:
    where.check_keys(mapping, _NODE_KEYS)
    spec = NodeSpec(
        name=where.string(mapping.get("name"), "name"),
        description=where.string(mapping.get("description"), "description"),
        author=where.string(mapping.get("author"), "author"),
        references=mapping.get("references") or [],
        format=where.string(mapping.get("format"), "format"),
        debug=where.boolean(mapping.get("debug"), "debug"),
        profiling=where.boolean(mapping.get("profiling"), "profiling"),
        stage=where.string(mapping.get("stage"), "stage"),
        filter=where.string(mapping.get("filter"), "filter"),
    )
    if "onsuccess" in mapping:
        spec.onsuccess = where.string(mapping["onsuccess"], "onsuccess")
        if spec.onsuccess not in ONSUCCESS_VALUES:
            raise where.error(
                f"invalid onsuccess {spec.onsuccess!r} (expected next_stage or continue)", "onsuccess"
            )
    syntax = where.mapping(mapping.get("pattern_syntax"), "pattern_syntax")
    spec.pattern_syntax = {
        str(k): where.string(v, f"pattern_syntax.{k}") for k, v in syntax.items()
    }
    if mapping.get("grok") is not None:
        spec.grok = _decode_grok(where.mapping(mapping["grok"], "grok"), where)
    spec.statics = _decode_statics(mapping.get("statics"), where, "statics")
    for index, entry in enumerate(where.seq(mapping.get("stash"), "stash")):
        spec.stash.append(_decode_stash(where.mapping(entry, f"stash[{index}]"), where, index))
    if mapping.get("whitelist") is not None:
        spec.whitelist = _decode_whitelist(where.mapping(mapping["whitelist"], "whitelist"), where)
    for index, entry in enumerate(where.seq(mapping.get("data"), "data")):
        entry = where.mapping(entry, f"data[{index}]")
        where.check_keys(entry, _DATA_KEYS, f"data[{index}]")
        spec.data.append(DataSpec(
            source_url=where.string(entry.get("source_url"), f"data[{index}].source_url"),
            dest_file=where.string(entry.get("dest_file"), f"data[{index}].dest_file"),
            type=where.string(entry.get("type"), f"data[{index}].type"),
            cache=entry.get("cache"), strategy=where.string(entry.get("strategy"), "strategy"),
            size=entry.get("size"), ttl=entry.get("ttl"),
        ))
    for index, child in enumerate(where.seq(mapping.get("nodes"), "nodes")):
        child_map = where.mapping(child, f"nodes[{index}]")
        child_name = _text(child_map.get("name")) or f"child-{spec.name}"
        child_where = _Where(where.file, child_name)
        spec.nodes.append(_decode_node(child_map, child_where))
    return spec


def _decode_grok(mapping: dict, where: _Where) -> GrokSpec:
    where.check_keys(mapping, _GROK_KEYS, "grok")
    return GrokSpec(
        pattern=where.string(mapping.get("pattern"), "grok.pattern"),
        name=where.string(mapping.get("name"), "grok.name"),
        apply_on=where.string(mapping.get("apply_on"), "grok.apply_on"),
        expression=where.string(mapping.get("expression"), "grok.expression"),
        statics=_decode_statics(mapping.get("statics"), where, "grok.statics"),
    )


def _decode_statics(value, where: _Where, fieldname: str) -> list[StaticSpec]:
    statics = []
    for index, entry in enumerate(where.seq(value, fieldname)):
        label = f"{fieldname}[{index}]"
        entry = where.mapping(entry, label)
        where.check_keys(entry, _STATIC_KEYS, label)
        statics.append(StaticSpec(**{
            key: where.string(entry.get(key), f"{label}.{key}") for key in _STATIC_KEYS
        }))
    return statics


def _decode_stash(mapping: dict, where: _Where, index: int) -> StashSpec:
    label = f"stash[{index}]"
    where.check_keys(mapping, _STASH_KEYS, label)
    size = mapping.get("size", 100)
    if size is None:
        size = 100
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise where.error(f"size must be a positive integer, got {size!r}", f"{label}.size")
    return StashSpec(
        name=where.string(mapping.get("name"), f"{label}.name"),
        key=where.string(mapping.get("key"), f"{label}.key"),
        value=where.string(mapping.get("value"), f"{label}.value"),
        ttl=where.string(mapping.get("ttl"), f"{label}.ttl"),
        size=size,
        strategy=where.string(mapping.get("strategy"), f"{label}.strategy") or "LRU",
    )


def _decode_whitelist(mapping: dict, where: _Where) -> WhitelistSpec:
    where.check_keys(mapping, _WHITELIST_KEYS, "whitelist")
    return WhitelistSpec(
        reason=where.string(mapping.get("reason"), "whitelist.reason"),
        ip=[where.string(v, "whitelist.ip") for v in where.seq(mapping.get("ip"), "whitelist.ip")],
        cidr=[where.string(v, "whitelist.cidr") for v in where.seq(mapping.get("cidr"), "whitelist.cidr")],
        expression=[
            where.string(v, "whitelist.expression")
            for v in where.seq(mapping.get("expression"), "whitelist.expression")
        ],
    )
