"""Go duration syntax (`time.ParseDuration`), scanned exactly into nanoseconds.

A leaf module (no engine imports) so that the buckets, the expression
helpers and the LAPI can all use it.
"""

from __future__ import annotations

import re

GO_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign
    "μs": 1_000,  # U+03BC greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_COMPONENT = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)")


class DurationSyntaxError(ValueError):
    """Not Go duration syntax; `missing_unit`: a number without a known unit (`10`)."""

    def __init__(self, text: str, missing_unit: bool = False):
        super().__init__(f"invalid duration {text!r}")
        self.missing_unit = missing_unit


def scan_go_duration(text: str, units: dict = GO_UNIT_NS) -> int:
    """Exact nanoseconds of Go `time.ParseDuration` syntax: an optional sign,
    then one or more `<number><unit>` (`1h30m`, `0.5s`, `500ms`), or a bare `0`.
    `units` maps each accepted unit to its nanoseconds. Raises DurationSyntaxError.
    The one scanner behind the engine's, the expressions' and the LAPI's parsers."""
    rest = text
    sign = 1
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise DurationSyntaxError(text)
    total = 0
    pos = 0
    while pos < len(rest):
        match = _COMPONENT.match(rest, pos)
        if match is None or match.group(2) not in units:
            # A number followed by no unit it knows (Go says so for `10`).
            raise DurationSyntaxError(text, missing_unit=rest[pos].isdigit())
        number, unit = match.groups()
        whole, _, frac = number.partition(".")
        scale = units[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // (10 ** len(frac))
        pos = match.end()
    return sign * total
