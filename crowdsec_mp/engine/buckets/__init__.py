"""Scenarios and leaky buckets (spec/scenarios.md).

    scenarios = load_scenarios(files, ctx)          # strict YAML -> compiled Scenario list
    store = BucketStore(scenarios, ctx, simulation)
    overflows = store.pour(evt)                     # overflow events (Type == 1)
    store.tick(now); store.flush(now); store.dump(); store.restore(blob)

Modules: spec.py (loading/validation), store.py (pour/overflow/timers),
bucket.py (per-bucket state), limiter.py (continuous token bucket),
prefilter.py (cheap filter pre-check), snapshot.py (dump/restore),
timeutil.py (ns times and Go text formats).
"""

from crowdsec_mp.engine.buckets.spec import BayesCondition, Scenario, load_scenario_file, load_scenarios
from crowdsec_mp.engine.buckets.store import UNSET, BucketStore, bucket_mapkey, event_time_ns

__all__ = [
    "BayesCondition",
    "BucketStore",
    "Scenario",
    "UNSET",
    "bucket_mapkey",
    "event_time_ns",
    "load_scenario_file",
    "load_scenarios",
]
