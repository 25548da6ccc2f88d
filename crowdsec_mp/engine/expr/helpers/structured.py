"""JSON, key=value and XML helpers (spec/expr.md §3.2).

JsonExtract* navigate the raw JSON text (like CrowdSec's jsonparser) rather
than decoding it, because they return the *raw* text of the value found.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ElementTree
from collections import OrderedDict

from crowdsec_mp.engine.event import StrMap
from crowdsec_mp.engine.expr import gojson
from crowdsec_mp.engine.expr import values as V
from crowdsec_mp.engine.expr.errors import ExprRuntimeError
from crowdsec_mp.engine.expr.gostrings import need_str

log = logging.getLogger(__name__)
_WS = " \t\r\n"


# -- raw JSON navigation ------------------------------------------------------------
class _JSONScanError(Exception):
    pass


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _string_end(text: str, pos: int) -> int:
    """pos is at the opening quote; returns the index after the closing quote."""
    index = pos + 1
    while True:
        quote = text.find('"', index)
        if quote < 0:
            raise _JSONScanError("unterminated string")
        backslashes = 0
        back = quote - 1
        while back > pos and text[back] == "\\":
            backslashes += 1
            back -= 1
        if backslashes % 2 == 0:
            return quote + 1
        index = quote + 1


def _value_end(text: str, pos: int) -> int:
    """End index of the JSON value starting at pos (no full validation)."""
    if pos >= len(text):
        raise _JSONScanError("unexpected end")
    char = text[pos]
    if char == '"':
        return _string_end(text, pos)
    if char in "{[":
        depth = 0
        index = pos
        while index < len(text):
            c = text[index]
            if c == '"':
                index = _string_end(text, index)
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return index + 1
            index += 1
        raise _JSONScanError("unterminated container")
    index = pos
    while index < len(text) and text[index] not in _WS + ",}]":
        index += 1
    if index == pos:
        raise _JSONScanError(f"unexpected character {char!r}")
    return index


def _decode_key(raw: str) -> str:
    if "\\" not in raw:
        return raw
    try:
        return json.loads('"' + raw + '"')
    except ValueError:
        return raw


def _find_in_object(text: str, pos: int, key: str) -> int | None:
    pos = _skip_ws(text, pos + 1)
    while pos < len(text) and text[pos] != "}":
        if text[pos] != '"':
            raise _JSONScanError("expected a key")
        key_end = _string_end(text, pos)
        name = _decode_key(text[pos + 1:key_end - 1])
        pos = _skip_ws(text, key_end)
        if pos >= len(text) or text[pos] != ":":
            raise _JSONScanError("expected ':'")
        pos = _skip_ws(text, pos + 1)
        if name == key:
            return pos
        pos = _skip_ws(text, _value_end(text, pos))
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
    return None


def _find_in_array(text: str, pos: int, wanted: int) -> int | None:
    pos = _skip_ws(text, pos + 1)
    index = 0
    while pos < len(text) and text[pos] != "]":
        if index == wanted:
            return pos
        pos = _skip_ws(text, _value_end(text, pos))
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
        index += 1
    return None


def json_get_raw(blob: str, keys) -> tuple[str, str] | None:
    """(kind, raw text) of the value at `keys` or None. kind is one of
    string/number/object/array/boolean/null; a string's raw text excludes quotes."""
    try:
        pos = _skip_ws(blob, 0)
        for key in keys:
            if pos >= len(blob):
                return None
            if len(key) > 2 and key[0] == "[" and key[-1] == "]" and key[1:-1].isdigit():
                if blob[pos] != "[":
                    return None
                found = _find_in_array(blob, pos, int(key[1:-1]))
            else:
                if blob[pos] != "{":
                    return None
                found = _find_in_object(blob, pos, key)
            if found is None:
                return None
            pos = found
        end = _value_end(blob, pos)
    except _JSONScanError:
        return None
    raw = blob[pos:end]
    first = raw[:1]
    if first == '"':
        return "string", raw[1:-1]
    if first == "{":
        return "object", raw
    if first == "[":
        return "array", raw
    if raw in ("true", "false"):
        return "boolean", raw
    if raw == "null":
        return "null", raw
    if re.fullmatch(r"-?[0-9][0-9.eE+-]*", raw):
        return "number", raw
    return None


def _dotted_path(path: str) -> list[str]:
    if not path.startswith("["):
        path = path.replace("[", ".[")
    return path.split(".")


def JsonExtractLib(blob, *keys):
    need_str(blob, "JsonExtractLib")
    found = json_get_raw(blob, [need_str(k, "JsonExtractLib") for k in keys])
    return "" if found is None else found[1]


def JsonExtract(blob, path):
    need_str(blob, "JsonExtract")
    found = json_get_raw(blob, _dotted_path(need_str(path, "JsonExtract", 2)))
    return "" if found is None else found[1]


def JsonExtractUnescape(blob, *keys):
    need_str(blob, "JsonExtractUnescape")
    found = json_get_raw(blob, [need_str(k, "JsonExtractUnescape") for k in keys])
    if found is None:
        return ""
    kind, raw = found
    if kind != "string":
        log.debug("JsonExtractUnescape: value is a %s, not a string", kind)
        return ""
    try:
        return json.loads('"' + raw + '"')
    except ValueError:
        return ""


def _extract_decoded(blob, path, func, kind, python_type):
    need_str(blob, func)
    found = json_get_raw(blob, _dotted_path(need_str(path, func, 2)))
    if found is None or found[0] != kind:
        return None
    try:
        value = gojson.unmarshal(found[1])
    except ValueError:
        return None
    return value if isinstance(value, python_type) else None


def JsonExtractSlice(blob, path):
    return _extract_decoded(blob, path, "JsonExtractSlice", "array", list)


def JsonExtractObject(blob, path):
    return _extract_decoded(blob, path, "JsonExtractObject", "object", dict)


def ToJsonString(value):
    return gojson.marshal(value)


def UnmarshalJSON(blob, target, key):
    need_str(blob, "UnmarshalJSON")
    need_str(key, "UnmarshalJSON", 3)
    if not isinstance(target, dict):
        raise ExprRuntimeError(f"UnmarshalJSON(): argument 2 must be a map, "
                               f"got {V.kind_name(target)}")
    try:
        target[key] = gojson.unmarshal(blob)
    except (ValueError, RecursionError) as exc:
        raise ExprRuntimeError(f"UnmarshalJSON(): invalid JSON: {exc}") from None
    return None


# -- key=value ------------------------------------------------------------------------
_KV_PAIR = re.compile(r'([^=\s]+)=(?:"((?:[^"\\]|\\.)*)"|([^=\s]+)|\s*)', re.ASCII)
_KV_LAX_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.-]*=")


def _kv_target(target, prefix, func):
    if not isinstance(target, dict):
        raise ExprRuntimeError(f"{func}(): argument 2 must be a map, got {V.kind_name(target)}")
    need_str(prefix, func, 3)
    current = target.get(prefix)
    if current is None:
        current = StrMap()
        target[prefix] = current
    elif not isinstance(current, dict) or not all(isinstance(v, str) for v in current.values()):
        raise ExprRuntimeError(f"{func}(): {prefix} already holds a {V.kind_name(current)}")
    return current


def ParseKV(blob, target, prefix):
    need_str(blob, "ParseKV")
    matches = _KV_PAIR.findall(blob)
    if not matches:
        raise ExprRuntimeError("ParseKV(): no key=value pair found")
    store = _kv_target(target, prefix, "ParseKV")
    for key, quoted, bare in matches:
        store[key] = quoted or bare or ""
    return None


def _inside_quotes(text: str, end: int) -> bool:
    """True when an odd number of unescaped double quotes precede `end`."""
    count = 0
    index = 0
    while index < end:
        char = text[index]
        if char == "\\":
            index += 2
            continue
        if char == '"':
            count += 1
        index += 1
    return count % 2 == 1


def _lax_value(raw: str) -> str:
    value = raw.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    if value.startswith('"'):
        return value[1:]
    return value


def ParseKVLax(blob, target, prefix):
    need_str(blob, "ParseKVLax")
    keys = [m for m in _KV_LAX_KEY.finditer(blob) if not _inside_quotes(blob, m.start())]
    if not keys:
        raise ExprRuntimeError("ParseKVLax(): no key=value pair found")
    store = _kv_target(target, prefix, "ParseKVLax")
    for position, match in enumerate(keys):
        value_end = keys[position + 1].start() if position + 1 < len(keys) else len(blob)
        store[match.group()[:-1]] = _lax_value(blob[match.end():value_end])
    return None


# -- XML ------------------------------------------------------------------------------
_XML_CACHE: "OrderedDict[str, ElementTree.Element | None]" = OrderedDict()
_XML_CACHE_SIZE = 64


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1] if name.startswith("{") else name


def _parse_xml(text: str):
    cached = _XML_CACHE.get(text, False)
    if cached is not False:
        _XML_CACHE.move_to_end(text)
        return cached
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, ValueError):
        root = None
    if root is not None:
        # Match on local names: drop "{namespace}" from tags and attributes.
        for element in root.iter():
            if isinstance(element.tag, str):
                element.tag = _local(element.tag)
            if any(k.startswith("{") for k in element.attrib):
                element.attrib = {_local(k): v for k, v in element.attrib.items()}
    _XML_CACHE[text] = root
    if len(_XML_CACHE) > _XML_CACHE_SIZE:
        _XML_CACHE.popitem(last=False)
    return root


_STEP = re.compile(r"([^\[\]/]+|\*|\.\.?)((?:\[[^\]]*\])*)")
_PREDICATE = re.compile(r"\[([^\]]*)\]")


def _step_matches(element, tag):
    return tag == "*" or element.tag == tag


def _apply_predicate(candidates, predicate: str):
    predicate = predicate.strip()
    if predicate.isdigit():
        index = int(predicate) - 1
        return candidates[index:index + 1] if index >= 0 else []
    if predicate == "last()":
        return candidates[-1:]
    match = re.fullmatch(r"@([\w.:-]+)(?:\s*=\s*(['\"])(.*)\2)?", predicate)
    if match:
        name, _, value = match.groups()
        if value is None:
            return [c for c in candidates if name in c.attrib]
        return [c for c in candidates if c.attrib.get(name) == value]
    match = re.fullmatch(r"([\w.:-]+)(?:\s*=\s*(['\"])(.*)\2)?", predicate)
    if match:
        tag, _, value = match.groups()
        return [c for c in candidates
                if any(child.tag == tag and (value is None or (child.text or "") == value)
                       for child in c)]
    match = re.fullmatch(r"text\(\)\s*=\s*(['\"])(.*)\1", predicate)
    if match:
        return [c for c in candidates if (c.text or "") == match.group(2)]
    raise ValueError(f"unsupported XPath predicate [{predicate}]")


def _find_first(root, path: str):
    """First element matching an etree-style path (absolute or relative)."""
    if path.startswith("/") and not path.startswith("//"):
        steps_text = path[1:]
        # The first step names the root element itself.
        first, _, rest = steps_text.partition("/")
        match = _STEP.fullmatch(first)
        if not match or not _step_matches(root, match.group(1)):
            return None
        current = [root]
        for predicate in _PREDICATE.findall(match.group(2)):
            current = _apply_predicate(current, predicate)
        path = rest
        if not path:
            return current[0] if current else None
    else:
        current = [root]
    descendant = False
    for raw_step in path.split("/"):
        if raw_step == "":
            descendant = True
            continue
        match = _STEP.fullmatch(raw_step)
        if not match:
            raise ValueError(f"unsupported XPath step {raw_step!r}")
        tag, predicates = match.group(1), _PREDICATE.findall(match.group(2))
        found = []
        for element in current:
            if tag == ".":
                group = [element]
            elif tag == "..":
                group = []
            elif descendant:
                group = [e for e in element.iter() if e is not element and _step_matches(e, tag)]
            else:
                group = [child for child in element if _step_matches(child, tag)]
            for predicate in predicates:
                group = _apply_predicate(group, predicate)
            found.extend(group)
        current = found
        descendant = False
        if not current:
            return None
    return current[0] if current else None


def _xml_element(xml, path, func):
    need_str(xml, func)
    need_str(path, func, 2)
    root = _parse_xml(xml)
    if root is None:
        return None
    try:
        return _find_first(root, path)
    except ValueError as exc:
        log.debug("%s: %s", func, exc)
        return None


def XMLGetNodeValue(xml, path):
    element = _xml_element(xml, path, "XMLGetNodeValue")
    return "" if element is None else (element.text or "")


def XMLGetAttributeValue(xml, path, attr):
    element = _xml_element(xml, path, "XMLGetAttributeValue")
    if element is None:
        return ""
    return element.attrib.get(need_str(attr, "XMLGetAttributeValue", 3), "")


FUNCTIONS = {
    name: globals()[name]
    for name in (
        "JsonExtract", "JsonExtractUnescape", "JsonExtractLib", "JsonExtractSlice",
        "JsonExtractObject", "ToJsonString", "UnmarshalJSON", "ParseKV", "ParseKVLax",
        "XMLGetNodeValue", "XMLGetAttributeValue",
    )
}
