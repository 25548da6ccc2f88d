"""Data files referenced by `data:` sections (spec/parsers.md §7), read once at
load time and queried by the expression helpers File, RegexpInFile, FileMap
and LookupFile (spec/expr.md §3.4).

Types: `string` (lines), `regexp`/`regex` (one Go regexp per line), `map`
(JSON rows {"pattern", "tag", "type": equals|contains|regex}), `bots` (JSON
rows for MatchKnownBot). Lines starting with `#` and empty lines are skipped.
A file is loaded once per name (dest_file); a missing file is logged and
ignored, and the helpers then answer empty / false.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections import OrderedDict

from crowdsec_mp.errors import ConfigError

log = logging.getLogger(__name__)

TYPES = ("string", "regexp", "regex", "map", "bots")
#: How many regexps are joined into one alternation (bounded so that one bad
#: pattern only pushes its own chunk to the per-pattern fallback).
_ALTERNATION_CHUNK = 400
_RESULT_CACHE_SIZE = 4096
_LEADING_FLAGS = re.compile(r"^\(\?([imsx]+)\)")


class DataLines(list):
    """The lines of a `string` file, with a set for O(1) `x in File("f")`."""

    __slots__ = ("members", "_matchers")

    def __init__(self, lines):
        super().__init__(lines)
        self.members = frozenset(self)
        self._matchers: dict = {}

    def contains_str(self, value: str) -> bool:
        return value in self.members

    def matcher(self, key, build):
        """A structure derived from the lines (e.g. expr/fastpred.py's matchers),
        built once per `key` by `build(lines)` and kept with the file."""
        found = self._matchers.get(key)
        if found is None:
            found = self._matchers[key] = build(self)
        return found


class _LRU:
    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict = OrderedDict()

    def get(self, key, default=None):
        value = self.entries.get(key, default)
        if value is not default:
            self.entries.move_to_end(key)
        return value

    def put(self, key, value):
        self.entries[key] = value
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)


class RegexpSet:
    """All regexps of one file; `search_any(value)` is true iff at least one of
    them matches somewhere in value. Patterns are joined into alternations so
    that one C-level search tests many of them; the answer is cached per value."""

    def __init__(self, name: str, patterns: list[tuple[int, str]]):
        from crowdsec_mp.engine import regex_compat

        self.name = name
        self.patterns: list[str] = []
        self.compiled = []          # individual regexes, in file order
        translated: list[str] = []
        for line_no, pattern in patterns:
            try:
                regex = regex_compat.compile_re2(pattern)
                python_text = regex_compat.translate_re2(pattern)
            except (re.error, ValueError) as exc:
                raise ConfigError(f"invalid regexp on line {line_no}: {exc}", file=name,
                                  item=pattern) from None
            self.patterns.append(pattern)
            self.compiled.append(regex)
            translated.append((python_text, regex.flags))
        self.searchers = self._build_searchers(translated)
        self._cache = _LRU(_RESULT_CACHE_SIZE)

    def _build_searchers(self, translated):
        """One alternation per chunk of plain `re` patterns; patterns compiled
        by another engine (the `regex` module, for Unicode classes) or a chunk
        that does not combine are searched one by one."""
        searchers = []
        combinable = []  # (python text, compiled)
        for (text, _flags), regex in zip(translated, self.compiled):
            if isinstance(regex, re.Pattern):
                combinable.append((text, regex))
            else:
                searchers.append(regex.search)
        for start in range(0, len(combinable), _ALTERNATION_CHUNK):
            chunk = combinable[start:start + _ALTERNATION_CHUNK]
            combined = self._combine([text for text, _ in chunk])
            if combined is not None:
                searchers.append(combined.search)
            else:
                searchers.extend(regex.search for _, regex in chunk)
        return searchers

    @staticmethod
    def _combine(texts):
        parts = []
        for text in texts:
            leading = _LEADING_FLAGS.match(text)
            if leading:
                # A global flag at the start of one alternative must be scoped.
                text = f"(?{leading.group(1)}:{text[leading.end():]})"
            parts.append(f"(?:{text})")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                return re.compile("|".join(parts), re.ASCII)
        except (re.error, OverflowError, RecursionError):
            return None

    def search_any(self, value: str) -> bool:
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        found = any(search(value) is not None for search in self.searchers)
        self._cache.put(value, found)
        return found

    def search_each(self, value: str) -> bool:
        """Reference answer (one regex at a time); used by tests."""
        return any(regex.search(value) is not None for regex in self.compiled)


class MapRows:
    """Rows of a `map` file with the LookupFile priority rules."""

    def __init__(self, name: str, rows: list[dict]):
        from crowdsec_mp.engine import regex_compat

        self.rows = rows
        self.equals: dict[str, str] = {}
        self.contains: list[tuple[str, str]] = []
        self.regexes = []
        for row in rows:
            kind, pattern, tag = row.get("type"), row.get("pattern", ""), row.get("tag", "")
            if kind == "equals":
                self.equals.setdefault(pattern, tag)
            elif kind == "contains":
                self.contains.append((pattern, tag))
            elif kind == "regex":
                try:
                    self.regexes.append((regex_compat.compile_re2(pattern), tag))
                except (re.error, ValueError) as exc:
                    raise ConfigError(f"invalid regex row: {exc}", file=name,
                                      item=pattern) from None
            else:
                raise ConfigError(f"unknown row type {kind!r} (equals, contains or regex)",
                                  file=name, item=pattern, field="type")
        self._cache = _LRU(_RESULT_CACHE_SIZE)

    def lookup(self, value: str) -> str:
        cached = self._cache.get(value)
        if cached is not None:
            return cached
        tag = self._lookup(value)
        self._cache.put(value, tag)
        return tag

    def _lookup(self, value: str) -> str:
        if value in self.equals:
            return self.equals[value]
        best = None
        for order, (pattern, tag) in enumerate(self.contains):
            position = value.find(pattern)
            if position >= 0 and (best is None or position < best[0]):
                best = (position, order, tag)
        if best is not None:
            return best[2]
        for regex, tag in self.regexes:
            if regex.search(value):
                return tag
        return ""


class DataLibrary:
    """In-memory data files, keyed by dest_file name."""

    def __init__(self):
        self._lines: dict[str, DataLines] = {}
        self._regexps: dict[str, RegexpSet] = {}
        self._maps: dict[str, MapRows] = {}
        self._bots: dict[str, list] = {}
        self._loaded: dict[str, str] = {}

    def load(self, dest_file: str, type: str, path) -> None:
        """Read `path` as `type` under the name `dest_file` (once per name).
        Raises ConfigError for an unknown type or a bad line; a missing file
        only logs a warning."""
        kind = "regexp" if type == "regex" else type
        if kind not in ("string", "regexp", "map", "bots"):
            raise ConfigError(f"unknown data type {type!r} (expected one of "
                              f"{', '.join(TYPES)})", file=str(path), item=dest_file,
                              field="type")
        if dest_file in self._loaded:
            if self._loaded[dest_file] != kind:
                log.warning("data file %s already loaded as %s, not as %s", dest_file,
                            self._loaded[dest_file], kind)
            return
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as handle:
                raw_lines = handle.read().splitlines()
        except FileNotFoundError:
            log.warning("data file %s not found at %s: ignored", dest_file, path)
            return
        except OSError as exc:
            log.warning("data file %s cannot be read (%s): ignored", dest_file, exc)
            return
        lines = [(number, line) for number, line in enumerate(raw_lines, start=1)
                 if line and not line.startswith("#")]
        if kind == "string":
            self._lines[dest_file] = DataLines(line for _, line in lines)
        elif kind == "regexp":
            self._regexps[dest_file] = RegexpSet(str(path), lines)
        else:
            rows = []
            for number, line in lines:
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise ConfigError(f"line {number} is not valid JSON: {exc}",
                                      file=str(path), item=dest_file) from None
                if not isinstance(row, dict):
                    raise ConfigError(f"line {number} is not a JSON object", file=str(path),
                                      item=dest_file)
                rows.append(row)
            if kind == "map":
                self._maps[dest_file] = MapRows(str(path), rows)
            else:
                self._bots[dest_file] = rows
        self._loaded[dest_file] = kind

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def lines(self, name: str) -> list[str]:
        """Lines of a `string` file; [] when unknown (also for a regexp file,
        as in CrowdSec where File() only sees string files)."""
        found = self._lines.get(name)
        if found is not None:
            return found
        log.debug("File(%s): data file not loaded", name)
        return []

    def regexp_match(self, value: str, name: str) -> bool:
        regexps = self._regexps.get(name)
        if regexps is None:
            log.debug("RegexpInFile(%s): data file not loaded", name)
            return False
        return regexps.search_any(value)

    def lookup(self, value: str, name: str) -> str:
        rows = self._maps.get(name)
        if rows is None:
            log.debug("LookupFile(%s): data file not loaded", name)
            return ""
        return rows.lookup(value)

    def rows(self, name: str) -> list[dict]:
        found = self._maps.get(name)
        if found is not None:
            return found.rows
        return self._bots.get(name, [])
