"""Value conversions and field assignment used by parser nodes (spec/parsers.md §3.1, §5).

Kept apart from the node logic because the rules are Go-specific and easy to
get subtly wrong: how an expression result becomes a string, and how a
`target: evt.X.Y` path is written into the event.
"""

from __future__ import annotations

from dataclasses import is_dataclass

from crowdsec_mp.engine.buckets.timeutil import parse_go_duration as go_duration_ns


class StaticAbort(Exception):
    """A static produced a value of a type CrowdSec refuses (bool, time...).

    CrowdSec aborts the parse of the event with an error; the tree drops it.
    """


def static_value_text(value) -> str:
    """Expression result -> static value (§5.1). Raises StaticAbort for bool/other types."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise StaticAbort(f"static expression returned a bool ({value!r})")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "%f" % value
    if value is None or isinstance(value, (dict, list, tuple)):
        return ""
    raise StaticAbort(f"static expression returned unsupported type {type(value).__name__}")


def grok_source_text(value) -> str | None:
    """Grok `expression` result -> text to match (§3.1); None = unusable (matched as "")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "%f" % value
    return None


#: Event fields that are maps: `target: evt.Meta.x` writes the key directly.
EVENT_MAP_FIELDS = frozenset({"Parsed", "Meta", "Enriched", "Unmarshaled"})


def target_parts(path: str) -> list[str]:
    """`evt.A.B` / `A.B` -> ["A", "B"] (split once at load time)."""
    return path[4:].split(".") if path.startswith("evt.") else path.split(".")


def assign_target(evt, path, value: str) -> bool:
    """Write `value` at `path` (`evt.Meta.x`, `StrTime`, `evt.Overflow.Alert.Source.Value`).

    Walks struct attributes by their Go names; the first mapping reached takes
    the next component as key and the assignment happens there (remaining
    components are ignored, as in CrowdSec). Only string fields (or unset
    string pointers, None) can be written. Returns False when the path cannot
    be written (the caller logs and carries on).
    """
    parts = target_parts(path) if isinstance(path, str) else path
    if len(parts) >= 2 and parts[0] in EVENT_MAP_FIELDS and parts[1]:
        # Fast path for the common `evt.Meta.x` / `evt.Parsed.x` targets.
        getattr(evt, parts[0])[parts[1]] = value
        return True
    current = evt
    for index, part in enumerate(parts):
        if isinstance(current, dict):
            current[part] = value
            return True
        if not part or not _is_struct(current) or not hasattr(current, part):
            return False
        if index == len(parts) - 1:
            existing = getattr(current, part)
            if isinstance(existing, str) or existing is None:
                setattr(current, part, value)
                return True
            return False
        current = getattr(current, part)
        if current is None:
            return False
    return False


def compile_target(path: str):
    """A setter `(evt, value) -> bool` for a `target:` path, resolved once at load time.

    Same behaviour as `assign_target`, with the common shapes (`evt.Meta.x`,
    `evt.StrTime`) reduced to one attribute access on the hot path.
    """
    parts = target_parts(path)
    if len(parts) >= 2 and parts[0] in EVENT_MAP_FIELDS and parts[1]:
        field_name, key = parts[0], parts[1]

        def set_map_key(evt, value):
            getattr(evt, field_name)[key] = value
            return True

        return set_map_key
    if len(parts) == 1 and parts[0]:
        name = parts[0]

        def set_field(evt, value):
            existing = getattr(evt, name, _MISSING)
            if isinstance(existing, str) or (existing is None and _is_struct(evt)):
                setattr(evt, name, value)
                return True
            return False

        return set_field
    return lambda evt, value: assign_target(evt, parts, value)


_MISSING = object()


def _is_struct(obj) -> bool:
    return is_dataclass(obj) and not isinstance(obj, type)



def parse_go_duration(text: str) -> float:
    """Go `time.ParseDuration` -> seconds (stash `ttl`). Raises ValueError on bad input."""
    return go_duration_ns(text) / 1e9
