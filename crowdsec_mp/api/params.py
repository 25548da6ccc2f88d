"""Query-string parameters -> the filter dataclasses of queries.py.

Bad values raise APIError(400) with CrowdSec's message text (CrowdSec answers
some of them with 500; see errors.py). Which parameters are allowed per route
follows spec/lapi.md: GET /v1/decisions ignores unknown ones, DELETE
/v1/decisions and /v1/alerts reject them.
"""

from __future__ import annotations

from crowdsec_mp.api.durations import parse_duration
from crowdsec_mp.api.errors import bad_request
from crowdsec_mp.api.iprange import parse_ip_or_range
from crowdsec_mp.api.queries import AlertFilter, DecisionDeleteFilter, DecisionFilter

US = 1_000_000
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
MAX_INT = 2**62


def parse_bool(name: str, text: str) -> bool:
    """Go strconv.ParseBool."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise bad_request(f"'{name}' must be a boolean, got '{text}'")


def parse_int(name: str, text: str, *, minimum: int = 0) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise bad_request(f"'{name}' must be an integer, got '{text}'") from None
    if not minimum <= value <= MAX_INT:
        raise bad_request(f"'{name}' out of range: {text}")
    return value


def parse_bounds(args, name=None):
    """IPBounds of the `ip` or `range` parameter (None when neither)."""
    for key in (name,) if name else ("ip", "range"):
        text = args.get(key)
        if text is not None:
            try:
                return parse_ip_or_range(text)
            except ValueError as exc:
                raise bad_request(f"unable to convert '{text}' to int: {exc}: invalid ip address / range") from None
    return None


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def decision_filter(args, *, stream: bool = False) -> DecisionFilter:
    """GET /v1/decisions (stream=False) or /v1/decisions/stream parameters.

    `args` is a mapping or a werkzeug MultiDict (first value of each key wins).
    """
    if hasattr(args, "to_dict"):
        # A plain dict once: MultiDict lookups of absent keys raise and catch
        # an exception each, a measurable share of a bouncer's lookup.
        args = args.to_dict()
    filt = DecisionFilter()
    scopes = args.get("scopes") or args.get("scope")
    if stream and not scopes:
        scopes = "ip,range"
    if scopes:
        filt.scopes = _csv(scopes)
    for key in ("value", "type"):
        if key in args:
            setattr(filt, key, args[key])
    if args.get("origins"):
        filt.origins = _csv(args["origins"])
    if args.get("scenarios_containing"):
        filt.scenarios_containing = _csv(args["scenarios_containing"])
    if args.get("scenarios_not_containing"):
        filt.scenarios_not_containing = _csv(args["scenarios_not_containing"])
    simulated = args.get("simulated")
    filt.include_simulated = simulated is not None and simulated != "false"
    filt.bounds = parse_bounds(args)
    if "contains" in args:
        filt.contains = parse_bool("contains", args["contains"])
    for key in ("limit", "offset", "id_gt"):
        if key in args:
            setattr(filt, key, parse_int(key, args[key]))
    return filt


DELETE_DECISION_PARAMS = {"ip", "range", "contains", "scopes", "value", "type", "origin", "scenario", "uuid"}


def decision_delete_filter(args) -> DecisionDeleteFilter:
    for key in args:
        if key not in DELETE_DECISION_PARAMS:
            raise bad_request(f"'{key}' doesn't exist: invalid filter")
    filt = DecisionDeleteFilter()
    filt.bounds = parse_bounds(args)
    if "contains" in args:
        filt.contains = parse_bool("contains", args["contains"])
    if "scopes" in args:
        filt.scope = args["scopes"]
    for key in ("value", "type", "origin", "scenario"):
        if key in args:
            setattr(filt, key, args[key])
    filt.uuids = args.getlist("uuid") if hasattr(args, "getlist") else ([args["uuid"]] if "uuid" in args else [])
    return filt


ALERT_PARAMS = {
    "scope", "value", "scenario", "ip", "range", "contains", "since", "until", "created_before",
    "decision_type", "origin", "include_capi", "has_active_decision", "kind", "simulated",
    "limit", "sort", "with_decisions",
}  # fmt: skip


def _ago(name: str, text: str, now: int) -> int:
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise bad_request(f"while parsing duration: invalid duration '{text}' for '{name}'") from None
    return now - int(seconds * US)


def alert_filter(args, now: int) -> AlertFilter:
    for key in args:
        if key not in ALERT_PARAMS:
            raise bad_request(f"filter parameter '{key}' is unknown (={args.get(key)}): invalid filter")
    filt = AlertFilter()
    for key in ("scope", "value", "scenario", "decision_type", "origin", "kind"):
        if key in args:
            setattr(filt, key, args[key])
    filt.bounds = parse_bounds(args)
    if "contains" in args:
        filt.contains = parse_bool("contains", args["contains"])
    if "since" in args:
        filt.since = _ago("since", args["since"], now)
    if "until" in args:
        filt.until = _ago("until", args["until"], now)
    if "created_before" in args:
        filt.created_before = _ago("created_before", args["created_before"], now)
    if "include_capi" in args:
        filt.include_capi = parse_bool("include_capi", args["include_capi"])
    if "has_active_decision" in args:
        filt.has_active_decision = parse_bool("has_active_decision", args["has_active_decision"])
    if "simulated" in args:
        filt.exclude_simulated = not parse_bool("simulated", args["simulated"])
    if "limit" in args:
        filt.limit = parse_int("limit", args["limit"]) or None
    if "sort" in args:
        if args["sort"] not in ("ASC", "DESC"):
            raise bad_request(f"invalid sort value '{args['sort']}' (expected ASC or DESC)")
        filt.ascending = args["sort"] == "ASC"
    if "with_decisions" in args:
        filt.with_decisions = parse_bool("with_decisions", args["with_decisions"])
    return filt
