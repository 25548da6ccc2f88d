"""Which bucket shard an event goes to (ARCHITECTURE.md "route key").

Every event that can fall into one bucket has the same route key: the
scenario's groupby value, or the scenario name when it has no groupby. A
shard is chosen from the key with CRC-32, which is stable across processes
and runs (Python's builtin hash() is salted per process and must not be used).

`prepare_pours(evt, scenarios)` is the worker-side half of `BucketStore.pour`:
it evaluates filter, groupby and distinct with exactly the same rules (load
order, abort on error) and returns what a shard needs for
`BucketStore.pour_prepared`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from crowdsec_mp.engine.buckets.filtermemo import filter_outcome
from crowdsec_mp.engine.buckets.store import UNSET, BucketStore
from crowdsec_mp.engine.expr import ExprError


@dataclass(frozen=True)
class PreparedPour:
    """One (scenario, partition) an event must be poured into."""

    scenario_index: int
    group: str
    route_key: str
    distinct_value: object = UNSET  # UNSET: not computed; None: distinct failed (accept)


def route_key(evt, scenario) -> str:
    """The groupby value of `evt` for `scenario`, or the scenario name without groupby.

    Raises ExprError when groupby fails or does not give a string.
    """
    if scenario.groupby is None:
        return scenario.name
    value = scenario.groupby.run({"evt": evt})
    if not isinstance(value, str):
        raise ExprError(f"groupby returned {value!r}, not a string")
    return value


def shard_for(key: str, n: int) -> int:
    """Stable shard number in [0, n) for a route key."""
    if n <= 0:
        raise ValueError("the number of shards must be positive")
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % n


def prepare_pours(evt, scenarios, index=None, *, with_distinct: bool = True) -> list[PreparedPour]:
    """Evaluate filters/groupby (and distinct) in load order, as `BucketStore.pour` does.

    A filter or groupby error stops at that scenario (the event is not poured
    into the remaining ones). `index` is an optional buckets.prefilter.ScenarioIndex
    over the same list (pre-checks, remembered filter answers and positions
    computed once); `scenario_index` in the result is the position in `scenarios`.
    """
    if index is None:
        matches = _every_match(evt, scenarios)
    elif len(index.scenarios) != len(scenarios):
        raise ValueError("the ScenarioIndex was built over another scenario list")
    else:
        matches = index.matches(evt)
    prepared = []
    for scenario, position, error in matches:
        if error is not None:
            break
        try:
            group = route_key(evt, scenario) if scenario.groupby is not None else ""
        except ExprError:
            break
        distinct = UNSET
        if with_distinct and scenario.distinct is not None:
            distinct = BucketStore._distinct_value(scenario, evt)
        key = group if scenario.groupby is not None else scenario.name
        prepared.append(PreparedPour(position, group, key, distinct))
    return prepared


def _every_match(evt, scenarios):
    """`ScenarioIndex.matches` without an index: every filter runs."""
    for position, scenario in enumerate(scenarios):
        matched = filter_outcome(scenario, evt)
        if matched is False:
            continue
        if matched is True:
            yield scenario, position, None
            continue
        yield scenario, position, matched
        return
