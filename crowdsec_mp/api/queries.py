"""Every database query of the Local API, as plain functions.

Blueprints parse the request into the filter dataclasses below, call one of
these functions, and render the result (wire.py). Nothing here knows about
HTTP. Times are microseconds since the epoch (timefmt.py); `now` is always
passed in by the caller so that a whole request uses one instant.

Queries that return many rows select tuples, not model instances, and load
related rows (decisions, events, meta of a page of alerts) with one query
per table, never one per row.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field, fields, replace

from peewee import JOIN, PostgresqlDatabase, fn

from crowdsec_mp.api.iprange import IPBounds, try_bounds
from crowdsec_mp.api.models import Alert, Bouncer, Decision, Event, Machine, MetaItem, UsageMetric, database_proxy
from crowdsec_mp.api.db import write_transaction

US = 1_000_000
#: Stream "deleted" window reaches back 2 s before the last pull (spec §5.3).
STREAM_DELETED_GRACE_US = 2 * US
#: Above this many distinct values, dedup groups the whole table.
DEDUP_IN_LIMIT = 500
IN_CHUNK = 500
ALERT_BATCH = 50
DECISION_BULK = 1000

SCOPE_ALIASES = {"ip": "Ip", "range": "Range", "country": "Country", "as": "AS"}


def normalize_scope(scope: str) -> str:
    return SCOPE_ALIASES.get(scope.lower(), scope) if isinstance(scope, str) else scope


def _chunks(items, size=IN_CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- IP bound conditions --------------------------------------------------------


def _le(hi_col, lo_col, hi, lo):
    """(hi_col, lo_col) <= (hi, lo) as 128-bit numbers, index friendly."""
    return (hi_col < hi) | ((hi_col == hi) & (lo_col <= lo))


def _ge(hi_col, lo_col, hi, lo):
    return (hi_col > hi) | ((hi_col == hi) & (lo_col >= lo))


def ip_condition(bounds: IPBounds, contains: bool, is_range: bool | None = None):
    """Decisions whose range contains (or, contains=False, lies in) `bounds`.

    Only decisions of the same IP family match; non-IP values have
    ip_size 0 and never match. `is_range` overrides `bounds.is_range` (for
    SQL built from placeholder bounds, see active_decisions).
    """
    D = Decision
    if is_range is None:
        is_range = bounds.is_range
    if contains:
        # start <= bounds.start, written as two branches that each carry the
        # whole equality prefix of the (is_range, ip_size, start_hi, start_lo)
        # index: given `is_range AND (start_hi < x OR start_hi = x AND ...)`,
        # PostgreSQL serves the second branch from the index without
        # is_range and reads every single address of the family (~70 ms at
        # 100k decisions instead of ~0.1 ms).
        family_ranges = (D.is_range == True) & (D.ip_size == bounds.ip_size)  # noqa: E712 (peewee expression)
        ends_after = _ge(D.end_hi, D.end_lo, bounds.end_hi, bounds.end_lo)
        ranges = (family_ranges & (D.start_hi < bounds.start_hi) & ends_after) | (
            family_ranges & (D.start_hi == bounds.start_hi) & (D.start_lo <= bounds.start_lo) & ends_after
        )
        if is_range:
            return ranges
        exact = (
            (D.ip_size == bounds.ip_size)
            & (D.start_hi == bounds.start_hi)
            & (D.start_lo == bounds.start_lo)
            & (D.is_range == False)  # noqa: E712
        )
        return exact | ranges
    return (
        (D.ip_size == bounds.ip_size)
        & _ge(D.start_hi, D.start_lo, bounds.start_hi, bounds.start_lo)
        & _le(D.end_hi, D.end_lo, bounds.end_hi, bounds.end_lo)
    )


# -- decisions for bouncers ------------------------------------------------------


@dataclass
class DecisionFilter:
    """Filters of GET /v1/decisions and /v1/decisions/stream (spec §5.2)."""

    scopes: list = field(default_factory=list)
    value: str | None = None
    type: str | None = None
    origins: list = field(default_factory=list)
    scenarios_containing: list = field(default_factory=list)
    scenarios_not_containing: list = field(default_factory=list)
    include_simulated: bool = False
    bounds: IPBounds | None = None
    contains: bool = True
    limit: int | None = None
    offset: int | None = None
    id_gt: int | None = None


def _decision_where(filt: DecisionFilter, is_range: bool | None = None):
    D = Decision
    conditions = []
    if filt.scopes:
        conditions.append(D.scope.in_([normalize_scope(s) for s in filt.scopes]))
    if filt.value is not None:
        conditions.append(D.value == filt.value)
    if filt.type is not None:
        conditions.append(D.type == filt.type)
    if filt.origins:
        conditions.append(D.origin.in_(filt.origins))
    if filt.scenarios_containing:
        any_of = None
        for word in filt.scenarios_containing:
            term = D.scenario.contains(word)
            any_of = term if any_of is None else (any_of | term)
        conditions.append(any_of)
    for word in filt.scenarios_not_containing:
        conditions.append(~D.scenario.contains(word))
    if not filt.include_simulated:
        conditions.append(D.simulated == False)  # noqa: E712
    if filt.bounds is not None:
        conditions.append(ip_condition(filt.bounds, filt.contains, is_range))
    if filt.id_gt is not None:
        conditions.append(D.id > filt.id_gt)
    return conditions


#: Columns a bouncer sees, in this order (wire.bouncer_decision renders them).
BOUNCER_COLUMNS = (
    Decision.id,
    Decision.origin,
    Decision.type,
    Decision.scope,
    Decision.value,
    Decision.until,
    Decision.scenario,
    Decision.uuid,
)
BOUNCER_UNTIL = [column.name for column in BOUNCER_COLUMNS].index("until")


def _raw_rows(query) -> list[tuple]:
    """Rows of a select as plain tuples straight from the DB cursor.

    Bypasses peewee's per-row conversion, which dominates the cost of the
    100k-row stream snapshot; the selected columns need no conversion.
    """
    sql, params = query.sql()
    return database_proxy.execute_sql(sql, params).fetchall()


#: SQL text of hot queries, per (backend, query shape): peewee spends more
#: time building a small query than the database spends running it.
_SQL_CACHE: dict = {}
_SQL_CACHE_MAX = 512
_SENTINEL_BASE = -7_346_201_593_000_000_000  # never a real id, time or bound


def _run_cached(shape, build, values: dict, *, fetch: bool = True) -> list[tuple]:
    """Rows of `build(**values)`, reusing its SQL for the same `shape`.

    The query is built once with unique sentinel integers in place of
    `values`; later calls only swap the real values into those parameter
    positions. `shape` must capture everything else that changes the SQL.
    """
    key = (type(database_proxy.obj), shape)
    entry = _SQL_CACHE.get(key)
    if entry is None:
        sentinels = {name: _SENTINEL_BASE - index for index, name in enumerate(sorted(values))}
        sql, params = build(**sentinels).sql()
        # Text columns coerce the placeholder to str: recognise both forms.
        by_sentinel = {value: name for name, value in sentinels.items()}
        by_sentinel.update({str(value): name for name, value in sentinels.items()})
        slots = [(index, by_sentinel[p]) for index, p in enumerate(params) if isinstance(p, (int, str)) and p in by_sentinel]
        if {name for _, name in slots} != set(values):
            sql, params = build(**values).sql()  # a value was transformed: no reuse
            cursor = database_proxy.execute_sql(sql, params)
            return cursor.fetchall() if fetch else []
        entry = (sql, tuple(params), slots)
        if len(_SQL_CACHE) < _SQL_CACHE_MAX:
            _SQL_CACHE[key] = entry
    sql, params, slots = entry
    params = list(params)
    for index, name in slots:
        params[index] = values[name]
    cursor = database_proxy.execute_sql(sql, params)
    return cursor.fetchall() if fetch else []


#: DecisionFilter fields that change the SQL text (bounds only by their kind).
_SHAPE_FIELDS = tuple(f.name for f in fields(DecisionFilter) if f.name != "bounds")


def _filter_shape(filt: DecisionFilter) -> str:
    """Cache key of a filter's SQL; cheaper than repr(replace(filt, bounds=None))."""
    return repr([getattr(filt, name) for name in _SHAPE_FIELDS])


def active_decisions(filt: DecisionFilter, now: int) -> list[tuple]:
    """Active decisions (until >= now) matching `filt`, by id, not deduplicated.

    The bouncers' `?ip=` lookup is the hottest query: its SQL is cached per
    filter shape, with the address bounds and `now` as swapped-in values.
    """
    D = Decision
    bounds = filt.bounds
    values = {"now": now}
    if bounds is not None:
        values.update(ip_size=bounds.ip_size, start_hi=bounds.start_hi, start_lo=bounds.start_lo,
                      end_hi=bounds.end_hi, end_lo=bounds.end_lo)  # fmt: skip
    shape = ("active", _filter_shape(filt), bounds is not None, bounds is not None and bounds.is_range)

    def build(now, **placeholders):
        shaped = filt if bounds is None else replace(filt, bounds=IPBounds(**placeholders))
        query = D.select(*BOUNCER_COLUMNS).where(D.until >= now, *_decision_where(shaped, bounds and bounds.is_range))
        query = query.order_by(D.id)
        if filt.limit is not None:
            query = query.limit(filt.limit)
        if filt.offset is not None:
            query = query.offset(filt.offset)
        return query

    return _run_cached(shape, build, values)


def _longest_until_of_repeated_keys(values: set) -> dict:
    """{(value, type, scope): max(until)} for keys that have SEVERAL rows.

    A key with a single row is its own longest decision, so only repeated
    keys are returned; the (value, type, scope, until) index lets the
    database group without sorting. For a few values, only those are read.
    """
    D = Decision
    result = {}
    batches = [None] if len(values) > DEDUP_IN_LIMIT else list(_chunks(values))
    for batch in batches:
        query = (
            D.select(D.value, D.type, D.scope, fn.MAX(D.until))
            .group_by(D.value, D.type, D.scope)
            .having(fn.COUNT(D.id) > 1)
        )
        if batch is not None:
            query = query.where(D.value.in_(batch))
        for value, dtype, scope, until in _raw_rows(query):
            result[(value, dtype, scope)] = until
    return result


def stream_decisions(filt: DecisionFilter, *, startup: bool, last_pull: int | None, now: int, dedup: bool = True):
    """(new, deleted) rows of GET /v1/decisions/stream (spec §5.3), by id.

    startup (or a bouncer that never pulled): every active / every expired
    decision. Otherwise: active ones created after `last_pull`, and ones that
    expired after `last_pull - 2s`. With dedup, a row is only reported when
    its `until` is the greatest of all rows of its (value, type, scope).
    """
    full = startup or last_pull is None
    since = last_pull if last_pull is not None else 0
    if full:
        new_rows, deleted_rows = _stream_parts_apart(filt, True, now, since)
    else:
        new_rows, deleted_rows = _stream_parts_together(filt, now, since)
    if dedup and (new_rows or deleted_rows):
        longest = _longest_until_of_repeated_keys({r[4] for r in new_rows} | {r[4] for r in deleted_rows})
        if longest:
            new_rows = [r for r in new_rows if longest.get((r[4], r[2], r[3]), r[5]) <= r[5]]
            deleted_rows = [r for r in deleted_rows if longest.get((r[4], r[2], r[3]), r[5]) <= r[5]]
    return new_rows, deleted_rows


# `until + 0` keeps planners off the until index: nearly every row is
# active, so a snapshot is best read as a table scan, and a delta through
# the (selective) created_at index.
def _stream_new_query(filt: DecisionFilter, full: bool, now, since):
    query = Decision.select(*BOUNCER_COLUMNS).where((Decision.until + 0) > now, *_decision_where(filt))
    return query if full else query.where(Decision.created_at > since)


def _stream_deleted_query(filt: DecisionFilter, full: bool, now, since):
    query = Decision.select(*BOUNCER_COLUMNS).where(Decision.until < now, *_decision_where(filt))
    return query if full else query.where(Decision.until > since)


# Both sorted here rather than with ORDER BY id: that clause makes SQLite
# walk the whole table in rowid order instead of using the created_at/until
# index that selects the few delta rows.
def _stream_parts_apart(filt: DecisionFilter, full: bool, now: int, since: int) -> tuple[list, list]:
    """(new, deleted) rows of the stream, one statement each."""
    shape = (repr(filt), full)
    new_rows = _run_cached(
        ("stream-new",) + shape, lambda now, since: _stream_new_query(filt, full, now, since), {"now": now, "since": since}
    )
    deleted_rows = _run_cached(
        ("stream-deleted",) + shape,
        lambda now, since: _stream_deleted_query(filt, full, now, since),
        {"now": now, "since": since - STREAM_DELETED_GRACE_US},
    )
    return sorted(new_rows), sorted(deleted_rows)


def _stream_parts_together(filt: DecisionFilter, now: int, since: int) -> tuple[list, list]:
    """_stream_parts_apart(filt, False, ...) in ONE statement (UNION ALL).

    For deltas, the bouncers' pull every few seconds: a database round trip
    less per pull. Each branch keeps its own index; the rows are told apart
    by `until` (new ones end after now, deleted ones before), as the two
    WHERE clauses select them.
    """

    def build(now, since, deleted_since):
        return _stream_new_query(filt, False, now, since).union_all(_stream_deleted_query(filt, False, now, deleted_since))

    values = {"now": now, "since": since, "deleted_since": since - STREAM_DELETED_GRACE_US}
    rows = _run_cached(("stream-delta", repr(filt)), build, values)
    new_rows = sorted(row for row in rows if row[BOUNCER_UNTIL] > now)
    deleted_rows = sorted(row for row in rows if row[BOUNCER_UNTIL] < now)
    return new_rows, deleted_rows


# -- deleting decisions (machines) -----------------------------------------------


@dataclass
class DecisionDeleteFilter:
    """Filters of DELETE /v1/decisions (spec §5.4)."""

    bounds: IPBounds | None = None
    contains: bool = True
    scope: str | None = None
    value: str | None = None
    type: str | None = None
    origin: str | None = None
    scenario: str | None = None
    uuids: list = field(default_factory=list)


def expire_decisions(filt: DecisionDeleteFilter, now: int) -> int:
    """Set until = now on matching ACTIVE decisions; returns how many."""
    D = Decision
    conditions = [D.until > now]
    if filt.bounds is not None:
        conditions.append(ip_condition(filt.bounds, filt.contains))
    if filt.scope is not None:
        conditions.append(D.scope == normalize_scope(filt.scope))
    for column, wanted in ((D.value, filt.value), (D.type, filt.type), (D.origin, filt.origin), (D.scenario, filt.scenario)):
        if wanted is not None:
            conditions.append(column == wanted)
    if filt.uuids:
        conditions.append(D.uuid.in_(filt.uuids))
    with write_transaction(database_proxy):
        return D.update(until=now, updated_at=now).where(*conditions).execute()


def expire_decision(decision_id: int, now: int) -> int:
    """Set until = now on one decision (active or not); 0 when no such id."""
    D = Decision
    with write_transaction(database_proxy):
        return D.update(until=now, updated_at=now).where(D.id == decision_id).execute()


# -- counters used by profile expressions -----------------------------------------


def count_decisions(value: str, *, since: int | None = None, active_at: int | None = None) -> int:
    D = Decision
    query = D.select(fn.COUNT(D.id)).where(D.value == value)
    if since is not None:
        query = query.where(D.created_at > since)
    if active_at is not None:
        query = query.where(D.until > active_at)
    return query.scalar() or 0


def longest_active_until(value: str, now: int) -> int | None:
    D = Decision
    return D.select(fn.MAX(D.until)).where(D.value == value, D.until > now).scalar()


# -- storing alerts ------------------------------------------------------------------


@dataclass
class NewAlert:
    """A validated posted alert, ready to store (built by wire.py + profiles.py)."""

    fields: dict  # Alert column -> value (without machine/created_at/updated_at)
    events: list  # [(time_us | None, serialized_json)]
    meta: list  # [(key, value)]
    decisions: list  # [dict of Decision columns without alert/created_at/updated_at]


def decision_columns(value: str) -> dict:
    """Numeric bound columns for a decision value (ip_size 0 when not an IP)."""
    bounds = try_bounds(value)
    if bounds is None:
        return {"ip_size": 0, "start_hi": None, "start_lo": None, "end_hi": None, "end_lo": None, "is_range": False}
    return {
        "ip_size": bounds.ip_size,
        "start_hi": bounds.start_hi,
        "start_lo": bounds.start_lo,
        "end_hi": bounds.end_hi,
        "end_lo": bounds.end_lo,
        "is_range": bounds.is_range,
    }


def insert_alerts(alerts: list[NewAlert], machine_pk: int | None, now: int) -> list[int]:
    """Store alerts with their events, meta and decisions; returns alert ids.

    One transaction per batch of 50 alerts (spec alerts.md §4.6).
    """
    ids = []
    for start in range(0, len(alerts), ALERT_BATCH):
        batch = alerts[start : start + ALERT_BATCH]
        with write_transaction(database_proxy):
            decisions, events, meta = [], [], []
            for alert in batch:
                alert_id = Alert.insert(machine=machine_pk, created_at=now, updated_at=now, **alert.fields).execute()
                ids.append(alert_id)
                for row in alert.decisions:
                    decisions.append(dict(row, alert=alert_id, created_at=now, updated_at=now))
                events.extend({"alert": alert_id, "time": t, "serialized": s} for t, s in alert.events)
                meta.extend({"alert": alert_id, "key": k, "value": v} for k, v in alert.meta)
            for rows in _chunks(decisions, DECISION_BULK):
                Decision.insert_many(rows).execute()
            for rows in _chunks(events, DECISION_BULK):
                Event.insert_many(rows).execute()
            for rows in _chunks(meta, DECISION_BULK):
                MetaItem.insert_many(rows).execute()
            if machine_pk is not None:
                Machine.update(last_push=now, updated_at=now).where(Machine.id == machine_pk).execute()
    return ids


# -- searching alerts --------------------------------------------------------------


@dataclass
class AlertFilter:
    """Filters of GET/DELETE /v1/alerts (spec §6), already parsed."""

    scope: str | None = None
    value: str | None = None
    scenario: str | None = None
    bounds: IPBounds | None = None
    contains: bool = True
    since: int | None = None  # start_at >= since
    until: int | None = None  # start_at <= until
    created_before: int | None = None
    decision_type: str | None = None
    origin: str | None = None
    include_capi: bool = True
    has_active_decision: bool | None = None
    kind: str | None = None
    exclude_simulated: bool = False
    limit: int | None = 100
    ascending: bool = False
    with_decisions: bool = True


def _where(query, conditions):
    """query.where(*conditions), tolerating an empty list."""
    return query.where(*conditions) if conditions else query


def _alerts_with_decisions(*conditions):
    return Decision.select(Decision.alert).where(*conditions)


def _alert_where(filt: AlertFilter, now: int):
    A, D = Alert, Decision
    conditions = []
    if filt.scope is not None:
        conditions.append(A.source_scope == normalize_scope(filt.scope))
    if filt.value is not None:
        conditions.append(A.source_value == filt.value)
    if filt.scenario is not None:
        conditions.append((A.scenario == filt.scenario) | A.id.in_(_alerts_with_decisions(D.scenario == filt.scenario)))
    if filt.bounds is not None:
        conditions.append(A.id.in_(_alerts_with_decisions(ip_condition(filt.bounds, filt.contains))))
    if filt.since is not None:
        conditions.append(A.start_at >= filt.since)
    if filt.until is not None:
        conditions.append(A.start_at <= filt.until)
    if filt.created_before is not None:
        conditions.append(A.created_at <= filt.created_before)
    if filt.decision_type is not None:
        conditions.append(A.id.in_(_alerts_with_decisions(D.type == filt.decision_type)))
    if filt.origin is not None:
        conditions.append(A.id.in_(_alerts_with_decisions(D.origin == filt.origin)))
    elif not filt.include_capi:
        conditions.append(A.id.not_in(_alerts_with_decisions(D.origin.in_(["CAPI", "lists"]))))
        list_source = A.source_scope.startswith("lists:") | (A.source_scope == "crowdsecurity/community-blocklist")
        conditions.append(~(list_source & A.id.not_in(_alerts_with_decisions(D.alert.is_null(False)))))
    if filt.has_active_decision is True:
        conditions.append(A.id.in_(_alerts_with_decisions(D.until >= now)))
    elif filt.has_active_decision is False:
        conditions.append(A.id.not_in(_alerts_with_decisions(D.alert.is_null(False))))
    if filt.kind is not None:
        conditions.append(A.kind == filt.kind)
    if filt.exclude_simulated:
        conditions.append(A.simulated == False)  # noqa: E712
    return conditions


def search_alerts(filt: AlertFilter, now: int) -> list[dict]:
    """Matching alerts as plain dicts with `decisions`, `events`, `meta` lists."""
    A = Alert
    query = (
        A.select(A, Machine.machine_id.alias("owner"))
        .join(Machine, JOIN.LEFT_OUTER, on=(A.machine == Machine.id))
    )
    query = _where(query, _alert_where(filt, now))
    order = (A.created_at.asc(), A.id.asc()) if filt.ascending else (A.created_at.desc(), A.id.desc())
    query = query.order_by(*order)
    if filt.limit:
        query = query.limit(filt.limit)
    alerts = list(query.dicts())
    _attach_children(alerts, with_decisions=filt.with_decisions)
    return alerts


def get_alert(alert_id: int) -> dict | None:
    A = Alert
    rows = list(
        A.select(A, Machine.machine_id.alias("owner"))
        .join(Machine, JOIN.LEFT_OUTER, on=(A.machine == Machine.id))
        .where(A.id == alert_id)
        .dicts()
    )
    _attach_children(rows, with_decisions=True)
    return rows[0] if rows else None


def _attach_children(alerts: list[dict], *, with_decisions: bool):
    by_id = {alert["id"]: alert for alert in alerts}
    for alert in alerts:
        alert["decisions"], alert["events"], alert["meta"] = [], [], []
    for ids in _chunks(by_id):
        if with_decisions:
            D = Decision
            query = D.select(
                D.alert, D.id, D.origin, D.type, D.scope, D.value, D.until, D.scenario, D.simulated, D.uuid
            ).where(D.alert.in_(ids)).order_by(D.id)
            for row in query.dicts():
                by_id[row["alert"]]["decisions"].append(row)
        for row in Event.select(Event.alert, Event.time, Event.serialized).where(Event.alert.in_(ids)).order_by(Event.id).dicts():
            by_id[row["alert"]]["events"].append(row)
        for row in MetaItem.select(MetaItem.alert, MetaItem.key, MetaItem.value).where(MetaItem.alert.in_(ids)).order_by(MetaItem.id).dicts():
            by_id[row["alert"]]["meta"].append(row)


def _delete_alert_ids(ids: list[int]) -> int:
    deleted = 0
    for chunk in _chunks(ids):
        Decision.delete().where(Decision.alert.in_(chunk)).execute()
        Event.delete().where(Event.alert.in_(chunk)).execute()
        MetaItem.delete().where(MetaItem.alert.in_(chunk)).execute()
        deleted += Alert.delete().where(Alert.id.in_(chunk)).execute()
    return deleted


def delete_alerts(filt: AlertFilter, now: int) -> int:
    """Delete matching alerts (no limit) and their decisions/events/meta."""
    with write_transaction(database_proxy):
        ids = [row[0] for row in _where(Alert.select(Alert.id), _alert_where(filt, now)).tuples()]
        return _delete_alert_ids(ids)


def delete_alert(alert_id: int) -> int:
    with write_transaction(database_proxy):
        return _delete_alert_ids([alert_id]) if Alert.get_or_none(Alert.id == alert_id) else 0


# -- retention (flush) -------------------------------------------------------------


def flush_alerts(now: int, *, max_age_us: int | None, max_items: int | None) -> int:
    """Retention of spec §8: returns the number of alerts deleted.

    Alerts older than max_age, and alerts beyond the newest max_items (by id),
    are deleted unless they still have an active decision. Orphan expired
    decisions and orphan events/meta are removed too.
    """
    A, D = Alert, Decision
    deleted = 0
    keep_active = A.id.not_in(D.select(D.alert).where(D.until > now, D.alert.is_null(False)))
    with write_transaction(database_proxy):
        if max_age_us is not None:
            ids = [r[0] for r in A.select(A.id).where(A.created_at < now - max_age_us, keep_active).tuples()]
            deleted += _delete_alert_ids(ids)
        if max_items is not None:
            max_id = A.select(fn.MAX(A.id)).scalar()
            if max_id is not None:
                ids = [r[0] for r in A.select(A.id).where(A.id < max_id - max_items, keep_active).tuples()]
                deleted += _delete_alert_ids(ids)
        D.delete().where(D.alert.is_null(), D.until < now).execute()
        existing_alerts = A.select(A.id)
        Event.delete().where(Event.alert.not_in(existing_alerts)).execute()
        MetaItem.delete().where(MetaItem.alert.not_in(existing_alerts)).execute()
    return deleted


def flush_usage_metrics(now: int, max_age_us: int) -> int:
    with write_transaction(database_proxy):
        return UsageMetric.delete().where(UsageMetric.received_at < now - max_age_us).execute()


# -- machines -----------------------------------------------------------------------


def get_machine(machine_id: str) -> Machine | None:
    return Machine.get_or_none(Machine.machine_id == machine_id)


def create_machine(machine_id: str, password_hash: str, *, ip_address: str, validated: bool, now: int) -> bool:
    """False when a machine with that id already exists."""
    with write_transaction(database_proxy):
        if Machine.select().where(Machine.machine_id == machine_id).exists():
            return False
        Machine.create(
            machine_id=machine_id,
            password=password_hash,
            ip_address=ip_address,
            is_validated=validated,
            created_at=now,
            updated_at=now,
        )
        return True


def update_machine(machine_id: str, now: int, **columns) -> int:
    with write_transaction(database_proxy):
        return Machine.update(updated_at=now, **columns).where(Machine.machine_id == machine_id).execute()


def delete_machine(machine_id: str) -> int:
    with write_transaction(database_proxy):
        return Machine.delete().where(Machine.machine_id == machine_id).execute()


def list_machines() -> list[dict]:
    return list(Machine.select().order_by(Machine.id).dicts())


# -- bouncers ------------------------------------------------------------------------


_BOUNCER_FIELDS = ("id", "name", "api_key_hash", "ip_address", "revoked", "last_pull", "type", "version", "auth_type", "auto_created")


def bouncers_with_key(key_hash: str) -> list[dict]:
    """Bouncer rows (as dicts of _BOUNCER_FIELDS) with this key hash, by id."""
    B = Bouncer

    def build(key_hash):
        return B.select(*[getattr(B, f) for f in _BOUNCER_FIELDS]).where(B.api_key_hash == key_hash).order_by(B.id)

    rows = _run_cached(("bouncers-with-key",), build, {"key_hash": key_hash})
    bouncers = [dict(zip(_BOUNCER_FIELDS, row)) for row in rows]
    for bouncer in bouncers:  # raw rows: booleans come back as 0/1 on SQLite/MySQL
        bouncer["revoked"], bouncer["auto_created"] = bool(bouncer["revoked"]), bool(bouncer["auto_created"])
    return bouncers


#: set_bouncer_last_pull on PostgreSQL, as ONE simple-query message. In
#: autocommit mode PostgreSQL runs the statements of one message as a single
#: implicit transaction, in which SET LOCAL holds; that is BEGIN, SET LOCAL,
#: UPDATE, COMMIT in one round trip instead of four (client and server CPU
#: of every stream pull). Same columns and values as the peewee UPDATE.
PG_LAST_PULL_SQL = (
    "SET LOCAL synchronous_commit TO OFF; "
    'UPDATE "bouncers" SET "last_pull" = %s, "updated_at" = %s WHERE ("bouncers"."id" = %s)'
)


#: How long (seconds) recently_seen_bouncers_with_key() reuses the bouncer
#: rows of a key. A bouncer deleted or changed by ANOTHER process (cscli-mp
#: bouncers delete) is therefore still accepted by GET /v1/decisions for at
#: most this long; changes made in this process (admin.py, the API's own
#: writes) clear the cache at once.
BOUNCER_KEY_CACHE_TTL_S = 2.0
_BOUNCER_KEY_CACHE_MAX = 4096
#: key_hash -> (monotonic time read, rows); rows are never mutated once cached.
_bouncer_key_cache: dict = {}
#: bouncer id -> key_hash of its cached entry (to follow last_pull writes).
_cached_key_hash_of_bouncer: dict = {}
_bouncer_key_cache_lock = threading.Lock()
#: Bumped by every bouncer write: rows read before a write are not cached
#: after it (the read may have seen the row the write changed).
_bouncer_writes = [0]


def forget_cached_bouncers() -> None:
    """Drop every cached key -> bouncer rows entry (around a bouncer write)."""
    with _bouncer_key_cache_lock:
        _bouncer_key_cache.clear()
        _cached_key_hash_of_bouncer.clear()
        _bouncer_writes[0] += 1


def recently_seen_bouncers_with_key(key_hash: str) -> list[dict]:
    """bouncers_with_key(key_hash), read at most BOUNCER_KEY_CACHE_TTL_S ago.

    For the bouncers' ip lookups, which authenticate the same key hundreds
    of times a second: the row read is a DB round trip per request. Returns
    fresh dict copies, which callers may modify.
    """
    now = time.monotonic()
    entry = _bouncer_key_cache.get(key_hash)
    if entry is None or now - entry[0] >= BOUNCER_KEY_CACHE_TTL_S or now < entry[0]:
        writes_before = _bouncer_writes[0]
        rows = bouncers_with_key(key_hash)
        entry = (now, rows)
        with _bouncer_key_cache_lock:
            # Unknown keys are not cached: a key added by cscli-mp in another
            # process must work at once, and random keys must not fill memory.
            if rows and _bouncer_writes[0] == writes_before:
                if len(_bouncer_key_cache) >= _BOUNCER_KEY_CACHE_MAX:
                    _bouncer_key_cache.clear()  # many keys: start over rather than track ages
                    _cached_key_hash_of_bouncer.clear()
                _bouncer_key_cache[key_hash] = entry
                _cached_key_hash_of_bouncer.update((row["id"], key_hash) for row in rows)
    return [dict(row) for row in entry[1]]


def _remember_last_pull(bouncer_id: int, now: int) -> None:
    """Keep cached rows in step with a last_pull this process wrote."""
    with _bouncer_key_cache_lock:
        key_hash = _cached_key_hash_of_bouncer.get(bouncer_id)
        entry = _bouncer_key_cache.get(key_hash)
        if entry is not None:
            read_at, rows = entry
            rows = [dict(row, last_pull=now) if row["id"] == bouncer_id else row for row in rows]
            _bouncer_key_cache[key_hash] = (read_at, rows)


def set_bouncer_last_pull(bouncer_id: int, now: int) -> None:
    """The per-pull write of the stream, kept as cheap as possible.

    Every stream pull writes this row. On PostgreSQL the commit does not
    wait for the WAL flush (~5 ms, which would dominate the pull): losing
    the last instants of last_pull in a crash only makes bouncers
    re-receive a delta.
    """
    _remember_last_pull(bouncer_id, now)
    database = database_proxy.obj
    if isinstance(database, PostgresqlDatabase) and not database.in_transaction() and _autocommit_connection(database):
        database.execute_sql(PG_LAST_PULL_SQL, (now, now, bouncer_id))
        return
    B = Bouncer

    def build(now, bouncer_id):
        return B.update(last_pull=now, updated_at=now).where(B.id == bouncer_id)

    with write_transaction(database_proxy):
        if isinstance(database, PostgresqlDatabase):
            database_proxy.execute_sql("SET LOCAL synchronous_commit TO OFF")
        _run_cached(("bouncer-last-pull",), build, {"now": now, "bouncer_id": bouncer_id}, fetch=False)


def _autocommit_connection(database) -> bool:
    """True when the driver connection commits each message by itself
    (peewee's default); otherwise the one-message form would run inside
    a transaction the driver opened, and its SET LOCAL would outlive it."""
    return bool(getattr(database.connection(), "autocommit", False))


def create_bouncer(name: str, key_hash: str, now: int, *, ip_address="", auto_created=False, type_="", version="") -> dict | None:
    """The new row, or None when the name is taken."""
    try:
        return _create_bouncer(name, key_hash, now, ip_address=ip_address, auto_created=auto_created, type_=type_, version=version)
    finally:
        forget_cached_bouncers()


def _create_bouncer(name, key_hash, now, *, ip_address, auto_created, type_, version) -> dict | None:
    with write_transaction(database_proxy):
        if Bouncer.select().where(Bouncer.name == name).exists():
            return None
        Bouncer.create(
            name=name,
            api_key_hash=key_hash,
            ip_address=ip_address,
            auto_created=auto_created,
            type=type_,
            version=version,
            created_at=now,
            updated_at=now,
        )
        return Bouncer.select().where(Bouncer.name == name).dicts().get()


def update_bouncer(bouncer_id: int, now: int, **columns) -> None:
    try:
        with write_transaction(database_proxy):
            Bouncer.update(updated_at=now, **columns).where(Bouncer.id == bouncer_id).execute()
    finally:
        forget_cached_bouncers()


def delete_bouncer(name: str) -> int:
    try:
        with write_transaction(database_proxy):
            return Bouncer.delete().where(Bouncer.name == name).execute()
    finally:
        forget_cached_bouncers()


def list_bouncers() -> list[dict]:
    return list(Bouncer.select().order_by(Bouncer.id).dicts())


# -- usage metrics ---------------------------------------------------------------------


def store_usage_metrics(generated_type: str, generated_by: str, payload: dict, now: int) -> None:
    with write_transaction(database_proxy):
        UsageMetric.create(
            generated_type=generated_type, generated_by=generated_by, received_at=now, payload=json.dumps(payload)
        )
