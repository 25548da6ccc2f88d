"""All live buckets of a set of scenarios: pour, overflow, timers, blackholes.

`BucketStore.pour(evt)` offers an event to every scenario in load order
(filter, groupby), delivers it to the bucket of its partition and returns the
overflow events it caused (spec/scenarios.md §3-§5). A parser worker can do
the filter/groupby part itself (`routing.prepare_pours`) and a shard then
calls `pour_prepared` with the precomputed key: both paths run the same code.

Time: in TIMEMACHINE mode the bucket clock is the event's own time
(`MarshaledTime`); in LIVE mode it is `now`, given by the
caller or read from `EngineContext.clock`. Timers (underflow, counter
duration) are wall-clock deadlines fired by `tick(now)`; replay never calls
`tick`, so in replay only the staleness check of §3.3 expires buckets and the
end of input (`flush`) drops the survivors without overflow, as CrowdSec does.

Determinism: buckets live in an insertion-ordered dict keyed by
(scenario index, group); no set/dict-order dependence, no builtin hash().

Memory in replay: a time-machine bucket whose `last_ts + timer` is older than
the next event poured into it is replaced by a fresh one (the staleness check
of §3.3), so once the log time has moved `REPLAY_GC_GRACE_NS` past that point
the bucket can be dropped early without changing any result, provided no event
arrives more than the grace out of order. `_deliver` does that sweep once per
grace of log time (CrowdSec has a replay GC with no grace at all, never
enabled, §7). The log time is followed per line source (`Line.Src`): several
files replayed together advance at their own pace, and the sweep horizon is
the slowest one's time minus the grace. An event older than a sweep's horizon
(more disorder than the grace, or a source first seen after the others had
moved on) is counted in `stats["late_after_gc"]` and logged: its result may
differ from a run without the sweep.
"""

from __future__ import annotations

import hashlib
import logging
import math
import struct

# Module import (not names): alerts.py imports buckets.timeutil, so the names may not exist yet.
from crowdsec_mp.engine import alerts
from crowdsec_mp.engine.buckets.bucket import Bucket
from crowdsec_mp.engine.buckets.prefilter import ScenarioIndex
from crowdsec_mp.engine.buckets.timeutil import datetime_to_ns, format_rfc3339_nano, ns_to_datetime, parse_rfc3339_ns
from crowdsec_mp.engine.event import LIVE, OVFLW, TIMEMACHINE, Event, RuntimeAlert
from crowdsec_mp.engine.expr import ExprError

log = logging.getLogger(__name__)

#: Marker for "distinct value not computed by the caller".
UNSET = object()
#: Marker for "event time not computed yet".
_NOT_YET = object()
#: A reprocessed overflow re-poured more than this many times is dropped (loop guard).
MAX_REPROCESS_DEPTH = 16
#: Log-time disorder the replay sweep tolerates, and log time between two sweeps
#: (see the module docstring).
REPLAY_GC_GRACE_NS = 300 * 1_000_000_000


def bucket_mapkey(scenario, group: str) -> str:
    """CrowdSec's bucket key: sha1(filter source, groupby value, name) in hex (§3.1)."""
    material = f"{scenario.filter_source}\x00{group}\x00{scenario.name}".encode("utf-8")
    return hashlib.sha1(material).hexdigest()


def event_time_ns(evt) -> int | None:
    """The log time of a TIMEMACHINE event: its MarshaledTime; None if absent or unparsable.

    Only MarshaledTime counts, not `Time`: CrowdSec drops a time-machine event
    without it (hub test proxmox-logs has no dateparse-enrich and expects no
    overflow), even though `Time` was set to "now" by the parser runtime.
    """
    if evt.MarshaledTime:
        return parse_rfc3339_ns(evt.MarshaledTime)
    return None


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def _run_bool(program, env, what, scenario):
    """Run an expression that must give a bool; None on error/non-bool (logged)."""
    try:
        result = program.run(env)
    except ExprError as exc:
        log.warning("scenario %s: %s failed: %s", scenario.name, what, exc)
        return None
    if not isinstance(result, bool):
        log.warning("scenario %s: %s returned %r, not a bool", scenario.name, what, result)
        return None
    return result


class BucketStore:
    """Bucket state for `scenarios` (a list in load order, as from load_scenarios).

    simulation: an object with `is_simulated(name) -> bool` (simulation.py), or None.
    emit_cleanups: also return the "cleanup" signals (overflow events whose
        `Overflow.Alert` is None: underflow, cancel, blackholed or filtered
        overflow). Off by default: nothing downstream needs them.
    alert_context: list of (key, [compiled programs]) for the alert `meta`.
    prefilter: skip filters that a cheap Meta pre-check proves false (prefilter.py);
        results are identical either way.
    replay_gc_grace_ns: log-time disorder tolerated by the replay sweep of stale
        buckets (module docstring); None turns the sweep off.
    """

    def __init__(self, scenarios, ctx=None, simulation=None, *, emit_cleanups=False, alert_context=None,
                 prefilter=True, replay_gc_grace_ns: int | None = REPLAY_GC_GRACE_NS):
        self.scenarios = list(scenarios)
        self.ctx = ctx
        self.simulation = simulation
        self.emit_cleanups = emit_cleanups
        self.alert_context = alert_context
        self.index = ScenarioIndex(self.scenarios, enabled=prefilter)
        #: position of each scenario in this store (the store may hold a subset of a load).
        self._position = {id(scenario): position for position, scenario in enumerate(self.scenarios)}
        self._simulated = [bool(simulation and simulation.is_simulated(s.name)) for s in self.scenarios]
        self._buckets: dict[tuple[int, str], Bucket] = {}
        #: per scenario: {mapkey: blackhole expiry ns}, insertion-ordered.
        self._blackholes: list[dict[str, int]] = [{} for _ in self.scenarios]
        self.stats = {
            "poured": 0, "filter_errors": 0, "dropped_no_time": 0, "overflows": 0,
            "alert_errors": 0, "cleanups": 0, "blackholed": 0, "reprocess_dropped": 0,
            "replay_gc_dropped": 0, "late_after_gc": 0,
        }
        #: Replay sweep (module docstring): None disables it.
        self.replay_gc_grace_ns = replay_gc_grace_ns
        #: Log time of the next sweep (-inf: set by the first event).
        self._next_sweep_ns: float = -math.inf
        #: Horizon of the latest sweep: a later event older than this arrived too late.
        self._sweep_horizon_ns: float = -math.inf
        #: line source -> latest log time poured from it (the sweep's clocks).
        self._source_clock: dict[str, int] = {}

    # -- helpers -------------------------------------------------------------
    def _wall_ns(self, now) -> int:
        if now is None:
            if self.ctx is None:
                raise ValueError("BucketStore needs `now` or an EngineContext clock")
            now = self.ctx.now()
        return now if isinstance(now, int) else datetime_to_ns(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def buckets(self) -> list[Bucket]:
        """Live buckets in creation order (read-only view for tests, metrics, explain)."""
        return list(self._buckets.values())

    # -- pouring -------------------------------------------------------------
    def pour(self, evt, now=None) -> list[Event]:
        """Offer `evt` to every scenario in load order; return the overflow events.

        A filter or groupby error aborts pouring this event into the remaining
        scenarios (§3.3). `now` (datetime or ns) is the wall clock: the bucket
        clock of LIVE events and the base of timers.
        """
        out: list[Event] = []
        wall = None
        # matches(): filters in load order, with pre-checks and remembered answers (prefilter.py).
        for scenario, _position, error in self.index.matches(evt):
            group = ""
            if error is None and scenario.groupby is not None:
                try:
                    group = scenario.groupby.run({"evt": evt})
                    if not isinstance(group, str):
                        raise ExprError(f"groupby returned {group!r}, not a string")
                except ExprError as exc:
                    error = exc
            if error is not None:
                self.stats["filter_errors"] += 1
                log.warning("scenario %s: %s; event not poured into remaining scenarios", scenario.name, error)
                break
            if wall is None:
                wall = self._wall_ns(now)
                log_time = event_time_ns(evt) if evt.ExpectMode == TIMEMACHINE else wall
            self._deliver(scenario, group, evt, wall, UNSET, out, log_time)
        return out

    def pour_prepared(self, scenario_index: int, group: str, evt, now=None, distinct_value=UNSET) -> list[Event]:
        """Pour into one scenario's bucket with a precomputed groupby (and distinct) value.

        `scenario_index` is the position in this store's scenario list (the
        `Scenario.index` given by load_scenarios when the store has them all).

        Used by bucket shards: the parser worker already ran filter/groupby
        (and may have run distinct: pass None for "distinct failed, accept").
        """
        out: list[Event] = []
        self._deliver(self.scenarios[scenario_index], group, evt, self._wall_ns(now), distinct_value, out)
        return out

    def process(self, evt, now=None, postoverflow=None) -> list[Event]:
        """`pour` plus reprocessing: what the single-process engine does per event.

        Each overflow goes through `postoverflow(evt) -> evt | None` (if given;
        None drops it); a
        non-whitelisted overflow of a `reprocess: true` scenario is poured back
        into the buckets. Returns every overflow (postoverflow applied) in
        emission order, including whitelisted ones.
        """
        results: list[Event] = []
        pending = [(evt, 0)]
        while pending:
            current, depth = pending.pop(0)
            for overflow in self.pour(current, now):
                if overflow.Overflow.Alert is not None and postoverflow is not None:
                    overflow = postoverflow(overflow)
                    if overflow is None:  # the callback dropped it
                        continue
                results.append(overflow)
                if overflow.Overflow.Alert is None or not overflow.Overflow.Reprocess:
                    continue
                if overflow.Whitelisted or overflow.Overflow.Whitelisted:
                    continue
                if depth >= MAX_REPROCESS_DEPTH:
                    self.stats["reprocess_dropped"] += 1
                    log.error("scenario reprocess loop: overflow %s dropped", overflow.Overflow.Mapkey)
                    continue
                pending.append((overflow, depth + 1))
        return results

    def _deliver(self, scenario, group: str, evt, wall: int, distinct_value, out: list, log_time=_NOT_YET) -> None:
        """One event into one scenario's partition (§3.3 step 3-4 and the in-bucket steps).

        `log_time`: the event's bucket time if the caller already computed it
        (pour does it once per event, not once per scenario).
        """
        position = self._position[id(scenario)]
        key = (position, group)
        timemachine = evt.ExpectMode == TIMEMACHINE
        if log_time is _NOT_YET:
            log_time = event_time_ns(evt) if timemachine else wall
        t = log_time

        if scenario.type == "trigger":
            self._trigger(scenario, group, evt, t if t is not None else wall, out)
            return
        if t is None:
            self.stats["dropped_no_time"] += 1
            log.warning("scenario %s: time-machine event without a valid MarshaledTime dropped", scenario.name)
            return
        if timemachine and self.replay_gc_grace_ns is not None:
            clocks, source = self._source_clock, evt.Line.Src
            if t > clocks.get(source, -math.inf):
                clocks[source] = t
            if t >= self._next_sweep_ns or t < self._sweep_horizon_ns:
                self._replay_sweep(t, source)  # rare: once per grace of log time, or a late event
        bucket = self._buckets.get(key)
        if bucket is not None and bucket.mode == TIMEMACHINE and bucket.last_ts is not None:
            # Replay emulates the wall-clock expiry in log time: a stale bucket is dropped silently.
            if t > bucket.last_ts + scenario.timer_ns:
                del self._buckets[key]
                bucket = None
        if bucket is None:
            bucket = Bucket(scenario, group, bucket_mapkey(scenario, group), TIMEMACHINE if timemachine else LIVE)
            self._buckets[key] = bucket

        # OnPour hooks: distinct, cancel_on (may swallow the event).
        if scenario.distinct is not None:
            value = distinct_value if distinct_value is not UNSET else self._distinct_value(scenario, evt)
            if value is not None:
                if value in bucket.seen:
                    return
                bucket.seen[value] = None
        if scenario.cancel_on is not None:
            if _run_bool(scenario.cancel_on, {"evt": evt}, "cancel_on", scenario) is True:
                del self._buckets[key]
                self._cleanup(bucket, out)
                return

        # Pour.
        self.stats["poured"] += 1
        bucket.total_count += 1
        if bucket.first_ts is None:
            bucket.first_ts = t
        bucket.last_ts = t
        pending = False
        if scenario.type == "conditional" or bucket.limiter.allow(t):
            bucket.enqueue(evt)
        else:
            bucket.ovflw_ts = t
            bucket.enqueue(evt)
            pending = True

        # AfterPour hooks: condition, bayesian.
        if scenario.condition is not None and not pending:
            env = {"evt": evt, "queue": bucket.queue_view(), "leaky": bucket}
            if _run_bool(scenario.condition, env, "condition", scenario) is True:
                bucket.ovflw_ts = bucket.last_ts
                pending = True
        if scenario.bayesian_threshold != 0 and not pending:
            if self._bayesian_overflows(scenario, bucket, evt):
                bucket.ovflw_ts = bucket.last_ts
                pending = True

        # Timer: an inactivity timer reset at each pour, or a fixed lifetime with `duration`.
        if not scenario.timed_overflow or bucket.deadline is None:
            bucket.deadline = wall + scenario.timer_ns

        if pending:
            del self._buckets[key]
            self._overflow(bucket, out)

    @staticmethod
    def _distinct_value(scenario, evt):
        try:
            value = scenario.distinct.run({"evt": evt})
        except ExprError as exc:
            log.warning("scenario %s: distinct failed (%s), event accepted", scenario.name, exc)
            return None
        return value if isinstance(value, str) else ""

    def _bayesian_overflows(self, scenario, bucket, evt) -> bool:
        """Posterior from the prior, recomputed at every pour in float32 (§4.7)."""
        posterior = _f32(scenario.bayesian_prior)
        env = None
        for position, cond in enumerate(scenario.bayesian_conditions):
            if cond.guillotine and bucket.guillotine[position]:
                hit = True
            else:
                if env is None:
                    env = {"evt": evt, "queue": bucket.queue_view(), "leaky": bucket}
                hit = _run_bool(cond.program, env, f"bayesian condition {position}", scenario)
                if hit is None:
                    continue
            pe = _f32(cond.prob_given_evil)
            pb = _f32(cond.prob_given_benign)
            if hit:
                numerator = _f32(pe * posterior)
                denominator = _f32(numerator + _f32(pb * _f32(1 - posterior)))
                bucket.guillotine[position] = True
            else:
                numerator = _f32(_f32(1 - pe) * posterior)
                denominator = _f32(numerator + _f32(_f32(1 - pb) * _f32(1 - posterior)))
            posterior = _f32(numerator / denominator) if denominator else 0.0
        return posterior > _f32(scenario.bayesian_threshold)

    def _trigger(self, scenario, group: str, evt, t: int, out: list) -> None:
        """A trigger overflows at once with a one-event queue; it never stays in the store."""
        bucket = Bucket(scenario, group, bucket_mapkey(scenario, group), evt.ExpectMode)
        bucket.first_ts = bucket.last_ts = bucket.ovflw_ts = t
        bucket.total_count = 1
        bucket.queue.append(evt)
        self.stats["poured"] += 1
        self._overflow(bucket, out)

    # -- overflow --------------------------------------------------------------
    def _cleanup(self, bucket: Bucket, out: list) -> None:
        self.stats["cleanups"] += 1
        if self.emit_cleanups:
            out.append(Event(Type=OVFLW, ExpectMode=bucket.mode, Overflow=RuntimeAlert(Mapkey=bucket.mapkey)))

    def _overflow(self, bucket: Bucket, out: list) -> None:
        """Build the alert, run overflow_filter then blackhole, emit (§3.3 step 5, §5.3-5.4)."""
        scenario = bucket.scenario
        try:
            runtime_alert = alerts.build_runtime_alert(
                scenario, bucket, simulated=self._simulated[self._position[id(scenario)]], context=self.alert_context
            )
        except alerts.AlertBuildError as exc:
            self.stats["alert_errors"] += 1
            log.error("scenario %s: cannot build alert: %s", scenario.name, exc)
            self._cleanup(bucket, out)
            return
        if scenario.overflow_filter is not None:
            env = {"queue": bucket.queue_view(), "signal": runtime_alert, "leaky": bucket}
            if _run_bool(scenario.overflow_filter, env, "overflow_filter", scenario) is False:
                self._cleanup(bucket, out)
                return
        if scenario.blackhole_ns > 0 and self._blackholed(scenario, bucket):
            self.stats["blackholed"] += 1
            self._cleanup(bucket, out)
            return
        self.stats["overflows"] += 1
        out.append(
            Event(
                Type=OVFLW,
                ExpectMode=bucket.mode,
                Overflow=runtime_alert,
                Time=ns_to_datetime(bucket.ovflw_ts),
                MarshaledTime=format_rfc3339_nano(bucket.ovflw_ts),
            )
        )

    def _blackholed(self, scenario, bucket: Bucket) -> bool:
        holes = self._blackholes[self._position[id(scenario)]]
        now = bucket.ovflw_ts
        expires = holes.get(bucket.mapkey)
        if expires is not None and expires > now:
            return True
        for mapkey in [k for k, v in holes.items() if v <= now]:
            del holes[mapkey]
        holes[bucket.mapkey] = now + scenario.blackhole_ns
        return False

    # -- time ----------------------------------------------------------------
    def tick(self, now) -> list[Event]:
        """Fire the wall-clock timers due at `now`: timed overflow or silent underflow."""
        wall = self._wall_ns(now)
        out: list[Event] = []
        due = [key for key, bucket in self._buckets.items() if bucket.deadline is not None and bucket.deadline <= wall]
        for key in due:
            bucket = self._buckets.pop(key)
            if bucket.scenario.timed_overflow:
                bucket.ovflw_ts = wall  # counters overflow at the wall-clock time, even in replay
                self._overflow(bucket, out)
            else:
                self._cleanup(bucket, out)
        return out

    def flush(self, now=None) -> list[Event]:
        """End of replay input: live buckets are dropped without overflow (§7); returns []."""
        self._buckets.clear()
        return []

    def end_of_input(self, now=None) -> list[Event]:
        """Alias of `flush` (the name replay.Engine looks for)."""
        return self.flush(now)

    def _replay_sweep(self, t: int, evt_source: str) -> None:
        """Drop the time-machine buckets that every event from now on would find
        stale, once per grace of log time (module docstring)."""
        if t < self._sweep_horizon_ns:
            self.stats["late_after_gc"] += 1
            if self.stats["late_after_gc"] == 1:
                log.warning("replay: an event from %r is older than the bucket sweep's horizon (more than "
                            "%d s out of order, or its source started late); buckets swept meanwhile may "
                            "give a different result than an unswept run",
                            evt_source, self.replay_gc_grace_ns // 1_000_000_000)
        grace = self.replay_gc_grace_ns
        if self._next_sweep_ns == -math.inf:
            self._next_sweep_ns = t + grace
            return
        if t < self._next_sweep_ns:
            return
        self._next_sweep_ns = t + grace
        horizon = min(self._source_clock.values()) - grace
        if horizon <= self._sweep_horizon_ns:
            return
        self._sweep_horizon_ns = horizon
        stale = [key for key, bucket in self._buckets.items()
                 if bucket.mode == TIMEMACHINE and bucket.last_ts is not None
                 and bucket.last_ts + bucket.scenario.timer_ns < horizon]
        for key in stale:
            del self._buckets[key]
        self.stats["replay_gc_dropped"] += len(stale)

    def collect_garbage(self, deadline) -> int:
        """Drop fully-leaked buckets and counters at `deadline` (§7 GC); returns how many."""
        at = self._wall_ns(deadline)
        doomed = []
        for key, bucket in self._buckets.items():
            capacity = bucket.scenario.capacity
            if capacity == -1 or bucket.limiter.available(at) >= capacity:
                doomed.append(key)
        for key in doomed:
            del self._buckets[key]
        return len(doomed)

    # -- persistence ---------------------------------------------------------
    def dump(self) -> bytes:
        from crowdsec_mp.engine.buckets.snapshot import dump_store

        return dump_store(self)

    def restore(self, blob: bytes) -> None:
        from crowdsec_mp.engine.buckets.snapshot import restore_store

        restore_store(self, blob)
