"""The real engine behind the pipeline stages (see binding.py for the contract).

Split of `replay.Engine.process_event` over processes, with the same rules:

* parser worker: `ParserTree.parse(evt)`; unparsed (`Process` false) and
  whitelisted events stop there; otherwise `routing.prepare_pours()` evaluates
  scenario filters/groupby/distinct in load order and each resulting pour is
  routed on its `route_key`;
* shard: `BucketStore.pour_prepared(scenario_index, group, evt, distinct)` in
  (batch, seq) order; overflows without an alert (cleanups) are not forwarded;
  end of replay input = `BucketStore.end_of_input()`;
* output: postoverflow parsers on the overflow, then
  `alerts.runtime_alert_to_api()`; whitelisted overflows make no alert.

Installed items are read from `config_dir` (parsers/<stage>/*.yaml,
scenarios/*.yaml, postoverflows/<stage>/*.yaml, the layout `cscli-mp`
installs), grok patterns from `pattern_dir`, data files from `data_dir`.
Every process loads them itself; load order is deterministic, so scenario
indexes agree between processes.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

from crowdsec_mp.engine import routing
from crowdsec_mp.engine.event import LIVE, TIMEMACHINE, StrMap, new_log_event
from crowdsec_mp.engine.expr import ExprError
from crowdsec_mp.errors import ConfigError, ProtocolError
from crowdsec_mp.pipeline import wire
from crowdsec_mp.pipeline.binding import ParseResult

YAML_SUFFIXES = (".yaml", ".yml")
#: Seconds between garbage collections of leaked buckets in live mode.
GC_INTERVAL = 60.0

shard_for = routing.shard_for


def _yaml_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.is_file() and p.suffix in YAML_SUFFIXES and not p.name.startswith("."))


def staged_files(root: Path) -> list[tuple[str, Path]]:
    """(stage, file) under root/<stage>/, stages and files in name order."""
    if not root.is_dir():
        return []
    return [(stage.name, path) for stage in sorted(root.iterdir()) if stage.is_dir()
            for path in _yaml_files(stage)]


class InstalledItems:
    """What is installed in a config directory, and the shared engine context."""

    def __init__(self, config):
        from crowdsec_mp.engine.context import EngineContext

        self.config = config
        root = Path(config.config_dir)
        self.parser_files = staged_files(root / "parsers")
        self.scenario_files = _yaml_files(root / "scenarios")
        self.postoverflow_files = staged_files(root / "postoverflows")
        data_dir = config.data_dir
        self.ctx = EngineContext(data_dir=str(data_dir) if data_dir else None)

    def check(self) -> None:
        if not self.parser_files:
            raise ConfigError("no parsers installed (expected parsers/<stage>/*.yaml); "
                              "install some with `cscli-mp parsers install` or a collection",
                              file=Path(self.config.config_dir))

    def patterns(self):
        from crowdsec_mp.engine.grok import PatternLibrary

        return PatternLibrary.load([str(self.config.pattern_dir)])

    def parsers(self):
        from crowdsec_mp.engine.parser import load_parsers

        return load_parsers(self.parser_files, self.ctx, self.patterns())

    def postoverflows(self):
        if not self.postoverflow_files:
            return None
        from crowdsec_mp.engine.parser import load_parsers

        return load_parsers(self.postoverflow_files, self.ctx, self.patterns())

    def scenarios(self):
        if not self.scenario_files:
            return []
        from crowdsec_mp.engine.buckets import load_scenarios

        return load_scenarios([str(p) for p in self.scenario_files], self.ctx)

    def scenario_names(self) -> list[str]:
        """Names of the installed scenarios, read from the YAML without compiling them
        (the output process only needs them for the LAPI login)."""
        import yaml

        names = []
        for path in self.scenario_files:
            try:
                with open(path, encoding="utf-8") as handle:
                    documents = list(yaml.safe_load_all(handle))
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"cannot read scenario: {exc}", file=path) from exc
            names += [doc["name"] for doc in documents if isinstance(doc, dict) and isinstance(doc.get("name"), str)]
        return names

    def simulation(self):
        from crowdsec_mp.engine.simulation import load_simulation

        return load_simulation(self.config.simulation_path)


def _installed(run) -> InstalledItems:
    from crowdsec_mp.config import load_config

    items = InstalledItems(load_config(run.config_path or None))
    items.check()
    return items


class EngineParserStage:
    def __init__(self, run, items: InstalledItems):
        from crowdsec_mp.engine.buckets.prefilter import ScenarioIndex

        self.ctx = items.ctx
        self.tree = items.parsers()
        self.scenarios = items.scenarios()
        self.index = ScenarioIndex(self.scenarios)
        self.expect_mode = TIMEMACHINE if run.mode == "replay" else LIVE
        #: (scenario name, line src) -> events poured since the last `take_poured()`.
        self.poured: dict[tuple, int] = {}

    def take_poured(self) -> list:
        """Pour counts since the last call, [[scenario, line src, count], ...]. The parser
        worker sends them with each batch ack, so cs_bucket_poured_total counts every
        acked batch exactly once, across worker respawns and re-dispatches."""
        taken = [[name, src, count] for (name, src), count in self.poured.items()]
        self.poured = {}
        return taken

    def process(self, raw, src, labels, module, time_machine=False) -> ParseResult:
        expect_mode = TIMEMACHINE if time_machine else self.expect_mode
        evt = new_log_event(raw, src=src, labels=labels, module=module, expect_mode=expect_mode,
                            acquired_at=self.ctx.now())
        self.tree.parse(evt)
        if not evt.Process:
            return ParseResult(False)
        if evt.Whitelisted or not self.scenarios:
            return ParseResult(True)
        before = _mutable_maps(evt)
        pours = routing.prepare_pours(evt, self.scenarios, self.index)
        if not pours:
            return ParseResult(True)
        data = wire.event_to_wire(evt)
        at_pour = self._states_at_pour(evt, before, pours) if _mutable_maps(evt) != before else {}
        routed = []
        for number, pour in enumerate(pours):
            item = {"s": pour.scenario_index, "g": pour.group, "evt": data}
            if pour.distinct_value is not routing.UNSET:
                item["d"] = pour.distinct_value
            if number in at_pour and at_pour[number] != data:
                item["at_pour"] = at_pour[number]
            routed.append((pour.route_key, item))
            key = (self.scenarios[pour.scenario_index].name, src)
            self.poured[key] = self.poured.get(key, 0) + 1
        return ParseResult(True, routed)


    def _states_at_pour(self, evt, before, pours) -> dict[int, dict]:
        """A scenario filter changed the event (`evt.SetMeta(...)`): the single-process
        engine pours the one shared event object scenario by scenario, so an overflow
        raised by pour k renders the event as it was right after scenario k's filter,
        while events left in buckets end up with every change. We replay the filters
        on a restored copy, one scenario at a time, and record the event at each pour
        (pour number -> wire form); the shard pours that state, then brings the event
        to its final state (`EngineBucketStage.apply`). Rare: hub filters seldom write.
        """
        final = _mutable_maps(evt)
        evt.Meta, evt.Parsed, evt.Enriched = (StrMap(m) for m in before)
        states: dict[int, dict] = {}
        wanted = [pour.scenario_index for pour in pours]
        try:
            # The filters again, in load order, exactly as prepare_pours ran them.
            for scenario, position, error in self.index.matches(evt):
                if error is not None or len(states) == len(wanted):
                    break
                try:
                    routing.route_key(evt, scenario)  # groupby runs before the pour, as there
                except ExprError:
                    break
                if position == wanted[len(states)]:
                    states[len(states)] = wire.event_to_wire(evt)
        finally:
            evt.Meta, evt.Parsed, evt.Enriched = (StrMap(m) for m in final)
        return states


def _mutable_maps(evt) -> tuple[dict, dict, dict]:
    """Copies of the maps a filter may write to (compared before/after filters)."""
    return dict(evt.Meta), dict(evt.Parsed), dict(evt.Enriched)


class EngineBucketStage:
    def __init__(self, run, items: InstalledItems):
        from crowdsec_mp.engine.buckets import BucketStore

        self.store = BucketStore(items.scenarios(), items.ctx, items.simulation())
        self.overflowed: dict[str, int] = {}
        self._next_gc = 0.0
        #: Event of the last item that carried one (items of the same line may omit it).
        self._line_event = None

    def metrics(self) -> dict:
        live: dict[str, int] = {}
        for bucket in self.store.buckets():
            live[bucket.scenario.name] = live.get(bucket.scenario.name, 0) + 1
        return {"overflowed": dict(self.overflowed), "buckets": live}

    def apply(self, item) -> list:
        """Pour one routed item; with `at_pour` (see EngineParserStage._states_at_pour)
        the event is poured as it was at that point, then updated in place to its
        final state, which is what it shows in later overflows."""
        line_event, self._line_event = self._line_event, None  # never stale after a bad item
        if "at_pour" in item:
            evt = wire.event_from_wire(item["at_pour"])
        elif wire.EVENT_KEY in item:
            evt = self._line_event = wire.event_from_wire(item[wire.EVENT_KEY])
        elif line_event is not None:
            evt = self._line_event = line_event  # same line as the previous item (event elided)
        else:
            raise ProtocolError("routed item without an event and no previous event")
        distinct = item["d"] if "d" in item else routing.UNSET
        # The wall clock (bucket timers) as int ns: cheaper than the context's datetime.
        overflows = self._forward(self.store.pour_prepared(int(item["s"]), item["g"], evt, now=time.time_ns(),
                                                           distinct_value=distinct))
        if "at_pour" in item:
            final = wire.event_from_wire(item[wire.EVENT_KEY])
            evt.Meta, evt.Parsed, evt.Enriched = final.Meta, final.Parsed, final.Enriched
        return overflows

    def _forward(self, overflows) -> list:
        out = []
        for evt in overflows:
            if evt.Overflow.Alert is None:
                continue  # cleanup signal (underflow, blackhole...): nothing to report
            name = evt.Overflow.Alert.GetScenario()
            self.overflowed[name] = self.overflowed.get(name, 0) + 1
            out.append(wire.event_to_wire(evt))
        return out

    def tick(self, now: float) -> list:
        """Live mode: fire due timers; every GC_INTERVAL also drop fully leaked buckets
        (they would otherwise accumulate for every source ever seen)."""
        at = datetime.fromtimestamp(now, timezone.utc)
        overflows = self._forward(self.store.tick(at))
        if now >= self._next_gc:
            self._next_gc = now + GC_INTERVAL
            self.store.collect_garbage(at)
        return overflows

    def end_of_input(self) -> list:
        return self._forward(self.store.end_of_input() or [])

    def dump(self) -> bytes:
        return self.store.dump()

    def restore(self, blob: bytes) -> None:
        self.store.restore(blob)


class EngineOutputStage:
    def __init__(self, run, items: InstalledItems):
        self.postoverflows = items.postoverflows()
        self.scenarios = items.scenario_names()

    def handle(self, item) -> list:
        from crowdsec_mp.engine.alerts import runtime_alert_to_api

        evt = wire.event_from_wire(item)
        if evt.Overflow.Alert is None:
            return []
        if self.postoverflows is not None:
            self.postoverflows.parse(evt)
        if evt.Whitelisted or evt.Overflow.Whitelisted:
            return []
        return runtime_alert_to_api(evt.Overflow)


def make_parser_stage(run):
    return EngineParserStage(run, _installed(run))


def make_bucket_stage(run, shard):
    return EngineBucketStage(run, _installed(run))


def make_output_stage(run):
    return EngineOutputStage(run, _installed(run))


def check_config(config) -> dict:
    """Load every installed item once (`crowdsec-mp -t`); returns counts. Raises ConfigError."""
    items = InstalledItems(config)
    items.check()
    items.parsers()
    scenarios = items.scenarios()
    items.postoverflows()
    items.simulation()
    return {"parsers": len(items.parser_files), "scenarios": len(scenarios),
            "postoverflows": len(items.postoverflow_files)}
