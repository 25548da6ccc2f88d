"""One-process engine: parser tree + scenarios + postoverflows (no sockets, no clock).

`Engine` is what hubtest, explain and tests use to run the whole detection path
on lines in one process (the pipeline runs the same pieces split over workers):

    engine = Engine.build(ctx, patterns, parser_files, scenario_files, postoverflow_files)
    result = engine.replay(lines, src="/abs/file.log", labels={"type": "syslog"})
    result.parser_results   # hubtest `results` for parser.assert (spec/hubtest.md §4)
    result.overflows        # overflow events sorted per spec/hubtest.md §5.1

Line policy (the same everywhere the engine reads lines): a line longer than
`max_line_bytes` (UTF-8) is dropped and counted (`too_long`); bytes that are not
valid UTF-8 are decoded with U+FFFD replacement (as RE2 reads them) and counted
(`invalid_utf8`), the line is still parsed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from crowdsec_mp.engine.buckets import BucketStore, load_scenarios
from crowdsec_mp.engine.event import TIMEMACHINE, Event, new_log_event
from crowdsec_mp.engine.parser import load_parsers
from crowdsec_mp.errors import ConfigError

#: CrowdSec's file datasource reads lines with a 64 KiB scanner buffer by default.
DEFAULT_MAX_LINE_BYTES = 64 * 1024


# -- hubtest `results` structure ---------------------------------------------------


@dataclass
class ParserResult:
    """One recorded top-level node run: `{Idx, Success, Evt}` (hubtest.md §4.1)."""

    Idx: int
    Success: bool
    Evt: Event


class NodeResults(dict):
    """node name -> list of ParserResult; a missing node reads as an empty list."""

    def __missing__(self, key):
        return []


class ParserResults(dict):
    """stage -> NodeResults; a missing stage reads as an empty map.

    `results["success"][""]` always exists and is an empty list.
    """

    def __init__(self):
        super().__init__()
        dict.__setitem__(self, "success", NodeResults({"": []}))

    def __missing__(self, key):
        return NodeResults()

    def record(self, stage, node_name, snapshot, success):
        """A parser recorder (`ParserTree.parse(evt, recorder=...)`)."""
        nodes = dict.get(self, stage)
        if nodes is None:
            nodes = NodeResults()
            dict.__setitem__(self, stage, nodes)
        entries = dict.get(nodes, node_name)
        if entries is None:
            entries = []
            dict.__setitem__(nodes, node_name, entries)
        # Idx: 1-based order of first appearance of the node name within the stage.
        idx = list(nodes).index(node_name) + 1
        entries.append(ParserResult(Idx=idx, Success=bool(success), Evt=snapshot))


def overflow_sort_key(evt) -> str:
    alert = evt.Overflow.Alert
    scenario = alert.GetScenario() if alert is not None else ""
    return scenario + "@".join(evt.Overflow.GetSources())


def sort_overflows(overflows: list) -> list:
    """Stable sort, descending, on scenario + sources joined by "@" (hubtest.md §5.1)."""
    return sorted(overflows, key=overflow_sort_key, reverse=True)


@dataclass
class LineOutcome:
    """What happened to one line."""

    event: Event | None             # None when the line was dropped before parsing
    overflows: list = field(default_factory=list)
    poured: bool = False
    dropped: str = ""               # "" | "too_long" | "empty"


@dataclass
class ReplayResult:
    parser_results: ParserResults
    overflows: list                 # sorted per hubtest.md §5.1
    stats: Counter


# -- the engine ------------------------------------------------------------------


class Engine:
    def __init__(self, ctx, parsers, *, buckets=None, postoverflows=None, scenarios=None,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES):
        self.ctx = ctx
        self.parsers = parsers
        self.buckets = buckets
        self.scenarios = scenarios or []
        self.postoverflows = postoverflows
        self.max_line_bytes = max_line_bytes
        self.stats: Counter = Counter()

    @classmethod
    def build(cls, ctx, patterns, parser_files, scenario_files=(), postoverflow_files=(),
              *, postoverflow_patterns=None, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> "Engine":
        """Load everything. `postoverflow_patterns` must be a separate PatternLibrary
        (postoverflows have their own pattern host); required when postoverflows are given."""
        parsers = load_parsers(list(parser_files), ctx, patterns)
        postoverflows = None
        if postoverflow_files:
            if postoverflow_patterns is None:
                raise ConfigError("postoverflows need their own pattern library")
            postoverflows = load_parsers(list(postoverflow_files), ctx, postoverflow_patterns)
        buckets = None
        scenarios = []
        if scenario_files:
            scenarios = load_scenarios([str(f) for f in scenario_files], ctx)
            buckets = BucketStore(scenarios, ctx)
        return cls(ctx, parsers, buckets=buckets, postoverflows=postoverflows,
                   scenarios=scenarios, max_line_bytes=max_line_bytes)

    # -- one line / one event -------------------------------------------------------
    def decode_line(self, raw) -> str | None:
        """Apply the line policy; None = drop (counted)."""
        if isinstance(raw, (bytes, bytearray)):
            if len(raw) > self.max_line_bytes:
                self.stats["too_long"] += 1
                return None
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                self.stats["invalid_utf8"] += 1
                return raw.decode("utf-8", errors="replace")
        if len(raw) > self.max_line_bytes // 4 and len(raw.encode("utf-8", "surrogatepass")) > self.max_line_bytes:
            self.stats["too_long"] += 1
            return None
        return raw

    def process_line(self, raw, *, src="", labels=None, module="file", expect_mode=TIMEMACHINE,
                     recorder=None, overflow_recorder=None) -> LineOutcome:
        """Parse one line and pour it. Empty lines are skipped like the file datasource."""
        self.stats["lines"] += 1
        text = self.decode_line(raw)
        if text is None:
            return LineOutcome(event=None, dropped="too_long")
        if text.endswith("\r"):
            text = text[:-1]
        if not text:
            self.stats["empty"] += 1
            return LineOutcome(event=None, dropped="empty")
        evt = new_log_event(text, src=src, labels=labels, module=module, expect_mode=expect_mode,
                            acquired_at=self.ctx.now())
        return self.process_event(evt, recorder=recorder, overflow_recorder=overflow_recorder)

    def process_event(self, evt, *, recorder=None, overflow_recorder=None) -> LineOutcome:
        self.parsers.parse(evt, recorder=recorder)
        outcome = LineOutcome(event=evt)
        if not evt.Process:
            self.stats["unparsed"] += 1
            return outcome
        self.stats["parsed"] += 1
        if evt.Whitelisted:
            self.stats["whitelisted"] += 1
            return outcome
        if self.buckets is not None:
            outcome.poured = True
            self.stats["poured"] += 1
            post_recorder = overflow_recorder or recorder

            def postoverflow(overflow):
                return self.postoverflow(overflow, recorder=post_recorder)

            # BucketStore.process = pour + postoverflows + re-pour of `reprocess` overflows.
            for overflow in self.buckets.process(evt, postoverflow=postoverflow):
                if overflow.Overflow.Alert is not None:  # skip cleanup pseudo-overflows
                    self.stats["overflows"] += 1
                    outcome.overflows.append(overflow)
        return outcome

    def postoverflow(self, overflow, *, recorder=None):
        """Run the postoverflow tree on one overflow event (returns it)."""
        if self.postoverflows is not None:
            # The Process flag of an overflow is ignored: it is emitted anyway (§10).
            self.postoverflows.parse(overflow, recorder=recorder)
        return overflow

    def process_overflow(self, overflow, *, recorder=None):
        """Postoverflows for an overflow produced outside `process_event` (timers, end of
        input); None for cleanup pseudo-overflows."""
        if overflow.Overflow.Alert is None:
            return None
        self.stats["overflows"] += 1
        return self.postoverflow(overflow, recorder=recorder)

    def finish(self, *, recorder=None) -> list:
        """End of input. CrowdSec drops live buckets without overflow (scenarios.md §7);
        a scenario engine exposing `end_of_input()` may still report overflows."""
        if self.buckets is None or not hasattr(self.buckets, "end_of_input"):
            return []
        done = []
        for overflow in self.buckets.end_of_input() or []:
            result = self.process_overflow(overflow, recorder=recorder)
            if result is not None:
                done.append(result)
        return done

    def replay(self, lines, *, src="", labels=None, module="file", expect_mode=TIMEMACHINE,
               record: bool = True) -> ReplayResult:
        """Process every line in order, then end of input; hubtest's results + overflows."""
        results = ParserResults()
        recorder = results.record if record else None
        overflows = []
        for line in lines:
            outcome = self.process_line(line, src=src, labels=labels, module=module,
                                        expect_mode=expect_mode, recorder=recorder)
            overflows.extend(outcome.overflows)
        overflows.extend(self.finish(recorder=recorder))
        return ReplayResult(parser_results=results, overflows=sort_overflows(overflows),
                            stats=Counter(self.stats))

