"""profiles.yaml: which posted alerts become which decisions (spec/alerts.md §5).

`load_profiles(path)` reads the multi-document file (with `<path>.local`
prepended when present), checks keys strictly and compiles the filters and
`duration_expr` with the expression engine; errors are ConfigError naming the
file, the profile and the field.

`decisions_for_alert(profiles, alert, now_us)` evaluates them in file order
against `{"Alert": <engine Alert>}` and returns wire-shaped decision dicts
(origin, type, scope, value, duration, scenario, simulated) of the FIRST
matching profile that has decisions. Every true filter of that profile adds
a full set of decisions (two true filters = duplicated decisions), as
CrowdSec does.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml

from crowdsec_mp.api import queries
from crowdsec_mp.api.durations import format_duration, parse_duration
from crowdsec_mp.engine.event import Alert, APIEvent, MetaItem, Source
from crowdsec_mp.errors import ConfigError

log = logging.getLogger(__name__)

US = 1_000_000
PROFILE_KEYS = {"name", "debug", "filters", "decisions", "duration_expr", "on_success", "on_failure", "on_error", "notifications"}
DECISION_KEYS = {"type", "duration", "scope", "origin", "simulated"}
ON_SUCCESS = {"", "break", "continue"}
ON_FAILURE = {"", "break", "continue", "apply"}
ON_ERROR = {"", "apply", "continue", "break", "ignore"}

#: "now" (µs) of the request being evaluated, read by the DB helper functions.
_evaluation_now: contextvars.ContextVar[int] = contextvars.ContextVar("profile_evaluation_now", default=0)


class ProfileError(Exception):
    """A filter failed at evaluation and the profile has no on_error policy."""


@dataclass
class DecisionTemplate:
    type: str
    duration: str
    scope: str = ""
    origin: str = ""
    simulated: bool = False


@dataclass
class Profile:
    name: str
    filters: list  # compiled Programs
    decisions: list[DecisionTemplate] = field(default_factory=list)
    duration_expr: object = None  # compiled Program or None
    on_success: str = ""
    on_failure: str = ""
    on_error: str = ""
    notifications: list = field(default_factory=list)
    debug: bool = False


# -- helpers callable from profile expressions ---------------------------------


def _since_us(duration_text) -> int:
    return _evaluation_now.get() - int(parse_duration(str(duration_text)) * US)


def _get_active_time_left(value):
    now = _evaluation_now.get()
    until = queries.longest_active_until(str(value), now)
    return timedelta(microseconds=(until - now) if until else 0)


PROFILE_FUNCS = {
    "GetDecisionsCount": lambda value: queries.count_decisions(str(value)),
    "GetDecisionsSinceCount": lambda value, since: queries.count_decisions(str(value), since=_since_us(since)),
    "GetActiveDecisionsCount": lambda value: queries.count_decisions(str(value), active_at=_evaluation_now.get()),
    "GetActiveDecisionsTimeLeft": _get_active_time_left,
}


# -- loading ----------------------------------------------------------------------


def _engine_context():
    """The EngineContext profile expressions compile with (wall clock)."""
    from crowdsec_mp.engine.context import EngineContext

    return EngineContext()


def load_profiles(path) -> list[Profile]:
    path = Path(path)
    documents = []
    local = path.with_name(path.name + ".local")
    for source in ([local] if local.is_file() else []) + [path]:
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read profiles: {exc.strerror or exc}", file=source) from exc
        try:
            loaded = [doc for doc in yaml.safe_load_all(text) if doc is not None]
        except yaml.YAMLError as exc:
            raise ConfigError(f"invalid YAML: {exc}", file=source) from exc
        documents.extend((source, index, doc) for index, doc in enumerate(loaded))
    profiles = [compile_profile(doc, source, index) for source, index, doc in documents]
    if not profiles:
        raise ConfigError("no profiles defined: at least one profile is required", file=path)
    return profiles


def compile_profile(doc, source, index: int = 0) -> Profile:
    item = f"profile #{index}"
    if not isinstance(doc, dict):
        raise ConfigError("a profile must be a mapping", file=source, item=item)
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("name is required", file=source, item=item, field="name")
    item = name

    def fail(message, field_name):
        raise ConfigError(message, file=source, item=item, field=field_name)

    for key in doc:
        if key not in PROFILE_KEYS:
            fail(f"unknown key (allowed: {', '.join(sorted(PROFILE_KEYS))})", key)
    from crowdsec_mp.engine.expr import ExprError, compile_expr  # the expression engine

    ctx = _engine_context()

    def compile_one(source_text, field_name):
        if not isinstance(source_text, str) or not source_text.strip():
            fail("must be a non-empty expression string", field_name)
        try:
            return compile_expr(source_text, ctx, where=f"{source}: profile {name!r} {field_name}", extra_funcs=PROFILE_FUNCS)
        except ExprError as exc:
            fail(f"invalid expression {source_text!r}: {exc}", field_name)

    filters_src = doc.get("filters")
    if not isinstance(filters_src, list) or not filters_src:
        fail("must be a non-empty list of expressions", "filters")
    filters = [compile_one(text, f"filters[{i}]") for i, text in enumerate(filters_src)]
    decisions = []
    for d_index, template in enumerate(doc.get("decisions") or []):
        where = f"decisions[{d_index}]"
        if not isinstance(template, dict):
            fail("must be a mapping", where)
        for key in template:
            if key not in DECISION_KEYS:
                fail(f"unknown key (allowed: {', '.join(sorted(DECISION_KEYS))})", f"{where}.{key}")
        if not isinstance(template.get("type"), str) or not template["type"]:
            fail("is required", f"{where}.type")
        duration = template.get("duration")
        if not isinstance(duration, str):
            fail("is required (a duration such as 4h)", f"{where}.duration")
        try:
            parse_duration(duration)
        except ValueError:
            fail(f"invalid duration {duration!r}", f"{where}.duration")
        for key in ("scope", "origin"):
            if template.get(key) is not None and not isinstance(template[key], str):
                fail("must be a string", f"{where}.{key}")
        if template.get("simulated") is not None and not isinstance(template["simulated"], bool):
            fail("must be a boolean", f"{where}.simulated")
        decisions.append(
            DecisionTemplate(
                type=template["type"],
                duration=duration,
                scope=template.get("scope") or "",
                origin=template.get("origin") or "",
                simulated=bool(template.get("simulated")),
            )
        )
    duration_expr = compile_one(doc["duration_expr"], "duration_expr") if doc.get("duration_expr") else None
    policies = {}
    for key, allowed in (("on_success", ON_SUCCESS), ("on_failure", ON_FAILURE), ("on_error", ON_ERROR)):
        value = doc.get(key) or ""
        if value not in allowed:
            fail(f"must be one of {', '.join(sorted(a for a in allowed if a))}, got {value!r}", key)
        policies[key] = value
    notifications = doc.get("notifications") or []
    if not isinstance(notifications, list) or not all(isinstance(n, str) for n in notifications):
        fail("must be a list of names", "notifications")
    return Profile(
        name=name,
        filters=filters,
        decisions=decisions,
        duration_expr=duration_expr,
        notifications=notifications,
        debug=bool(doc.get("debug")),
        **policies,
    )


# -- evaluation -----------------------------------------------------------------------


def engine_alert(alert: dict) -> Alert:
    """The engine's Go-named Alert for a validated wire alert (profile env)."""
    source = alert["source"]
    return Alert(
        Capacity=alert.get("capacity"),
        Decisions=[],
        Events=[
            APIEvent(
                Timestamp=event.get("timestamp", ""),
                Meta=[MetaItem(Key=m.get("key", ""), Value=m.get("value", "")) for m in event.get("meta") or []],
            )
            for event in alert.get("events") or []
        ],
        EventsCount=alert.get("events_count"),
        Kind=alert.get("kind") or "",
        Labels=list(alert.get("labels") or []),
        Leakspeed=alert.get("leakspeed"),
        MachineID=alert.get("machine_id") or "",
        Message=alert.get("message"),
        Meta=[MetaItem(Key=m.get("key", ""), Value=m.get("value", "")) for m in alert.get("meta") or []],
        Remediation=bool(alert.get("remediation")),
        Scenario=alert.get("scenario"),
        ScenarioHash=alert.get("scenario_hash"),
        ScenarioVersion=alert.get("scenario_version"),
        Simulated=alert.get("simulated"),
        Source=Source(
            AsName=source.get("as_name") or "",
            AsNumber=source.get("as_number") or "",
            Cn=source.get("cn") or "",
            IP=source.get("ip") or "",
            Latitude=float(source.get("latitude") or 0.0),
            Longitude=float(source.get("longitude") or 0.0),
            Range=source.get("range") or "",
            Scope=source.get("scope"),
            Value=source.get("value"),
        ),
        StartAt=alert.get("start_at"),
        StopAt=alert.get("stop_at"),
    )


def _duration_override(profile: Profile, env: dict) -> str | None:
    if profile.duration_expr is None:
        return None
    try:
        result = profile.duration_expr.run(env)
    except Exception as exc:  # the static duration is kept on any error (spec §5)
        log.warning("profile %s: duration_expr failed, keeping static duration: %s", profile.name, exc)
        return None
    if isinstance(result, timedelta):
        return format_duration(result.total_seconds())
    try:
        parse_duration(result)
    except ValueError:
        log.warning("profile %s: duration_expr gave %r, not a duration", profile.name, result)
        return None
    return result


def _generate(profile: Profile, alert: dict, env: dict) -> list[dict]:
    override = _duration_override(profile, env)
    source = alert["source"]
    return [
        {
            "origin": f"crowdsec/{t.origin}" if t.origin else "crowdsec",
            "type": t.type,
            "scope": t.scope or source["scope"],
            "value": source["value"],
            "duration": override or t.duration,
            "scenario": alert["scenario"],
            "simulated": t.simulated or bool(alert.get("simulated")),
        }
        for t in profile.decisions
    ]


def decisions_for_alert(profiles: list[Profile], alert: dict, now_us: int) -> list[dict]:
    """Decisions of the first matching profile that has decisions (see module doc).

    Raises ProfileError when a filter fails and the profile has no on_error.
    """
    token = _evaluation_now.set(now_us)
    try:
        env = {"Alert": engine_alert(alert)}
        chosen = None
        for profile in profiles:
            generated, matched = [], False
            try:
                for program in profile.filters:
                    result = program.run(env)
                    if not isinstance(result, bool):
                        raise TypeError(f"filter {program.source!r} returned {type(result).__name__}, not bool")
                    if result:
                        matched = True
                        generated.extend(_generate(profile, alert, env))
            except Exception as exc:
                if profile.on_error == "apply":
                    matched, generated = True, _generate(profile, alert, env)
                elif profile.on_error in ("continue", "ignore"):
                    continue
                elif profile.on_error == "break":
                    break
                else:
                    raise ProfileError(f"profile {profile.name!r}: {exc}") from exc
            if profile.debug:
                log.info("profile %s: matched=%s, %d decision(s)", profile.name, matched, len(generated))
            if matched:
                if chosen is None and generated:
                    chosen = generated
                if profile.on_success == "break":
                    break
        return chosen or []
    finally:
        _evaluation_now.reset(token)
